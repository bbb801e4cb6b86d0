"""The ``minifm`` command line: a frame that the family recipes fill in.

    minifm train gpt --data input.txt --steps 500 --out out/gpt
    minifm train gpt --resume out/gpt --steps 1000
    minifm sample out/gpt                      (a command contributed by a recipe)
    minifm tour                                (a guided tour: minifm.tour.main)

``train FAMILY`` gets the common flags below plus the recipe's own; everything family-specific
lives in ``minifm/recipes/<family>.py`` (see ``minifm.recipes`` for the interface). Bad flags,
missing files and invalid values end with one ``minifm: error: ...`` line and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, Sequence

from minifm.checkpoint import resolve_checkpoint_path
from minifm.recipes import RECIPES
from minifm.trainer import TrainConfig

# The training flags: each --flag-name sets the TrainConfig field flag_name (unless left out).
_TRAIN_FLAGS = (
    ("steps", int, "optimizer steps in the whole run"),
    ("batch_size", int, "examples per step"),
    ("lr", float, "peak learning rate (the min lr keeps its ratio to it)"),
    ("min_lr", float, "learning rate at the end of the cosine decay"),
    ("warmup_steps", int, "linear warmup steps"),
    ("weight_decay", float, "AdamW weight decay of the weight matrices"),
    ("grad_clip", float, "cap on the global gradient norm (0: no clipping)"),
    ("eval_interval", int, "validate and checkpoint every N steps"),
    ("eval_batches", int, "batches per validation"),
    ("seed", int, "seed for initialisation and batch sampling"),
)


def add_common_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every ``train FAMILY`` command shares (all default to the recipe's config)."""
    g = parser.add_argument_group("training (defaults come from the family's recipe)")
    for name, type_, help_text in _TRAIN_FLAGS:
        g.add_argument("--" + name.replace("_", "-"), type=type_, help=help_text,
                       metavar="N" if type_ is int else "X")
    g = parser.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", help="folder for checkpoint.npz, loss.png, metrics.json")
    g.add_argument("--metrics-out", metavar="PATH", help="also write the metrics JSON here")
    g.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue from a checkpoint file or a folder holding checkpoint.npz")
    g.add_argument("--quiet", action="store_true", help="no progress bar or log lines")


def output_dir(args: argparse.Namespace, fallback: str) -> Path:
    """Where a training command writes: ``--out``, else the folder of the ``--resume``
    checkpoint, else ``fallback``."""
    if args.out:
        return Path(args.out)
    if getattr(args, "resume", None):
        return resolve_checkpoint_path(args.resume).parent
    return Path(fallback)


def train_config_from_args(args: argparse.Namespace,
                           base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (default ``TrainConfig()``) with every training flag that was given applied.

    When ``--lr`` is given without ``--min-lr``, the minimum keeps its ratio to the peak;
    ``--grad-clip 0`` turns clipping off.
    """
    base = base if base is not None else TrainConfig()
    changes = {name: getattr(args, name) for name, _, _ in _TRAIN_FLAGS
               if getattr(args, name, None) is not None}
    if "lr" in changes and "min_lr" not in changes:
        changes["min_lr"] = base.min_lr * changes["lr"] / base.lr
    if changes.get("grad_clip") == 0:
        changes["grad_clip"] = None
    return dataclasses.replace(base, **changes)


def _help_line(obj: object) -> str:
    return (obj.__doc__ or "").strip().split("\n")[0]


def _add_command(sub: argparse._SubParsersAction, name: str, help_line: str,
                 add_arguments: Callable[[argparse.ArgumentParser], None],
                 run: Callable[[argparse.Namespace], int]) -> None:
    if name in sub.choices:
        raise RuntimeError(f"two recipes define the command {name!r}")
    parser = sub.add_parser(name, help=help_line, description=help_line)
    add_arguments(parser)
    parser.set_defaults(run=run)


def build_parser() -> argparse.ArgumentParser:
    """The full parser: ``train FAMILY`` per recipe, the recipes' commands, and ``tour``."""
    parser = argparse.ArgumentParser(
        prog="minifm", description="Foundation models from scratch in NumPy: train, sample, "
        "fine-tune and explore GPT, BERT, CLIP and an image-token model.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train = sub.add_parser("train", help="train a model family from scratch (or resume)",
                           description="Train a model family from scratch, or resume a run.")
    families = train.add_subparsers(dest="family", metavar="FAMILY", required=True)
    recipes: dict[str, ModuleType] = {f: importlib.import_module(m) for f, m in RECIPES.items()}
    for family, recipe in recipes.items():
        p = families.add_parser(family, help=_help_line(recipe), description=_help_line(recipe))
        add_common_train_arguments(p)
        recipe.add_train_arguments(p)
        p.set_defaults(run=recipe.train)
    for recipe in recipes.values():
        for name, (add_arguments, run) in getattr(recipe, "COMMANDS", {}).items():
            _add_command(sub, name, _help_line(run), add_arguments, run)
    from minifm import tour       # imported here, not at the top: the tour imports the recipes
    _add_command(sub, "tour", _help_line(tour.main), tour.add_arguments, tour.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad usage or input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:               # --help (0) or a bad flag (2, message already printed)
        return int(e.code or 0)
    try:
        return int(args.run(args) or 0)
    except OSError as e:                  # FileNotFoundError, IsADirectoryError, ...
        message = f"{e.strerror}: {e.filename}" if e.filename else str(e)
    except ValueError as e:
        message = str(e)
    except KeyboardInterrupt:
        print("minifm: interrupted", file=sys.stderr)
        return 130
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return 2
