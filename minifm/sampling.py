"""Choosing the next token: temperature, top-k, top-p (nucleus) filtering, and sampling.

A language model gives one row of logits per sequence, (B, V) with B sequences and V the
vocabulary. Decoding turns each row into one token id, in this order:

    logits / temperature        temperature < 1 sharpens the distribution, > 1 flattens it;
                                temperature = 0 means "always take the most likely" (greedy).
    top-k filter                keep the k largest logits, set the rest to -inf.
    top-p filter                keep the smallest set of most likely tokens whose probability
                                reaches p (Holtzman et al. 2020, "The Curious Case of Neural Text
                                Degeneration"), set the rest to -inf.
    sample                      draw from softmax of what is left.

A logit of -inf has probability exactly 0 after the softmax, so a filtered token is never drawn.
Ties: both filters rank tokens by logit, and equal logits by token id (lower id first), so they
always keep exactly k tokens / exactly the smallest prefix of that ranking, never "all the tied
ones". The filters never remove the most likely token, so greedy decoding is unaffected by them.

Logits at the edges: a row holding NaN, or only -inf, has no token to choose and is a
ValueError. A row holding +inf makes that token certain (its probability is the limit 1): the
+inf entries are kept, as equal logits, and every other token is dropped, so one +inf logit is
always chosen, and several are tied (greedy takes the lowest id, a draw any of them equally).
Every argument is checked on every call, greedy included: ``rng`` must be a
``np.random.Generator``, ``temperature`` a finite number >= 0, ``top_k`` an int >= 1, ``top_p`` a
number in (0, 1]. The NaN and -inf checks are one pass over the (B, V) logits, small beside the
forward pass that made them.
Lesson: lessons/08_gpt.md.
"""

from __future__ import annotations

import numpy as np

from minifm.validation import check_finite, check_floats, check_int, check_real, check_rng


def _check_logits(logits: np.ndarray) -> None:
    check_floats(logits, "logits", ndim=2, axes="(B, V)")
    check_finite(logits, "logits", allow_inf=True)
    dead = np.isneginf(logits).all(axis=-1)                       # (B,) rows with no token left
    if dead.any():
        raise ValueError(f"logits row {int(np.argmax(dead))} is -inf everywhere: no token can be "
                         "chosen")


def _check_top_k(k: int) -> None:
    check_int(k, "top_k", minimum=1)


def _check_top_p(p: float) -> None:
    check_real(p, "top_p", minimum=0.0, maximum=1.0, open_minimum=True)


def _certain_tokens(logits: np.ndarray) -> np.ndarray:
    """Rows holding +inf become 0 at their +inf entries and -inf elsewhere (those tokens are
    certain); other rows are returned unchanged. (B, V) -> (B, V)."""
    certain = np.isposinf(logits)                                 # (B, V)
    rows = certain.any(axis=-1, keepdims=True)                    # (B, 1)
    if not rows.any():
        return logits
    inf = np.asarray(np.inf, dtype=logits.dtype)
    return np.where(rows, np.where(certain, 0, -inf), logits).astype(logits.dtype)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities (B, V) from logits (B, V); -inf logits get probability 0, and a row holding
    +inf shares all its probability among its +inf entries."""
    logits = _certain_tokens(logits)
    z = logits - logits.max(axis=-1, keepdims=True)               # largest logit becomes 0
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Return logits / temperature, (B, V); ``temperature`` > 0 (0 is greedy: see ``sample``)."""
    _check_logits(logits)
    if check_real(temperature, "temperature", minimum=0.0) == 0:
        raise ValueError("temperature must be > 0 to rescale logits, got 0 "
                         "(use sample(..., temperature=0) for greedy decoding)")
    return logits / np.asarray(temperature, dtype=logits.dtype)


def _ranking(logits: np.ndarray) -> np.ndarray:
    """Token ids of each row, most likely first, ties by lower id: (B, V)."""
    return np.argsort(-logits, axis=-1, kind="stable")


def _keep_only(logits: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Copy of logits with every entry where ``keep`` (B, V) is False set to -inf."""
    return np.where(keep, logits, np.asarray(-np.inf, dtype=logits.dtype))


def top_k_filter(logits: np.ndarray, k: int) -> np.ndarray:
    """Keep exactly the k largest logits of each row (ties: lower ids first); others -> -inf.

    logits: (B, V). k: a positive int; k >= V keeps every token. Returns a new (B, V) array.
    """
    _check_logits(logits)
    _check_top_k(k)
    B, V = logits.shape
    if k >= V:
        return logits.copy()
    top = _ranking(logits)[:, :k]                                 # (B, V) -> (B, k) ids kept
    keep = np.zeros((B, V), dtype=bool)
    np.put_along_axis(keep, top, True, axis=-1)
    return _keep_only(logits, keep)


def top_p_filter(logits: np.ndarray, p: float) -> np.ndarray:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability reaches p.

    Walking down the ranking (most likely first), a token is kept when the probability of the
    tokens *before* it is still below p; the first token is therefore always kept, and the kept
    set is the shortest prefix of the ranking with total probability >= p (ties: lower ids
    first). logits: (B, V); p in (0, 1]. Returns a new (B, V) array with the rest at -inf.
    """
    _check_logits(logits)
    _check_top_p(p)
    order = _ranking(logits)                                      # (B, V) ids, most likely first
    probs_sorted = np.take_along_axis(softmax(logits), order, axis=-1)
    # the probability ranked above each token: the running sum shifted one place right (not
    # cumsum - probs, whose rounding could move the boundary when the first k tokens hold p)
    mass_before = np.zeros_like(probs_sorted)                     # (B, V)
    np.cumsum(probs_sorted[:, :-1], axis=-1, out=mass_before[:, 1:])
    keep_sorted = mass_before < p                                 # (B, V) in ranking order
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)          # back to token-id order
    return _keep_only(logits, keep)


def check_sampling(rng: np.random.Generator, temperature: float, top_k: int | None,
                   top_p: float | None) -> None:
    """Check the arguments of ``sample`` (all of them, whatever the temperature); a generator
    calls this once before its first step, so a bad one fails before any work."""
    check_rng(rng)
    check_real(temperature, "temperature", minimum=0.0)
    if top_k is not None:
        _check_top_k(top_k)
    if top_p is not None:
        _check_top_p(top_p)


def sample(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None) -> np.ndarray:
    """Draw one token id per row: temperature, then top-k, then top-p, then a categorical draw.

    logits: (B, V). temperature = 0 returns the argmax (greedy; ``rng`` is not used, but every
    argument is still checked). A row holding +inf returns its +inf token (see the module
    docstring). Returns (B,) int64 ids.

    The draw is inverse-CDF sampling, vectorised over rows: with c the cumulative probabilities
    of a row and u uniform in [0, c[-1]), the sampled id is the number of entries c_i <= u. That
    id has c_(id-1) <= u < c_id, so its probability c_id - c_(id-1) is > 0: filtered tokens are
    never drawn.
    """
    _check_logits(logits)
    check_sampling(rng, temperature, top_k, top_p)
    logits = _certain_tokens(logits)
    if temperature == 0:
        return np.argmax(logits, axis=-1)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    cdf = np.cumsum(softmax(logits), axis=-1)                     # (B, V)
    u = rng.random((logits.shape[0], 1)) * cdf[:, -1:]            # (B, 1)
    return np.sum(cdf <= u, axis=-1).astype(np.int64)             # (B, V) -> (B,)
