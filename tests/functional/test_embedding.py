"""Tests for minifm.functional.embedding."""

import numpy as np
import pytest

from minifm.functional.embedding import embedding_backward, embedding_forward
from minifm.gradcheck import check_pair, worst

BOUND = 1e-7   # a lookup is linear in the table: a correct backward is exact up to round-off


def _backward_wrt_inputs(dout, cache):
    return None, embedding_backward(dout, cache)    # integer ids have no gradient


def test_embedding_backward_matches_numerical_with_repeated_ids(rng):
    idx = np.array([[1, 3, 1], [0, 1, 4]])          # id 1 three times, id 2 never
    weight = rng.standard_normal((5, 4))
    result = check_pair(embedding_forward, _backward_wrt_inputs, [idx, weight], rng=rng)
    assert list(result) == [1]
    assert worst(result) < BOUND


def test_embedding_backward_equals_rowwise_add_at_bit_for_bit(rng):
    V, C = 7, 5
    idx = rng.integers(0, V, size=(4, 9))
    dout = rng.standard_normal((4, 9, C)).astype(np.float32)
    _, cache = embedding_forward(idx, np.zeros((V, C), np.float32))
    expected = np.zeros((V, C), np.float32)
    np.add.at(expected, idx, dout)
    got = embedding_backward(dout, cache)
    assert got.dtype == np.float32
    assert np.array_equal(got, expected)


def test_embedding_backward_with_small_integer_ids(rng):
    V, C = 200, 4                                        # 199 * 4 does not fit in uint8
    idx = np.array([199, 3, 199], dtype=np.uint8)
    _, cache = embedding_forward(idx, np.zeros((V, C)))
    dweight = embedding_backward(np.ones((3, C)), cache)
    assert np.array_equal(dweight[199], np.full(C, 2.0)) and dweight.sum() == 3 * C


def test_embedding_forward_picks_rows(rng):
    weight = rng.standard_normal((6, 3))
    idx = np.array([[5, 0], [2, 2]])
    out, _ = embedding_forward(idx, weight)
    assert out.shape == (2, 2, 3)
    assert np.array_equal(out[0, 0], weight[5]) and np.array_equal(out[1, 1], weight[2])


def test_embedding_of_unused_rows_gets_zero_gradient(rng):
    _, cache = embedding_forward(np.array([0, 0, 2]), rng.standard_normal((4, 3)))
    dweight = embedding_backward(np.ones((3, 3)), cache)
    assert np.array_equal(dweight[1], np.zeros(3)) and np.array_equal(dweight[3], np.zeros(3))
    assert np.array_equal(dweight[0], np.full(3, 2.0))


def test_embedding_rejects_float_ids(rng):
    with pytest.raises(TypeError, match="embedding ids must be an integer numpy array of ids"):
        embedding_forward(np.array([0.0, 1.0]), rng.standard_normal((4, 3)))


def test_embedding_rejects_ids_outside_the_table(rng):
    # NumPy would read id -1 as the last row and fail only later (or never) on id 4
    weight = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match=r"holds id -1, outside the vocabulary \[0, 4\)"):
        embedding_forward(np.array([0, -1]), weight)
    with pytest.raises(ValueError, match=r"holds id 4, outside the vocabulary \[0, 4\)"):
        embedding_forward(np.array([[4, 0]]), weight)
