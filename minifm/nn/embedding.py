"""Position and token tables: ``Embedding`` (learned, e.g. wte and wpe) and
``SinusoidalPositionalEncoding`` (fixed, no parameters).

Dimensions: V table rows (vocabulary size, or the longest sequence for positions), C width,
T sequence length. ids of any shape (...) map to vectors (..., C).
Lesson: lessons/01_tokens_and_embeddings.md.
"""

from __future__ import annotations

import numpy as np

from minifm.functional.embedding import embedding_backward, embedding_forward
from minifm.functional.positional import sinusoidal_encoding
from minifm.nn.module import Module, Parameter
from minifm.validation import check_ids, check_int, check_rng, check_same_shape


class Embedding(Module):
    """A learned table of V vectors of width C, initialised Normal(0, 0.02^2) as in GPT-2.

    Tokens: ``wte(idx)`` with idx (B, T). Learned positions: ``wpe(np.arange(T))`` -> (T, C),
    which broadcasts against (B, T, C).
    """

    def __init__(self, num_embeddings: int, dim: int, *, rng: np.random.Generator,
                 dtype: type = np.float32):
        check_int(num_embeddings, "Embedding num_embeddings", minimum=1)
        check_int(dim, "Embedding dim", minimum=1)
        check_rng(rng, "Embedding rng")
        self.num_embeddings, self.dim = num_embeddings, dim
        # Drawn in float64 and rounded, so float32 and float64 tables from one seed agree.
        self.weight = Parameter((0.02 * rng.standard_normal((num_embeddings, dim))).astype(dtype))

    def forward(self, idx: np.ndarray) -> np.ndarray:
        """idx: integer ids (...) in [0, V) -> (..., C)."""
        check_ids(idx, "Embedding ids", vocab_size=self.num_embeddings)
        out, self._cache = embedding_forward(idx, self.weight.data)
        return out

    def backward(self, dout: np.ndarray) -> None:
        """dout: (..., C); adds into weight.grad. Returns None: integer ids have no gradient."""
        cache = self._pop_cache()
        idx, _ = cache                                   # (idx, weight shape)
        check_same_shape(dout, (*idx.shape, self.dim), "Embedding dout")
        self.weight.grad += embedding_backward(dout, cache)

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.dim}, dtype={self.weight.data.dtype})"


class SinusoidalPositionalEncoding(Module):
    """The fixed sine/cosine table of "Attention Is All You Need" (Vaswani et al. 2017, §3.5).

    ``pe(T)`` returns the first T rows, (T, C), read-only. It has no parameters and its input is an
    integer, so it has no backward: in ``x = wte(idx) + pe(T)`` the whole gradient goes to wte.
    """

    def __init__(self, max_len: int, dim: int, *, dtype: type = np.float32):
        self.max_len, self.dim = max_len, dim
        self.table = sinusoidal_encoding(max_len, dim, dtype)          # (max_len, C)
        self.table.flags.writeable = False

    def forward(self, T: int) -> np.ndarray:
        """T: number of positions (<= max_len) -> (T, C)."""
        if isinstance(T, bool) or not isinstance(T, (int, np.integer)):
            raise TypeError(f"SinusoidalPositionalEncoding expects an integer T, got {T!r}")
        if not 0 <= T <= self.max_len:
            raise ValueError(f"SinusoidalPositionalEncoding holds positions [0, {self.max_len}), "
                             f"asked for T={T}")
        return self.table[:T]

    def __repr__(self) -> str:
        return f"SinusoidalPositionalEncoding({self.max_len}, {self.dim}, dtype={self.table.dtype})"
