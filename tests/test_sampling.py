"""Sampling helpers: temperature, top-k, top-p (nucleus) and the categorical draw."""

import numpy as np
import pytest

from minifm.sampling import apply_temperature, sample, softmax, top_k_filter, top_p_filter


def test_softmax_rows_sum_to_one_and_zero_for_minus_inf():
    logits = np.array([[1.0, 2.0, -np.inf], [0.0, 0.0, 0.0]])
    p = softmax(logits)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0, 2] == 0.0
    np.testing.assert_allclose(p[1], 1 / 3)


@pytest.mark.parametrize("k", [1, 2, 5, 9])
def test_top_k_keeps_exactly_the_k_largest(rng, k):
    logits = rng.standard_normal((4, 10))
    out = top_k_filter(logits, k)
    kept = np.isfinite(out)
    assert (kept.sum(axis=1) == k).all()
    for row, keep in zip(logits, kept):
        assert row[keep].min() > row[~keep].max()
    np.testing.assert_array_equal(out[kept], logits[kept])     # kept logits are unchanged


def test_top_k_ties_are_broken_towards_lower_ids():
    logits = np.array([[1.0, 2.0, 2.0, 2.0, 0.0]])
    kept = np.isfinite(top_k_filter(logits, 2))
    np.testing.assert_array_equal(kept[0], [False, True, True, False, False])


def test_top_k_at_least_vocab_size_keeps_every_token(rng):
    logits = rng.standard_normal((2, 5))
    np.testing.assert_array_equal(top_k_filter(logits, 5), logits)
    np.testing.assert_array_equal(top_k_filter(logits, 50), logits)


@pytest.mark.parametrize("k, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                      (True, TypeError)])
def test_top_k_rejects_a_bad_k(rng, k, error):
    # a value out of range is a ValueError, a k that is not an int a TypeError (minifm.validation)
    with pytest.raises(error, match="top_k"):
        top_k_filter(rng.standard_normal((1, 4)), k)


@pytest.mark.parametrize("p, n_kept", [(0.4, 1), (0.7, 2), (0.8, 3), (0.95, 4), (1.0, 4)])
def test_top_p_keeps_the_smallest_set_reaching_p(p, n_kept):
    # Probabilities 0.5, 0.25, 0.15, 0.1 in a scrambled order; cumulative: 0.5, 0.75, 0.9, 1.0.
    probs = np.array([0.15, 0.5, 0.1, 0.25])
    logits = np.log(probs)[None, :]
    kept = np.isfinite(top_p_filter(logits, p))[0]
    ranking = [1, 3, 0, 2]                                       # ids by probability, descending
    np.testing.assert_array_equal(np.flatnonzero(kept), sorted(ranking[:n_kept]))


def test_top_p_kept_set_is_minimal_on_random_rows(rng):
    logits = rng.standard_normal((50, 12)) * 2
    probs = softmax(logits)
    for p in (0.1, 0.5, 0.9):
        kept = np.isfinite(top_p_filter(logits, p))
        for row, keep in zip(probs, kept):
            mass = row[keep].sum()
            assert mass >= p                                     # reaches p
            assert mass - row[keep].min() < p                    # dropping any kept token fails
            if (~keep).any():
                assert row[keep].min() >= row[~keep].max()       # the most likely ones are kept


def test_top_p_always_keeps_the_most_likely_token(rng):
    logits = rng.standard_normal((5, 8))
    kept = np.isfinite(top_p_filter(logits, 1e-9))
    assert (kept.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(np.argmax(kept, axis=1), np.argmax(logits, axis=1))


@pytest.mark.parametrize("p", [0.0, -0.1, 1.5])
def test_top_p_rejects_p_outside_zero_one(rng, p):
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(rng.standard_normal((1, 4)), p)


def test_temperature_divides_logits_and_rejects_non_positive():
    logits = np.array([[1.0, -2.0, 4.0]])
    np.testing.assert_allclose(apply_temperature(logits, 2.0), [[0.5, -1.0, 2.0]])
    for t in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature"):
            apply_temperature(logits, t)


def test_temperature_zero_is_greedy_argmax(rng):
    logits = rng.standard_normal((6, 9))
    expected = np.argmax(logits, axis=1)
    np.testing.assert_array_equal(sample(logits, rng, temperature=0), expected)
    np.testing.assert_array_equal(sample(logits, rng, temperature=0, top_k=3, top_p=0.5), expected)


def test_temperature_near_zero_approaches_greedy(rng):
    logits = np.array([[0.0, 1.0, 0.5], [2.0, 1.9, -1.0]])
    draws = np.stack([sample(logits, rng, temperature=1e-3) for _ in range(200)])
    assert (draws == np.argmax(logits, axis=1)).all()


def test_sample_never_draws_a_filtered_token(rng):
    logits = np.zeros((1000, 6))
    logits[:, 4] = 0.1
    logits[:, 2] = 0.2
    assert set(np.unique(sample(logits, rng, top_k=2))) == {2, 4}
    assert set(np.unique(sample(logits, rng, top_p=1e-6))) == {2}


def test_sample_frequencies_match_the_probabilities(rng):
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    logits = np.tile(np.log(probs), (40_000, 1))
    counts = np.bincount(sample(logits, rng), minlength=4) / 40_000
    # standard error sqrt(p(1-p)/n) <= 0.0025, so 0.01 is four standard errors
    np.testing.assert_allclose(counts, probs, atol=0.01)


def test_sample_is_reproducible_from_a_seed(rng):
    logits = rng.standard_normal((3, 20))
    a = sample(logits, np.random.default_rng(7), temperature=0.8, top_k=10, top_p=0.9)
    b = sample(logits, np.random.default_rng(7), temperature=0.8, top_k=10, top_p=0.9)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int64 and a.shape == (3,)


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros(4), ValueError, r"logits must have shape \(B, V\), got shape \(4,\)"),
    (np.zeros((2, 0)), ValueError, r"logits is empty"),
    (np.zeros((2, 3), dtype=np.int64), TypeError, "logits must be a floating-point numpy array, "
                                                  "got an array of int64"),
    ([[0.0, 1.0]], TypeError, "floating-point numpy array, got list"),
])
def test_sample_rejects_logits_that_are_not_a_float_matrix(rng, bad, error, message):
    with pytest.raises(error, match=message):
        sample(bad, rng)


