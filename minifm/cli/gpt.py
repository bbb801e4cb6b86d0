"""Train a GPT language model on a text file or a built-in toy corpus.

    minifm train gpt --corpus grammar --steps 500 --out out/gpt        (the default corpus)
    minifm train gpt --data input.txt --preset baby --tokenizer bpe --vocab-size 512
    minifm sample out/gpt --prompt "the cat" --max-new-tokens 200 --temperature 0.8 --top-k 10
    minifm finetune out/gpt --corpus agreement --steps 200 --out out/gpt-agreement

``train`` saves ``checkpoint.npz`` (weights, optimizer, tokenizer, config), ``tokenizer.json``,
``loss.png`` and ``metrics.json`` in ``--out``; ``sample`` and ``finetune`` read that folder.
On a built-in corpus, training ends with the corpus's judged score next to chance (see
``minifm.tasks.gpt.corpus_score``). The work is done by ``minifm.tasks.gpt``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from minifm.cli.common import (add_common_train_arguments, add_model_size_arguments,
                               finish_training, output_dir, start_or_resume,
                               train_config_from_args)
from minifm.data.text import TokenData, read_text_file
from minifm.models.gpt import GPT, PRESETS
from minifm.tasks.gpt import (CORPORA, FINETUNE_DEFAULTS, TRAIN_DEFAULTS, build_tokenizer,
                              complete, corpus_score, corpus_text, load_pretrained, model_config,
                              new_model, pretrained_data, start_prompt)
from minifm.tokenizers import Tokenizer
from minifm.training.trainer import TrainConfig, Trainer

MODEL_FLAGS = ("n_layer", "n_head", "n_embd", "context_length", "dropout", "bias")


# ---- minifm train gpt ----------------------------------------------------------------------------
def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    source = g.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="PATH", help="a UTF-8 text file to train on")
    source.add_argument("--corpus", choices=CORPORA,
                        help="a built-in toy corpus (default: grammar)")
    g.add_argument("--digits", type=int, default=2,
                   help="digits per number of the arithmetic corpus (default 2)")
    g.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of the text, from its end, held out for validation (default 0.1)")


def _load_text(args: argparse.Namespace) -> str:
    return read_text_file(args.data) if args.data else corpus_text(args.corpus, args.digits)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The GPT flags of ``minifm train gpt`` (data, tokenizer, model size)."""
    _add_data_arguments(parser)
    g = parser.add_argument_group("tokenizer")
    g.add_argument("--tokenizer", choices=("char", "bpe"), default="char",
                   help="characters, or byte-level BPE trained on the data (default char)")
    g.add_argument("--vocab-size", type=int, help="BPE vocabulary size (default 512)")
    g = add_model_size_arguments(
        parser, PRESETS, "model size (default classroom: 2 layers, 2 heads, width 64, context 32)")
    g.add_argument("--context-length", "--block-size", dest="context_length", type=int,
                   help="context length (--block-size is its old name)")
    g.add_argument("--dropout", type=float, help="dropout probability")
    g.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None,
                   help="biases in the Linear layers")


def train(args: argparse.Namespace) -> int:
    """``minifm train gpt``: train from scratch, or continue with ``--resume``."""
    args.corpus = None if args.data else (args.corpus or "grammar")
    text = _load_text(args)

    def start(config: TrainConfig) -> tuple[GPT, TokenData, Tokenizer]:
        tokenizer = build_tokenizer(args.tokenizer, text, args.vocab_size)
        model_cfg = model_config(args.preset, tokenizer.vocab_size,
                                 **{k: getattr(args, k) for k in MODEL_FLAGS})
        data = TokenData.from_text(text, tokenizer, model_cfg.context_length, args.val_fraction)
        return new_model(model_cfg, config.seed), data, tokenizer

    trainer = start_or_resume(
        args, family="gpt", defaults=TRAIN_DEFAULTS, out=output_dir(args, "out/gpt"),
        model_flags=MODEL_FLAGS + ("vocab_size",), start=start,
        resume_data=lambda ckpt: pretrained_data(text, ckpt.build_tokenizer(),
                                                 ckpt.model_config["context_length"],
                                                 args.val_fraction))
    return _run(trainer, args)


