"""Pre-train a GPT on the assistant world's text (the base model of the assistant stages).

    minifm train assistant --out out/assistant-base              (the world's plain text)
    minifm sft out/assistant-base --out out/assistant-sft        (fine-tune on conversations)
    minifm sft out/assistant-base --scratch --out out/assistant-scratch   (same steps, fresh)
    minifm reward out/assistant-sft --out out/assistant-reward   (Bradley–Terry on judged pairs)
    minifm dpo out/assistant-sft --beta 0.05 0.1 0.5 --out out/assistant-dpo   (a beta sweep)
    minifm rl out/assistant-sft --reward out/assistant-reward --kl 0.05 --out out/assistant-rl

``train assistant`` saves ``checkpoint.npz``, ``tokenizer.json``, ``loss.png`` and
``metrics.json`` in ``--out``; ``sft`` reads that folder, trains with the response-only loss,
and ends with the judges' table (per task and overall, seen and held-out prompts, refusal and
false-refusal rates) for the model before and after, also stored in its ``metrics.json`` under
``"judged"``. ``reward`` samples answers from an SFT run, pairs them by the judges' preference
and trains a reward model on them, reporting its pair accuracy on training, seen and held-out
prompts. ``dpo`` trains a copy of an SFT run with DPO on the same kind of judged pairs against
the SFT model frozen as the reference (one run per ``--beta``, in ``OUT/beta-B`` when there are
several); ``rl`` trains one with REINFORCE, group-normalised advantages and the k3 KL penalty
against a ``reward`` run (``--reward judges``: the judges' own score). Both end with the judged
table, the judges' preference of the new answers over the SFT ones and the KL per token to the
SFT model, also in their ``metrics.json``. The work is done by ``minifm.tasks.assistant``,
``assistant_reward``, ``assistant_dpo`` and ``assistant_rl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from minifm.cli.common import (add_common_train_arguments, finish_training, output_dir,
                               print_run_summary, start_or_resume, train_config_from_args)
from minifm.data.assistant import world_tokenizer
from minifm.data.text import TokenData
from minifm.models.gpt import GPT
from minifm.tasks.assistant import (EVAL_PER_TASK, PRETRAIN_DEFAULTS, SFT_DEFAULTS, evaluate,
                                    load_run, model_config, pretrain_data, pretrain_text,
                                    score_table, sft_data)
from minifm.data.assistant import TaskScore
from minifm.tasks.assistant_dpo import DPO_DEFAULTS, dpo_stage
from minifm.tasks.assistant_reward import (REWARD_DEFAULTS, REWARD_PROMPTS_PER_TASK,
                                           SAMPLES_PER_PROMPT, judged_pairs, reward_stage)
from minifm.tasks.assistant_rl import GROUP, KL_DEFAULT, RL_DEFAULTS, load_reward_run, rl_stage
from minifm.tasks.gpt import new_model
from minifm.tokenizers import WordTokenizer
from minifm.training.trainer import TrainConfig, Trainer

MODEL_FLAGS = ("n_layer", "n_head", "n_embd")
FILES = ("checkpoint.npz", "tokenizer.json", "loss.png", "metrics.json")


# ---- minifm train assistant ----------------------------------------------------------------------
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The model size of ``minifm train assistant`` (the data is the world's own text)."""
    g = parser.add_argument_group("model (default: 3 layers, 4 heads, width 96, context 48)")
    g.add_argument("--n-layer", type=int, help="transformer blocks")
    g.add_argument("--n-head", type=int, help="attention heads")
    g.add_argument("--n-embd", type=int, help="model width")


def train(args: argparse.Namespace) -> int:
    """``minifm train assistant``: pre-train from scratch, or continue with ``--resume``."""
    tokenizer = world_tokenizer()

    def start(config: TrainConfig) -> tuple[GPT, TokenData, WordTokenizer]:
        model_cfg = model_config(tokenizer, **{k: getattr(args, k) for k in MODEL_FLAGS})
        data = pretrain_data(tokenizer, pretrain_text(), model_cfg.context_length)
        return new_model(model_cfg, config.seed), data, tokenizer

    trainer = start_or_resume(
        args, family="gpt", defaults=PRETRAIN_DEFAULTS, out=output_dir(args, "out/assistant-base"),
        model_flags=MODEL_FLAGS, start=start,
        resume_data=lambda ckpt: pretrain_data(tokenizer, pretrain_text(),
                                               ckpt.model_config["context_length"]))
    metrics = finish_training(trainer, tokenizer)
    if metrics["stopped_early"]:
        return 1
    if not args.quiet:
        print_run_summary(metrics, trainer.out_dir, FILES)
    return 0


