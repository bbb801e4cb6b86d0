"""BERT tasks: the story corpus and its sentiment task, model sizes, pre-training, filling in
blanks, and the transfer measurement (fine-tuning a pre-trained encoder against the same model
from random weights).

The corpus is ``minifm.data.stories``: little stories whose words and sentence order follow
rules. Fine-tuning learns whether a character liked a meal from a few labelled sentences; the
held-out sentences use adjectives that no labelled sentence contains, so only what pre-training
learnt about those words can carry over (``measure_transfer`` puts a number on it).

    tokenizer, data = story_data()
    model = BertForPreTraining(model_config("classroom", tokenizer.vocab_size), rng=...)
    fill_mask(model, tokenizer, "it is rainy today .", "so he takes his [MASK] .")
    measure_transfer(model.bert, tokenizer)      # {"pretrained_mean": ..., "margin": ...}

Lesson: lessons/09_bert.md.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

import numpy as np

from minifm.data.bert_data import IGNORE_INDEX, LabelledTextData, PretrainingData
from minifm.data.stories import sentiment_examples, story_corpus
from minifm.models import from_preset
from minifm.models.bert import (PRESETS, Bert, BertConfig, BertForPreTraining,
                                BertForSequenceClassification, count_params)
from minifm.tokenizers.wordpiece import WordPieceTokenizer
from minifm.training.checkpoint import load_checkpoint
from minifm.training.seeds import stream
from minifm.training.trainer import TrainConfig, Trainer

CORPUS_SEED = 0                  # the stories are the same whatever the run's seed
N_DOCUMENTS = 3000
VOCAB_SIZE = 512                 # room for every word of the stories as a whole token
N_LABELLED, N_HELD_OUT = 32, 400
MAX_TRAIN_PARAMS = 10**9
# the BertConfig fields a run may override (the command line's model flags)
MODEL_FLAGS = ("n_layer", "n_head", "n_embd", "n_inner", "context_length", "dropout",
               "norm_first")

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


# ---- data and models ---------------------------------------------------------------------------
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
                   n_held_out: int = N_HELD_OUT, context_length: int = 64) -> LabelledTextData:
    """The labelled task: "train" = ``n_labelled`` sentences with the labelled adjectives,
    "val" = ``n_held_out`` sentences with the held-out adjectives (see minifm.data.stories)."""
    return LabelledTextData({"train": sentiment_examples(n_labelled, "train", seed=1),
                             "val": sentiment_examples(n_held_out, "val", seed=2)},
                            tokenizer, context_length)


def model_config(preset: str, vocab_size: int, **overrides: Any) -> BertConfig:
    """The preset's config with ``vocab_size`` and every override that is not None applied."""
    config = from_preset(PRESETS, preset, vocab_size=vocab_size, **overrides)
    n = count_params(config, "pretraining")
    if n > MAX_TRAIN_PARAMS:
        raise ValueError(f"preset {preset!r} has {n:,} parameters: too large to train here")
    return config


def check_fits(data: PretrainingData, config: BertConfig) -> None:
    """Every sentence pair of ``data`` must fit the model's position embeddings."""
    if data.longest_pair > config.context_length:
        raise ValueError(f"the longest sentence pair has {data.longest_pair} tokens but "
                         f"context_length is {config.context_length} (--context-length)")


def pretrain(train_config: TrainConfig = TRAIN_DEFAULTS, preset: str = "classroom",
             n_documents: int = N_DOCUMENTS, **overrides: Any
             ) -> tuple[BertForPreTraining, WordPieceTokenizer, PretrainingData]:
    """Pre-train a BERT on the stories, quietly, as ``minifm train bert`` does (no files).

    ``overrides`` change the preset's config (``n_layer=1``, ...). Returns the model, its
    tokenizer and the data (for ``pretraining_accuracy``).
    """
    tokenizer, data = story_data(n_documents)
    config = model_config(preset, tokenizer.vocab_size, **overrides)
    model = BertForPreTraining(config, rng=stream(train_config.seed, "init"))
    Trainer(model, data, train_config, quiet=True).run()
    return model, tokenizer, data


def load_pretrained(path: str | os.PathLike) -> tuple[BertForPreTraining, WordPieceTokenizer]:
    """The model and tokenizer of a ``train bert`` checkpoint (a folder or its .npz file)."""
    ckpt = load_checkpoint(path, family="bert")
    return ckpt.build_model(), ckpt.require_tokenizer()


def classifier(config: BertConfig, encoder: Bert | None, n_classes: int,
               seed: int) -> BertForSequenceClassification:
    """A sequence classifier: the given encoder's weights (copied), or random ones (None)."""
    model = BertForSequenceClassification(dataclasses.replace(config, n_classes=n_classes),
                                          rng=stream(seed, "classifier_init"))
    if encoder is not None:
        model.bert.load_state_dict(encoder.state_dict())
    return model


