"""Pre-train a GPT on the assistant world's text (the base model of the assistant stages).

    minifm train assistant --out out/assistant-base              (the world's plain text)
    minifm sft out/assistant-base --out out/assistant-sft        (fine-tune on conversations)
    minifm sft out/assistant-base --scratch --out out/assistant-scratch   (same steps, fresh)
    minifm reward out/assistant-sft --out out/assistant-reward   (Bradley–Terry on judged pairs)
    minifm chat out/assistant-sft                                (type requests, read answers)

``train assistant`` saves ``checkpoint.npz``, ``tokenizer.json``, ``loss.png`` and
``metrics.json`` in ``--out``; ``sft`` reads that folder, trains with the response-only loss,
and ends with the judges' table (per task and overall, seen and held-out prompts, refusal and
false-refusal rates) for the model before and after, also stored in its ``metrics.json`` under
``"judged"`` and drawn in ``judged.png``. ``reward`` samples answers from an SFT run, pairs them
by the judges' preference and trains a reward model on them, reporting its pair accuracy on
training, seen and held-out prompts (drawn in ``pair_accuracy.png``). ``chat`` reads requests
line by line (from the terminal or a pipe) and prints each answer, until Ctrl-D or an empty
line. The work is done by ``minifm.tasks.assistant``, ``minifm.tasks.assistant_reward`` and
``minifm.tasks.assistant_chat``; the figures by ``minifm.plots.assistant``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np

from minifm.cli.flags import integer
from minifm.cli.common import (add_common_train_arguments, finish_training, output_dir,
                               print_run_summary, start_or_resume, train_config_from_args)
from minifm.cli.gpt import add_sampling_arguments
from minifm.data.assistant import world_tokenizer
from minifm.data.text import TokenData
from minifm.models.gpt import GPT
from minifm.plots.assistant import save_plots
from minifm.sampling import check_sampling
from minifm.tasks.assistant import (EVAL_PER_TASK, MAX_ANSWER_TOKENS, PRETRAIN_DEFAULTS,
                                    SFT_DEFAULTS, evaluate, load_run, model_config,
                                    pretrain_data, pretrain_text, score_table, sft_data)
from minifm.tasks.assistant_chat import reply
from minifm.tasks.assistant_reward import (REWARD_DEFAULTS, REWARD_PROMPTS_PER_TASK,
                                           SAMPLES_PER_PROMPT, reward_stage)
from minifm.tasks.gpt import new_model
from minifm.tokenizers import WordTokenizer
from minifm.training.trainer import TrainConfig, Trainer

MODEL_FLAGS = ("n_layer", "n_head", "n_embd")
FILES = ("checkpoint.npz", "tokenizer.json", "loss.png", "metrics.json")


# ---- minifm train assistant ----------------------------------------------------------------------
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The model size of ``minifm train assistant`` (the data is the world's own text)."""
    g = parser.add_argument_group("model (default: 3 layers, 4 heads, width 96, context 48)")
    g.add_argument("--n-layer", type=integer(1), help="transformer blocks")
    g.add_argument("--n-head", type=integer(1), help="attention heads")
    g.add_argument("--n-embd", type=integer(1), help="model width")


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
    parser.add_argument("--eval-per-task", type=integer(1), default=EVAL_PER_TASK,
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
    plots = save_plots(trainer.out_dir, judged=scores)
    if not args.quiet:
        print_run_summary(metrics, trainer.out_dir, FILES + tuple(p.name for p in plots),
                          "judged accuracy (%):\n" + score_table(scores))
    return 0


# ---- minifm reward ------------------------------------------------------------------------------
def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """How the judged preference pairs are sampled (``reward`` and ``dpo``): the SFT run RUN, the
    prompts per task, the answers sampled per prompt and whether judged variants join them."""
    parser.add_argument("base", metavar="RUN", help="the SFT model: a folder from `sft`")
    parser.add_argument("--prompts-per-task", type=integer(1), default=REWARD_PROMPTS_PER_TASK,
                        help=f"SFT training prompts per task to sample answers for (default "
                             f"{REWARD_PROMPTS_PER_TASK})")
    parser.add_argument("--samples", type=integer(1), default=SAMPLES_PER_PROMPT,
                        help=f"answers sampled per prompt (default {SAMPLES_PER_PROMPT})")
    parser.add_argument("--variants", action="store_true",
                        help="also judge a rambling and a swapped variant of each prompt's first "
                             "answer (see tasks.assistant_reward)")


def add_reward_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_arguments(parser)
    parser.add_argument("--eval-per-task", type=integer(1), default=EVAL_PER_TASK,
                        help=f"seen and held-out prompts per task whose pairs are measured "
                             f"(default {EVAL_PER_TASK})")
    add_common_train_arguments(parser)


def reward(args: argparse.Namespace) -> int:
    """Train a reward model on judged preference pairs of an SFT model's sampled answers."""
    if args.resume:
        raise ValueError("reward starts from RUN; it does not resume a run")
    model, tokenizer = load_run(args.base)
    out = output_dir(args, "out/assistant-reward")
    _, metrics = reward_stage(model, tokenizer, train_config_from_args(args, REWARD_DEFAULTS),
                              n_per_task=args.prompts_per_task, k=args.samples,
                              eval_per_task=args.eval_per_task, variants=args.variants,
                              out_dir=out, quiet=args.quiet)
    if metrics["stopped_early"]:
        return 1
    plots = save_plots(out, pair_accuracy=metrics["pair_accuracy"])
    if not args.quiet:
        lines = [f"{split}: {metrics['pairs'][split]} pairs, "
                 + ", ".join(f"{task} {100 * share:.1f}" for task, share in by_task.items())
                 for split, by_task in metrics["pair_accuracy"].items()]
        print_run_summary(metrics, out, ("checkpoint.npz", "metrics.json",
                                         *(p.name for p in plots)),
                          "reward-model pair accuracy (%):\n" + "\n".join(lines))
    return 0


# ---- minifm chat --------------------------------------------------------------------------------
def add_chat_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="RUN",
                        help="an assistant-world GPT: a folder from `sft` (or `train assistant`)")
    add_sampling_arguments(parser, max_new_tokens=MAX_ANSWER_TOKENS, temperature=0.0,
                           least_new_tokens=1)


def chat(args: argparse.Namespace) -> int:
    """Talk to an assistant-world GPT: type a request, read its answer; an empty line ends.

    Requests come from the terminal (with a ``you>`` prompt) or a pipe, one a line; Ctrl-D (end
    of input) ends too. A request with words outside the world is refused and the chat goes on."""
    model, tokenizer = load_run(args.folder)
    rng = np.random.default_rng(args.seed)
    check_sampling(rng, args.temperature, args.top_k, args.top_p)
    terminal = sys.stdin.isatty()
    if terminal:
        print("minifm chat: type a request in the world's words (Ctrl-D or an empty line ends)")
    while True:
        try:
            request = input("you> " if terminal else "")
        except EOFError:
            break
        if not request.strip():
            break
        try:
            answer = reply(model, tokenizer, request, max_new_tokens=args.max_new_tokens,
                           temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                           rng=rng, use_cache=not args.no_cache)
        except ValueError as e:                      # a request outside the world: say so, go on
            print(f"minifm: {e}", file=sys.stderr)
            continue
        print(f"assistant> {answer}", flush=True)      # before a later refusal on stderr
    return 0


COMMANDS = {"sft": (add_sft_arguments, sft), "reward": (add_reward_arguments, reward),
            "chat": (add_chat_arguments, chat)}
