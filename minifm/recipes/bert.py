"""Pre-train a BERT on the built-in stories (masked LM + next sentence), then fine-tune it.

    minifm train bert --steps 3000 --out out/bert                 masked LM + next sentence
    minifm fill-mask out/bert "so he takes his [MASK] ." --pair "it is rainy today ."
    minifm finetune-bert out/bert --labelled 32 --out out/bert-sentiment
    minifm finetune-bert out/bert --compare --seeds 0 1 2         pre-trained vs from scratch

The corpus is ``minifm.data.stories``: little stories whose words and sentence order follow
rules. Fine-tuning learns whether a character liked a meal from a few labelled sentences; the
held-out sentences use adjectives that no labelled sentence contains, so only what pre-training
learnt about those words can carry over (``measure_transfer`` puts a number on it).
``train`` writes ``checkpoint.npz`` (weights, optimizer, tokenizer, config), ``tokenizer.json``,
``loss.png`` and ``metrics.json`` to ``--out``. This module also holds the BERT stop of
``minifm tour`` (``tour_stop``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from minifm.atomic import atomic_write
from minifm.checkpoint import load_checkpoint
from minifm.cli import add_common_train_arguments, output_dir, train_config_from_args
from minifm.data.bert_data import IGNORE_INDEX, LabelledTextData, PretrainingData
from minifm.data.stories import sentiment_examples, story_corpus
from minifm.models.bert import (PRESETS, Bert, BertConfig, BertForPreTraining,
                                BertForSequenceClassification, count_params)
from minifm.tokenizers.wordpiece import WordPieceTokenizer
from minifm.trainer import TrainConfig, Trainer

CORPUS_SEED = 0                  # the stories are the same whatever --seed says
N_DOCUMENTS = 3000
VOCAB_SIZE = 512                 # room for every word of the stories as a whole token
N_LABELLED, N_HELD_OUT = 32, 400
MAX_TRAIN_PARAMS = 10**9
MODEL_FLAGS = ("n_layer", "n_head", "n_embd", "n_inner", "max_len", "dropout", "norm_first")

TRAIN_DEFAULTS = TrainConfig(steps=3000, batch_size=32, lr=1e-3, min_lr=1e-4, warmup_steps=100,
                             eval_interval=500, eval_batches=10)
FINETUNE_DEFAULTS = TrainConfig(steps=150, batch_size=16, lr=3e-4, min_lr=3e-5, warmup_steps=10,
                                eval_interval=50, eval_batches=5)

# Fill-in-the-blank probes, (sentence A, sentence B with one [MASK]) and the rule behind each.
PROBES = [("it is rainy today .", "so he takes his [MASK] .", "rain -> umbrella"),
          ("mia feeds her cat .", "the cat [MASK] .", "cat -> meows"),
          ("then she walks to the library .", "at the library she [MASK] a book .",
           "library -> reads"),
          ("it is [MASK] today .", "so he takes his kite .", "kite -> windy, from the right"),
          ("for lunch tom eats soup .", "the soup is [MASK] so he frowns .", "frown -> bad food")]


# ---- data, models and what they learnt -------------------------------------------------------
def story_data(n_documents: int = N_DOCUMENTS, mask_prob: float = 0.15,
               tokenizer: WordPieceTokenizer | None = None
               ) -> tuple[WordPieceTokenizer, PretrainingData]:
    """The built-in stories as pre-training batches, and a WordPiece tokenizer built on them
    (unless one is given, e.g. a checkpoint's)."""
    documents = story_corpus(n_documents, seed=CORPUS_SEED)
    if tokenizer is None:
        tokenizer = WordPieceTokenizer.train([s for doc in documents for s in doc], VOCAB_SIZE)
    return tokenizer, PretrainingData(documents, tokenizer, mask_prob=mask_prob)


def sentiment_data(tokenizer: WordPieceTokenizer, n_labelled: int = N_LABELLED,
                   n_held_out: int = N_HELD_OUT, max_len: int = 64) -> LabelledTextData:
    """The labelled task: "train" = ``n_labelled`` sentences with the labelled adjectives,
    "val" = ``n_held_out`` sentences with the held-out adjectives (see minifm.data.stories)."""
    return LabelledTextData({"train": sentiment_examples(n_labelled, "train", seed=1),
                             "val": sentiment_examples(n_held_out, "val", seed=2)},
                            tokenizer, max_len)


def model_config(preset: str, vocab_size: int, **overrides: Any) -> BertConfig:
    """The preset's config with ``vocab_size`` and every override that is not None applied."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    config = dataclasses.replace(PRESETS[preset], vocab_size=vocab_size, **changes)
    n = count_params(config, "pretraining")
    if n > MAX_TRAIN_PARAMS:
        raise ValueError(f"preset {preset!r} has {n:,} parameters: too large to train here")
    return config


def pretrain(train_config: TrainConfig = TRAIN_DEFAULTS, preset: str = "classroom",
             n_documents: int = N_DOCUMENTS, **overrides: Any
             ) -> tuple[BertForPreTraining, WordPieceTokenizer, PretrainingData]:
    """Pre-train a BERT on the stories, quietly, as ``minifm train bert`` does (no files).

    ``overrides`` change the preset's config (``n_layer=1``, ...). Returns the model, its
    tokenizer and the data (for ``pretraining_accuracy``).
    """
    tokenizer, data = story_data(n_documents)
    config = model_config(preset, tokenizer.vocab_size, **overrides)
    model = BertForPreTraining(config, rng=np.random.default_rng([train_config.seed, 2]))
    Trainer(model, data, train_config, quiet=True).run()
    return model, tokenizer, data


def pretraining_accuracy(model: BertForPreTraining, data: PretrainingData, split: str = "val",
                         n_pairs: int = 512, seed: int = 0) -> dict[str, float]:
    """Masked-LM accuracy (argmax = the hidden token, over the chosen positions) and
    next-sentence accuracy on ``n_pairs`` fresh pairs of ``split``, in eval mode."""
    ids, segments, attention, mlm_labels, nsp_labels = data.get_batch(
        split, n_pairs, np.random.default_rng(seed))
    was_training = model.training
    model.eval()
    out, _ = model(ids, segments, attention)
    model.train(was_training)
    chosen = mlm_labels != IGNORE_INDEX
    return {"mlm_accuracy": float(np.mean(out.mlm_logits.argmax(-1)[chosen] == mlm_labels[chosen])),
            "nsp_accuracy": float(np.mean(out.nsp_logits.argmax(-1) == nsp_labels))}


def fill_mask(model: BertForPreTraining, tokenizer: WordPieceTokenizer, text: str,
              text_pair: str | None = None, top_k: int = 3) -> list[list[tuple[str, float]]]:
    """For each [MASK] in ``text`` (+ ``text_pair``), the ``top_k`` likeliest tokens with
    their probabilities, likeliest first."""
    enc = tokenizer(text, text_pair)
    positions = np.flatnonzero(enc["input_ids"] == tokenizer.mask_token_id)
    if len(positions) == 0:
        pair = f" / {text_pair!r}" if text_pair else ""
        raise ValueError(f"no [MASK] token in {text!r}{pair}")
    if len(enc["input_ids"]) > model.config.max_len:
        raise ValueError(f"the text is {len(enc['input_ids'])} tokens long; this model reads at "
                         f"most {model.config.max_len}")
    was_training = model.training
    model.eval()
    out, _ = model(enc["input_ids"][None], enc["token_type_ids"][None])
    model.train(was_training)
    logits = out.mlm_logits[0, positions]                                   # (n_masks, V)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    best = np.argsort(-probs, axis=-1)[:, :top_k]
    return [[(tokenizer.vocab[i], float(p[i])) for i in row] for row, p in zip(best, probs)]


def accuracy(model: BertForSequenceClassification, data: LabelledTextData, split: str) -> float:
    """Share of the split's texts whose argmax class is the label (eval mode)."""
    *inputs, labels = data.rows(split)
    was_training = model.training
    model.eval()
    logits, _ = model(*inputs)
    model.train(was_training)
    return float(np.mean(logits.argmax(-1) == labels))


def classifier(config: BertConfig, encoder: Bert | None, n_classes: int,
               seed: int) -> BertForSequenceClassification:
    """A sequence classifier: the given encoder's weights (copied), or random ones (None)."""
    model = BertForSequenceClassification(dataclasses.replace(config, n_classes=n_classes),
                                          rng=np.random.default_rng([seed, 7]))
    if encoder is not None:
        model.bert.load_state_dict(encoder.state_dict())
    return model


def measure_transfer(encoder: Bert, tokenizer: WordPieceTokenizer,
                     seeds: Sequence[int] = (0, 1, 2), n_labelled: int = N_LABELLED,
                     train_config: TrainConfig = FINETUNE_DEFAULTS,
                     n_held_out: int = N_HELD_OUT) -> dict[str, Any]:
    """Fine-tune the pre-trained ``encoder`` and, as the baseline, the same architecture from
    random weights: same labelled set, same steps, same hyperparameters, one run of each per
    seed (the seed sets the classifier's initialisation and the batch order, shared by both).

    Returns held-out accuracies per seed (``pretrained``, ``scratch``), their means and
    ``margin`` = mean(pretrained) - mean(scratch).
    """
    data = sentiment_data(tokenizer, n_labelled, n_held_out, encoder.config.max_len)
    result: dict[str, Any] = {"pretrained": [], "scratch": []}
    for seed in seeds:
        config = dataclasses.replace(train_config, seed=seed, eval_interval=train_config.steps)
        for name, weights in (("pretrained", encoder), ("scratch", None)):
            model = classifier(encoder.config, weights, 2, seed)
            Trainer(model, data, config, quiet=True).run()
            result[name].append(accuracy(model, data, "val"))
    for name in ("pretrained", "scratch"):
        result[f"{name}_mean"] = float(np.mean(result[name]))
    result["margin"] = result["pretrained_mean"] - result["scratch_mean"]
    result.update(seeds=list(seeds), n_labelled=n_labelled, steps=train_config.steps)
    return result


def _show_probes(model: BertForPreTraining, tokenizer: WordPieceTokenizer) -> list[str]:
    tops = []
    for a, b, rule in PROBES:
        guesses = fill_mask(model, tokenizer, a, b)[0]
        tops.append(guesses[0][0])
        shown = ", ".join(f"{t} {p:.0%}" for t, p in guesses)
        print(f"  {a + ' ' + b:<66} [{rule}]: {shown}")
    return tops


# ---- minifm train bert -------------------------------------------------------------------------
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The BERT flags of ``minifm train bert`` (data and model size)."""
    g = parser.add_argument_group("data")
    g.add_argument("--documents", type=int, default=N_DOCUMENTS,
                   help=f"stories in the built-in corpus (default {N_DOCUMENTS})")
    g.add_argument("--mask-prob", type=float, default=0.15,
                   help="share of real tokens the masked LM must recover (default 0.15)")
    g = parser.add_argument_group("model (a preset, then any override)")
    g.add_argument("--preset", choices=sorted(PRESETS), default="classroom",
                   help="model size (default classroom: 2 layers, 4 heads, width 64)")
    g.add_argument("--n-layer", type=int, help="transformer blocks")
    g.add_argument("--n-head", type=int, help="attention heads")
    g.add_argument("--n-embd", type=int, help="model width")
    g.add_argument("--n-inner", type=int, help="feed-forward width")
    g.add_argument("--max-len", type=int, help="longest input (position embeddings)")
    g.add_argument("--dropout", type=float, help="dropout probability")
    g.add_argument("--norm-first", action=argparse.BooleanOptionalAction, default=None,
                   help="pre-LN blocks instead of BERT's post-LN")


def train(args: argparse.Namespace) -> int:
    """``minifm train bert``: pre-train from scratch, or continue with ``--resume``."""
    out = output_dir(args, "out/bert")
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in MODEL_FLAGS if getattr(args, k) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} cannot change when resuming: the model comes "
                             "from the checkpoint")
        ckpt = load_checkpoint(args.resume, family="bert")
        tokenizer, data = story_data(args.documents, args.mask_prob, ckpt.build_tokenizer())
        base = TrainConfig(**ckpt.train_config) if ckpt.train_config else TRAIN_DEFAULTS
        trainer = Trainer.from_checkpoint(ckpt.path, data,
                                          config=train_config_from_args(args, base),
                                          family="bert", out_dir=out, quiet=args.quiet,
                                          metrics_out=args.metrics_out)
    else:
        tokenizer, data = story_data(args.documents, args.mask_prob)
        config = model_config(args.preset, tokenizer.vocab_size,
                              **{k: getattr(args, k) for k in MODEL_FLAGS})
        train_config = train_config_from_args(args, TRAIN_DEFAULTS)
        model = BertForPreTraining(config, rng=np.random.default_rng([train_config.seed, 2]))
        trainer = Trainer(model, data, train_config, out_dir=out, tokenizer=tokenizer,
                          family="bert", quiet=args.quiet, metrics_out=args.metrics_out)
    if data.max_len > trainer.model.config.max_len:
        raise ValueError(f"the longest sentence pair has {data.max_len} tokens but max_len is "
                         f"{trainer.model.config.max_len}")
    model = trainer.model
    if not args.quiet:
        print(f"pre-training a BERT of {model.num_parameters():,} parameters "
              f"({json.dumps(dataclasses.asdict(model.config))}) on {args.documents:,} stories")
    metrics = trainer.run()
    tokenizer.save(out / "tokenizer.json")
    if metrics["stopped_early"]:
        return 1
    if not args.quiet:
        acc = pretraining_accuracy(model, data)
        print(f"{metrics['steps_done']} steps: train loss {metrics['final_train_loss']:.4f}, val "
              f"loss {metrics['final_val_loss']:.4f}; held-out masked-LM accuracy "
              f"{acc['mlm_accuracy']:.1%}, next-sentence accuracy {acc['nsp_accuracy']:.1%}")
        print("fill in the blank:")
        _show_probes(model, tokenizer)
        print(f"saved to {out}/ (checkpoint.npz, tokenizer.json, loss.png, metrics.json)")
    return 0


# ---- minifm fill-mask ------------------------------------------------------------------------
def _load_pretrained(path: str) -> tuple[BertForPreTraining, WordPieceTokenizer]:
    ckpt = load_checkpoint(path, family="bert")
    tokenizer = ckpt.build_tokenizer()
    if tokenizer is None:
        raise ValueError(f"checkpoint {ckpt.path} has no tokenizer")
    return ckpt.build_model(), tokenizer


def add_fill_mask_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a folder from `train bert` (or its checkpoint.npz)")
    parser.add_argument("text", help="text with one or more [MASK] tokens")
    parser.add_argument("--pair", metavar="TEXT", help="a second sentence (segment B)")
    parser.add_argument("--top-k", type=int, default=5, help="guesses shown per [MASK] (default 5)")


def fill_mask_command(args: argparse.Namespace) -> int:
    """Show a pre-trained BERT's guesses for each [MASK] in a text."""
    if args.top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {args.top_k}")
    model, tokenizer = _load_pretrained(args.checkpoint)
    for i, guesses in enumerate(fill_mask(model, tokenizer, args.text, args.pair, args.top_k)):
        print(f"[MASK] {i + 1}: " + ", ".join(f"{t} ({p:.1%})" for t, p in guesses))
    return 0


# ---- minifm finetune-bert ----------------------------------------------------------------------
def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="the pre-trained BERT: a folder from `train bert` or its .npz file")
    g = parser.add_argument_group("task")
    g.add_argument("--labelled", type=int, default=N_LABELLED,
                   help=f"labelled training sentences (default {N_LABELLED})")
    g.add_argument("--held-out", type=int, default=N_HELD_OUT,
                   help=f"held-out sentences, with unseen adjectives (default {N_HELD_OUT})")
    g.add_argument("--scratch", action="store_true",
                   help="the baseline: same architecture and tokenizer, random weights")
    g.add_argument("--compare", action="store_true",
                   help="fine-tune pre-trained and from-scratch models for each of --seeds and "
                        "report both (writes transfer.json to --out)")
    g.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="seeds for --compare (default 0 1 2)")
    add_common_train_arguments(parser)


