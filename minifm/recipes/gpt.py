"""Train a GPT language model on a text file or a built-in toy corpus.

    minifm train gpt --corpus grammar --steps 500 --out out/gpt        (the default corpus)
    minifm train gpt --data input.txt --preset baby --tokenizer bpe --vocab-size 512
    minifm sample out/gpt --prompt "the cat" --max-new-tokens 200 --temperature 0.8 --top-k 10
    minifm finetune out/gpt --corpus agreement --steps 200 --out out/gpt-agreement

``train`` saves ``checkpoint.npz`` (weights, optimizer, tokenizer, config), ``tokenizer.json``,
``loss.png`` and ``metrics.json`` in ``--out``; ``sample`` and ``finetune`` read that folder.
On a built-in corpus, training ends with the corpus's score (see ``minifm.data.corpora``).
This module also holds the GPT stop of ``minifm tour`` (``tour_stop``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from minifm.checkpoint import load_checkpoint
from minifm.cli import add_common_train_arguments, output_dir, train_config_from_args
from minifm.data.corpora import (agreement_accuracy, agreement_corpus, agreement_examples,
                                 arithmetic_accuracy, arithmetic_corpus, arithmetic_problems,
                                 grammar_corpus, score_grammar)
from minifm.data.text import TokenData, read_text_file
from minifm.models.gpt import GPT, PRESETS, GPTConfig, count_params
from minifm.tokenizers import BPETokenizer, CharTokenizer, Tokenizer
from minifm.trainer import TrainConfig, Trainer

CORPORA = ("grammar", "arithmetic", "agreement")
CORPUS_SEED = 0                  # the built-in corpora are the same text whatever --seed says
MAX_TRAIN_PARAMS = 10**9         # bigger presets (gpt3-175b) can be counted, not trained here
MODEL_FLAGS = ("n_layer", "n_head", "n_embd", "block_size", "dropout", "bias")

TRAIN_DEFAULTS = TrainConfig(steps=1000, batch_size=16, lr=3e-3, min_lr=3e-4, warmup_steps=50,
                             eval_interval=100, eval_batches=10)
FINETUNE_DEFAULTS = TrainConfig(steps=200, batch_size=16, lr=1e-3, min_lr=1e-4, warmup_steps=20,
                                eval_interval=50, eval_batches=10)


# ---- data and tokenizer --------------------------------------------------------------------------
def corpus_text(name: str, digits: int = 2) -> str:
    """The text of a built-in corpus (``grammar``, ``arithmetic`` or ``agreement``)."""
    if name == "grammar":
        return grammar_corpus(2000, seed=CORPUS_SEED)
    if name == "arithmetic":
        return arithmetic_corpus(4000, digits=digits, seed=CORPUS_SEED)
    if name == "agreement":
        return agreement_corpus(2000, seed=CORPUS_SEED)
    raise ValueError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")


def _load_text(args: argparse.Namespace) -> str:
    return read_text_file(args.data) if args.data else corpus_text(args.corpus, args.digits)


def build_tokenizer(kind: str, text: str, vocab_size: int | None = None) -> Tokenizer:
    """A tokenizer trained on ``text``: ``char``, or byte-level ``bpe`` of vocab_size (512)."""
    if kind == "char":
        if vocab_size is not None:
            raise ValueError("--vocab-size applies to --tokenizer bpe; a char tokenizer's "
                             "vocabulary is the set of characters in the text")
        return CharTokenizer.train(text)
    if kind == "bpe":
        return BPETokenizer.train(text, 512 if vocab_size is None else vocab_size)
    raise ValueError(f"unknown tokenizer {kind!r}; choose char or bpe")


def model_config(preset: str, vocab_size: int, **overrides: Any) -> GPTConfig:
    """The preset's config with ``vocab_size`` and every override that is not None applied."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    config = dataclasses.replace(PRESETS[preset], vocab_size=vocab_size, **changes)
    n = count_params(config)
    if n > MAX_TRAIN_PARAMS:
        raise ValueError(f"preset {preset!r} has {n:,} parameters; weights, gradients and AdamW "
                         f"state take {16 * n / 1e9:,.0f} GB in float32. Presets this large are "
                         "for counting (minifm.models.gpt.count_params), not for training")
    return config


