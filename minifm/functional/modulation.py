"""Adaptive LayerNorm modulation and gating, the conditioning of a diffusion transformer (DiT:
Peebles & Xie 2023, "Scalable Diffusion Models with Transformers", §3.2 "adaLN-Zero block").
Lesson: lessons/14_dalle2_diffusion.md.

Dimensions: B batch, T tokens (patches), C width.

Each example carries one conditioning vector (its timestep and caption embedding); a Linear layer
turns it into per-channel shift, scale and gate vectors (B, C), which act on every token alike:

    modulate:  y = x * (1 + scale) + shift        x (B, T, C), shift, scale (B, C) -> y (B, T, C)
    gate:      y = h * gate                       h (B, T, C), gate (B, C)         -> y (B, T, C)

``1 + scale`` makes scale = 0 the identity, so a zero-initialised conditioning layer starts with a
plain LayerNorm; a zero gate makes the residual branch x + gate * f(x) start as the identity (the
"Zero" of adaLN-Zero). Backward, with (B, C) vectors broadcast over T:

    fwd: y = x * (1 + scale) + shift  =>  dx = dy * (1 + scale),
                                          dscale = sum_T dy * x,  dshift = sum_T dy
    fwd: y = h * gate                 =>  dh = dy * gate,  dgate = sum_T dy * h

A broadcast in the forward is a sum in the backward: the same (B, C) number touched T entries,
so it receives the sum of their gradients.
"""

from __future__ import annotations

import numpy as np

from minifm.validation import check_floats


def _check(x: np.ndarray, vectors: dict[str, np.ndarray]) -> None:
    check_floats(x, "modulation input x", ndim=3, axes="(B, T, C)")
    B, _, C = x.shape
    for name, v in vectors.items():
        check_floats(v, f"modulation {name}", shape=(B, C), axes=f"(B, C) = ({B}, {C})",
                     dtype=x.dtype)


def modulate_forward(x: np.ndarray, shift: np.ndarray, scale: np.ndarray
                     ) -> tuple[np.ndarray, tuple]:
    """``y = x * (1 + scale) + shift`` per example. x: (B, T, C); shift, scale: (B, C)."""
    _check(x, {"shift": shift, "scale": scale})
    y = x * (1 + scale[:, None, :]) + shift[:, None, :]          # (B, C) -> (B, 1, C) broadcast
    return y, (x, scale)


def modulate_backward(dy: np.ndarray, cache: tuple
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy: (B, T, C) -> dx (B, T, C), dshift (B, C), dscale (B, C)."""
    x, scale = cache
    # fwd: y = x * (1 + scale) + shift  =>  dx = dy * (1 + scale)
    dx = dy * (1 + scale[:, None, :])
    # => dshift = sum over T of dy,  dscale = sum over T of dy * x
    return dx, dy.sum(axis=1), (dy * x).sum(axis=1)              # (B, T, C) -> (B, C)


def gate_forward(h: np.ndarray, gate: np.ndarray) -> tuple[np.ndarray, tuple]:
    """``y = h * gate`` per example. h: (B, T, C); gate: (B, C)."""
    _check(h, {"gate": gate})
    return h * gate[:, None, :], (h, gate)                       # (B, C) -> (B, 1, C) broadcast


def gate_backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
    """dy: (B, T, C) -> dh (B, T, C), dgate (B, C)."""
    h, gate = cache
    # fwd: y = h * gate  =>  dh = dy * gate,  dgate = sum over T of dy * h
    return dy * gate[:, None, :], (dy * h).sum(axis=1)           # (B, T, C) -> (B, C)
