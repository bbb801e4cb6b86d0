"""Fixed sinusoidal positional encoding of Vaswani et al. 2017, "Attention Is All You Need", §3.5:

    PE[pos, 2i]     = sin(pos / 10000^(2i / C))
    PE[pos, 2i + 1] = cos(pos / 10000^(2i / C))

Dimensions: T positions, C width. Each pair of dims is a sinusoid whose wavelength grows
geometrically from 2*pi to 10000*2*pi, so every position gets a distinct code and a fixed offset
k is a linear map (a rotation in each pair) of the code.

There is no backward: the table has no parameters and its input (the number of positions) is an
integer, so nothing upstream of it can receive a gradient. A model adds the table to the token
embeddings and sends the gradient of that sum to the token embedding alone.
Lesson: lessons/01_tokens_and_embeddings.md.
"""

from __future__ import annotations

import numpy as np


def sinusoidal_encoding(T: int, C: int, dtype: type = np.float32) -> np.ndarray:
    """Return the (T, C) table; C may be odd (the last, unpaired dim is a sine)."""
    if T < 0 or C <= 0:
        raise ValueError(f"sinusoidal_encoding needs T >= 0 and C > 0, got T={T}, C={C}")
    pos = np.arange(T, dtype=np.float64)[:, None]                 # (T, 1)
    inv_freq = 10000.0 ** (-np.arange(0, C, 2) / C)               # (ceil(C/2),) = 1 / 10000^(2i/C)
    angle = pos * inv_freq                                        # (T, 1) * (C/2,) -> (T, C/2)
    pe = np.empty((T, C), dtype=np.float64)
    pe[:, 0::2] = np.sin(angle)                                   # even dims
    pe[:, 1::2] = np.cos(angle[:, :C // 2])                       # odd dims
    return pe.astype(dtype)