# ---- text in, text out --------------------------------------------------------------------------
def complete(model: GPT, tokenizer: Tokenizer, prompts: list[str], max_new_tokens: int, *,
             stop: str | None = "\n", temperature: float = 0.0, top_k: int | None = None,
             top_p: float | None = None, rng: np.random.Generator | None = None) -> list[str]:
    """Continue each prompt; return only the generated text, cut before ``stop``.

    Prompts with the same number of tokens are decoded together as one batch.
    """
    encoded = [tokenizer.encode(p) for p in prompts]
    out = [""] * len(prompts)
    for length in sorted({len(ids) for ids in encoded}):
        rows = [i for i, ids in enumerate(encoded) if len(ids) == length]
        idx = np.array([encoded[i] for i in rows], dtype=np.int64)            # (B, length)
        ids = model.generate(idx, max_new_tokens, temperature, top_k, top_p, rng=rng)
        for i, new in zip(rows, ids[:, length:]):
            text = tokenizer.decode(new.tolist())
            out[i] = text.split(stop)[0] if stop else text
    return out


def _start_prompt(tokenizer: Tokenizer) -> str:
    """A newline (a line start) if the tokenizer can encode one, else its first token."""
    try:
        tokenizer.encode("\n")
        return "\n"
    except ValueError:
        return tokenizer.decode([0])