# ---- what a model learnt -----------------------------------------------------------------------
def pretraining_accuracy(model: BertForPreTraining, data: PretrainingData, split: str = "val",
                         n_pairs: int = 512, seed: int = 0) -> dict[str, float]:
    """Masked-LM accuracy (argmax = the hidden token, over the chosen positions) and
    next-sentence accuracy on ``n_pairs`` fresh pairs of ``split``, in eval mode."""
    ids, segments, attention, mlm_labels, nsp_labels = data.get_batch(
        split, n_pairs, np.random.default_rng(seed))
    with model.evaluating():
        out, _ = model(ids, segments, attention)
    chosen = mlm_labels != IGNORE_INDEX
    return {"mlm_accuracy": float(np.mean(out.mlm_logits.argmax(-1)[chosen] == mlm_labels[chosen])),
            "nsp_accuracy": float(np.mean(out.nsp_logits.argmax(-1) == nsp_labels))}


def pretraining_chance(config: BertConfig) -> dict[str, float]:
    """What guessing scores on the pre-training tasks: a uniform guess among the V tokens of
    the vocabulary for a masked word (1 / V), and "B follows A" for next sentence (0.5: half
    the pairs are real ones, ``minifm.data.bert_data``)."""
    return {"mlm_accuracy": 1 / config.vocab_size, "nsp_accuracy": 0.5}


def majority_share(data: LabelledTextData, split: str) -> float:
    """The accuracy of always answering the split's most common label: chance on the task."""
    labels = data.rows(split)[-1]
    return float(np.bincount(labels).max() / len(labels))


def fill_mask(model: BertForPreTraining, tokenizer: WordPieceTokenizer, text: str,
              text_pair: str | None = None, top_k: int = 3) -> list[list[tuple[str, float]]]:
    """For each [MASK] in ``text`` (+ ``text_pair``), the ``top_k`` likeliest tokens with
    their probabilities, likeliest first."""
    enc = tokenizer(text, text_pair)
    positions = np.flatnonzero(enc["input_ids"] == tokenizer.mask_token_id)
    if len(positions) == 0:
        pair = f" / {text_pair!r}" if text_pair else ""
        raise ValueError(f"no [MASK] token in {text!r}{pair}")
    if len(enc["input_ids"]) > model.config.context_length:
        raise ValueError(f"the text is {len(enc['input_ids'])} tokens long; this model reads at "
                         f"most {model.config.context_length}")
    with model.evaluating():
        out, _ = model(enc["input_ids"][None], enc["token_type_ids"][None])
    logits = out.mlm_logits[0, positions]                                   # (n_masks, V)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    best = np.argsort(-probs, axis=-1)[:, :top_k]
    return [[(tokenizer.vocab[i], float(p[i])) for i in row] for row, p in zip(best, probs)]


def probe_lines(model: BertForPreTraining, tokenizer: WordPieceTokenizer
                ) -> tuple[list[str], list[str]]:
    """The top guess for each of ``PROBES``, and one line per probe to show: the pair, its
    rule and the three likeliest words with their probabilities."""
    tops, lines = [], []
    for a, b, rule in PROBES:
        guesses = fill_mask(model, tokenizer, a, b)[0]
        tops.append(guesses[0][0])
        shown = ", ".join(f"{t} {p:.0%}" for t, p in guesses)
        lines.append(f"  {a + ' ' + b:<66} [{rule}]: {shown}")
    return tops, lines


def accuracy(model: BertForSequenceClassification, data: LabelledTextData, split: str) -> float:
    """Share of the split's texts whose argmax class is the label (eval mode)."""
    *inputs, labels = data.rows(split)
    with model.evaluating():
        logits, _ = model(*inputs)
    return float(np.mean(logits.argmax(-1) == labels))


def measure_transfer(encoder: Bert, tokenizer: WordPieceTokenizer,
                     seeds: Sequence[int] = (0, 1, 2), n_labelled: int = N_LABELLED,
                     train_config: TrainConfig = FINETUNE_DEFAULTS,
                     n_held_out: int = N_HELD_OUT) -> dict[str, Any]:
    """Fine-tune the pre-trained ``encoder`` and, as the baseline, the same architecture from
    random weights: same labelled set, same steps, same hyperparameters, one run of each per
    seed (the seed sets the classifier's initialisation and the batch order, shared by both).

    Returns held-out accuracies per seed (``pretrained``, ``scratch``), their means,
    ``margin`` = mean(pretrained) - mean(scratch), and ``chance`` (``majority_share`` of the
    held-out sentences).
    """
    data = sentiment_data(tokenizer, n_labelled, n_held_out, encoder.config.context_length)
    result: dict[str, Any] = {"pretrained": [], "scratch": [],
                              "chance": majority_share(data, "val")}
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
