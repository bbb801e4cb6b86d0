"""Scaling-law arithmetic: what a GPT costs (parameters, training FLOPs) and power-law fits of
loss against size, data or compute (Kaplan et al. 2020, "Scaling Laws for Neural Language
Models", section 2.1 and Table 1; Hoffmann et al. 2022 for the compute-optimal frontier).

Dimensions: C width (d_model), L layers (n_layer), V vocabulary, T context (n_ctx); GPT's
attention width is C and its feed-forward width 4C.

Kaplan Table 1, counting weights and ignoring biases and other sub-leading terms:

    N (non-embedding parameters)  = 2 C L (2 C + 4 C) = 12 L C^2
    forward FLOPs per token       = 2 N + 2 L T C             (a multiply-add is 2 FLOPs; the
                                                               second term is attention, Q K^T
                                                               and att @ V over T keys)
    training FLOPs                = 3 x forward, per token:   C_train = (6 N + 6 L T C) D

for D training tokens (the backward pass costs about twice the forward). Embeddings are left out
of N: with them, models of different depths fall on different curves (Kaplan section 3.2,
Figure 6).

The fit ``L(x) = a x^-alpha + c`` (x = N, D or compute) profiles the irreducible loss c: for a
fixed c, log(L - c) = log a - alpha log x is a straight line (least squares), so only c is
searched, on a grid and then by golden section; Gauss-Newton on all three parameters in the
original space finishes the least-squares fit.
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from minifm.models.gpt import GPTConfig, count_params


def kaplan_params(config: GPTConfig) -> int:
    """N = 12 L C^2, the non-embedding weight count of Kaplan Table 1."""
    C, L = config.n_embd, config.n_layer
    return 2 * C * L * (2 * C + 4 * C)


def non_embedding_params(config: GPTConfig) -> int:
    """minifm's GPT counted exactly, without wte and wpe: Kaplan's N plus the biases and
    LayerNorms (13 C per block and 2 C for ln_f with biases)."""
    return count_params(config) - (config.vocab_size + config.context_length) * config.n_embd


def _n_ctx(config: GPTConfig, n_ctx: int | None) -> int:
    n_ctx = config.context_length if n_ctx is None else n_ctx
    if isinstance(n_ctx, bool) or not isinstance(n_ctx, (int, np.integer)) or n_ctx < 1:
        raise ValueError(f"n_ctx must be a positive int (the training context), got {n_ctx!r}")
    return int(n_ctx)


def forward_flops_per_token(config: GPTConfig, n_ctx: int | None = None) -> int:
    """2 N + 2 L T C (Kaplan Table 1) with T = n_ctx (default: the config's context_length)."""
    T = _n_ctx(config, n_ctx)
    return 2 * kaplan_params(config) + 2 * config.n_layer * T * config.n_embd


def training_flops(config: GPTConfig, tokens: int, n_ctx: int | None = None) -> int:
    """Training compute for ``tokens`` tokens: 3 x the forward, (6 N + 6 L T C) D FLOPs."""
    if isinstance(tokens, bool) or not isinstance(tokens, (int, np.integer)) or tokens < 0:
        raise ValueError(f"tokens must be an int >= 0, got {tokens!r}")
    return 3 * forward_flops_per_token(config, n_ctx) * int(tokens)


@dataclass(frozen=True)
class PowerLaw:
    """L(x) = a x^-alpha + c."""

    a: float
    alpha: float
    c: float

    def __call__(self, x: np.ndarray | float) -> np.ndarray | float:
        return self.a * np.power(x, -self.alpha) + self.c


def _line_fit(log_x: np.ndarray, y: np.ndarray, c: float) -> PowerLaw:
    """a and alpha for a fixed c: least squares of log(y - c) on log x."""
    design = np.stack([np.ones_like(log_x), -log_x], axis=1)        # (n, 2)
    (log_a, alpha), *_ = np.linalg.lstsq(design, np.log(y - c), rcond=None)
    return PowerLaw(float(np.exp(log_a)), float(alpha), c)


def _sse(law: PowerLaw, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((y - law(x)) ** 2))


def fit_power_law(x: np.ndarray, y: np.ndarray, *, grid: int = 200,
                  gauss_newton_steps: int = 50) -> PowerLaw:
    """Least-squares fit of y = a x^-alpha + c with 0 <= c < min(y): x, y (n,) positive, n >= 4.

    c is profiled (module docstring): ``grid`` values in [0, min y), golden section between the
    best one's neighbours, then ``gauss_newton_steps`` damped Gauss-Newton steps on (a, alpha, c).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 4:
        raise ValueError(f"fit_power_law needs x and y of one shape (n,) with n >= 4 (three "
                         f"parameters and a check), got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and x.min() > 0 and y.min() > 0):
        raise ValueError("fit_power_law needs finite, positive x and y")
    for name, value, least in (("grid", grid, 3), ("gauss_newton_steps", gauss_newton_steps, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"fit_power_law: {name} must be an int >= {least}, got {value!r}")
    log_x, top = np.log(x), float(y.min())

    def profile(c: float) -> float:
        return _sse(_line_fit(log_x, y, c), x, y)

    cs = top * np.arange(grid) / grid                                 # [0, min y)
    best = int(np.argmin([profile(c) for c in cs]))
    lo, hi = cs[max(best - 1, 0)], (cs[best + 1] if best + 1 < grid else top * (1 - 1e-12))
    golden = (math.sqrt(5) - 1) / 2
    for _ in range(100):                                              # bracket shrinks 0.618x
        m1, m2 = hi - golden * (hi - lo), lo + golden * (hi - lo)
        if profile(m1) < profile(m2):
            hi = m2
        else:
            lo = m1
    law = _line_fit(log_x, y, (lo + hi) / 2)
    return _gauss_newton(law, x, y, gauss_newton_steps)


def _gauss_newton(law: PowerLaw, x: np.ndarray, y: np.ndarray, steps: int) -> PowerLaw:
    """Gauss-Newton on the squared error, halving a step until it lowers the error (and keeps
    c >= 0); stops when no step helps."""
    error = _sse(law, x, y)
    for _ in range(steps):
        power = np.power(x, -law.alpha)                               # (n,) x^-alpha
        # d/da = x^-alpha,  d/dalpha = -a log(x) x^-alpha,  d/dc = 1
        jacobian = np.stack([power, -law.a * np.log(x) * power, np.ones_like(x)], axis=1)
        step, *_ = np.linalg.lstsq(jacobian, y - law(x), rcond=None)
        for _ in range(30):
            trial = PowerLaw(law.a + step[0], law.alpha + step[1], law.c + step[2])
            trial_error = _sse(trial, x, y) if trial.c >= 0 and trial.a > 0 else math.inf
            if trial_error < error:
                law, error = trial, trial_error
                break
            step = step / 2
        else:
            break
    return law


def compute_frontier(compute: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Indices of the runs on the compute-efficient frontier, by increasing compute: those
    whose loss is lower than that of every run with no more compute. compute, loss: (n,)."""
    compute, loss = np.asarray(compute, dtype=np.float64), np.asarray(loss, dtype=np.float64)
    if compute.ndim != 1 or compute.shape != loss.shape or not len(compute):
        raise ValueError(f"compute_frontier needs compute and loss of one shape (n,), got "
                         f"{compute.shape} and {loss.shape}")
    order = np.lexsort((loss, compute))                               # by compute, then loss
    frontier, best = [], math.inf
    for i in order:
        if loss[i] < best:
            frontier.append(int(i))
            best = loss[i]
    return np.array(frontier, dtype=np.int64)
