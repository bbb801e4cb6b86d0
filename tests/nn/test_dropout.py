"""Tests for minifm.nn.Dropout."""

import numpy as np
import pytest

from minifm.gradcheck import check_module, worst
from minifm.nn import Dropout

BOUND = 1e-7   # linear with a fixed mask; float64, h = 1e-5


class FixedMaskDropout(Dropout):
    """Dropout that re-seeds its generator every call, so every forward draws the same mask."""

    def forward(self, x):
        self.rng = np.random.default_rng(3)
        return super().forward(x)


def test_dropout_module_gradient_matches_numerical_with_fixed_mask(rng):
    drop = FixedMaskDropout(0.5, rng=rng)
    x = rng.standard_normal((2, 3, 4))
    y = drop(x)
    drop.backward(np.ones_like(y))
    assert 0 < np.count_nonzero(y) < y.size
    assert worst(check_module(drop, x, rng=rng)) < BOUND


def test_dropout_module_is_identity_in_eval(rng):
    drop = Dropout(0.5, rng=rng).eval()
    x, dout = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    assert np.array_equal(drop(x), x) and np.array_equal(drop.backward(dout), dout)


def test_dropout_module_train_and_eval_statistics(rng):
    n, p = 1_000_000, 0.2
    drop = Dropout(p, rng=rng)
    x = np.ones(n, np.float32)
    y = drop(x)
    assert y.dtype == np.float32
    assert abs(y.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / n)      # mean preserved in training
    assert abs(np.mean(y == 0) - p) < 5 * np.sqrt(p * (1 - p) / n)
    assert np.array_equal(drop.eval()(x), x)                         # and exactly in eval


def test_dropout_resumes_bit_identically_from_saved_rng_state(rng):
    drop = Dropout(0.5, rng=np.random.default_rng(11))
    x = np.ones((4, 5), np.float32)
    drop(x)
    state = drop.rng.bit_generator.state
    expected = drop(x)
    resumed = Dropout(0.5, rng=np.random.default_rng(99))
    resumed.rng.bit_generator.state = state
    assert np.array_equal(resumed(x), expected)


@pytest.mark.parametrize("p", [1.0, -0.5, 1.5])
def test_dropout_rejects_bad_probability(rng, p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(p, rng=rng)
