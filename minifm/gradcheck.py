"""Gradient checking: compare a hand-written backward pass with central differences.

For a function ``out = f(x)`` and a fixed random upstream gradient ``dout``, the scalar
``s = sum(f(x) * dout)`` has ``ds/dx = backward(dout)``. We estimate that derivative one entry at a
time with the central difference

    ds/dx_i ~ (s(x_i + h) - s(x_i - h)) / (2 h)          (error O(h^2))

and compare with the relative error used in CS231n's ``gradient_check.py``:

    rel_error(a, b) = max_i |a_i - b_i| / max(1e-8, |a_i| + |b_i|)

Everything runs in float64: with h = 1e-5 the truncation error is ~1e-10 and round-off is
~1e-16 / 1e-5 = 1e-11, so a correct backward gives ~1e-8 or better on smooth ops. In float32 the
round-off alone would be ~1e-2, which is why float32 input is refused.
Lesson: lessons/03_gradient_checking.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from minifm.nn.module import Module

DEFAULT_H = 1e-5


@dataclass(frozen=True)
class Discrepancy:
    """The worst disagreement between an analytic and a numerical gradient."""

    rel_error: float
    index: tuple[int, ...]      # where the worst element is
    analytic: float
    numerical: float


def _require_float64(name: str, x: np.ndarray) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        dtype = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"gradient checks need float64 arrays, but {name} has dtype {dtype}: "
                        "float32 round-off (~1e-7 / h) swamps the comparison; build the inputs "
                        "and the module with dtype=np.float64")


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """CS231n relative error: ``max |a - b| / max(1e-8, |a| + |b|)`` taken element-wise."""
    return worst_discrepancy(a, b).rel_error


def worst_discrepancy(analytic: np.ndarray, numerical: np.ndarray) -> Discrepancy:
    """Return the element where the relative error is largest, with both values."""
    analytic, numerical = np.asarray(analytic), np.asarray(numerical)
    if analytic.shape != numerical.shape:
        raise ValueError(f"gradient shape {analytic.shape} does not match the input's shape "
                         f"{numerical.shape}")
    if analytic.size == 0:
        return Discrepancy(0.0, (), 0.0, 0.0)
    err = np.abs(analytic - numerical) / np.maximum(1e-8, np.abs(analytic) + np.abs(numerical))
    flat = int(np.argmax(err))
    idx = tuple(int(i) for i in np.unravel_index(flat, err.shape))
    return Discrepancy(float(err.flat[flat]), idx, float(analytic.flat[flat]),
                       float(numerical.flat[flat]))


def numerical_gradient(f: Callable[[], np.ndarray], x: np.ndarray, dout: np.ndarray,
                       h: float = DEFAULT_H) -> np.ndarray:
    """Central-difference gradient of ``sum(f() * dout)`` with respect to ``x`` (changed in place).

    ``f`` takes no arguments and must read ``x`` itself; every entry of ``x`` is restored.
    """
    _require_float64("the input being perturbed", x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.sum(f() * dout)
        x[i] = old - h
        minus = np.sum(f() * dout)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def numerical_gradient_of_scalar(f: Callable[[], float], x: np.ndarray,
                                 h: float = DEFAULT_H) -> np.ndarray:
    """Central-difference gradient of a scalar function (a loss) with respect to ``x``."""
    return numerical_gradient(lambda: np.asarray(f(), dtype=np.float64), x, np.float64(1.0), h)


def check_pair(forward: Callable[..., tuple[np.ndarray, object]],
               backward: Callable[[np.ndarray, object], object],
               inputs: Sequence[np.ndarray], wrt: Sequence[int] | None = None,
               rng: np.random.Generator | None = None, h: float = DEFAULT_H
               ) -> dict[int, Discrepancy]:
    """Check a functional pair ``out, cache = forward(*inputs)``; ``grads = backward(dout, cache)``.

    ``backward`` returns one gradient per input (a tuple, or a single array for one input);
    ``wrt`` lists the input positions to check (default: every floating-point input). Returns
    ``{position: Discrepancy}``.
    """
    inputs = list(inputs)
    if wrt is None:
        wrt = [i for i, x in enumerate(inputs)
               if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)]
    for i in wrt:
        _require_float64(f"input {i}", inputs[i])
    rng = rng if rng is not None else np.random.default_rng(0)
    out, cache = forward(*inputs)
    dout = rng.standard_normal(np.shape(out))
    grads = backward(dout, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    results = {}
    for i in wrt:
        num = numerical_gradient(lambda: forward(*inputs)[0], inputs[i], dout, h)
        results[i] = worst_discrepancy(grads[i], num)
    return results


def check_module(module: Module, *inputs: np.ndarray, rng: np.random.Generator | None = None,
                 h: float = DEFAULT_H, **forward_kwargs: object) -> dict[str, Discrepancy]:
    """Check a module: the gradient of its first input (``"x"``) and of every parameter.

    The module's forward must be deterministic across calls (put dropout in eval mode or give it
    a fixed mask). Returns ``{"x": ..., "<param name>": ...}``.
    """
    x = inputs[0]
    check_x = isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)
    if check_x:
        _require_float64("the module input", x)
    for name, p in module.named_parameters():
        _require_float64(f"parameter {name!r}", p.data)
    rng = rng if rng is not None else np.random.default_rng(0)

    def f() -> np.ndarray:
        return module(*inputs, **forward_kwargs)

    out = f()
    dout = rng.standard_normal(np.shape(out))
    module.zero_grad()
    dx = module.backward(dout)
    results = {}
    if check_x:
        results["x"] = worst_discrepancy(dx, numerical_gradient(f, x, dout, h))
    for name, p in module.named_parameters():
        analytic = p.grad.copy()
        results[name] = worst_discrepancy(analytic, numerical_gradient(f, p.data, dout, h))
    return results


def check_model(model: Module, *batch: np.ndarray, h: float = DEFAULT_H
                ) -> dict[str, Discrepancy]:
    """Check every parameter of a model whose forward returns ``(output, loss)``.

    The model must be deterministic (dropout off). Returns ``{param name: Discrepancy}``.
    """
    for name, p in model.named_parameters():
        _require_float64(f"parameter {name!r}", p.data)

    def loss() -> float:
        return float(model(*batch)[1])

    model.zero_grad()
    model(*batch)
    model.backward()
    results = {}
    for name, p in model.named_parameters():
        analytic = p.grad.copy()
        results[name] = worst_discrepancy(analytic, numerical_gradient_of_scalar(loss, p.data, h))
    return results


def worst(results: dict) -> float:
    """The largest relative error in a result dict from the check functions."""
    return max(d.rel_error for d in results.values())
