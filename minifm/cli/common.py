"""What every ``train FAMILY`` command shares: the training flags, the output folder, and one
way to start a run or resume it from a checkpoint."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path
from typing import Any, Callable, Sequence

from minifm.cli.flags import integer, real
from minifm.cli.outputs import check_output_dir, check_output_file
from minifm.nn.module import Module
from minifm.plots.training import save_loss_curve
from minifm.training.checkpoint import Checkpoint, load_checkpoint, resolve_checkpoint_path
from minifm.training.trainer import TOKENS, Throughput, TrainConfig, Trainer

# The training flags: each --flag-name sets the TrainConfig field flag_name (unless left out).
TRAIN_FLAGS = (
    ("steps", integer(1), "optimizer steps in the whole run"),
    ("batch_size", integer(1), "examples per step"),
    ("lr", real(0, low_open=True), "peak learning rate (the min lr keeps its ratio to it)"),
    ("min_lr", real(0), "learning rate at the end of the cosine decay"),
    ("warmup_steps", integer(0), "linear warmup steps"),
    ("weight_decay", real(0), "AdamW weight decay of the weight matrices"),
    ("grad_clip", real(0), "cap on the global gradient norm (0: no clipping)"),
    ("eval_interval", integer(1), "validate and checkpoint every N steps"),
    ("eval_batches", integer(1), "batches per validation"),
    ("seed", integer(), "seed for initialisation and batch sampling"),
)


def add_common_train_arguments(parser: argparse.ArgumentParser,
                               defaults: TrainConfig | None = None) -> None:
    """The flags every training command shares. Each defaults to the field of ``defaults``
    (the family's TrainConfig; ``TrainConfig()`` if None), which ``--help`` shows."""
    defaults = defaults if defaults is not None else TrainConfig()
    g = parser.add_argument_group("training")
    for name, type_, help_text in TRAIN_FLAGS:
        default = getattr(defaults, name)
        if name == "grad_clip" and default is None:
            default = 0
        g.add_argument("--" + name.replace("_", "-"), type=type_,
                       help=f"{help_text} (default: {default:g})")
    g = parser.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", help="folder for checkpoint.npz, loss.png, metrics.json")
    g.add_argument("--metrics-out", metavar="PATH", help="also write the metrics JSON here")
    g.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue from a checkpoint file or a folder holding checkpoint.npz")
    g.add_argument("--quiet", action="store_true", help="no progress bar or log lines")


def add_model_size_arguments(parser: argparse.ArgumentParser, presets: Sequence[str],
                             preset_help: str) -> argparse._ArgumentGroup:
    """The model group of a transformer family: ``--preset`` (default classroom) and the
    overrides every transformer has (--n-layer, --n-head, --n-embd). Returns the group, for the
    family's own overrides."""
    g = parser.add_argument_group("model (a preset, then any override)")
    g.add_argument("--preset", choices=sorted(presets), default="classroom", help=preset_help)
    g.add_argument("--n-layer", type=integer(1), help="transformer blocks")
    g.add_argument("--n-head", type=integer(1), help="attention heads")
    g.add_argument("--n-embd", type=integer(1), help="model width")
    return g


def output_dir(args: argparse.Namespace, fallback: str) -> Path:
    """Where a training command writes: ``--out``, else the folder of the ``--resume``
    checkpoint, else ``fallback``. The folder is created and proved writable now, and so is
    the folder of ``--metrics-out`` (if given), so a bad path fails before the first step."""
    if args.out:
        out = check_output_dir(args.out, "--out")
    elif getattr(args, "resume", None):
        out = check_output_dir(resolve_checkpoint_path(args.resume).parent, "--resume")
    else:
        out = check_output_dir(fallback, "the output folder")
    if getattr(args, "metrics_out", None):
        check_output_file(args.metrics_out, "--metrics-out")
    return out


def train_config_from_args(args: argparse.Namespace,
                           base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (default ``TrainConfig()``) with every training flag that was given applied.

    When ``--lr`` is given without ``--min-lr``, the minimum keeps its ratio to the peak;
    ``--grad-clip 0`` turns clipping off.
    """
    base = base if base is not None else TrainConfig()
    changes = {name: getattr(args, name) for name, _, _ in TRAIN_FLAGS
               if getattr(args, name, None) is not None}
    if "lr" in changes and "min_lr" not in changes:
        changes["min_lr"] = base.min_lr * changes["lr"] / base.lr
    if changes.get("grad_clip") == 0:
        changes["grad_clip"] = None
    try:
        return dataclasses.replace(base, **changes)
    except ValueError as e:         # e.g. --min-lr above --lr: say it in flag terms
        raise ValueError(re.sub(r"TrainConfig\.(\w+)",
                                lambda m: "--" + m.group(1).replace("_", "-"), str(e))) from e


def model_flags_given(args: argparse.Namespace, names: Sequence[str]) -> list[str]:
    """The ``--flag`` spellings of the model-size options in ``names`` that were given."""
    return [f"--{n.replace('_', '-')}" for n in names if getattr(args, n, None) is not None]


def start_or_resume(args: argparse.Namespace, *, family: str, defaults: TrainConfig,
                    out: Path, model_flags: Sequence[str],
                    start: Callable[[TrainConfig], tuple[Module, Any, Any]],
                    resume_data: Callable[[Checkpoint], Any],
                    extra_metrics: Callable[[Module], dict[str, float]] | None = None,
                    throughput: Throughput = TOKENS) -> Trainer:
    """The Trainer of a ``train FAMILY`` command: a new run, or the ``--resume`` checkpoint's.

    A new run calls ``start(train_config) -> (model, data, tokenizer)`` with ``defaults`` and
    the flags applied. A resumed run keeps the checkpoint's model and tokenizer (so the model
    flags ``model_flags`` may not be given), takes its train config with the flags applied, and
    gets its data from ``resume_data(checkpoint)``. ``extra_metrics`` and ``throughput`` go
    to the Trainer. A run that has already taken the steps asked
    for is refused with the number to ask for instead.
    """
    if not args.resume:
        config = train_config_from_args(args, defaults)
        model, data, tokenizer = start(config)
        return Trainer(model, data, config, out_dir=out, tokenizer=tokenizer, family=family,
                       quiet=args.quiet, metrics_out=args.metrics_out,
                       extra_metrics=extra_metrics, throughput=throughput)
    given = model_flags_given(args, model_flags)
    if given:
        raise ValueError(f"{', '.join(given)} cannot change when resuming: the model and "
                         "tokenizer come from the checkpoint")
    ckpt = load_checkpoint(args.resume, family=family)
    base = TrainConfig(**ckpt.train_config) if ckpt.train_config else defaults
    config = train_config_from_args(args, base)
    if ckpt.step >= config.steps:
        raise ValueError(f"checkpoint {ckpt.path} has already taken {ckpt.step} of {config.steps} "
                         f"steps, so resuming would train nothing: give --steps N with N > "
                         f"{ckpt.step} to continue it")
    return Trainer.from_checkpoint(ckpt.path, resume_data(ckpt), config=config, family=family,
                                   out_dir=out, quiet=args.quiet, metrics_out=args.metrics_out,
                                   extra_metrics=extra_metrics, throughput=throughput)


def finish_training(trainer: Trainer, tokenizer: Any = None) -> dict[str, Any]:
    """Run the trainer, then write ``tokenizer.json`` (if given) and ``loss.png`` beside the
    checkpoint. Returns the trainer's metrics."""
    metrics = trainer.run()
    if trainer.out_dir is not None:
        if tokenizer is not None:
            tokenizer.save(trainer.out_dir / "tokenizer.json")
        save_loss_curve(trainer.history, trainer.out_dir, f"{trainer.family or 'model'} training",
                        trainer.family)
    return metrics


def print_run_summary(metrics: dict[str, Any], out: Path, files: Sequence[str],
                      evaluation: str | None = None) -> None:
    """The closing lines of a training command: steps, time and losses, the evaluation (if
    any), and what was saved where."""
    print(f"{metrics['steps_done']} steps in {metrics['seconds']:.0f} s: train loss "
          f"{metrics['final_train_loss']:.4f}, val loss {metrics['final_val_loss']:.4f}")
    if evaluation is not None:
        print(evaluation)
    print(f"saved to {out}/ ({', '.join(files)})")