# ---- the order of the steps: temperature first, then the filters --------------------------------
# Probabilities 0.4, 0.3, 0.2, 0.1 (scrambled). With p = 0.6, top-p keeps 2 tokens at T = 1, but
# 3 after T = 4 flattens the distribution (0.29, 0.27, 0.24, 0.20 -> cumulative 0.29, 0.55, 0.80)
# and 1 after T = 0.25 sharpens it (0.72, 0.23, ...). A sampler that filtered before dividing by
# T would keep the T = 1 set in both cases.
ORDER_PROBS = np.array([0.2, 0.4, 0.1, 0.3])
N_DRAWS = 40_000


def _frequencies(rng, logits, **kwargs):
    draws = sample(np.tile(logits, (N_DRAWS, 1)), rng, **kwargs)
    return np.bincount(draws, minlength=logits.shape[1]) / N_DRAWS


@pytest.mark.parametrize("temperature, n_kept", [(4.0, 3), (0.25, 1)])
def test_sample_applies_the_temperature_before_top_p(rng, temperature, n_kept):
    logits = np.log(ORDER_PROBS)[None, :]
    assert np.isfinite(top_p_filter(logits, 0.6)).sum() == 2           # at T = 1
    filtered = top_p_filter(logits / temperature, 0.6)
    allowed = np.isfinite(filtered)[0]
    assert allowed.sum() == n_kept
    freq = _frequencies(rng, logits, temperature=temperature, top_p=0.6)
    assert (freq[~allowed] == 0).all()                                   # never drawn
    # and the kept ones with their renormalised probabilities; the standard error is at most
    # sqrt(0.25 / 40_000) = 0.0025, so 0.01 is four standard errors
    np.testing.assert_allclose(freq, softmax(filtered)[0], atol=0.01)


@pytest.mark.parametrize("temperature", [0.5, 3.0])
def test_sample_applies_the_temperature_before_top_k(rng, temperature):
    logits = np.log(ORDER_PROBS)[None, :]
    filtered = top_k_filter(logits / temperature, 2)
    allowed = np.isfinite(filtered)[0]
    freq = _frequencies(rng, logits, temperature=temperature, top_k=2)
    assert (freq[~allowed] == 0).all()                                   # never drawn
    # within the top 2 the temperature still reshapes the odds: 0.4 : 0.3 becomes 0.64 : 0.36 at
    # T = 0.5 and 0.52 : 0.48 at T = 3 (four standard errors, as above)
    np.testing.assert_allclose(freq, softmax(filtered)[0], atol=0.01)


def test_sample_applies_top_k_then_top_p_to_the_tempered_logits(rng):
    # At T = 4, top-p 0.6 alone keeps 3 tokens (cumulative 0.29, 0.55, 0.80); after top-k 3 the
    # three are renormalised to 0.36, 0.34, 0.30 and top-p keeps 2: the filters do not commute.
    logits = np.log(ORDER_PROBS)[None, :]
    assert np.isfinite(top_p_filter(logits / 4.0, 0.6)).sum() == 3
    expected = top_p_filter(top_k_filter(logits / 4.0, 3), 0.6)
    allowed = np.isfinite(expected)[0]
    assert allowed.sum() == 2
    freq = _frequencies(rng, logits, temperature=4.0, top_k=3, top_p=0.6)
    assert (freq[~allowed] == 0).all()
    np.testing.assert_allclose(freq, softmax(expected)[0], atol=0.01)


# ---- top-p at its boundary -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p, n_kept", [(0.5, 1), (0.75, 2), (0.875, 3), (1.0, 4)])
def test_top_p_keeps_exactly_k_tokens_when_they_hold_exactly_p(dtype, p, n_kept):
    # Probabilities exactly representable in binary: the first k of 0.5, 0.25, 0.125, 0.125 sum
    # to p with no rounding at all, so the first k reach p and the (k+1)-th is not needed.
    probs = np.array([0.125, 0.5, 0.125, 0.25], dtype=dtype)         # ranking: 1, 3, 0, 2
    kept = np.isfinite(top_p_filter(np.log(probs)[None, :], p))[0]
    np.testing.assert_array_equal(np.flatnonzero(kept), sorted([1, 3, 0, 2][:n_kept]))


def test_top_p_boundary_holds_on_random_rows(rng):
    # p set to the running total of the k most likely probabilities, as the filter adds them: the
    # first k tokens hold exactly p, so exactly k are kept. (Computing the mass above a token as
    # cumsum - prob instead rounds differently and kept k + 1 tokens in about 1 case in 20.)
    logits = rng.standard_normal((300, 8)) * 2
    for row in logits:
        running = np.cumsum(np.sort(softmax(row[None, :])[0])[::-1])
        for k in range(1, 8):
            if running[k - 1] > 1.0:
                continue
            kept = np.isfinite(top_p_filter(row[None, :], float(running[k - 1])))
            assert kept.sum() == k, (row, k)
