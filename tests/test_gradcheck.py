"""Tests for minifm.gradcheck: it must catch wrong backwards, refuse float32, restore inputs."""

import numpy as np
import pytest

from minifm.functional.layernorm import layernorm_backward, layernorm_forward
from minifm.functional.linear import linear_backward, linear_forward
from minifm.gradcheck import check_module, check_pair, numerical_gradient, rel_error, worst
from minifm.nn import Linear


def layernorm_backward_missing_a_term(dout, cache):
    """LayerNorm backward that forgets the xhat * mean(dxhat * xhat) term (a classic slip)."""
    xhat, gamma, rstd = cache
    dxhat = dout * gamma
    dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True))
    return dx, (dout * xhat).sum(axis=(0, 1)), dout.sum(axis=(0, 1))


def linear_backward_with_w_for_w_transposed(dout, cache):
    """Linear backward with dx = dout @ w instead of dout @ w^T; square w so the shapes still fit."""
    _, w, _ = cache
    _, dw, db = linear_backward(dout, cache)
    return dout @ w, dw, db


def test_gradcheck_passes_a_correct_backward(rng):
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)
    assert worst(check_pair(linear_forward, linear_backward, [x, w, b], rng=rng)) < 1e-7


def test_gradcheck_catches_layernorm_backward_missing_a_term(rng):
    x, g, b = rng.standard_normal((2, 3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    inputs = [x, g, b, 1e-5]
    assert worst(check_pair(layernorm_forward, layernorm_backward, inputs, rng=rng)) < 1e-7
    result = check_pair(layernorm_forward, layernorm_backward_missing_a_term, inputs, rng=rng)
    assert result[0].rel_error > 1e-2                   # dx is wrong ...
    assert max(result[1].rel_error, result[2].rel_error) < 1e-7   # ... the others are right


def test_gradcheck_catches_transposition_slip(rng):
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)
    result = check_pair(linear_forward, linear_backward_with_w_for_w_transposed, [x, w, b], rng=rng)
    assert result[0].rel_error > 1e-2


def test_gradcheck_refuses_float32(rng):
    x32 = rng.standard_normal((2, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3))
    with pytest.raises(TypeError, match="float64"):
        check_pair(linear_forward, linear_backward, [x32, w])
    with pytest.raises(TypeError, match="float32"):
        numerical_gradient(lambda: x32 * 2, x32, np.ones_like(x32))
    with pytest.raises(TypeError, match="parameter 'weight'"):
        check_module(Linear(4, 3, rng=rng), rng.standard_normal((2, 4)))


def test_numerical_gradient_restores_its_input_bit_for_bit(rng):
    x = rng.standard_normal((3, 4)) * 10 + np.pi
    before = x.copy()
    grad = numerical_gradient(lambda: np.sin(x), x, np.ones_like(x))
    assert np.array_equal(x, before)
    np.testing.assert_allclose(grad, np.cos(x), rtol=0, atol=1e-8)


def test_rel_error_is_the_cs231n_formula():
    a, b = np.array([1.0, 0.0, 2.0]), np.array([1.1, 0.0, 2.0])
    assert rel_error(a, b) == pytest.approx(0.1 / 2.1, rel=1e-15)
    with pytest.raises(ValueError, match="shape"):
        rel_error(np.zeros(2), np.zeros(3))
