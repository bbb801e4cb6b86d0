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


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_top_k_rejects_a_bad_k(rng, k):
    with pytest.raises(ValueError, match="top_k"):
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


@pytest.mark.parametrize("bad", [np.zeros(4), np.zeros((2, 3), dtype=np.int64), [[0.0, 1.0]]])
def test_sample_rejects_logits_that_are_not_a_float_matrix(rng, bad):
    with pytest.raises(ValueError, match=r"\(B, V\)"):
        sample(bad, rng)