# ---- minifm sft ---------------------------------------------------------------------------------
def add_sft_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="RUN",
                        help="the base model: a folder from `train assistant` or its .npz file")
    parser.add_argument("--scratch", action="store_true",
                        help="train a fresh model of RUN's size instead (the baseline)")
    parser.add_argument("--eval-per-task", type=int, default=EVAL_PER_TASK,
                        help=f"judged prompts per task and split (default {EVAL_PER_TASK})")
    add_common_train_arguments(parser)


def _judged(model: GPT, tokenizer: WordTokenizer, stage: str, n: int) -> dict:
    return {f"{stage} {split}": evaluate(model, tokenizer, split, n)
            for split in ("seen", "heldout")}


def sft(args: argparse.Namespace) -> int:
    """Fine-tune an assistant-world GPT on conversations, with the loss on the answers only."""
    if args.resume:
        raise ValueError("sft starts from RUN; it does not resume a run")
    model, tokenizer = load_run(args.base)
    config = train_config_from_args(args, SFT_DEFAULTS)
    before = "base"
    if args.scratch:
        model, before = new_model(model.config, config.seed), "untrained"
    scores = _judged(model, tokenizer, before, args.eval_per_task)
    trainer = Trainer(model, sft_data(tokenizer, context_length=model.config.context_length),
                      config, out_dir=output_dir(args, "out/assistant-sft"), tokenizer=tokenizer,
                      family="gpt", quiet=args.quiet, metrics_out=args.metrics_out)
    metrics = finish_training(trainer, tokenizer)
    if metrics["stopped_early"]:
        return 1
    scores.update(_judged(model, tokenizer, "sft-scratch" if args.scratch else "sft",
                          args.eval_per_task))
    metrics["judged"] = {stage: {task: dataclasses.asdict(s) for task, s in by_task.items()}
                         for stage, by_task in scores.items()}
    trainer.write_metrics(metrics)
    if not args.quiet:
        print_run_summary(metrics, trainer.out_dir, FILES,
                          "judged accuracy (%):\n" + score_table(scores))
    return 0


# ---- minifm reward ------------------------------------------------------------------------------
def add_reward_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="RUN", help="the SFT model: a folder from `sft`")
    parser.add_argument("--prompts-per-task", type=int, default=REWARD_PROMPTS_PER_TASK,
                        help=f"SFT training prompts per task to sample answers for (default "
                             f"{REWARD_PROMPTS_PER_TASK})")
    parser.add_argument("--samples", type=int, default=SAMPLES_PER_PROMPT,
                        help=f"answers sampled per prompt (default {SAMPLES_PER_PROMPT})")
    parser.add_argument("--eval-per-task", type=int, default=EVAL_PER_TASK,
                        help=f"seen and held-out prompts per task whose pairs are measured "
                             f"(default {EVAL_PER_TASK})")
    add_common_train_arguments(parser)


def reward(args: argparse.Namespace) -> int:
    """Train a reward model on judged preference pairs of an SFT model's sampled answers."""
    if args.resume:
        raise ValueError("reward starts from RUN; it does not resume a run")
    model, tokenizer = load_run(args.base)
    _, metrics = reward_stage(model, tokenizer, train_config_from_args(args, REWARD_DEFAULTS),
                              n_per_task=args.prompts_per_task, k=args.samples,
                              eval_per_task=args.eval_per_task,
                              out_dir=output_dir(args, "out/assistant-reward"), quiet=args.quiet)
    if metrics["stopped_early"]:
        return 1
    if not args.quiet:
        lines = [f"{split}: {metrics['pairs'][split]} pairs, "
                 + ", ".join(f"{task} {100 * share:.1f}" for task, share in by_task.items())
                 for split, by_task in metrics["pair_accuracy"].items()]
        print_run_summary(metrics, output_dir(args, "out/assistant-reward"),
                          ("checkpoint.npz", "metrics.json"),
                          "reward-model pair accuracy (%):\n" + "\n".join(lines))
    return 0


# ---- minifm dpo, minifm rl ----------------------------------------------------------------------
def add_dpo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="RUN", help="the SFT model: a folder from `sft`")
    parser.add_argument("--beta", type=float, nargs="+", default=[0.1],
                        help="DPO's beta, one run each (default 0.1)")
    parser.add_argument("--prompts-per-task", type=int, default=REWARD_PROMPTS_PER_TASK,
                        help=f"SFT training prompts per task to sample answers for (default "
                             f"{REWARD_PROMPTS_PER_TASK})")
    parser.add_argument("--samples", type=int, default=SAMPLES_PER_PROMPT,
                        help=f"answers sampled per prompt (default {SAMPLES_PER_PROMPT})")
    parser.add_argument("--eval-per-task", type=int, default=EVAL_PER_TASK,
                        help=f"judged prompts per task and split (default {EVAL_PER_TASK})")
    add_common_train_arguments(parser)


