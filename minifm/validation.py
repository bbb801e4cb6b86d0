"""Checks of what a public call receives, written once so every error reads the same.

Each check raises at the public call, naming the argument, what was expected and what arrived
(``TypeError`` for the wrong kind of thing, ``ValueError`` for the wrong shape or values), so a
user never meets an ``IndexError`` deep inside NumPy or, worse, a silently wrong answer.

    check_ids(idx, "idx", vocab_size=V, ndim=2)          # int array of token ids in [0, V)
    check_right_padded(tokens, pad_id, "tokens")         # padding only after the text
    check_floats(x, "x", shape=(None, None, C))          # float array; None = any length (> 0)
    check_floats(x, "x", last_dim=C)                     # float array (..., C) of any rank
    check_same_shape(dout, out_shape, "dout")            # a gradient shaped like the output
    check_mask(mask, "attention_mask", shape=(B, T))     # bool or 0/1 ints, 1 = real token
    check_context_length(T, context_length)              # no position embedding beyond it
    check_finite(images, "images")                       # no NaN (or inf) values: one pass
    check_int(batch_size, "batch_size", minimum=1)       # a Python or NumPy int, not a bool
    check_real(temperature, "temperature", minimum=0)    # a finite int or float, not a str
    check_rng(rng)                                       # a np.random.Generator
    check_batch_request(batch_size, rng)                 # what every get_batch receives

The checks of kinds and shapes are free (a gradient's shape is checked on every backward).
``check_ids`` reads every id, cheap beside the embedding lookup it guards. ``check_finite`` reads
every value, so it sits only where one pass is small next to the work (encoding images, sampling
a (B, V) row of logits), never on a training forward or backward.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def _kind(a: Any) -> str:
    """How an argument looks, for messages: a dtype for arrays, else the Python type."""
    return f"an array of {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__


def _check_shape(a: np.ndarray, what: str, ndim: int | None,
                 shape: Sequence[int | None] | None, axes: str | None) -> None:
    expected = f"shape {axes}" if axes else (f"{ndim} dimensions" if ndim is not None else "")
    if shape is not None:
        ndim = len(shape)
    if ndim is None and a.ndim == 0:
        raise ValueError(f"{what} must be an array with at least one axis, got a 0-d array (a "
                         "scalar); wrap it: np.array([x])")
    if ndim is not None and a.ndim != ndim:
        hint = " (add a batch axis: array[None])" if a.ndim == ndim - 1 else ""
        raise ValueError(f"{what} must have {expected or f'{ndim} dimensions'}, got shape "
                         f"{a.shape}{hint}")
    if a.size == 0:
        raise ValueError(f"{what} is empty (shape {a.shape}); expected at least one element "
                         "along every axis")
    if shape is not None:
        for axis, (want, got) in enumerate(zip(shape, a.shape)):
            if want is not None and want != got:
                raise ValueError(f"{what} must have {expected or f'shape {tuple(shape)}'} with "
                                 f"size {want} on axis {axis}, got shape {a.shape}")


def check_ids(ids: Any, what: str, *, vocab_size: int, ndim: int | None = None,
              shape: Sequence[int | None] | None = None, axes: str | None = None) -> None:
    """``ids`` must be a non-empty integer array (of ``ndim`` dimensions or ``shape``, where a
    None entry allows any size) whose values lie in [0, vocab_size). ``axes`` names the
    dimensions in messages, e.g. "(B, T)"."""
    if not isinstance(ids, np.ndarray) or not np.issubdtype(ids.dtype, np.integer) \
            or ids.dtype == np.bool_:
        raise TypeError(f"{what} must be an integer numpy array of ids, got {_kind(ids)}")
    _check_shape(ids, what, ndim, shape, axes)
    bad = (ids < 0) | (ids >= vocab_size)
    if bad.any():
        raise ValueError(f"{what} holds id {ids[bad].flat[0]}, outside the vocabulary "
                         f"[0, {vocab_size})")


def check_right_padded(ids: np.ndarray, pad_id: int, what: str) -> None:
    """Every row of ``ids`` (B, T) must start with a real token and hold ``pad_id`` only after
    its text (padding at the end), as a key-padding mask and last-token pooling assume."""
    real = ids != pad_id                                                  # (B, T)
    if not real[:, 0].all() or (real[:, 1:] & ~real[:, :-1]).any():
        raise ValueError(f"every row of {what} must start with a real token and have its "
                         f"padding (pad_id={pad_id}) only at the end")


def check_floats(x: Any, what: str, *, ndim: int | None = None,
                 shape: Sequence[int | None] | None = None, axes: str | None = None,
                 dtype: np.dtype | type | None = None, last_dim: int | None = None) -> None:
    """``x`` must be a non-empty floating-point array (of ``ndim`` dimensions or ``shape``;
    of ``dtype`` if given). ``last_dim`` fixes only the last axis, for inputs of any rank
    (..., C), as a layer acting on the last axis (Linear, LayerNorm) accepts."""
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{what} must be a floating-point numpy array, got {_kind(x)}")
    if dtype is not None and x.dtype != np.dtype(dtype):
        raise TypeError(f"{what} must be {np.dtype(dtype)} like the parameters, got {x.dtype}")
    _check_shape(x, what, ndim, shape, axes)
    if last_dim is not None and (x.ndim == 0 or x.shape[-1] != last_dim):
        raise ValueError(f"{what} must have shape {axes or f'(..., {last_dim})'} with last dim "
                         f"{last_dim}, got shape {x.shape}")


def check_same_shape(dout: Any, shape: tuple[int, ...], what: str = "dout") -> None:
    """A gradient must be a float array with exactly the shape of the output it belongs to
    (the same size in another shape would silently give wrong gradients)."""
    if not isinstance(dout, np.ndarray) or not np.issubdtype(dout.dtype, np.floating):
        raise TypeError(f"{what} must be a floating-point numpy array, got {_kind(dout)}")
    if dout.shape != tuple(shape):
        raise ValueError(f"{what} must have the forward output's shape {tuple(shape)}, got "
                         f"{dout.shape}")


def check_mask(mask: Any, what: str, *, shape: Sequence[int], axes: str | None = None) -> None:
    """``mask`` must be a bool array, or an integer array of 0s and 1s, of exactly ``shape``
    (True / 1 = a real position, False / 0 = padding)."""
    expected = f"{axes} = {tuple(shape)}" if axes else f"{tuple(shape)}"
    if not isinstance(mask, np.ndarray) or not (np.issubdtype(mask.dtype, np.integer)
                                                or mask.dtype == np.bool_):
        raise TypeError(f"{what} must be a bool or 0/1 integer numpy array, got {_kind(mask)}")
    if mask.shape != tuple(shape):
        raise ValueError(f"{what} must have shape {expected}, got shape {mask.shape}")
    if mask.dtype != np.bool_ and not np.isin(mask, (0, 1)).all():
        raise ValueError(f"{what} must hold only 0 (padding) and 1 (real), got values "
                         f"{np.unique(mask)}")


def check_context_length(T: int, context_length: int) -> None:
    """A model with ``context_length`` rows of position embeddings reads at most that many
    positions."""
    if T > context_length:
        raise ValueError(f"sequence length T={T} exceeds context_length={context_length} (the "
                         "model has no position embedding beyond it); crop the input")


def _index(a: np.ndarray, bad: np.ndarray) -> tuple[int, ...]:
    """The first index (in C order) where the boolean array ``bad`` is True."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), a.shape))


