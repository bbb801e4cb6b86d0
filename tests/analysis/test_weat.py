"""WEAT on vectors whose answer is known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minifm.analysis.weat import association, effect_size, weat


def _separated(n: int, rng: np.random.Generator, E: int = 6):
    """X along A's direction and Y along B's, with scaled copies (cosine ignores the length):
    every x has s = +1 and every y has s = -1 exactly."""
    a, b = np.eye(E)[0], np.eye(E)[1]
    A = np.stack([a * k for k in (1.0, 2.0, 3.0)])
    B = np.stack([b * k for k in (0.5, 4.0)])
    X = a * rng.uniform(0.5, 2.0, (n, 1))
    Y = b * rng.uniform(0.5, 2.0, (n, 1))
    return X, Y, A, B


def test_association_is_the_difference_of_mean_cosines():
    w = np.array([[1.0, 1.0]])                     # 45 degrees: cos with e0 and e1 is 1/sqrt 2
    A = np.array([[1.0, 0.0], [0.0, 2.0]])         # mean cos = 1/sqrt 2
    B = np.array([[-1.0, 0.0]])                    # cos = -1/sqrt 2
    assert association(w, A, B) == pytest.approx([2 / math.sqrt(2)], abs=1e-15)


def test_perfectly_separated_sets_reach_the_maximum_effect_and_p_zero(rng):
    n = 5
    X, Y, A, B = _separated(n, rng)
    result = weat(X, Y, A, B)
    bound = 2 * math.sqrt((2 * n - 1) / (2 * n))   # the sample-std maximum (module docstring)
    assert result.effect_size == pytest.approx(bound, abs=1e-12)
    assert result.statistic == pytest.approx(2 * n, abs=1e-12)
    assert result.exact and result.n_partitions == math.comb(2 * n, n)
    assert result.p_value == 0.0                   # no partition beats the observed one (strict >)
    swapped = weat(Y, X, A, B)
    assert swapped.effect_size == pytest.approx(-bound, abs=1e-12)
    # every partition but the observed one (the minimum) is greater
    assert swapped.p_value == pytest.approx(1 - 1 / math.comb(2 * n, n), abs=1e-15)


def test_identical_target_sets_give_effect_zero_and_the_tie_count_p(rng):
    """X = Y: the observed statistic is 0. A partition ties at 0 exactly when it takes one copy
    of each word (2^n of the comb(2n, n)); the rest split evenly above and below 0 by symmetry,
    so p = (1 - 2^n / comb(2n, n)) / 2."""
    n, E = 4, 5
    X = rng.standard_normal((n, E))
    A, B = rng.standard_normal((3, E)), rng.standard_normal((3, E))
    result = weat(X, X.copy(), A, B)
    assert result.effect_size == pytest.approx(0.0, abs=1e-12)
    assert result.statistic == pytest.approx(0.0, abs=1e-12)
    assert result.p_value == pytest.approx((1 - 2**n / math.comb(2 * n, n)) / 2, abs=1e-15)


def test_sampled_p_value_estimates_the_exact_one():
    rng = np.random.default_rng(1)                 # a draw whose exact p is 0.38, mid-range
    X, Y, A, B = (rng.standard_normal((k, 8)) for k in (6, 6, 4, 4))
    exact = weat(X, Y, A, B)
    sampled = weat(X, Y, A, B, rng=np.random.default_rng(0), max_exact=10, n_samples=20_000)
    assert exact.exact and not sampled.exact and sampled.n_partitions == 20_000
    assert 0.2 < exact.p_value < 0.8
    # binomial standard error sqrt(p (1 - p) / 20000) <= 0.0036; 5 of them
    assert abs(sampled.p_value - exact.p_value) < 0.018
    assert sampled.effect_size == exact.effect_size


def test_effect_size_is_standardised_and_sign_follows_the_attributes(rng):
    X, Y, A, B = _separated(4, rng)
    assert effect_size(X, Y, B, A) == pytest.approx(-effect_size(X, Y, A, B), abs=1e-12)
    assert effect_size(X * 7.0, Y, A, B) == pytest.approx(effect_size(X, Y, A, B), abs=1e-12)


def test_bad_input_is_named():
    good = np.ones((2, 3))
    with pytest.raises(ValueError, match="share one embedding width"):
        weat(good, good, good, np.ones((2, 4)))
    with pytest.raises(TypeError, match="WEAT set X"):
        weat([[1.0, 0.0]], good, good, good)
    with pytest.raises(ValueError, match="zero vector"):
        association(np.zeros((1, 3)), good, good)
    with pytest.raises(ValueError, match="0 / 0"):
        effect_size(np.eye(3)[:2], np.eye(3)[1:], good, good)       # A = B: every s is 0
    with pytest.raises(ValueError, match="pass rng"):
        weat(np.eye(3), np.eye(3)[::-1], np.eye(3)[:1], np.eye(3)[1:], max_exact=2)
