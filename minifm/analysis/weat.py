"""The Word Embedding Association Test, WEAT (Caliskan, Bryson & Narayanan 2017, "Semantics derived
automatically from language corpora contain human-like biases", Methods).

Dimensions: E embedding width; X, Y the two target sets (e.g. flowers, insects) and A, B the two
attribute sets (e.g. pleasant, unpleasant), each a (n, E) array of embeddings, one row a word.

    s(w, A, B)       = mean_{a in A} cos(w, a) - mean_{b in B} cos(w, b)       one word's association
    s(X, Y, A, B)    = sum_{x in X} s(x, A, B) - sum_{y in Y} s(y, A, B)       the test statistic
    effect size      = (mean_{x in X} s(x, A, B) - mean_{y in Y} s(y, A, B))
                       / std_{w in X u Y} s(w, A, B)
    p-value          = Pr_i [ s(X_i, Y_i, A, B) > s(X, Y, A, B) ]

over the partitions (X_i, Y_i) of X u Y into two sets of the sizes of X and Y: a one-sided
permutation test of "X is no more associated with A (than with B) than Y is". The paper's ``>`` is
strict; sums that differ only by rounding count as ties, not as greater. With few partitions
(``math.comb(|X| + |Y|, |X|) <= max_exact``) every one is enumerated and the p-value is exact;
otherwise ``n_samples`` random partitions drawn from ``rng`` estimate it (a sampled p of 0 says
p < ~1 / n_samples, not p = 0).

The standard deviation is the sample one (ddof = 1), so for |X| = |Y| = n the effect size lies in
[-2 r, 2 r] with r = sqrt((2n - 1) / (2n)): the bound is reached when every x shares one
association and every y another (the within-set spread is zero).
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from minifm.validation import check_floats


@dataclass(frozen=True)
class WeatResult:
    """One WEAT: the statistic s(X, Y, A, B), the effect size and the one-sided p-value."""

    statistic: float
    effect_size: float
    p_value: float
    exact: bool               # True: every partition was enumerated; False: sampled
    n_partitions: int         # how many partitions the p-value counts over


def _check_sets(**sets: np.ndarray) -> int:
    """Every set a non-empty float (n, E) array with one E; returns E."""
    widths = set()
    for name, s in sets.items():
        check_floats(s, f"WEAT set {name}", ndim=2, axes="(n, E)")
        widths.add(s.shape[1])
    if len(widths) != 1:
        shapes = ", ".join(f"{name} {s.shape}" for name, s in sets.items())
        raise ValueError(f"WEAT sets must share one embedding width E, got {shapes}")
    for name, s in sets.items():
        if not np.all(np.linalg.norm(s, axis=1) > 0):
            raise ValueError(f"WEAT set {name} holds a zero vector: its cosine is undefined")
    return widths.pop()


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)       # (n, E), rows of length 1


def association(W: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """s(w, A, B) for every row w of W: (n, E), (nA, E), (nB, E) -> (n,)."""
    _check_sets(W=W, A=A, B=B)
    W, A, B = _unit(W), _unit(A), _unit(B)
    # mean of cosines = cosine with each, then the mean over the set: (n, E) @ (E, nA) -> (n, nA)
    return (W @ A.T).mean(axis=1) - (W @ B.T).mean(axis=1)


def effect_size(X: np.ndarray, Y: np.ndarray, A: np.ndarray, B: np.ndarray) -> float:
    """The WEAT effect size (a standardised difference of mean associations), in [-2, 2]."""
    sx, sy = association(X, A, B), association(Y, A, B)
    return _effect_size(sx, sy)


def _effect_size(sx: np.ndarray, sy: np.ndarray) -> float:
    s = np.concatenate([sx, sy])
    if s.size < 2:
        raise ValueError("the WEAT effect size needs at least two target words in X and Y together")
    std = s.std(ddof=1)
    if std <= 1e-12 * max(1.0, float(np.abs(s).max())):
        raise ValueError("every target word has the same association s(w, A, B) (e.g. A and B "
                         "are the same words), so the effect size is 0 / 0; the test says nothing")
    return float((sx.mean() - sy.mean()) / std)


def weat(X: np.ndarray, Y: np.ndarray, A: np.ndarray, B: np.ndarray, *,
         rng: np.random.Generator | None = None, max_exact: int = 100_000,
         n_samples: int = 10_000) -> WeatResult:
    """The whole test on embeddings X (nX, E), Y (nY, E), A (nA, E), B (nB, E).

    The p-value is exact when X u Y has at most ``max_exact`` partitions into sets of sizes nX
    and nY; otherwise it is the fraction of ``n_samples`` partitions drawn from ``rng`` (required
    then) whose statistic is greater than the observed one.
    """
    _check_sets(X=X, Y=Y, A=A, B=B)
    for name, value in (("max_exact", max_exact), ("n_samples", n_samples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"weat: {name} must be a positive int, got {value!r}")
    sx, sy = association(X, A, B), association(Y, A, B)
    s = np.concatenate([sx, sy])                                # (nX + nY,) every target word
    nx = len(sx)
    total = s.sum()
    observed = sx.sum()
    # s(X_i, Y_i) = sum(X_i) - (total - sum(X_i)) = 2 sum(X_i) - total: compare the sums of X_i
    n_all = math.comb(len(s), nx)
    if n_all <= max_exact:
        members = np.array(list(combinations(range(len(s)), nx)), dtype=np.int64)  # (K, nX)
        exact = True
    else:
        if rng is None:
            raise ValueError(f"weat: X u Y has {n_all} partitions (> max_exact={max_exact}), so "
                             "the p-value is sampled: pass rng, a seeded np.random.Generator")
        # each row a uniformly random permutation of the words; its first nX form X_i
        members = rng.random((n_samples, len(s))).argsort(axis=1)[:, :nx]     # (n_samples, nX)
        exact = False
    sums = s[members].sum(axis=1)                               # (K,) sum over each X_i
    tie = 1e-10 * max(1.0, float(np.abs(s).sum()))              # rounding, not a difference
    p_value = float(np.mean(sums > observed + tie))
    return WeatResult(statistic=float(2 * observed - total), effect_size=_effect_size(sx, sy),
                      p_value=p_value, exact=exact, n_partitions=len(members))
