"""Embedding lookup: row ``idx`` of a table, for tokens (wte) and learned positions (wpe).

Dimensions: V rows in the table (vocabulary or positions), C width, N = number of ids.
Lesson: lessons/01_tokens_and_embeddings.md.
"""

from __future__ import annotations

import numpy as np

from minifm.validation import check_ids, check_same_shape


def embedding_forward(idx: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Look up rows: ``out[...] = weight[idx[...]]``.

    idx: integer array of any shape with values in [0, V); weight: (V, C).
    Returns out: idx.shape + (C,) and the cache for ``embedding_backward``.
    """
    check_ids(idx, "embedding ids", vocab_size=weight.shape[0])   # a -1 would wrap to the last row
    out = weight[idx]                                    # idx.shape -> idx.shape + (C,)
    return out, (idx, weight.shape)


def embedding_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of the table: every occurrence of id ``v`` adds its ``dout`` row to row ``v``.

    dout: idx.shape + (C,). Returns dweight: (V, C) in dout's dtype.

    An id that appears several times must add several times, which ``dweight[idx] += dout`` would
    not do (fancy-index assignment keeps only one write); ``np.add.at`` accumulates every one. We
    call it on the flattened table with one index per element, which takes NumPy's fast 1-D path
    (several times quicker than row-wise ``np.add.at``) and adds in the same order, so the result is
    bit-for-bit the same (tests/functional/test_embedding.py checks this).
    """
    idx, (V, C) = cache
    check_same_shape(dout, (*idx.shape, C), "embedding dout")   # same size, other shape: refused
    dweight = np.zeros((V, C), dtype=dout.dtype)
    rows = idx.reshape(-1, 1).astype(np.intp)                    # (N, 1); intp: uint8 * C must not wrap
    flat = (rows * C + np.arange(C)).reshape(-1)                 # (N, 1) + (C,) -> (N*C,)
    # fwd: out[n] = weight[idx[n]]  =>  dweight[idx[n]] += dout[n]
    # plain: np.add.at(dweight, idx, dout)
    np.add.at(dweight.reshape(-1), flat, dout.reshape(-1))       # (V, C) viewed as (V*C,)
    return dweight
