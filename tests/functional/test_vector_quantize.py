"""Tests for minifm.functional.vector_quantize: the nearest-code assignment and the mse pair."""

import numpy as np
import pytest

from minifm.functional.vector_quantize import mse_backward, mse_forward, nearest_code
from minifm.gradcheck import check_pair, worst

# Smooth op: a correct backward gives ~1e-10 with h = 1e-5 in float64; 1e-7 is the library bound.
BOUND = 1e-7


def test_nearest_code_matches_a_loop_over_every_vector_and_code(rng):
    z, codebook = rng.standard_normal((2, 5, 3)), rng.standard_normal((7, 3))
    codes = nearest_code(z, codebook)
    assert codes.shape == (2, 5) and codes.dtype == np.int64
    for b in range(2):
        for i in range(5):
            distances = [np.sum((z[b, i] - e) ** 2) for e in codebook]
            assert codes[b, i] == int(np.argmin(distances))


def test_nearest_code_of_a_codebook_row_is_that_row(rng):
    codebook = rng.standard_normal((6, 4))
    assert nearest_code(codebook, codebook).tolist() == list(range(6))


def test_nearest_code_breaks_ties_towards_the_lower_index():
    codebook = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]])
    assert nearest_code(np.array([[0.0, 0.0], [2.0, 0.0]]), codebook).tolist() == [0, 0]


def test_nearest_code_rejects_bad_input(rng):
    with pytest.raises(ValueError, match=r"\(\.\.\., E=3\)"):
        nearest_code(rng.standard_normal((4, 2)), rng.standard_normal((5, 3)))
    with pytest.raises(ValueError, match=r"\(K, E\)"):
        nearest_code(rng.standard_normal((4, 3)), rng.standard_normal(3))
    with pytest.raises(ValueError, match="codebook is empty"):
        nearest_code(rng.standard_normal((4, 3)), np.ones((0, 3)))
    with pytest.raises(TypeError, match="float"):
        nearest_code(np.ones((4, 3), dtype=np.int64), rng.standard_normal((5, 3)))


def test_mse_forward_is_the_mean_of_squared_differences(rng):
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    loss, _ = mse_forward(a, b)
    assert loss == pytest.approx(sum((x - y) ** 2 for x, y in zip(a.ravel(), b.ravel())) / 24,
                                 rel=1e-12)


def test_mse_backward_matches_numerical_for_both_inputs(rng):
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    results = check_pair(mse_forward, lambda dout, cache: mse_backward(dout, cache), [a, b],
                         rng=rng)
    assert set(results) == {0, 1}
    assert worst(results) < BOUND


def test_mse_keeps_float32(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    _, cache = mse_forward(a, np.zeros_like(a))
    da, db = mse_backward(1.0, cache)
    assert da.dtype == np.float32 and db.dtype == np.float32


def test_mse_rejects_bad_input(rng):
    with pytest.raises(ValueError, match="one shape"):
        mse_forward(rng.standard_normal((2, 3)), rng.standard_normal((3, 2)))
    with pytest.raises(ValueError, match="empty"):
        mse_forward(np.ones((0, 3)), np.ones((0, 3)))
    with pytest.raises(TypeError, match="float"):
        mse_forward(np.ones(3, dtype=np.int64), np.ones(3))
