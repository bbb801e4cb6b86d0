"""Numerics at the edges: GELU(-inf) is 0 (with gradient 0), and LayerNorm of float32 rows near
1e20 normalises them instead of returning zeros (the variance used to overflow)."""

from __future__ import annotations

import numpy as np
import pytest

from minifm.functional.activations import gelu_backward, gelu_forward
from minifm.functional.layernorm import layernorm_backward, layernorm_forward
from minifm.nn import GELU, LayerNorm


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("form", ["tanh", "none"])
def test_gelu_of_minus_inf_is_zero_with_zero_gradient(dtype, form):
    x = np.array([-np.inf, -1e4, -41.0, -40.0, 0.0, 1.0], dtype=dtype)
    y, cache = gelu_forward(x, form)
    dx = gelu_backward(np.ones_like(x), cache)
    np.testing.assert_array_equal(y[:4], 0.0)
    np.testing.assert_array_equal(dx[:4], 0.0)
    assert y.dtype == dtype and np.isfinite(y).all() and np.isfinite(dx).all()
    np.testing.assert_allclose(y[4:], [0.0, 0.8413], rtol=2e-3)   # GELU(1) = Phi(1) ~ 0.8413


@pytest.mark.parametrize("form", ["tanh", "none"])
def test_gelu_clamp_moves_no_finite_result(form, rng):
    """The clamp at -40 only changes inputs whose result is 0 anyway: the rest of a clamped
    array gives exactly what it gives alone (where no clamp happens, x itself is cached)."""
    x = np.concatenate([rng.uniform(-60, 5, 200), [-40.0, -39.99, -1e300]])
    y, cache = gelu_forward(x, form)
    dx = gelu_backward(np.ones_like(x), cache)
    far = x < -40
    np.testing.assert_array_equal(y[far], 0.0)
    np.testing.assert_array_equal(dx[far], 0.0)
    near = x[~far]
    y_near, near_cache = gelu_forward(near, form)
    assert near_cache[1] is near                  # nothing below -40: no copy was made
    np.testing.assert_array_equal(y[~far], y_near)
    np.testing.assert_array_equal(dx[~far], gelu_backward(np.ones_like(near), near_cache))


def test_gelu_module_keeps_the_caller_array_untouched():
    x = np.array([[-np.inf, 1.0]])
    y = GELU()(x)
    assert x[0, 0] == -np.inf and y[0, 0] == 0.0


@pytest.mark.parametrize("scale", [1e20, 1e30, 1e38])
def test_layernorm_of_huge_float32_rows_normalises_them(scale, rng):
    base = rng.standard_normal((3, 8))
    x = (base * scale).astype(np.float32)
    x[1] = base[1]                                # an ordinary row beside the huge ones
    gamma, beta = np.ones(8, np.float32), np.zeros(8, np.float32)
    y, _ = layernorm_forward(x, gamma, beta)
    x64 = x.astype(np.float64)
    ref = x64 - x64.mean(-1, keepdims=True)
    ref /= np.sqrt((ref ** 2).mean(-1, keepdims=True) + 1e-5)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref, atol=1e-5)   # float32 rounding of unit-scale values


def test_layernorm_backward_of_a_huge_row_is_the_scaled_gradient_of_the_plain_row(rng):
    """LN(a x) = LN(x) for a > 0 (eps aside), so dx at a x is dx at x divided by a."""
    x = rng.standard_normal((2, 6))
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    dout = rng.standard_normal((2, 6))
    _, small = layernorm_forward(x, gamma, beta, eps=0.0)
    _, huge = layernorm_forward(x * 1e200, gamma, beta, eps=0.0)   # squares overflow float64
    dx_small, dg_small, db_small = layernorm_backward(dout, small)
    dx_huge, dg_huge, db_huge = layernorm_backward(dout, huge)
    np.testing.assert_allclose(dx_huge * 1e200, dx_small, rtol=1e-12)
    np.testing.assert_allclose(dg_huge, dg_small, rtol=1e-12)
    np.testing.assert_array_equal(db_huge, db_small)


def test_layernorm_module_of_a_float32_row_near_1e20_is_not_zeros():
    y = LayerNorm(4)(np.array([[1e20, -1e20, 3e19, 0.0]], np.float32))
    assert np.abs(y).max() > 1.0 and abs(float(y.mean())) < 1e-6
