"""Pre-train a BERT on the built-in stories (masked LM + next sentence), then fine-tune it.

    minifm train bert --steps 3000 --out out/bert                 masked LM + next sentence
    minifm fill-mask out/bert "so he takes his [MASK] ." --pair "it is rainy today ."
    minifm finetune-bert out/bert --labelled 32 --out out/bert-sentiment
    minifm finetune-bert out/bert --compare --seeds 0 1 2         pre-trained vs from scratch

``train`` writes ``checkpoint.npz`` (weights, optimizer, tokenizer, config), ``tokenizer.json``,
``loss.png`` and ``metrics.json`` (with the held-out masked-LM and next-sentence accuracy) to
``--out``. The work is done by ``minifm.tasks.bert``; this module is its flags and printing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from minifm.atomic import atomic_write
from minifm.cli.common import (add_common_train_arguments, add_model_size_arguments,
                               finish_training, output_dir, start_or_resume,
                               train_config_from_args)
from minifm.cli.flags import integer, real
from minifm.data.bert_data import PretrainingData
from minifm.models.bert import PRESETS, BertForPreTraining
from minifm.tasks.bert import (FINETUNE_DEFAULTS, MODEL_FLAGS, N_DOCUMENTS, N_HELD_OUT,
                               N_LABELLED, TRAIN_DEFAULTS, accuracy, check_fits, classifier,
                               fill_mask, load_pretrained, majority_share, measure_transfer,
                               model_config, pretraining_accuracy, pretraining_chance,
                               probe_lines, sentiment_data, story_data)
from minifm.tokenizers.wordpiece import WordPieceTokenizer
from minifm.training.seeds import stream
from minifm.training.trainer import TrainConfig, Trainer


# ---- minifm train bert -------------------------------------------------------------------------
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The BERT flags of ``minifm train bert`` (data and model size)."""
    g = parser.add_argument_group("data")
    g.add_argument("--documents", type=integer(1), default=N_DOCUMENTS,
                   help="stories in the built-in corpus")
    g.add_argument("--mask-prob", type=real(0, 1, low_open=True), default=0.15,
                   help="share of real tokens the masked LM must recover")
    g = add_model_size_arguments(parser, PRESETS,
                                 "model size (default classroom: 2 layers, 4 heads, width 64)")
    g.add_argument("--n-inner", type=integer(1), help="feed-forward width")
    g.add_argument("--context-length", "--max-len", dest="context_length", type=integer(1),
                   help="longest input, the rows of the position embedding (--max-len: the "
                        "old spelling)")
    g.add_argument("--dropout", type=real(0, 1, high_open=True), help="dropout probability")
    g.add_argument("--norm-first", action=argparse.BooleanOptionalAction, default=None,
                   help="pre-LN blocks instead of BERT's post-LN")


def train(args: argparse.Namespace) -> int:
    """``minifm train bert``: pre-train from scratch, or continue with ``--resume``."""
    def start(config: TrainConfig
              ) -> tuple[BertForPreTraining, PretrainingData, WordPieceTokenizer]:
        tokenizer, data = story_data(args.documents, args.mask_prob)
        model_cfg = model_config(args.preset, tokenizer.vocab_size,
                                 **{k: getattr(args, k) for k in MODEL_FLAGS})
        return BertForPreTraining(model_cfg, rng=stream(config.seed, "init")), data, tokenizer

    trainer = start_or_resume(
        args, family="bert", defaults=TRAIN_DEFAULTS, out=output_dir(args, "out/bert"),
        model_flags=MODEL_FLAGS, start=start,
        resume_data=lambda ckpt: story_data(args.documents, args.mask_prob,
                                            ckpt.build_tokenizer())[1])
    model, data, tokenizer = trainer.model, trainer.data, trainer.tokenizer
    check_fits(data, model.config)
    if not args.quiet:
        print(f"pre-training a BERT of {model.num_parameters():,} parameters "
              f"({json.dumps(dataclasses.asdict(model.config))}) on {args.documents:,} stories")
    metrics = finish_training(trainer, tokenizer)
    if metrics["stopped_early"]:
        return 1
    acc, chance = pretraining_accuracy(model, data), pretraining_chance(model.config)
    trainer.write_metrics({**metrics, **acc, "chance": chance})
    if not args.quiet:
        print(f"{metrics['steps_done']} steps: train loss {metrics['final_train_loss']:.4f}, val "
              f"loss {metrics['final_val_loss']:.4f} (masked LM + next sentence, summed)")
        print(f"held-out masked-LM accuracy {acc['mlm_accuracy']:.1%} (chance "
              f"{chance['mlm_accuracy']:.1%}: 1 of {model.config.vocab_size} tokens), "
              f"next-sentence accuracy {acc['nsp_accuracy']:.1%} (chance "
              f"{chance['nsp_accuracy']:.0%})")
        print("fill in the blank:")
        print("\n".join(probe_lines(model, tokenizer)[1]))
        print(f"saved to {trainer.out_dir}/ (checkpoint.npz, tokenizer.json, loss.png, "
              "metrics.json)")
    return 0


