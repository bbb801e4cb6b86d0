"""Tune an SFT model further: DPO on judged preference pairs, and RL against a reward model.

    minifm dpo out/assistant-sft --beta 0.05 0.1 0.5 --out out/assistant-dpo   (a beta sweep)
    minifm rl out/assistant-sft --reward out/assistant-reward --kl 0.05 --out out/assistant-rl

``dpo`` trains a copy of an SFT run (``minifm sft``, in ``minifm.cli.assistant``) with DPO on
the same kind of judged pairs the reward model learns from, against the SFT model frozen as the
reference (one run per ``--beta``, in ``OUT/beta-B`` when there are several); ``rl`` trains one
with REINFORCE, group-normalised advantages and the k3 KL penalty against a ``reward`` run
(``--reward judges``: the judges' own score). Both end with the judged table, the judges'
preference of the new answers over the SFT ones and the KL per token to the SFT model, also in
their ``metrics.json``, and save the figures ``judged.png`` (accuracy per task), ``win_rates.png``
(the judges' preference over SFT) and the run's curves: ``dpo.png`` (loss and implicit-reward
margin by step) or ``rl.png`` (reward, KL per token and judged accuracy of the samples by step).
The work is done by ``minifm.tasks.assistant_dpo`` and ``minifm.tasks.assistant_rl``, the figures
by ``minifm.plots.assistant``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from minifm.atomic import atomic_write
from minifm.cli.assistant import add_pair_arguments
from minifm.cli.common import (add_common_train_arguments, output_dir, print_run_summary,
                               train_config_from_args)
from minifm.cli.flags import integer, real
from minifm.data.assistant import TaskScore
from minifm.plots.assistant import save_plots
from minifm.tasks.assistant import EVAL_PER_TASK, load_run, score_table
from minifm.tasks.assistant_dpo import DPO_DEFAULTS, dpo_stage
from minifm.tasks.assistant_reward import judged_pairs
from minifm.tasks.assistant_rl import GROUP, KL_DEFAULT, RL_DEFAULTS, load_reward_run, rl_stage

SPLITS = ("seen", "heldout")         # the judged prompts of a DPO or RL run's metrics


# ---- minifm dpo, minifm rl ----------------------------------------------------------------------
def add_dpo_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_arguments(parser)
    parser.add_argument("--beta", type=real(0, low_open=True), nargs="+", default=[0.1],
                        help="DPO's beta, one run each (default 0.1)")
    parser.add_argument("--eval-per-task", type=integer(1), default=EVAL_PER_TASK,
                        help=f"judged prompts per task and split (default {EVAL_PER_TASK})")
    add_common_train_arguments(parser)


def _judged(metrics: dict, stage: str) -> dict[str, dict[str, TaskScore]]:
    """The judged scores of a DPO or RL run's metrics, ``{"STAGE seen": {task: TaskScore}}``."""
    return {f"{stage} {split}": {task: TaskScore(**score)
                                 for task, score in metrics[split]["judged"].items()}
            for split in SPLITS}


def _save_plots(metrics: dict, stage: str, out: Path) -> list[Path]:
    """``judged.png``, ``win_rates.png`` and the run's curves: ``dpo.png`` for a DPO run's
    metrics (they have a ``beta``), ``rl.png`` for an RL run's."""
    dpo = "beta" in metrics
    return save_plots(out, judged=_judged(metrics, stage),
                      dpo_history=metrics["history"] if dpo else None,
                      rl_history=None if dpo else metrics["history"],
                      win_rates={f"{stage} {split}": metrics[split]["preference_over_reference"]
                                 for split in SPLITS})


def _against_sft(metrics: dict, stage: str) -> str:
    """The judged table of a DPO or RL run, its preference over SFT and its KL per token."""
    scores = _judged(metrics, stage)
    lines = []
    for split in SPLITS:
        pref, kl = metrics[split]["preference_over_reference"], metrics[split]["kl_per_token"]
        lines.append(f"{split}: the judges prefer it to SFT {100 * pref['win_rate']:.1f} % "
                     f"(wins {100 * pref['wins']:.1f}, ties {100 * pref['ties']:.1f}), "
                     f"KL per token {kl:.4f}")
    return "judged accuracy (%):\n" + score_table(scores) + "\n" + "\n".join(lines)