def check_finite(x: np.ndarray, what: str, *, allow_inf: bool = False) -> None:
    """``x`` (a float array, already checked) must hold no NaN, and no +-inf unless
    ``allow_inf``. One pass over the values."""
    nan = np.isnan(x)
    if nan.any():
        raise ValueError(f"{what} holds NaN at index {_index(x, nan)}; expected "
                         f"{'numbers (+-inf allowed)' if allow_inf else 'finite values'}")
    if not allow_inf:
        inf = np.isinf(x)
        if inf.any():
            raise ValueError(f"{what} holds {x[inf].flat[0]} at index {_index(x, inf)}; expected "
                             "finite values")


def check_int(n: Any, what: str, *, minimum: int | None = None) -> int:
    """``n`` must be a Python or NumPy integer (not a bool, not a float such as 8.0), at least
    ``minimum`` if given. Returns it as a Python int."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {n!r} ({type(n).__name__})")
    if minimum is not None and n < minimum:
        wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{what} must be {wanted}, got {n}")
    return int(n)


def check_real(v: Any, what: str, *, minimum: float | None = None, maximum: float | None = None,
               open_minimum: bool = False) -> float:
    """``v`` must be a finite real number (an int or float, Python or NumPy; not a bool or a
    str; a 0-d numeric array counts as its value) in [minimum, maximum] (``open_minimum``: in
    (minimum, maximum]). Returns it as a float."""
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype != np.bool_ \
            and np.issubdtype(v.dtype, np.number):
        v = v[()]
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number, got {v!r} ({type(v).__name__})")
    low = "" if minimum is None else f"{'(' if open_minimum else '['}{minimum}, "
    high = "" if maximum is None else f"{maximum}]"
    allowed = (f"in {low}{high}" if minimum is not None and maximum is not None
               else f"{'>' if open_minimum else '>='} {minimum}" if minimum is not None
               else f"<= {maximum}" if maximum is not None else "finite")
    if not np.isfinite(v):
        raise ValueError(f"{what} must be a finite number {allowed}, got {v}")
    too_low = minimum is not None and (v <= minimum if open_minimum else v < minimum)
    if too_low or (maximum is not None and v > maximum):
        raise ValueError(f"{what} must be {allowed}, got {v}")
    return float(v)


def check_rng(rng: Any, what: str = "rng") -> None:
    """``rng`` must be a ``np.random.Generator`` (minifm never uses a global or legacy one)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{what} must be a np.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")


def check_batch_request(batch_size: Any, rng: Any) -> int:
    """What a dataset's ``get_batch(split, batch_size, rng)`` needs: an int batch_size >= 1 (8.0
    is refused, not floored) and a Generator. Returns batch_size as an int."""
    check_rng(rng)
    return check_int(batch_size, "batch_size", minimum=1)
