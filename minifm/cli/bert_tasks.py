"""BERT at work on the command line: fine-tune for sentiment, entities or questions (fully or
with LoRA), tag a text, answer a question.

    minifm finetune-bert out/bert --task ner --out out/bert-ner           (RUN: a `train bert`
    minifm finetune-bert minilm --task qa --lora 4 --out out/minilm-qa     run, or `minilm`)
    minifm finetune-bert out/bert --task qa --compare --seeds 0 1 2       pre-trained vs scratch
    minifm ner out/bert-ner "on friday olga works at initech ."
    minifm qa out/minilm-qa --context "tom wakes up early . ..." --question "what ...?"

``finetune-bert`` with ``--task sentiment`` (the default) on a ``train bert`` run without
``--lora`` is the sentiment fine-tuning of ``minifm.cli.bert``, unchanged. The work is done by
``minifm.tasks.bert_at_work``; this module is its flags and printing.
"""

from __future__ import annotations

import argparse
import json

from minifm.atomic import atomic_write
from minifm.cli import bert
from minifm.cli.common import output_dir, train_config_from_args
from minifm.cli.flags import integer, real
from minifm.tasks.bert import N_HELD_OUT, N_LABELLED
from minifm.tasks.bert_at_work import (FINETUNE_DEFAULTS, LORA_TARGETS, TASKS, answer_question,
                                       compare_transfer, finetune, load_finetuned, tag_text)


# ---- minifm finetune-bert -----------------------------------------------------------------------
def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    bert.add_finetune_arguments(parser)
    parser.set_defaults(labelled=None, held_out=None)     # each task has its own sizes
    g = parser.add_argument_group("BERT at work")
    g.add_argument("--task", choices=TASKS, default="sentiment",
                   help="sentiment (default), ner (entities, held-out names) or qa (answer "
                        "spans); RUN may also be `minilm`, the real all-MiniLM-L6-v2")
    g.add_argument("--lora", type=integer(1), metavar="R",
                   help="train LoRA adapters of rank R (and the head) instead of every weight")
    g.add_argument("--lora-alpha", type=real(0, low_open=True), default=8.0,
                   help="LoRA scale numerator: the update is (alpha / R) A B (default 8)")
    g.add_argument("--lora-targets", choices=sorted(LORA_TARGETS), default="qv",
                   help="qv: the query and value projections (default); all: every Linear of "
                        "the blocks")


def _print_scores(label: str, scores: dict[str, float]) -> None:
    print(f"{label}: " + ", ".join(f"{k} {v:.1%}" for k, v in scores.items()))


def finetune_command(args: argparse.Namespace) -> int:
    """Fine-tune a BERT run (or MiniLM) on sentiment, named entities or questions."""
    if args.task == "sentiment" and args.lora is None and args.checkpoint != "minilm":
        args.labelled = N_LABELLED if args.labelled is None else args.labelled
        args.held_out = N_HELD_OUT if args.held_out is None else args.held_out
        return bert.finetune(args)
    if args.resume:
        raise ValueError("finetune-bert starts from RUN; to continue, run it again with more "
                         "--steps")
    config = train_config_from_args(args, FINETUNE_DEFAULTS)
    sizes = {"n_train": args.labelled, "n_val": args.held_out}
    lora = {"lora_rank": args.lora, "lora_alpha": args.lora_alpha,
            "lora_targets": args.lora_targets}
    out = output_dir(args, f"out/bert-{args.task}")
    if args.compare:
        result = compare_transfer(args.checkpoint, args.task, args.seeds, config, **sizes, **lora)
        for i, seed in enumerate(result["seeds"]):
            _print_scores(f"seed {seed} pre-trained", result["pretrained"][i])
            _print_scores(f"seed {seed} from scratch", result["scratch"][i])
        _print_scores(f"mean of {len(args.seeds)} seeds, pre-trained", result["pretrained_mean"])
        _print_scores(f"mean of {len(args.seeds)} seeds, from scratch", result["scratch_mean"])
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result, indent=1).encode("utf-8")
        atomic_write(out / "transfer.json", lambda f: f.write(text))
        return 0
    result = finetune(args.checkpoint, args.task, config, scratch=args.scratch, out_dir=out,
                      quiet=args.quiet, metrics_out=args.metrics_out, **sizes, **lora)
    if result["stopped_early"]:
        return 1
    how = "LoRA rank {}".format(args.lora) if args.lora else "every weight"
    print(f"{args.task} on {args.checkpoint} ({how}): trained {result['trainable_params']:,} of "
          f"{result['total_params']:,} parameters ({result['trainable_share']:.2%}), "
          f"{result['seconds_per_step'] * 1000:.0f} ms per step")
    _print_scores("held-out", result["scores"])
    print(f"saved to {out}/")
    return 0


# ---- minifm ner / minifm qa ---------------------------------------------------------------------
def add_ner_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="RUN",
                        help="a folder from `finetune-bert --task ner`")
    parser.add_argument("text", help="the text to tag")


def ner_command(args: argparse.Namespace) -> int:
    """Print the named entities a fine-tuned BERT finds in a text."""
    model, tokenizer, task = load_finetuned(args.checkpoint)
    if task != "ner":
        raise ValueError(f"{args.checkpoint} was fine-tuned for {task}, not ner")
    entities = tag_text(model, tokenizer, args.text)
    for kind, words in entities:
        print(f"{kind:<5} {words}")
    if not entities:
        print("no entities found")
    return 0


def add_qa_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="RUN",
                        help="a folder from `finetune-bert --task qa`")
    parser.add_argument("--context", required=True, help="the text holding the answer")
    parser.add_argument("--question", required=True, help="the question")
    parser.add_argument("--max-answer", type=integer(1), default=8, metavar="N",
                        help="longest answer in WordPieces (default 8)")


def qa_command(args: argparse.Namespace) -> int:
    """Print the span of a context that a fine-tuned BERT gives as the answer, and its score."""
    model, tokenizer, task = load_finetuned(args.checkpoint)
    if task != "qa":
        raise ValueError(f"{args.checkpoint} was fine-tuned for {task}, not qa")
    answer, score = answer_question(model, tokenizer, args.context, args.question, args.max_answer)
    print(f"answer: {answer}  (score {score:.2f}: start + end logit)")
    return 0


COMMANDS = {"finetune-bert": (add_finetune_arguments, finetune_command),
            "ner": (add_ner_arguments, ner_command),
            "qa": (add_qa_arguments, qa_command)}
