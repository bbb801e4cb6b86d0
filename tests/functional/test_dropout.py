"""Tests for minifm.functional.dropout."""

import numpy as np
import pytest

from minifm.functional.dropout import dropout_backward, dropout_forward
from minifm.gradcheck import check_pair, worst

BOUND = 1e-7   # with a fixed mask dropout is linear: exact up to round-off


def test_dropout_backward_matches_numerical_with_fixed_mask(rng):
    x = rng.standard_normal((2, 3, 4))

    def forward(x):   # a fresh generator with one seed per call: the same mask every time
        return dropout_forward(x, 0.5, np.random.default_rng(7), True)

    out, mask = forward(x)
    assert 0 < np.count_nonzero(mask) < mask.size          # some dropped, some kept
    assert worst(check_pair(forward, dropout_backward, [x], rng=rng)) < BOUND


def test_dropout_zeroes_or_scales_each_entry(rng):
    x = rng.standard_normal(1000) + 5
    out, mask = dropout_forward(x, 0.25, rng, True)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.75, rtol=1e-15)
    assert np.array_equal(dropout_backward(np.ones_like(x), mask), np.where(kept, 1 / 0.75, 0.0))


def test_dropout_preserves_the_mean_and_drops_a_fraction_p(rng):
    n, p = 1_000_000, 0.3
    out, _ = dropout_forward(np.ones(n, np.float32), p, rng, True)
    assert out.dtype == np.float32
    # Each entry is 0 or 1/(1-p): mean 1, std sqrt(p/(1-p)); allow 5 standard errors.
    assert abs(out.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / n)
    assert abs(np.mean(out == 0) - p) < 5 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("training, p", [(False, 0.5), (True, 0.0)])
def test_dropout_is_identity_in_eval_or_with_p_zero(rng, training, p):
    x = rng.standard_normal((2, 3))
    state = rng.bit_generator.state
    out, cache = dropout_forward(x, p, rng, training)
    assert out is x and cache is None
    assert rng.bit_generator.state == state                 # nothing drawn
    dout = rng.standard_normal((2, 3))
    assert dropout_backward(dout, cache) is dout


@pytest.mark.parametrize("p", [1.0, -0.1, float("nan")])
def test_dropout_rejects_bad_probability(rng, p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        dropout_forward(np.ones(3), p, rng, True)