def _write_json(path: str, value: dict) -> None:
    """``--metrics-out``: the metrics JSON, written atomically."""
    text = (json.dumps(value, indent=1) + "\n").encode("utf-8")
    atomic_write(path, lambda f: f.write(text))


def dpo(args: argparse.Namespace) -> int:
    """Train an SFT run further with DPO on judged preference pairs, against itself frozen."""
    if args.resume:
        raise ValueError("dpo starts from RUN; it does not resume a run")
    out = output_dir(args, "out/assistant-dpo")         # checked before any work
    model, tokenizer = load_run(args.base)
    config = train_config_from_args(args, DPO_DEFAULTS)
    pairs = judged_pairs(model, tokenizer, config.seed, n_per_task=args.prompts_per_task,
                         k=args.samples, eval_per_task=args.eval_per_task, variants=args.variants)
    by_beta = {}
    for beta in args.beta:
        run_dir = out / f"beta-{beta:g}" if len(args.beta) > 1 else out
        _, metrics = dpo_stage(model, tokenizer, beta, config, eval_per_task=args.eval_per_task,
                               pairs=pairs, out_dir=run_dir, quiet=args.quiet)
        by_beta[f"{beta:g}"] = metrics
        if metrics["stopped_early"]:
            return 1
        plots = _save_plots(metrics, f"dpo {beta:g}", run_dir)
        if not args.quiet:
            acc = metrics["implicit_reward"]["heldout"]["accuracy"]
            print_run_summary(metrics, run_dir, ("checkpoint.npz", "metrics.json",
                                                 *(p.name for p in plots)),
                              f"beta {beta:g}: implicit-reward accuracy on held-out pairs "
                              f"{100 * acc:.1f} %\n" + _against_sft(metrics, f"dpo {beta:g}"))
    if args.metrics_out:                                 # every beta's metrics, by beta
        _write_json(args.metrics_out, by_beta if len(args.beta) > 1 else metrics)
    return 0


def add_rl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="RUN", help="the SFT model: a folder from `sft`")
    parser.add_argument("--reward", metavar="RM_RUN", required=True,
                        help="the reward model: a folder from `reward`, or `judges` for the "
                             "judges' own score")
    parser.add_argument("--kl", type=real(0), default=KL_DEFAULT,
                        help=f"the KL penalty's coefficient, 0 for none (default {KL_DEFAULT})")
    parser.add_argument("--group", type=integer(2), default=GROUP,
                        help=f"answers sampled per prompt (default {GROUP}); --batch-size is "
                             "the number of prompts per step")
    parser.add_argument("--eval-per-task", type=integer(1), default=EVAL_PER_TASK,
                        help=f"judged prompts per task and split (default {EVAL_PER_TASK})")
    add_common_train_arguments(parser)


def rl(args: argparse.Namespace) -> int:
    """Train an SFT run further with RL against a reward model, with a KL leash to itself."""
    if args.resume:
        raise ValueError("rl starts from RUN; it does not resume a run")
    out = output_dir(args, "out/assistant-rl")          # checked before any work
    model, tokenizer = load_run(args.base)
    reward_model = None if args.reward == "judges" else load_reward_run(args.reward)
    _, metrics = rl_stage(model, reward_model, tokenizer, args.kl,
                          train_config_from_args(args, RL_DEFAULTS), group=args.group,
                          eval_per_task=args.eval_per_task, out_dir=out, quiet=args.quiet)
    if args.metrics_out:
        _write_json(args.metrics_out, metrics)
    plots = _save_plots(metrics, f"rl kl {args.kl:g}", out)
    if not args.quiet:
        first, last = metrics["history"][0], metrics["history"][-1]
        print(f"{metrics['steps_done']} steps in {metrics['seconds']:.0f} s against the "
              f"{metrics['reward']}, kl {args.kl:g}: sample reward {first['reward']:.3f} -> "
              f"{last['reward']:.3f}, sample judged accuracy {100 * first['judged_accuracy']:.1f} "
              f"-> {100 * last['judged_accuracy']:.1f} %, KL per token {last['kl_per_token']:.4f}")
        print(_against_sft(metrics, f"rl kl {args.kl:g}"))
        print(f"saved in {out}: checkpoint.npz, metrics.json, "
              f"{', '.join(p.name for p in plots)}")
    return 0


COMMANDS = {"dpo": (add_dpo_arguments, dpo), "rl": (add_rl_arguments, rl)}
