"""FeedForward (GPT-2 ``mlp``): gradients of x and every parameter for both GELU forms, dropout.

The network is smooth, so float64 gradient checks assert a relative error below 1e-7.
"""

import numpy as np
import pytest

from minifm.gradcheck import check_module, worst
from minifm.nn import Dropout, FeedForward, Module

B, T, C, F = 2, 3, 4, 8


class Reseeded(Module):
    """Runs ``inner`` with every Dropout generator reseeded, so each forward draws the same masks."""

    def __init__(self, inner: Module, seed: int = 0):
        self.inner, self.seed = inner, seed

    def forward(self, x):
        for i, (_, m) in enumerate(self.inner.named_modules()):
            if isinstance(m, Dropout):
                m.rng = np.random.default_rng(self.seed + i)
        return self.inner(x)

    def backward(self, dy):
        return self.inner.backward(dy)


def ffn(rng, dtype=np.float64, **kw):
    m = FeedForward(C, F, rng=rng, dtype=dtype, **kw)
    for _, p in m.named_parameters():
        p.data[...] = rng.standard_normal(p.data.shape)
    return m


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_feedforward_backward_matches_numerical(rng, approximate):
    res = check_module(ffn(rng, approximate=approximate), rng.standard_normal((B, T, C)), rng=rng)
    assert set(res) == {"x", "c_fc.weight", "c_fc.bias", "c_proj.weight", "c_proj.bias"}
    assert worst(res) < 1e-7, {k: v.rel_error for k, v in res.items()}


def test_feedforward_with_dropout_matches_numerical(rng):
    model = Reseeded(ffn(rng, dropout=0.4))
    x = rng.standard_normal((B, T, C))
    y = model(x)
    assert np.any(y == 0.0)                   # the mask really drops something
    res = check_module(model, x, rng=rng)
    assert worst(res) < 1e-7


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_feedforward_computes_linear_gelu_linear(rng, approximate):
    m = ffn(rng, approximate=approximate)
    x = rng.standard_normal((B, T, C))
    h = x @ m.c_fc.weight.data + m.c_fc.bias.data
    if approximate == "tanh":    # Hendrycks & Gimpel 2016
        g = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h ** 3)))
    else:
        from math import erf
        g = 0.5 * h * (1 + np.vectorize(erf)(h / np.sqrt(2)))
    expected = g @ m.c_proj.weight.data + m.c_proj.bias.data
    np.testing.assert_allclose(m(x), expected, rtol=0, atol=1e-12)


def test_feedforward_shapes_names_and_dtype(rng):
    m = FeedForward(C, F, rng=rng, bias=False)
    assert {n: p.shape for n, p in m.named_parameters()} == {"c_fc.weight": (C, F),
                                                             "c_proj.weight": (F, C)}
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    y = m(x)
    dx = m.backward(np.ones_like(y))
    assert y.shape == dx.shape == (B, T, C)
    assert y.dtype == dx.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in m.parameters())