def finetune(args: argparse.Namespace) -> int:
    """Fine-tune a pre-trained BERT on sentiment, or compare it with starting from scratch."""
    if args.resume:
        raise ValueError("finetune-bert starts from CHECKPOINT; to continue a fine-tuning run, "
                         "run it again with more --steps")
    if args.labelled < 2 or args.held_out < 1:
        raise ValueError(f"--labelled must be >= 2 and --held-out >= 1, got {args.labelled} "
                         f"and {args.held_out}")
    pretrained, tokenizer = _load_pretrained(args.checkpoint)
    train_config = train_config_from_args(args, FINETUNE_DEFAULTS)
    out = output_dir(args, "out/bert-finetune")
    if args.compare:
        result = measure_transfer(pretrained.bert, tokenizer, args.seeds, args.labelled,
                                  train_config, args.held_out)
        for i, seed in enumerate(result["seeds"]):
            print(f"seed {seed}: pre-trained {result['pretrained'][i]:.1%}, from scratch "
                  f"{result['scratch'][i]:.1%}")
        print(f"held-out accuracy over {len(args.seeds)} seeds ({args.labelled} labelled, "
              f"{train_config.steps} steps): pre-trained {result['pretrained_mean']:.1%}, from "
              f"scratch {result['scratch_mean']:.1%}, margin {result['margin']:+.1%}")
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result, indent=1).encode("utf-8")
        atomic_write(out / "transfer.json", lambda f: f.write(text))
        return 0
    data = sentiment_data(tokenizer, args.labelled, args.held_out, pretrained.config.max_len)
    model = classifier(pretrained.config, None if args.scratch else pretrained.bert, 2,
                       train_config.seed)
    trainer = Trainer(model, data, train_config, out_dir=out, tokenizer=tokenizer,
                      family="bert-classifier", quiet=args.quiet, metrics_out=args.metrics_out)
    metrics = trainer.run()
    if metrics["stopped_early"]:
        return 1
    print(f"{'from scratch' if args.scratch else 'fine-tuned'}: accuracy on the {args.labelled} "
          f"labelled sentences {accuracy(model, data, 'train'):.1%}, on {args.held_out} held-out "
          f"sentences with unseen adjectives {accuracy(model, data, 'val'):.1%}")
    return 0


