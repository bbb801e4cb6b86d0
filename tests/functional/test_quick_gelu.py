"""Tests for minifm.functional.activations' quick GELU, x * sigmoid(1.702 x) (CLIP's GELU)."""

import math

import numpy as np

from minifm.functional.activations import gelu_forward, quick_gelu_backward, quick_gelu_forward
from minifm.gradcheck import check_pair, worst

BOUND = 1e-7   # a smooth op; float64, h = 1e-5


def test_quick_gelu_backward_matches_numerical(rng):
    x = np.linspace(-4, 4, 24).reshape(2, 3, 4)        # gradients stay above ~0.01 in size
    result = check_pair(quick_gelu_forward, quick_gelu_backward, [x], rng=rng)
    assert worst(result) < BOUND


def test_quick_gelu_forward_matches_scalar_formula(rng):
    x = rng.standard_normal(50) * 4
    y, _ = quick_gelu_forward(x)
    for xi, yi in zip(x, y):
        assert abs(yi - xi / (1 + math.exp(-1.702 * xi))) < 1e-14 * max(1.0, abs(xi))


def test_quick_gelu_approximates_gelu_less_closely_than_tanh():
    x = np.linspace(-8, 8, 4001)
    exact = gelu_forward(x, "none")[0]
    quick = np.abs(quick_gelu_forward(x)[0] - exact).max()
    tanh = np.abs(gelu_forward(x, "tanh")[0] - exact).max()
    assert tanh < quick < 0.03                         # close to GELU, but a coarser fit


def test_quick_gelu_keeps_float32_and_does_not_overflow(rng):
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=np.float32)
    y, cache = quick_gelu_forward(x)
    dx = quick_gelu_backward(np.ones_like(y), cache)
    assert y.dtype == dx.dtype == np.float32 and np.isfinite(y).all() and np.isfinite(dx).all()
    np.testing.assert_array_equal(y, [0.0, 0.0, 0.0, 50.0, 1e4])
