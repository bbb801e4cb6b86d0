"""Tests for minifm.functional.activations: erf, GELU (both forms), ReLU."""

import math

import numpy as np
import pytest

from minifm.functional.activations import (erf, gelu_backward, gelu_forward, relu_backward,
                                           relu_forward)
from minifm.gradcheck import check_pair, worst

BOUND = 1e-7   # smooth ops (ReLU is tested away from its kink); float64, h = 1e-5


def _erf_test_points() -> np.ndarray:
    grid = np.linspace(-7, 7, 28001)                     # both formulas and the join at |x| = 1.5
    tiny = np.geomspace(1e-300, 1.0, 600)                 # erf(x) ~ 2x/sqrt(pi): relative accuracy
    return np.concatenate([grid, tiny, -tiny, [1.5, -1.5, np.nextafter(1.5, 2), 6.0, 50.0]])


def test_erf_matches_math_erf_to_1e15_relative_in_float64():
    x = _erf_test_points()
    expected = np.array([math.erf(v) for v in x])
    got = erf(x)
    rel = np.abs(got - expected) / np.abs(expected).clip(min=np.finfo(np.float64).tiny)
    assert got.dtype == np.float64
    assert rel.max() < 1e-15                              # measured: 3.8e-16 (~2 ulp)


def test_erf_matches_math_erf_to_float32_rounding_in_float32():
    x = _erf_test_points()
    x = x[np.abs(x) > 1e-30].astype(np.float32)           # skip float32 subnormals
    expected = np.array([math.erf(float(v)) for v in x])
    got = erf(x)
    assert got.dtype == np.float32
    assert (np.abs(got - expected) / np.abs(expected)).max() < 5e-7   # measured: 2.3e-7


def test_erf_special_values():
    got = erf(np.array([0.0, np.inf, -np.inf, np.nan]))
    assert got[0] == 0.0 and got[1] == 1.0 and got[2] == -1.0 and np.isnan(got[3])
    x = np.linspace(0, 5, 101)
    assert np.array_equal(erf(-x), -erf(x))


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_backward_matches_numerical(rng, approximate):
    # A grid over [-3, 3]: reaches the erf tail formula (|x| / sqrt 2 > 1.5) while every gradient
    # stays above ~0.01. Far out on the negative side y = x (1 + t) / 2 cancels (t -> -1), and the
    # ~1e-11 round-off of the central difference, not the backward, would set the relative error.
    x = np.linspace(-3, 3, 24).reshape(2, 3, 4)
    result = check_pair(lambda x: gelu_forward(x, approximate), gelu_backward, [x], rng=rng)
    assert worst(result) < BOUND


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_forward_matches_scalar_formula(rng, approximate):
    x = rng.standard_normal(50) * 3
    y, _ = gelu_forward(x, approximate)
    k = math.sqrt(2 / math.pi)
    for xi, yi in zip(x, y):
        if approximate == "tanh":
            expected = 0.5 * xi * (1 + math.tanh(k * (xi + 0.044715 * xi ** 3)))
        else:
            expected = 0.5 * xi * (1 + math.erf(xi / math.sqrt(2)))
        assert abs(yi - expected) < 1e-14 * max(1.0, abs(xi))


def test_gelu_tanh_approximates_the_exact_form():
    x = np.linspace(-8, 8, 4001)
    diff = np.abs(gelu_forward(x, "tanh")[0] - gelu_forward(x, "none")[0])
    assert 1e-5 < diff.max() < 1e-3                        # close, but not the same function


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_keeps_float32(rng, approximate):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32) * 3
    y, cache = gelu_forward(x, approximate)
    dx = gelu_backward(np.ones_like(y), cache)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    y64, _ = gelu_forward(x.astype(np.float64), approximate)
    np.testing.assert_allclose(y, y64, rtol=0, atol=1e-6)


def test_gelu_rejects_unknown_form():
    with pytest.raises(ValueError, match="'erf'"):
        gelu_forward(np.zeros(3), "erf")


def test_relu_backward_matches_numerical(rng):
    x = rng.standard_normal((2, 3, 4))
    x += np.sign(x) * 0.1                                 # keep every entry 0.1 away from the kink
    assert worst(check_pair(relu_forward, relu_backward, [x], rng=rng)) < BOUND


def test_relu_values_and_gradient_at_zero():
    x = np.array([-2.0, 0.0, 3.0], dtype=np.float32)
    y, cache = relu_forward(x)
    dx = relu_backward(np.ones(3, np.float32), cache)
    assert np.array_equal(y, [0.0, 0.0, 3.0]) and np.array_equal(dx, [0.0, 0.0, 1.0])
    assert y.dtype == np.float32 and dx.dtype == np.float32
