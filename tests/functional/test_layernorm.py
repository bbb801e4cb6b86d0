"""Tests for minifm.functional.layernorm."""

import numpy as np
import pytest

from minifm.functional.layernorm import layernorm_backward, layernorm_forward
from minifm.gradcheck import check_pair, worst

BOUND = 1e-7   # smooth op; float64, h = 1e-5


@pytest.mark.parametrize("shape", [(2, 3, 4), (5, 4)])
def test_layernorm_backward_matches_numerical(rng, shape):
    x = rng.standard_normal(shape) * 3 + 1
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    result = check_pair(layernorm_forward, layernorm_backward, [x, gamma, beta, 1e-5], rng=rng)
    assert sorted(result) == [0, 1, 2]
    assert worst(result) < BOUND


def test_layernorm_rows_have_zero_mean_unit_variance(rng):
    x = rng.standard_normal((2, 3, 16)) * 5 + 2
    y, _ = layernorm_forward(x, np.ones(16), np.zeros(16), eps=0.0)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1, atol=1e-12)    # biased variance


def test_layernorm_eps_is_inside_the_sqrt():
    x = np.array([[1.0, -1.0]])                                    # mean 0, biased variance 1
    y, _ = layernorm_forward(x, np.ones(2), np.zeros(2), eps=3.0)
    np.testing.assert_allclose(y, x / 2.0, rtol=1e-15)             # 1 / sqrt(1 + 3)


def test_layernorm_keeps_float32(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    g, b = np.ones(4, np.float32), np.zeros(4, np.float32)
    y, cache = layernorm_forward(x, g, b, np.float64(1e-5))
    grads = layernorm_backward(np.ones_like(y), cache)
    assert y.dtype == np.float32 and all(d.dtype == np.float32 for d in grads)


def test_layernorm_rejects_mismatched_params(rng):
    with pytest.raises(ValueError, match=r"\(4,\)"):
        layernorm_forward(rng.standard_normal((2, 4)), np.ones(3), np.zeros(3))
