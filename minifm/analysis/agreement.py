"""Subject-verb agreement judged by minimal pairs: does a language model give the verb in the
subject's number a higher probability than the same verb in the other number? (Linzen, Dupoux &
Goldberg 2016 score their language model so; Marvin & Linzen 2018 compare minimal pairs of
whole sentences.)

Dimensions: B pairs in a batch, T time, V vocabulary.

A pair comes from a sentence of the grammar corpus (``minifm.data.corpora``): the prompt is the
line up to the main verb, the two continuations the verb in each number followed by the character
that comes next (" " before an object, "." at the end), so neither is a prefix of the other:

    prompt "\\nthe cat that chases two mice"    right " sleeps."    wrong " sleep."

``attractor`` marks the pairs where a noun of the other number ("mice") stands between the
subject and the verb: the hard cases, where the nearest noun points to the wrong form.
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minifm.data.corpora import INTRANSITIVE, NOUNS, PL, SG, TRANSITIVE, grammar_sentence
from minifm.models.gpt import GPT
from minifm.tokenizers import Tokenizer

_NOUN_NUMBER = {word: number for pair in NOUNS for word, number in zip(pair, (SG, PL))}
_OTHER_FORM = {form: pair[1 - i] for pair in INTRANSITIVE + TRANSITIVE
               for i, form in enumerate(pair)}


@dataclass(frozen=True)
class AgreementPair:
    """A prompt and the main verb in the right and in the wrong number."""

    prompt: str
    right: str
    wrong: str
    attractor: bool


def pair_from_sentence(sentence: str) -> AgreementPair:
    """The minimal pair of a grammatical sentence of the grammar corpus (with its period)."""
    words = sentence.removesuffix(".").split()
    verbs = [j for j, w in enumerate(words) if w in _OTHER_FORM]
    nouns = [j for j, w in enumerate(words) if w in _NOUN_NUMBER]
    if not verbs or not nouns or nouns[0] > verbs[-1]:
        raise ValueError(f"{sentence!r} is not a sentence of the grammar corpus (a subject "
                         "noun, then a main verb)")
    main = verbs[-1]                                # the main verb is the sentence's last verb
    after = " " if main + 1 < len(words) else "."
    number = _NOUN_NUMBER[words[nouns[0]]]
    attractor = any(_NOUN_NUMBER[words[j]] != number for j in nouns if j < main)
    return AgreementPair(prompt="\n" + " ".join(words[:main]), right=f" {words[main]}{after}",
                         wrong=f" {_OTHER_FORM[words[main]]}{after}", attractor=attractor)


def agreement_pairs(n: int, seed: int = 0, *, attractors_only: bool = False
                    ) -> list[AgreementPair]:
    """``n`` minimal pairs from fresh grammar sentences drawn with ``seed`` (keep it apart from
    the training corpus's seed); with ``attractors_only``, only pairs with an attractor."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"agreement_pairs: n must be a positive int, got {n!r}")
    rng = np.random.default_rng(seed)
    pairs: list[AgreementPair] = []
    while len(pairs) < n:
        pair = pair_from_sentence(grammar_sentence(rng))
        if pair.attractor or not attractors_only:
            pairs.append(pair)
    return pairs


def continuation_logprobs(model: GPT, tokenizer: Tokenizer, prompts: list[str],
                          continuations: list[str], batch_size: int = 256) -> np.ndarray:
    """log P(continuation | prompt) under ``model``, summed over the continuation's tokens:
    (n,) for n prompts. A text longer than the context keeps its last context_length tokens.

    The rows are right-padded into one (B, T) batch: a causal model's logits at a position do
    not depend on the positions after it, so the padding changes nothing that is read.
    """
    if len(prompts) != len(continuations) or not prompts:
        raise ValueError(f"continuation_logprobs needs as many continuations as prompts (at "
                         f"least one), got {len(prompts)} and {len(continuations)}")
    T_max = model.config.context_length
    rows, starts = [], []
    for prompt, continuation in zip(prompts, continuations):
        c = tokenizer.encode(continuation)
        if not 1 <= len(c) < T_max:
            raise ValueError(f"continuation {continuation!r} has {len(c)} tokens; it needs 1 to "
                             f"{T_max - 1} (one prompt token at least, context_length {T_max})")
        ids = (tokenizer.encode(prompt) + c)[-T_max:]
        rows.append(ids)
        starts.append(len(ids) - len(c))            # the first continuation token's position
    out = np.empty(len(rows))
    for lo in range(0, len(rows), batch_size):
        out[lo:lo + batch_size] = _logprobs(model, rows[lo:lo + batch_size],
                                            starts[lo:lo + batch_size])
    return out


def _logprobs(model: GPT, rows: list[list[int]], starts: list[int]) -> np.ndarray:
    T = max(len(r) for r in rows)
    idx = np.zeros((len(rows), T), dtype=np.int64)  # (B, T), right-padded with id 0
    for b, r in enumerate(rows):
        idx[b, :len(r)] = r
    with model.evaluating():
        logits = model(idx)[0].astype(np.float64)   # (B, T, V)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))   # log-softmax
    # the token at position t is predicted at t - 1: (B, T - 1, V) -> (B, T - 1)
    picked = np.take_along_axis(logp[:, :-1], idx[:, 1:, None], axis=-1)[..., 0]
    t = np.arange(1, T)[None, :]                    # (1, T - 1) the predicted positions
    lengths = np.array([len(r) for r in rows])[:, None]
    read = (t >= np.array(starts)[:, None]) & (t < lengths)    # (B, T - 1) continuation tokens
    return (picked * read).sum(axis=1)


def verb_agreement_accuracy(model: GPT, tokenizer: Tokenizer, pairs: list[AgreementPair]
                            ) -> float:
    """The share of pairs whose right verb is more probable than the wrong one (chance: 0.5)."""
    if not pairs:
        raise ValueError("verb_agreement_accuracy needs at least one pair")
    prompts = [p.prompt for p in pairs]
    right = continuation_logprobs(model, tokenizer, prompts, [p.right for p in pairs])
    wrong = continuation_logprobs(model, tokenizer, prompts, [p.wrong for p in pairs])
    return float(np.mean(right > wrong))