def _against_sft(metrics: dict, stage: str) -> str:
    """The judged table of a DPO or RL run, its preference over SFT and its KL per token."""
    splits = ("seen", "heldout")
    scores = {f"{stage} {split}": {task: TaskScore(**score)
                                   for task, score in metrics[split]["judged"].items()}
              for split in splits}
    lines = []
    for split in splits:
        pref, kl = metrics[split]["preference_over_reference"], metrics[split]["kl_per_token"]
        lines.append(f"{split}: the judges prefer it to SFT {100 * pref['win_rate']:.1f} % "
                     f"(wins {100 * pref['wins']:.1f}, ties {100 * pref['ties']:.1f}), "
                     f"KL per token {kl:.4f}")
    return "judged accuracy (%):\n" + score_table(scores) + "\n" + "\n".join(lines)


def dpo(args: argparse.Namespace) -> int:
    """Train an SFT run further with DPO on judged preference pairs, against itself frozen."""
    if args.resume:
        raise ValueError("dpo starts from RUN; it does not resume a run")
    if not all(beta > 0 for beta in args.beta):
        raise ValueError(f"--beta must be > 0, got {' '.join(f'{b:g}' for b in args.beta)}")
    model, tokenizer = load_run(args.base)
    config = train_config_from_args(args, DPO_DEFAULTS)
    pairs = judged_pairs(model, tokenizer, config.seed, n_per_task=args.prompts_per_task,
                         k=args.samples, eval_per_task=args.eval_per_task)
    out = output_dir(args, "out/assistant-dpo")
    for beta in args.beta:
        run_dir = out / f"beta-{beta:g}" if len(args.beta) > 1 else out
        _, metrics = dpo_stage(model, tokenizer, beta, config, eval_per_task=args.eval_per_task,
                               pairs=pairs, out_dir=run_dir, quiet=args.quiet)
        if metrics["stopped_early"]:
            return 1
        if not args.quiet:
            acc = metrics["implicit_reward"]["heldout"]["accuracy"]
            print_run_summary(metrics, run_dir, ("checkpoint.npz", "metrics.json"),
                              f"beta {beta:g}: implicit-reward accuracy on held-out pairs "
                              f"{100 * acc:.1f} %\n" + _against_sft(metrics, f"dpo {beta:g}"))
    return 0


def add_rl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="RUN", help="the SFT model: a folder from `sft`")
    parser.add_argument("--reward", metavar="RM_RUN", required=True,
                        help="the reward model: a folder from `reward`, or `judges` for the "
                             "judges' own score")
    parser.add_argument("--kl", type=float, default=KL_DEFAULT,
                        help=f"the KL penalty's coefficient, 0 for none (default {KL_DEFAULT})")
    parser.add_argument("--group", type=int, default=GROUP,
                        help=f"answers sampled per prompt (default {GROUP}); --batch-size is "
                             "the number of prompts per step")
    parser.add_argument("--eval-per-task", type=int, default=EVAL_PER_TASK,
                        help=f"judged prompts per task and split (default {EVAL_PER_TASK})")
    add_common_train_arguments(parser)


def rl(args: argparse.Namespace) -> int:
    """Train an SFT run further with RL against a reward model, with a KL leash to itself."""
    if args.resume:
        raise ValueError("rl starts from RUN; it does not resume a run")
    model, tokenizer = load_run(args.base)
    reward_model = None if args.reward == "judges" else load_reward_run(args.reward)
    out = output_dir(args, "out/assistant-rl")
    _, metrics = rl_stage(model, reward_model, tokenizer, args.kl,
                          train_config_from_args(args, RL_DEFAULTS), group=args.group,
                          eval_per_task=args.eval_per_task, out_dir=out, quiet=args.quiet)
    if args.metrics_out:
        Path(args.metrics_out).write_text(json.dumps(metrics, indent=1))
    if not args.quiet:
        first, last = metrics["history"][0], metrics["history"][-1]
        print(f"{metrics['steps_done']} steps in {metrics['seconds']:.0f} s against the "
              f"{metrics['reward']}, kl {args.kl:g}: sample reward {first['reward']:.3f} -> "
              f"{last['reward']:.3f}, sample judged accuracy {100 * first['judged_accuracy']:.1f} "
              f"-> {100 * last['judged_accuracy']:.1f} %, KL per token {last['kl_per_token']:.4f}")
        print(_against_sft(metrics, f"rl kl {args.kl:g}"))
        print(f"saved in {out}: checkpoint.npz, metrics.json")
    return 0


COMMANDS = {"sft": (add_sft_arguments, sft), "reward": (add_reward_arguments, reward),
            "dpo": (add_dpo_arguments, dpo), "rl": (add_rl_arguments, rl)}
