"""Tests for minifm.functional.linear."""

import numpy as np
import pytest

from minifm.functional.linear import linear_backward, linear_forward
from minifm.gradcheck import check_pair, worst

# Smooth op: a correct backward gives ~1e-9 with h = 1e-5 in float64; 1e-7 is the library bound.
BOUND = 1e-7


def test_linear_backward_matches_numerical(rng):
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    assert worst(check_pair(linear_forward, linear_backward, [x, w, b], rng=rng)) < BOUND


def test_linear_backward_without_bias_matches_numerical(rng):
    x, w = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    assert worst(check_pair(linear_forward, linear_backward, [x, w], rng=rng)) < BOUND
    _, cache = linear_forward(x, w)
    assert linear_backward(np.ones((2, 3, 5)), cache)[2] is None


def test_linear_forward_matches_per_row_product(rng):
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    y, _ = linear_forward(x, w, b)
    assert y.shape == (2, 3, 5)
    for i in range(2):
        for t in range(3):
            np.testing.assert_allclose(y[i, t], x[i, t] @ w + b, rtol=1e-12, atol=1e-12)


def test_linear_accepts_2d_and_4d_inputs(rng):
    w = rng.standard_normal((4, 5))
    assert linear_forward(rng.standard_normal((6, 4)), w)[0].shape == (6, 5)
    x = rng.standard_normal((2, 2, 3, 4))
    y, cache = linear_forward(x, w)
    assert y.shape == (2, 2, 3, 5)
    dx, dw, _ = linear_backward(np.ones_like(y), cache)
    assert dx.shape == x.shape and dw.shape == w.shape


def test_linear_keeps_float32(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    w = rng.standard_normal((4, 5)).astype(np.float32)
    b = np.zeros(5, np.float32)
    y, cache = linear_forward(x, w, b)
    grads = linear_backward(np.ones_like(y), cache)
    assert y.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


def test_linear_rejects_bad_input(rng):
    w = rng.standard_normal((4, 5))
    with pytest.raises(ValueError, match="last dim 4"):
        linear_forward(rng.standard_normal((2, 3)), w)
    with pytest.raises(TypeError, match="floating-point"):
        linear_forward(np.ones((2, 4), dtype=np.int64), w)
