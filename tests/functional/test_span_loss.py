"""The span loss: the mean of the start and end cross-entropies, its fused gradient, and the
masking of positions outside the context."""

import numpy as np
import pytest

from minifm.functional.losses import cross_entropy_forward
from minifm.functional.span_loss import masked_logits, span_loss_backward, span_loss_forward
from minifm.gradcheck import check_pair, worst


def test_span_loss_is_the_mean_of_two_cross_entropies(rng):
    s, e = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    i, j = np.array([0, 2, 4]), np.array([1, 2, 4])
    loss, _ = span_loss_forward(s, e, i, j)
    assert loss == pytest.approx((cross_entropy_forward(s, i)[0]
                                  + cross_entropy_forward(e, j)[0]) / 2, abs=1e-15)


def test_span_loss_of_two_uniform_rows_is_log_T():
    z = np.zeros((2, 7))
    loss, _ = span_loss_forward(z, z, np.array([1, 3]), np.array([2, 6]))
    assert loss == pytest.approx(np.log(7), abs=1e-15)


def test_span_loss_backward_matches_numerical_gradient(rng):
    i, j = np.array([0, 2, 4]), np.array([1, 3, 4])
    results = check_pair(lambda s, e: span_loss_forward(s, e, i, j),
                         lambda d, cache: span_loss_backward(d, cache),
                         [rng.standard_normal((3, 5)), rng.standard_normal((3, 5))], rng=rng)
    assert worst(results) < 1e-7                               # smooth op (STYLE.md)


def test_masked_positions_get_zero_probability_and_zero_gradient(rng):
    allowed = np.array([[False, True, True, False]])
    s = masked_logits(rng.standard_normal((1, 4)), allowed)
    e = masked_logits(rng.standard_normal((1, 4)), allowed)
    assert s.dtype == np.float64 and np.isfinite(s).all()
    _, cache = span_loss_forward(s, e, np.array([1]), np.array([2]))
    ds, de = span_loss_backward(1.0, cache)
    assert np.all(ds[~allowed] == 0) and np.all(de[~allowed] == 0)
    assert masked_logits(np.zeros((1, 4), np.float32), allowed).dtype == np.float32


def test_span_loss_rejects_mismatched_logits(rng):
    with pytest.raises(ValueError, match="one shape"):
        span_loss_forward(np.zeros((2, 5)), np.zeros((2, 4)), np.array([0, 1]), np.array([0, 1]))
