"""Next-token data: one long stream of token ids, cut into random windows.

Dimensions: B batch, T time (the block size, the model's context length), N stream length.

A language model learns to predict token t+1 from tokens 0..t. From a stream of N ids we take
a window of T + 1 consecutive ids starting at a random position s: the input is ids[s : s+T] and
the target is the same window shifted by one, ids[s+1 : s+T+1]. Every position of the window is a
training example, so one (B, T) batch holds B·T predictions.

The stream is split once, contiguously: the first (1 - val_fraction) of it for training, the
rest for validation, so validation text is text the model never trained on (a random split of
windows would leak overlapping text between the two).

    data = TokenData.from_file("input.txt", tokenizer, context_length=64)
    x, y = data.get_batch("train", batch_size=12, rng=rng)      # (12, 64) each; y = x shifted
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from minifm.tokenizers.base import Tokenizer
from minifm.validation import check_batch_request

SPLITS = ("train", "val")


def read_text_file(path: str | os.PathLike) -> str:
    """Read a UTF-8 text file, with clear errors for a missing file, a folder or non-UTF-8 bytes."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"text file not found: {path}")
    if not path.is_file():
        raise ValueError(f"expected a text file, but {path} is not a regular file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text: byte {raw[e.start]:#04x} at offset {e.start} "
                         f"cannot be decoded (convert the file to UTF-8 first)") from None
    if not text:
        raise ValueError(f"text file {path} is empty")
    return text


class TokenData:
    """Token ids split into a train and a validation stream, served as random (B, T) windows."""

    def __init__(self, ids: np.ndarray | list[int], context_length: int, val_fraction: float = 0.1):
        """ids: (N,) ints, the whole tokenised corpus. context_length: T, the window length.

        val_fraction: the share of the stream, taken from its end, held out for validation. Each
        split needs at least T + 1 ids (one window and its shifted target).
        """
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"TokenData expects a 1-D array of integer token ids, got "
                             f"{ids.dtype} array of shape {ids.shape}")
        if isinstance(context_length, bool) or not isinstance(context_length, (int, np.integer)) \
                or context_length < 1:
            raise ValueError(f"context_length must be a positive int, got {context_length!r}")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        n_val = int(round(len(ids) * val_fraction))
        self.context_length = int(context_length)
        self.splits = {"train": ids[:len(ids) - n_val].astype(np.int64),
                       "val": ids[len(ids) - n_val:].astype(np.int64)}
        for name, stream in self.splits.items():
            if len(stream) < context_length + 1:
                raise ValueError(
                    f"the text is too short for context_length={context_length}: its {name} split has "
                    f"{len(stream)} tokens (of {len(ids)}, val_fraction={val_fraction}) but needs "
                    f"at least context_length + 1 = {context_length + 1}; use more text or a smaller "
                    f"block size")

    @classmethod
    def from_text(cls, text: str, tokenizer: Tokenizer, context_length: int,
                  val_fraction: float = 0.1) -> TokenData:
        """Tokenise ``text`` with ``tokenizer`` and split it."""
        return cls(np.array(tokenizer.encode(text), dtype=np.int64), context_length, val_fraction)

    @classmethod
    def from_file(cls, path: str | os.PathLike, tokenizer: Tokenizer, context_length: int,
                  val_fraction: float = 0.1) -> TokenData:
        """Read a UTF-8 text file (see ``read_text_file``), tokenise it and split it."""
        return cls.from_text(read_text_file(path), tokenizer, context_length, val_fraction)

    def __len__(self) -> int:
        return sum(len(s) for s in self.splits.values())

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        """B random windows of ``split``: inputs x and targets y = x shifted, each (B, T) int64."""
        if split not in self.splits:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        check_batch_request(batch_size, rng)
        stream, T = self.splits[split], self.context_length
        starts = rng.integers(0, len(stream) - T, size=batch_size)               # (B,)
        windows = stream[starts[:, None] + np.arange(T + 1)]                     # (B, T + 1)
        return windows[:, :-1], windows[:, 1:]                                   # (B, T) twice
