"""Train a GPT language model on a text file or a built-in toy corpus.

    minifm train gpt --corpus grammar --steps 500 --out out/gpt        (the default corpus)
    minifm train gpt --data input.txt --preset baby --tokenizer bpe --vocab-size 512
    minifm sample out/gpt --prompt "the cat" --max-new-tokens 200 --temperature 0.8 --top-k 10
    minifm finetune out/gpt --corpus agreement --steps 200 --out out/gpt-agreement-lm
    minifm finetune out/gpt --task agreement --compare      (the loss on the yes/no label only)

``train`` saves ``checkpoint.npz`` (weights, optimizer, tokenizer, config), ``tokenizer.json``,
``loss.png`` and ``metrics.json`` in ``--out``; ``sample`` and ``finetune`` read that folder.
``finetune --data/--corpus`` continues language modelling on new text; ``finetune --task``
trains on labelled sentences with the loss on the label only (``minifm.tasks.gpt_labels``).
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
from minifm.cli.flags import integer, real
from minifm.data.text import TokenData, read_text_file
from minifm.models.gpt import GPT, PRESETS
from minifm.tasks.gpt import (CORPORA, FINETUNE_DEFAULTS, TRAIN_DEFAULTS, build_tokenizer,
                              complete, corpus_score, corpus_text, load_pretrained, model_config,
                              new_model, pretrained_data, start_prompt)
from minifm.tasks.gpt_labels import (LABEL_FINETUNE_DEFAULTS, TASKS, agreement_task,
                                     from_scratch, label_accuracy, label_chance)
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
    g.add_argument("--digits", type=integer(1), default=2,
                   help="digits per number of the arithmetic corpus")
    g.add_argument("--val-fraction", type=real(0, 1, low_open=True, high_open=True), default=0.1,
                   help="share of the text, from its end, held out for validation")


def _load_text(args: argparse.Namespace) -> str:
    return read_text_file(args.data) if args.data else corpus_text(args.corpus, args.digits)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The GPT flags of ``minifm train gpt`` (data, tokenizer, model size)."""
    _add_data_arguments(parser)
    g = parser.add_argument_group("tokenizer")
    g.add_argument("--tokenizer", choices=("char", "bpe"), default="char",
                   help="characters, or byte-level BPE trained on the data")
    g.add_argument("--vocab-size", type=integer(1), help="BPE vocabulary size (default: 512)")
    g = add_model_size_arguments(
        parser, PRESETS, "model size (default classroom: 2 layers, 2 heads, width 64, context 32)")
    g.add_argument("--context-length", "--block-size", dest="context_length", type=integer(1),
                   help="context length (--block-size is its old name)")
    g.add_argument("--dropout", type=real(0, 1, high_open=True), help="dropout probability")
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
    return _run(trainer, args, "training")