COMMANDS = {"fill-mask": (add_fill_mask_arguments, fill_mask_command),
            "finetune-bert": (add_finetune_arguments, finetune)}


# ---- the tour's BERT stop ----------------------------------------------------------------------
def tour_stop(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Pre-train a tiny BERT on the stories; fill in blanks before and after; fine-tune it.

    Returns the numbers the tour prints and tests check: validation loss, masked-LM and
    next-sentence accuracy before and after, the top guess for each probe before and after,
    the transfer measurement, and the loss plot's path.
    """
    tokenizer, data = story_data(300 if quick else N_DOCUMENTS)
    size = {"n_layer": 1, "n_embd": 32, "n_inner": 128} if quick else {}
    model = BertForPreTraining(model_config("classroom", tokenizer.vocab_size, **size),
                               rng=np.random.default_rng([TRAIN_DEFAULTS.seed, 2]))
    train_config = TRAIN_DEFAULTS
    if quick:
        train_config = dataclasses.replace(TRAIN_DEFAULTS, steps=60, warmup_steps=10,
                                           eval_interval=30, eval_batches=2)
    print(f"The story corpus: {len(data.lengths):,} sentences such as "
          f"{' '.join(story_corpus(1, seed=CORPUS_SEED)[0][:3])!r}.\nA BERT with "
          f"{model.num_parameters():,} parameters learns to fill in masked words and to tell "
          "whether sentence B follows sentence A.")
    print("\nBefore pre-training, fill in the blank (top guesses):")
    before = pretraining_accuracy(model, data)
    guesses_before = _show_probes(model, tokenizer)
    trainer = Trainer(model, data, train_config, out_dir=out_dir, tokenizer=tokenizer,
                      family="bert", quiet=quick)
    loss_before = trainer.evaluate()
    print(f"\nPre-training for {train_config.steps} steps (validation loss now {loss_before:.3f})"
          " ...")
    metrics = trainer.run()
    after = pretraining_accuracy(model, data)
    print("\nAfter pre-training:")
    guesses_after = _show_probes(model, tokenizer)
    print(f"masked-LM accuracy {before['mlm_accuracy']:.0%} -> {after['mlm_accuracy']:.0%}, "
          f"next-sentence accuracy {before['nsp_accuracy']:.0%} -> {after['nsp_accuracy']:.0%}")
    finetune_config = dataclasses.replace(FINETUNE_DEFAULTS, steps=20) if quick \
        else FINETUNE_DEFAULTS
    seeds = (0,) if quick else (0, 1, 2)
    print(f"\nFine-tuning on {N_LABELLED} labelled sentences ('... the pie is tasty .' -> liked), "
          "tested on sentences with adjectives no labelled sentence has ...")
    transfer = measure_transfer(model.bert, tokenizer, seeds, train_config=finetune_config)
    print(f"held-out accuracy: pre-trained {transfer['pretrained_mean']:.0%}, from scratch "
          f"{transfer['scratch_mean']:.0%} (same data, same {finetune_config.steps} steps)")
    plot = out_dir / "loss.png"
    print(f"loss curve: {plot}")
    return {"loss_before": loss_before, "loss_after": metrics["final_val_loss"],
            "mlm_accuracy_before": before["mlm_accuracy"],
            "mlm_accuracy_after": after["mlm_accuracy"],
            "nsp_accuracy_before": before["nsp_accuracy"],
            "nsp_accuracy_after": after["nsp_accuracy"],
            "guesses_before": guesses_before, "guesses_after": guesses_after,
            "transfer": transfer, "plot": plot}
