"""Tests for minifm.functional.pooling: one position per row, or the (masked) mean."""

import numpy as np
import pytest

from minifm.functional.pooling import (mean_pool_backward, mean_pool_forward,
                                       select_pool_backward, select_pool_forward)
from minifm.gradcheck import check_pair, worst

# Linear ops: the library bound for functional pairs.
BOUND = 1e-7


def test_select_pool_picks_one_position_per_row(rng):
    x = rng.standard_normal((3, 4, 2))
    y, _ = select_pool_forward(x, np.array([0, 3, 1]))
    np.testing.assert_array_equal(y, np.stack([x[0, 0], x[1, 3], x[2, 1]]))


def test_select_pool_backward_matches_numerical(rng):
    x = rng.standard_normal((3, 4, 2))
    index = np.array([2, 0, 3])
    results = check_pair(lambda a: select_pool_forward(a, index), select_pool_backward, [x],
                         rng=rng)
    assert worst(results) < BOUND


def test_mean_pool_averages_only_real_positions(rng):
    x = rng.standard_normal((2, 3, 4))
    mask = np.array([[True, True, False], [True, True, True]])
    y, _ = mean_pool_forward(x, mask)
    np.testing.assert_allclose(y[0], x[0, :2].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(y[1], x[1].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(mean_pool_forward(x)[0], x.mean(axis=1), rtol=1e-12)


@pytest.mark.parametrize("masked", [False, True])
def test_mean_pool_backward_matches_numerical(rng, masked):
    x = rng.standard_normal((2, 4, 3))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]]) if masked else None
    results = check_pair(lambda a: mean_pool_forward(a, mask), mean_pool_backward, [x], rng=rng)
    assert worst(results) < BOUND


def test_mean_pool_gives_padding_no_gradient(rng):
    x = rng.standard_normal((1, 3, 2))
    _, cache = mean_pool_forward(x, np.array([[True, True, False]]))
    np.testing.assert_array_equal(mean_pool_backward(np.ones((1, 2)), cache)[0, 2], 0.0)


def test_pooling_keeps_float32(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    for y, cache, backward in (
            (*select_pool_forward(x, np.array([0, 2])), select_pool_backward),
            (*mean_pool_forward(x, np.ones((2, 3), dtype=bool)), mean_pool_backward)):
        assert y.dtype == np.float32 and backward(y, cache).dtype == np.float32


def test_pooling_rejects_bad_input(rng):
    x = rng.standard_normal((2, 3, 4))
    with pytest.raises(ValueError, match=r"\(B, T, C\)"):
        select_pool_forward(x[0], np.array([0, 1]))
    with pytest.raises(ValueError, match=r"ints in \[0, 3\)"):
        select_pool_forward(x, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"\(B,\) = \(2,\)"):
        select_pool_forward(x, np.array([0]))
    with pytest.raises(ValueError, match=r"mean_pool mask must have shape \(B, T\) = \(2, 3\), got "
                                         r"shape \(2, 4\)"):
        mean_pool_forward(x, np.ones((2, 4), dtype=bool))
    with pytest.raises(TypeError, match="mean_pool mask must be a bool or 0/1 integer"):
        mean_pool_forward(x, np.full((2, 3), 0.5))                  # weights are not a mask
    with pytest.raises(ValueError, match=r"only 0 \(padding\) and 1 \(real\)"):
        mean_pool_forward(x, np.array([[1, 2, 0], [1, 1, 1]]))
    with pytest.raises(ValueError, match="no real position"):
        mean_pool_forward(x, np.array([[1, 0, 0], [0, 0, 0]]))