def _run(trainer: Trainer, args: argparse.Namespace, doing: str) -> int:
    """Train, save the tokenizer and loss curve, and (unless --quiet) report the result."""
    model = trainer.model
    if not args.quiet:
        print(f"{doing} a GPT of {model.num_parameters():,} parameters "
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
    d = LABEL_FINETUNE_DEFAULTS
    g = parser.add_argument_group("labelled task (instead of --data/--corpus)")
    g.add_argument("--task", choices=TASKS,
                   help="fine-tune on labelled sentences, '<sentence> yes|no', with the loss on "
                        "the label only (agreement: does the main verb agree with its "
                        f"subject?); training defaults then: {d.steps} steps of "
                        f"{d.batch_size}, --lr {d.lr:g}")
    g.add_argument("--compare", action="store_true",
                   help="with --task: also train the same model from scratch on the same "
                        "labels, and report both")
    add_common_train_arguments(parser, FINETUNE_DEFAULTS)


def finetune(args: argparse.Namespace) -> int:
    """Fine-tune a trained GPT on new text, or on labelled sentences (--task).

    Same tokenizer, fresh optimizer; with --task the loss is on the label only."""
    if args.resume:
        raise ValueError("finetune starts from CHECKPOINT; to continue a fine-tuning run use "
                         "`minifm train gpt --resume DIR` with the same --data/--corpus")
    if args.task is not None:
        if args.data is not None or args.corpus is not None:
            raise ValueError("--task brings its own labelled data: give --task or "
                             "--data/--corpus, not both")
        return _finetune_on_labels(args)
    if args.compare:
        raise ValueError("--compare applies to --task (labelled fine-tuning)")
    if args.data is None and args.corpus is None:
        raise ValueError("finetune needs the new data: --data PATH, --corpus NAME or "
                         "--task agreement")
    model, tokenizer = load_pretrained(args.checkpoint)
    data = pretrained_data(_load_text(args), tokenizer, model.config.context_length,
                           args.val_fraction)
    trainer = Trainer(model, data, train_config_from_args(args, FINETUNE_DEFAULTS),
                      out_dir=output_dir(args, "out/gpt-finetune"), tokenizer=tokenizer,
                      family="gpt", quiet=args.quiet, metrics_out=args.metrics_out)
    return _run(trainer, args, "fine-tuning")


def _finetune_on_labels(args: argparse.Namespace) -> int:
    """``finetune --task``: the label-only loss, held-out accuracy next to chance and, with
    ``--compare``, next to the same model trained from scratch."""
    model, tokenizer = load_pretrained(args.checkpoint)
    config = train_config_from_args(args, LABEL_FINETUNE_DEFAULTS)
    out = output_dir(args, f"out/gpt-{args.task}")
    data = agreement_task(tokenizer, model.config.context_length)
    trainer = Trainer(model, data, config, out_dir=out, tokenizer=tokenizer, family="gpt",
                      quiet=args.quiet, metrics_out=args.metrics_out)
    if not args.quiet:
        print(f"fine-tuning the GPT of {args.checkpoint} ({model.num_parameters():,} "
              f"parameters) on {len(data):,} labelled sentences, the loss on the yes/no label "
              f"only, for {config.steps} steps" + (", then the same from scratch"
                                                   if args.compare else ""), flush=True)
    metrics = finish_training(trainer, tokenizer)
    if metrics["stopped_early"]:
        return 1
    result: dict = {"val_accuracy": label_accuracy(model, data), "chance": label_chance(data)}
    if args.compare:
        result["scratch"] = from_scratch(model, data, config)
    trainer.write_metrics({**metrics, **result})
    if not args.quiet:
        scratch = ("" if not args.compare else
                   f", from scratch {result['scratch']['val_accuracy']:.1%}")
        print(f"{args.task} accuracy on {len(data.rows['val'])} held-out sentences: fine-tuned "
              f"{result['val_accuracy']:.1%}{scratch} (chance {result['chance']:.1%})")
        print(f"saved to {out}/ (checkpoint.npz, tokenizer.json, loss.png, metrics.json)")
    return 0


# ---- minifm sample ------------------------------------------------------------------------------
def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a folder from `train gpt` (or its checkpoint.npz)")
    parser.add_argument("--prompt", metavar="TEXT", help="text to continue (default: a newline)")
    parser.add_argument("--num-samples", type=integer(1), default=1,
                        help="independent continuations")
    add_sampling_arguments(parser)


def add_sampling_arguments(parser: argparse.ArgumentParser, max_new_tokens: int = 200,
                           temperature: float = 1.0, least_new_tokens: int = 0) -> None:
    """The sampling flags of ``sample`` (also ``chat``'s): length, temperature, top-k, top-p,
    the sampling seed and the KV cache switch, with the given defaults."""
    parser.add_argument("--max-new-tokens", type=integer(least_new_tokens), default=max_new_tokens,
                        help="tokens to generate")
    parser.add_argument("--temperature", type=real(0), default=temperature,
                        help="0 = greedy; < 1 sharper, > 1 flatter")
    parser.add_argument("--top-k", type=integer(1),
                        help="sample only from the k most likely tokens")
    parser.add_argument("--top-p", type=real(0, 1, low_open=True),
                        help="sample only from the smallest set of tokens with probability >= p")
    parser.add_argument("--seed", type=integer(), default=0, help="seed of the sampling generator")
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute the whole context each step (no KV cache)")


def sample(args: argparse.Namespace) -> int:
    """Generate text from a trained GPT checkpoint."""
    model, tokenizer = load_pretrained(args.checkpoint)
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