# ---- minifm fill-mask ------------------------------------------------------------------------
def add_fill_mask_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a folder from `train bert` (or its checkpoint.npz)")
    parser.add_argument("text", help="text with one or more [MASK] tokens")
    parser.add_argument("--pair", metavar="TEXT", help="a second sentence (segment B)")
    parser.add_argument("--top-k", type=integer(1), default=5, help="guesses shown per [MASK]")


def fill_mask_command(args: argparse.Namespace) -> int:
    """Show a pre-trained BERT's guesses for each [MASK] in a text."""
    model, tokenizer = load_pretrained(args.checkpoint)
    for i, guesses in enumerate(fill_mask(model, tokenizer, args.text, args.pair, args.top_k)):
        print(f"[MASK] {i + 1}: " + ", ".join(f"{t} ({p:.1%})" for t, p in guesses))
    return 0


# ---- minifm finetune-bert ----------------------------------------------------------------------
def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="the pre-trained BERT: a folder from `train bert` or its .npz file")
    g = parser.add_argument_group("task")
    g.add_argument("--labelled", type=integer(2), default=N_LABELLED,
                   help="labelled training sentences")
    g.add_argument("--held-out", type=integer(1), default=N_HELD_OUT,
                   help="held-out sentences, with unseen adjectives")
    g.add_argument("--scratch", action="store_true",
                   help="the baseline: same architecture and tokenizer, random weights")
    g.add_argument("--compare", action="store_true",
                   help="fine-tune pre-trained and from-scratch models for each of --seeds and "
                        "report both (writes transfer.json to --out)")
    g.add_argument("--seeds", type=integer(), nargs="+", default=[0, 1, 2],
                   help="seeds for --compare (default: 0 1 2)")
    add_common_train_arguments(parser, FINETUNE_DEFAULTS)


def _compare(args: argparse.Namespace, pretrained: BertForPreTraining,
             tokenizer: WordPieceTokenizer, train_config: TrainConfig, out: Path) -> int:
    """``finetune-bert --compare``: the transfer measurement, printed and saved."""
    result = measure_transfer(pretrained.bert, tokenizer, args.seeds, args.labelled,
                              train_config, args.held_out)
    for i, seed in enumerate(result["seeds"]):
        print(f"seed {seed}: pre-trained {result['pretrained'][i]:.1%}, from scratch "
              f"{result['scratch'][i]:.1%}")
    print(f"held-out accuracy over {len(args.seeds)} seeds ({args.labelled} labelled, "
          f"{train_config.steps} steps): pre-trained {result['pretrained_mean']:.1%}, from "
          f"scratch {result['scratch_mean']:.1%}, margin {result['margin']:+.1%} (chance "
          f"{result['chance']:.1%})")
    print(f"saved to {out}/transfer.json")
    text = json.dumps(result, indent=1).encode("utf-8")
    atomic_write(out / "transfer.json", lambda f: f.write(text))
    return 0


def finetune(args: argparse.Namespace) -> int:
    """Fine-tune a pre-trained BERT on sentiment, or compare it with starting from scratch."""
    if args.resume:
        raise ValueError("finetune-bert starts from CHECKPOINT; to continue a fine-tuning run, "
                         "run it again with more --steps")
    pretrained, tokenizer = load_pretrained(args.checkpoint)
    train_config = train_config_from_args(args, FINETUNE_DEFAULTS)
    out = output_dir(args, "out/bert-finetune")
    if args.compare:
        return _compare(args, pretrained, tokenizer, train_config, out)
    data = sentiment_data(tokenizer, args.labelled, args.held_out,
                          pretrained.config.context_length)
    model = classifier(pretrained.config, None if args.scratch else pretrained.bert, 2,
                       train_config.seed)
    trainer = Trainer(model, data, train_config, out_dir=out,
                      tokenizer=tokenizer, family="bert-classifier", quiet=args.quiet,
                      metrics_out=args.metrics_out)
    metrics = finish_training(trainer)
    if metrics["stopped_early"]:
        return 1
    acc = {"train_accuracy": accuracy(model, data, "train"),
           "val_accuracy": accuracy(model, data, "val"), "chance": majority_share(data, "val")}
    trainer.write_metrics({**metrics, **acc})
    print(f"{'from scratch' if args.scratch else 'fine-tuned'}: accuracy on the {args.labelled} "
          f"labelled sentences {acc['train_accuracy']:.1%}, on {args.held_out} held-out "
          f"sentences with unseen adjectives {acc['val_accuracy']:.1%} (chance "
          f"{acc['chance']:.1%}: always the commoner label)")
    print(f"saved to {out}/ (checkpoint.npz, loss.png, metrics.json)")
    return 0


COMMANDS = {"fill-mask": (add_fill_mask_arguments, fill_mask_command)}   # finetune-bert: bert_tasks
