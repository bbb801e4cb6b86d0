"""Tests for minifm.functional.normalize: L2 normalisation and its backward."""

import numpy as np
import pytest

from minifm.functional.normalize import l2_normalize_backward, l2_normalize_forward
from minifm.gradcheck import check_pair, worst

# Smooth op away from x = 0: the library bound for functional pairs.
BOUND = 1e-7


def test_l2_normalize_gives_unit_rows_in_the_same_direction(rng):
    x = rng.standard_normal((3, 4, 5))
    y, _ = l2_normalize_forward(x)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(y * np.linalg.norm(x, axis=-1, keepdims=True), x, rtol=1e-12)


def test_l2_normalize_backward_matches_numerical(rng):
    x = rng.standard_normal((4, 6))
    assert worst(check_pair(l2_normalize_forward, l2_normalize_backward, [x], rng=rng)) < BOUND


def test_l2_normalize_backward_is_orthogonal_to_the_output(rng):
    # stretching x along itself does not change y, so dx has no component along x
    x = rng.standard_normal((5, 3))
    y, cache = l2_normalize_forward(x)
    dx = l2_normalize_backward(rng.standard_normal((5, 3)), cache)
    np.testing.assert_allclose(np.sum(dx * y, axis=1), 0.0, atol=1e-12)


def test_l2_normalize_of_a_zero_vector_is_finite():
    x = np.zeros((2, 3))
    x[1] = [3.0, 0.0, 4.0]
    y, cache = l2_normalize_forward(x)
    np.testing.assert_array_equal(y[0], 0.0)
    np.testing.assert_allclose(y[1], [0.6, 0.0, 0.8])
    dx = l2_normalize_backward(np.ones((2, 3)), cache)
    assert np.all(np.isfinite(dx))
    # below the guard y = x / eps is linear, so the gradient is dy / eps
    np.testing.assert_array_equal(dx[0], 1e12)


def test_l2_normalize_keeps_float32(rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)
    y, cache = l2_normalize_forward(x)
    assert y.dtype == np.float32 and l2_normalize_backward(y, cache).dtype == np.float32


def test_l2_normalize_rejects_bad_input():
    with pytest.raises(TypeError, match="floating-point"):
        l2_normalize_forward(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="floating-point"):
        l2_normalize_forward([1.0, 2.0])
