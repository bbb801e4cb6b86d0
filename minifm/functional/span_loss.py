"""The extractive question-answering loss: one cross-entropy for the answer's first token and one
for its last, averaged (Devlin et al. 2019, "BERT", section 4.2, SQuAD v1.1: the paper states the
sum of the two log-likelihoods; its released ``run_squad.py`` and Hugging Face take the mean,
which halves the gradient and nothing else).

Dimensions: B batch, T time (token positions).

A span head gives every position t a start logit s_t and an end logit e_t. With the answer's
first token i and last token j,

    loss = ( CE(s, i) + CE(e, j) ) / 2        CE(x, k) = logsumexp(x) - x_k, averaged over B

Positions that cannot hold the answer (the question, [CLS], padding) are excluded by the
``allowed`` mask: their logits become a large negative number before the softmax, so they get
probability 0 and gradient 0. Each term's gradient is the fused ``(softmax - onehot) / B``,
halved.
Lesson: lessons/12_bert_at_work.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minifm.functional.losses import (CrossEntropyCache, cross_entropy_backward,
                                      cross_entropy_forward)


def masked_logits(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``logits`` (B, T) with every position where ``allowed`` (B, T) is False set to the
    dtype's most negative finite value / 2 (softmax probability exactly 0, no inf arithmetic)."""
    return np.where(allowed, logits, np.finfo(logits.dtype).min / 2).astype(logits.dtype)


@dataclass
class SpanLossCache:
    start: CrossEntropyCache
    end: CrossEntropyCache


def span_loss_forward(start_logits: np.ndarray, end_logits: np.ndarray,
                      start_positions: np.ndarray, end_positions: np.ndarray
                      ) -> tuple[float, SpanLossCache]:
    """start_logits, end_logits: (B, T) float; start_positions, end_positions: (B,) int in
    [0, T). Returns the mean of the two cross-entropies and the cache."""
    if start_logits.shape != end_logits.shape or start_logits.ndim != 2:
        raise ValueError(f"span loss expects start and end logits of one shape (B, T), got "
                         f"{start_logits.shape} and {end_logits.shape}")
    loss_start, cache_start = cross_entropy_forward(start_logits, start_positions)
    loss_end, cache_end = cross_entropy_forward(end_logits, end_positions)
    return (loss_start + loss_end) / 2, SpanLossCache(cache_start, cache_end)


def span_loss_backward(dloss: float, cache: SpanLossCache) -> tuple[np.ndarray, np.ndarray]:
    """Returns dstart_logits and dend_logits, each (B, T)."""
    start, end = cache.start, cache.end
    # fwd: loss = (CE(s, i) + CE(e, j)) / 2  =>  ds = dCE(s, i) / 2,  de = dCE(e, j) / 2
    half = float(dloss) / 2
    return cross_entropy_backward(half, start), cross_entropy_backward(half, end)