def corpus_score(corpus: str, model: GPT, tokenizer: Tokenizer, *, n: int = 100,
                 digits: int = 2, seed: int = 0) -> tuple[str, float]:
    """(what, value) for a model trained on a built-in corpus: the grammaticality of sampled
    text (grammar), or the exact-match accuracy on held-out problems (arithmetic, agreement)."""
    rng = np.random.default_rng(seed)
    if corpus == "grammar":
        texts = complete(model, tokenizer, ["\n"] * (n // 10), 200, stop=None, temperature=1.0,
                         rng=rng)
        scores = [score_grammar(t) for t in texts]
        total = sum(s.sentences for s in scores)
        return "grammatical sentences", sum(s.grammatical for s in scores) / max(total, 1)
    if corpus == "arithmetic":
        return "exact-match accuracy", arithmetic_accuracy(
            lambda ps: complete(model, tokenizer, ps, digits + 2),
            arithmetic_problems(n, digits, seed=seed + 1))
    if corpus == "agreement":
        return "agreement-judgement accuracy", agreement_accuracy(
            lambda ps: complete(model, tokenizer, ps, 4), agreement_examples(n, seed=seed + 1))
    raise ValueError(f"unknown corpus {corpus!r}")


def _report(trainer: Trainer, metrics: dict, tokenizer: Tokenizer, corpus: str | None,
            digits: int) -> None:
    """Print the run's result: losses, a sample, and the corpus score."""
    model = trainer.model
    print(f"GPT with {model.num_parameters():,} parameters, {metrics['steps_done']} steps: "
          f"train loss {metrics['final_train_loss']:.4f}, val loss {metrics['final_val_loss']:.4f}")
    rng = np.random.default_rng(trainer.config.seed)
    prompt = _start_prompt(tokenizer)
    print("sample:", repr(prompt + complete(model, tokenizer, [prompt], 200, stop=None,
                                            temperature=1.0, rng=rng)[0]))
    if corpus is not None:
        what, value = corpus_score(corpus, model, tokenizer, digits=digits)
        print(f"{what}: {value:.1%}")
    if trainer.out_dir is not None:
        print(f"saved to {trainer.out_dir}/ (checkpoint.npz, tokenizer.json, loss.png, "
              "metrics.json)")


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


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The GPT flags of ``minifm train gpt`` (data, tokenizer, model size)."""
    _add_data_arguments(parser)
    g = parser.add_argument_group("tokenizer")
    g.add_argument("--tokenizer", choices=("char", "bpe"), default="char",
                   help="characters, or byte-level BPE trained on the data (default char)")
    g.add_argument("--vocab-size", type=int, help="BPE vocabulary size (default 512)")
    g = parser.add_argument_group("model (a preset, then any override)")
    g.add_argument("--preset", choices=sorted(PRESETS), default="classroom",
                   help="model size (default classroom: 2 layers, 2 heads, width 64, block 32)")
    g.add_argument("--n-layer", type=int, help="transformer blocks")
    g.add_argument("--n-head", type=int, help="attention heads")
    g.add_argument("--n-embd", type=int, help="model width")
    g.add_argument("--block-size", type=int, help="context length")
    g.add_argument("--dropout", type=float, help="dropout probability")
    g.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None,
                   help="biases in the Linear layers")


def train(args: argparse.Namespace) -> int:
    """``minifm train gpt``: train from scratch, or continue with ``--resume``."""
    corpus = None if args.data else (args.corpus or "grammar")
    args.corpus = corpus
    text = _load_text(args)
    out = output_dir(args, "out/gpt")
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in MODEL_FLAGS if getattr(args, k) is not None]
        given += ["--vocab-size"] if args.vocab_size is not None else []
        if given:
            raise ValueError(f"{', '.join(given)} cannot change when resuming: the model and "
                             "tokenizer come from the checkpoint")
        ckpt = load_checkpoint(args.resume, family="gpt")
        tokenizer = ckpt.build_tokenizer()
        data = TokenData.from_text(text, tokenizer, ckpt.model_config["block_size"],
                                   args.val_fraction)
        base = TrainConfig(**ckpt.train_config) if ckpt.train_config else TRAIN_DEFAULTS
        trainer = Trainer.from_checkpoint(ckpt.path, data,
                                          config=train_config_from_args(args, base),
                                          family="gpt", out_dir=out, quiet=args.quiet,
                                          metrics_out=args.metrics_out)
    else:
        tokenizer = build_tokenizer(args.tokenizer, text, args.vocab_size)
        config = model_config(args.preset, tokenizer.vocab_size,
                              **{k: getattr(args, k) for k in MODEL_FLAGS})
        data = TokenData.from_text(text, tokenizer, config.block_size, args.val_fraction)
        train_config = train_config_from_args(args, TRAIN_DEFAULTS)
        model = GPT(config, rng=np.random.default_rng([train_config.seed, 2]))
        trainer = Trainer(model, data, train_config, out_dir=out, tokenizer=tokenizer,
                          family="gpt", quiet=args.quiet, metrics_out=args.metrics_out)
    return _run(trainer, tokenizer, corpus, args.digits, out, args.quiet)


def _run(trainer: Trainer, tokenizer: Tokenizer, corpus: str | None, digits: int, out: Path,
         quiet: bool) -> int:
    if not quiet:
        print(f"training a GPT of {trainer.model.num_parameters():,} parameters "
              f"({json.dumps(dataclasses.asdict(trainer.model.config))}) on "
              f"{corpus or 'the text file'}, {len(trainer.data):,} tokens")
    metrics = trainer.run()
    tokenizer.save(out / "tokenizer.json")
    if metrics["stopped_early"]:
        return 1
    if not quiet:
        _report(trainer, metrics, tokenizer, corpus, digits)
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
    ckpt = load_checkpoint(args.checkpoint, family="gpt")
    tokenizer = ckpt.build_tokenizer()
    if tokenizer is None:
        raise ValueError(f"checkpoint {ckpt.path} has no tokenizer to encode the new data with")
    text = _load_text(args)
    try:
        ids = tokenizer.encode(text)
    except ValueError as e:
        raise ValueError(f"the fine-tuning data must use the pre-trained tokenizer's vocabulary: "
                         f"{e}") from e
    data = TokenData(np.array(ids, dtype=np.int64), ckpt.model_config["block_size"],
                     args.val_fraction)
    trainer = Trainer(ckpt.build_model(), data, train_config_from_args(args, FINETUNE_DEFAULTS),
                      out_dir=output_dir(args, "out/gpt-finetune"), tokenizer=tokenizer,
                      family="gpt", quiet=args.quiet, metrics_out=args.metrics_out)
    corpus = None if args.data else args.corpus
    return _run(trainer, tokenizer, corpus, args.digits, trainer.out_dir, args.quiet)


# ---- minifm sample ------------------------------------------------------------------------------
def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a folder from `train gpt` (or its checkpoint.npz)")
    parser.add_argument("--prompt", help="text to continue (default: a newline)")
    parser.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="0 = greedy; < 1 sharper, > 1 flatter (default 1)")
    parser.add_argument("--top-k", type=int, help="sample only from the k most likely tokens")
    parser.add_argument("--top-p", type=float,
                        help="sample only from the smallest set of tokens with probability >= p")
    parser.add_argument("--num-samples", type=int, default=1, help="independent continuations")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling generator")
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute the whole context each step (no KV cache)")


def sample(args: argparse.Namespace) -> int:
    """Generate text from a trained GPT checkpoint."""
    ckpt = load_checkpoint(args.checkpoint, family="gpt")
    tokenizer = ckpt.build_tokenizer()
    if tokenizer is None:
        raise ValueError(f"checkpoint {ckpt.path} has no tokenizer to encode the prompt with")
    if args.num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1, got {args.num_samples}")
    prompt = _start_prompt(tokenizer) if args.prompt is None else args.prompt
    ids = tokenizer.encode(prompt)
    if not ids:
        raise ValueError("the prompt is empty: give at least one character to continue from")
    model = ckpt.build_model()
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


# ---- the tour's GPT stop -------------------------------------------------------------------------
def tour_stop(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Train a tiny GPT on the grammar corpus; show samples and grammaticality before and after.

    Returns the numbers the tour prints and tests check: the validation loss and the share of
    grammatical sampled sentences before and after training, and the loss plot's path.
    """
    text = grammar_corpus(300 if quick else 2000, seed=CORPUS_SEED)
    tokenizer = CharTokenizer.train(text)
    # Sentences run to ~50 characters: a context of 64 lets the model see the subject from the
    # verb that must agree with it.
    size = {"n_layer": 1, "n_embd": 32, "block_size": 16} if quick else {"block_size": 64}
    config = model_config("classroom", tokenizer.vocab_size, **size)
    data = TokenData.from_text(text, tokenizer, config.block_size)
    if quick:
        train_config = dataclasses.replace(TRAIN_DEFAULTS, steps=40, warmup_steps=5,
                                           eval_interval=20, eval_batches=2)
    else:
        train_config = dataclasses.replace(TRAIN_DEFAULTS, steps=1500, eval_interval=250)
    model = GPT(config, rng=np.random.default_rng([train_config.seed, 2]))
    n_samples, length = (4, 60) if quick else (20, 200)

    def show(when: str) -> float:
        texts = complete(model, tokenizer, ["\n"] * n_samples, length, stop=None,
                         temperature=1.0, rng=np.random.default_rng(0))
        scores = [score_grammar(t) for t in texts]
        total = sum(s.sentences for s in scores)
        share = sum(s.grammatical for s in scores) / max(total, 1)
        print(f"\n{when} training, three samples:")
        for t in texts[:3]:
            print("   ", t.strip().split("\n")[0][:100])
        print(f"grammatical: {share:.0%} of {total} complete sentences sampled")
        return share

    print(f"The grammar corpus: {len(text):,} characters of sentences like "
          f"{text.splitlines()[0]!r}.\nA GPT with {model.num_parameters():,} parameters learns "
          "to continue them, one character at a time.")
    before = show("Before")
    trainer = Trainer(model, data, train_config, out_dir=out_dir, tokenizer=tokenizer,
                      family="gpt", quiet=quick)
    loss_before = trainer.evaluate()
    print(f"\nTraining for {train_config.steps} steps (validation loss now {loss_before:.3f}; "
          f"guessing uniformly among {tokenizer.vocab_size} characters gives "
          f"ln {tokenizer.vocab_size} = {np.log(tokenizer.vocab_size):.3f}) ...")
    metrics = trainer.run()
    after = show("After")
    plot = out_dir / "loss.png"
    print(f"\nvalidation loss {loss_before:.3f} -> {metrics['final_val_loss']:.3f}; "
          f"grammatical sentences {before:.0%} -> {after:.0%}; loss curve: {plot}")
    return {"loss_before": loss_before, "loss_after": metrics["final_val_loss"],
            "grammatical_before": before, "grammatical_after": after, "plot": plot}