def _run(trainer: Trainer, args: argparse.Namespace) -> int:
    """Train, save the tokenizer and loss curve, and (unless --quiet) report the result."""
    model = trainer.model
    if not args.quiet:
        print(f"training a GPT of {model.num_parameters():,} parameters "
              f"({json.dumps(dataclasses.asdict(model.config))}) on "
              f"{args.corpus or 'the text file'}, {len(trainer.data):,} tokens")
    metrics = finish_training(trainer, trainer.tokenizer)
    if metrics["stopped_early"]:
        return 1
    if args.quiet:
        return 0
    print(f"GPT with {model.num_parameters():,} parameters, {metrics['steps_done']} steps: "
          f"train loss {metrics['final_train_loss']:.4f}, val loss {metrics['final_val_loss']:.4f}")
    tokenizer, rng = trainer.tokenizer, np.random.default_rng(trainer.config.seed)
    prompt = start_prompt(tokenizer)
    print("sample:", repr(prompt + complete(model, tokenizer, [prompt], 200, stop=None,
                                            temperature=1.0, rng=rng)[0]))
    if args.corpus is not None:
        score = corpus_score(args.corpus, model, tokenizer, digits=args.digits)
        guess = "" if score.chance is None else f" (chance {score.chance:.1%})"
        print(f"{score.what}: {score.value:.1%}{guess}")
    print(f"saved to {trainer.out_dir}/ (checkpoint.npz, tokenizer.json, loss.png, metrics.json)")
    return 0


# ---- minifm finetune ----------------------------------------------------------------------------
def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="the pre-trained model: a folder from `train gpt` or its .npz file")
    _add_data_arguments(parser)
    add_common_train_arguments(parser)


def finetune(args: argparse.Namespace) -> int:
    """Fine-tune a trained GPT on a second dataset (same tokenizer, fresh optimizer)."""
    if args.resume:
        raise ValueError("finetune starts from CHECKPOINT; to continue a fine-tuning run use "
                         "`minifm train gpt --resume DIR` with the same --data/--corpus")
    if args.data is None and args.corpus is None:
        raise ValueError("finetune needs the new data: --data PATH or --corpus NAME")
    model, tokenizer = load_pretrained(args.checkpoint)
    data = pretrained_data(_load_text(args), tokenizer, model.config.context_length,
                           args.val_fraction)
    trainer = Trainer(model, data, train_config_from_args(args, FINETUNE_DEFAULTS),
                      out_dir=output_dir(args, "out/gpt-finetune"), tokenizer=tokenizer,
                      family="gpt", quiet=args.quiet, metrics_out=args.metrics_out)
    return _run(trainer, args)


# ---- minifm sample ------------------------------------------------------------------------------
def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a folder from `train gpt` (or its checkpoint.npz)")
    parser.add_argument("--prompt", help="text to continue (default: a newline)")
    parser.add_argument("--num-samples", type=int, default=1, help="independent continuations")
    add_sampling_arguments(parser)


def add_sampling_arguments(parser: argparse.ArgumentParser, max_new_tokens: int = 200,
                           temperature: float = 1.0) -> None:
    """The sampling flags of ``sample`` (also ``chat``'s): length, temperature, top-k, top-p,
    the sampling seed and the KV cache switch, with the given defaults."""
    parser.add_argument("--max-new-tokens", type=int, default=max_new_tokens,
                        help=f"tokens to generate (default {max_new_tokens})")
    parser.add_argument("--temperature", type=float, default=temperature,
                        help=f"0 = greedy; < 1 sharper, > 1 flatter (default {temperature:g})")
    parser.add_argument("--top-k", type=int, help="sample only from the k most likely tokens")
    parser.add_argument("--top-p", type=float,
                        help="sample only from the smallest set of tokens with probability >= p")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling generator")
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute the whole context each step (no KV cache)")


def sample(args: argparse.Namespace) -> int:
    """Generate text from a trained GPT checkpoint."""
    model, tokenizer = load_pretrained(args.checkpoint)
    if args.num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1, got {args.num_samples}")
    ids = tokenizer.encode(start_prompt(tokenizer) if args.prompt is None else args.prompt)
    if not ids:
        raise ValueError("the prompt is empty: give at least one character to continue from")
    idx = np.array([ids] * args.num_samples, dtype=np.int64)              # (B, T)
    out = model.generate(idx, args.max_new_tokens, args.temperature, args.top_k, args.top_p,
                         rng=np.random.default_rng(args.seed), use_cache=not args.no_cache)
    for i, row in enumerate(out):
        if i:
            print("-" * 40)
        print(tokenizer.decode(row.tolist()))
    return 0


COMMANDS = {"sample": (add_sample_arguments, sample),
            "finetune": (add_finetune_arguments, finetune)}
