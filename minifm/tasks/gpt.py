"""GPT tasks: the built-in corpora, tokenizers and model sizes, generation, and exact judges.

    text = corpus_text("grammar")                       # or "arithmetic", "agreement"
    tokenizer = build_tokenizer("char", text)
    model = new_model(model_config("classroom", tokenizer.vocab_size), seed=1337)
    ... train it (minifm.training.trainer.Trainer with TRAIN_DEFAULTS) ...
    complete(model, tokenizer, ["the cat "], 20)        # e.g. ["sleeps."]: the new text only
    corpus_score("grammar", model, tokenizer)           # -> Score(what, value, chance)

What the command line (``minifm.cli.gpt``), the tour (``minifm.tour.gpt``), lesson 8 and
notebook 8 call. Every score comes from a judge in ``minifm.data.corpora``: the grammar's parser,
the arithmetic checker, the agreement labels.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minifm.data.corpora import (agreement_accuracy, agreement_corpus, agreement_examples,
                                 arithmetic_accuracy, arithmetic_corpus, arithmetic_problems,
                                 grammar_corpus, score_grammar)
from minifm.data.text import TokenData
from minifm.models import from_preset
from minifm.models.gpt import GPT, PRESETS, GPTConfig, count_params
from minifm.tokenizers import BPETokenizer, CharTokenizer, Tokenizer
from minifm.training.checkpoint import load_checkpoint
from minifm.training.seeds import stream
from minifm.training.trainer import TrainConfig

CORPORA = ("grammar", "arithmetic", "agreement")
CORPUS_SEED = 0                  # the built-in corpora are the same text whatever the run's seed
MAX_TRAIN_PARAMS = 10**9         # bigger presets (gpt3-175b) can be counted, not trained here

TRAIN_DEFAULTS = TrainConfig(steps=1000, batch_size=16, lr=3e-3, min_lr=3e-4, warmup_steps=50,
                             eval_interval=100, eval_batches=10)
FINETUNE_DEFAULTS = TrainConfig(steps=200, batch_size=16, lr=1e-3, min_lr=1e-4, warmup_steps=20,
                                eval_interval=50, eval_batches=10)


# ---- data, tokenizer, model ---------------------------------------------------------------------
def corpus_text(name: str, digits: int = 2) -> str:
    """The text of a built-in corpus (``grammar``, ``arithmetic`` or ``agreement``)."""
    if name == "grammar":
        return grammar_corpus(2000, seed=CORPUS_SEED)
    if name == "arithmetic":
        return arithmetic_corpus(4000, digits=digits, seed=CORPUS_SEED)
    if name == "agreement":
        return agreement_corpus(2000, seed=CORPUS_SEED)
    raise ValueError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")


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
    config = from_preset(PRESETS, preset, vocab_size=vocab_size, **overrides)
    n = count_params(config)
    if n > MAX_TRAIN_PARAMS:
        raise ValueError(f"preset {preset!r} has {n:,} parameters; weights, gradients and AdamW "
                         f"state take {16 * n / 1e9:,.0f} GB in float32. Presets this large are "
                         "for counting (minifm.models.gpt.count_params), not for training")
    return config


def new_model(config: GPTConfig, seed: int) -> GPT:
    """A freshly initialised GPT, its weights drawn from the run's ``init`` stream."""
    return GPT(config, rng=stream(seed, "init"))


def load_pretrained(path: str) -> tuple[GPT, Tokenizer]:
    """The model and tokenizer of a ``train gpt`` folder (or its checkpoint.npz)."""
    ckpt = load_checkpoint(path, family="gpt")
    return ckpt.build_model(), ckpt.require_tokenizer()


def pretrained_data(text: str, tokenizer: Tokenizer, context_length: int,
                    val_fraction: float = 0.1) -> TokenData:
    """``text`` as next-token windows in a trained tokenizer's vocabulary (to fine-tune or
    resume a model), with a clear error if the text has tokens that vocabulary lacks."""
    try:
        ids = tokenizer.encode(text)
    except ValueError as e:
        raise ValueError(f"the data must use the pre-trained tokenizer's vocabulary: {e}") from e
    return TokenData(np.array(ids, dtype=np.int64), context_length, val_fraction)


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


def start_prompt(tokenizer: Tokenizer) -> str:
    """A newline (a line start) if the tokenizer can encode one, else its first token."""
    try:
        tokenizer.encode("\n")
        return "\n"
    except ValueError:
        return tokenizer.decode([0])


def sample_lines(model: GPT, tokenizer: Tokenizer, n: int, length: int,
                 rng: np.random.Generator) -> list[str]:
    """``n`` texts of ``length`` new tokens, each continuing a newline, sampled at temperature 1."""
    return complete(model, tokenizer, ["\n"] * n, length, stop=None, temperature=1.0, rng=rng)


def grammaticality(texts: list[str]) -> tuple[float, int]:
    """(share of grammatical sentences, number of complete sentences) over ``texts``, judged by
    the grammar's parser (``minifm.data.corpora.score_grammar``)."""
    scores = [score_grammar(t) for t in texts]
    total = sum(s.sentences for s in scores)
    return sum(s.grammatical for s in scores) / max(total, 1), total


# ---- judged scores ------------------------------------------------------------------------------
class Score(NamedTuple):
    """A judged number: what was measured, its value, and what a guess scores (None: no guess
    to compare with, as for the grammaticality of sampled text)."""

    what: str
    value: float
    chance: float | None


def chance(corpus: str, digits: int = 2) -> float | None:
    """What a guess scores on a corpus's task: "yes"/"no" agreement labels are half each (0.5);
    an arithmetic answer guessed uniformly among the 2·10^digits − 1 possible sums is rarely
    right (0.5 % at two digits); the grammar corpus has no task to guess (None)."""
    if corpus == "agreement":
        return 0.5
    if corpus == "arithmetic":
        return 1 / (2 * 10**digits - 1)
    if corpus == "grammar":
        return None
    raise ValueError(f"unknown corpus {corpus!r}; choose one of {', '.join(CORPORA)}")


def corpus_score(corpus: str, model: GPT, tokenizer: Tokenizer, *, n: int = 100,
                 digits: int = 2, seed: int = 0) -> Score:
    """The judged score of a model trained on a built-in corpus: the grammaticality of sampled
    text (grammar), or the exact-match accuracy on held-out problems (arithmetic, agreement),
    with the score of a guess next to it."""
    rng = np.random.default_rng(seed)
    if corpus == "grammar":
        share, _ = grammaticality(sample_lines(model, tokenizer, n // 10, 200, rng))
        return Score("grammatical sentences", share, chance(corpus))
    if corpus == "arithmetic":
        value = arithmetic_accuracy(lambda ps: complete(model, tokenizer, ps, digits + 2),
                                    arithmetic_problems(n, digits, seed=seed + 1))
        return Score("exact-match accuracy", value, chance(corpus, digits))
    if corpus == "agreement":
        value = agreement_accuracy(lambda ps: complete(model, tokenizer, ps, 4),
                                   agreement_examples(n, seed=seed + 1))
        return Score("agreement-judgement accuracy", value, chance(corpus))
    raise ValueError(f"unknown corpus {corpus!r}")
