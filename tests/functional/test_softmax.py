"""Tests for minifm.functional.softmax."""

import numpy as np
import pytest

from minifm.functional.softmax import softmax_backward, softmax_forward
from minifm.gradcheck import check_pair, worst

BOUND = 1e-7   # smooth op; float64, h = 1e-5


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_softmax_backward_matches_numerical(rng, axis):
    x = rng.standard_normal((2, 3, 4)) * 2
    result = check_pair(lambda x: softmax_forward(x, axis), softmax_backward, [x], rng=rng)
    assert worst(result) < BOUND


def test_softmax_rows_are_distributions_matching_the_definition(rng):
    x = rng.standard_normal((2, 3, 4))
    y, _ = softmax_forward(x)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(y, np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True), rtol=1e-14)


def test_softmax_survives_huge_logits_and_is_shift_invariant():
    x = np.array([[1000.0, 1001.0, -1000.0]])
    y, _ = softmax_forward(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, softmax_forward(x - 1000.0)[0], rtol=1e-15)


def test_softmax_keeps_float32(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    y, cache = softmax_forward(x)
    dx = softmax_backward(rng.standard_normal(y.shape).astype(np.float32), cache)
    assert y.dtype == np.float32 and dx.dtype == np.float32
