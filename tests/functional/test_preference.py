"""Bradley–Terry and DPO: exact values, stability, gradients, and DPO chained to the logits.

Both losses are smooth (softplus of a linear map), so the float64 central-difference checks
assert relative errors below 1e-7; composed with the sequence log-probs they stay below 1e-7.
"""

import numpy as np
import pytest

from minifm.functional.preference import (bradley_terry_backward, bradley_terry_forward,
                                          dpo_backward, dpo_forward, dpo_implicit_rewards,
                                          dpo_stats)
from minifm.functional.sequence_logprob import (response_targets, sequence_logprob_backward,
                                                sequence_logprob_forward)
from minifm.gradcheck import check_pair, numerical_gradient_of_scalar, rel_error, worst

B = 4


def test_bradley_terry_of_equal_rewards_is_log_2_with_gradient_one_half_over_b(rng):
    r = rng.standard_normal(B)
    loss, cache = bradley_terry_forward(r, r.copy())
    assert abs(loss - np.log(2)) < 1e-15
    dr_c, dr_r = bradley_terry_backward(1.0, cache)
    np.testing.assert_allclose(dr_c, -0.5 / B, rtol=1e-15)
    np.testing.assert_allclose(dr_r, 0.5 / B, rtol=1e-15)


def test_bradley_terry_matches_the_definition_and_ignores_a_shift(rng):
    r_c, r_r = rng.standard_normal(B), rng.standard_normal(B)
    loss, _ = bradley_terry_forward(r_c, r_r)
    assert abs(loss - np.mean(-np.log(1 / (1 + np.exp(-(r_c - r_r)))))) < 1e-14
    assert abs(bradley_terry_forward(r_c + 7.0, r_r + 7.0)[0] - loss) < 1e-14


def test_bradley_terry_is_stable_for_huge_margins():
    r_c = np.array([800.0, -800.0], dtype=np.float32)
    loss, cache = bradley_terry_forward(r_c, np.zeros(2, dtype=np.float32))
    assert abs(loss - 400.0) < 1e-3                              # (0 + 800) / 2, no overflow
    dr_c, dr_r = bradley_terry_backward(1.0, cache)
    assert dr_c.dtype == np.float32
    np.testing.assert_allclose(dr_c, [0.0, -0.5], atol=1e-30)
    np.testing.assert_allclose(dr_r, [0.0, 0.5], atol=1e-30)


def test_bradley_terry_backward_matches_numerical(rng):
    res = check_pair(bradley_terry_forward, bradley_terry_backward,
                     [rng.standard_normal(B) * 2, rng.standard_normal(B) * 2], rng=rng)
    assert set(res) == {0, 1} and worst(res) < 1e-7


def test_bradley_terry_rejects_mismatched_pairs():
    with pytest.raises(ValueError, match="one value per pair"):
        bradley_terry_forward(np.zeros(3), np.zeros(4))
    with pytest.raises(TypeError, match="floating-point"):
        bradley_terry_forward(np.zeros(3, dtype=np.int64), np.zeros(3))
    with pytest.raises(ValueError, match=r"\(B,\)"):
        bradley_terry_forward(np.zeros((3, 1)), np.zeros((3, 1)))


def logps(rng):
    return [rng.standard_normal(B) * 3 - 10 for _ in range(4)]   # pi_c, pi_r, ref_c, ref_r


def test_dpo_with_policy_equal_to_reference_is_log_2_and_pushes_chosen_up(rng):
    pi_c, pi_r, _, _ = logps(rng)
    loss, cache = dpo_forward(pi_c, pi_r, pi_c.copy(), pi_r.copy(), beta=0.5)
    assert abs(loss - np.log(2)) < 1e-15
    dpi_c, dpi_r = dpo_backward(1.0, cache)
    # gradient descent raises log pi(chosen) and lowers log pi(rejected): beta * 1/2 / B each
    np.testing.assert_allclose(dpi_c, -0.5 * 0.5 / B, rtol=1e-15)
    np.testing.assert_allclose(dpi_r, 0.5 * 0.5 / B, rtol=1e-15)


def test_dpo_is_bradley_terry_on_the_implicit_rewards(rng):
    pi_c, pi_r, ref_c, ref_r = logps(rng)
    loss, _ = dpo_forward(pi_c, pi_r, ref_c, ref_r, beta=0.1)
    z = 0.1 * ((pi_c - ref_c) - (pi_r - ref_r))
    assert abs(loss - np.mean(np.log1p(np.exp(-z)))) < 1e-14
    r_c, r_r = dpo_implicit_rewards(pi_c, pi_r, ref_c, ref_r, beta=0.1)
    stats = dpo_stats(r_c, r_r)
    assert abs(stats.margin - z.mean()) < 1e-14
    assert stats.accuracy == float(np.mean(z > 0))
    assert abs(stats.reward_chosen - np.mean(0.1 * (pi_c - ref_c))) < 1e-14


def test_dpo_backward_matches_numerical_and_the_reference_gets_none(rng):
    pi_c, pi_r, ref_c, ref_r = logps(rng)
    res = check_pair(lambda a, b: dpo_forward(a, b, ref_c, ref_r, beta=0.3), dpo_backward,
                     [pi_c, pi_r], rng=rng)
    assert worst(res) < 1e-7
    # the loss does depend on the reference, but dpo_backward returns only the policy's two
    # gradients: the frozen reference is a constant of the step
    _, cache = dpo_forward(pi_c, pi_r, ref_c, ref_r, beta=0.3)
    assert len(dpo_backward(1.0, cache)) == 2


def test_dpo_through_sequence_logprobs_to_the_logits_matches_numerical(rng):
    T, V = 4, 5
    tokens = rng.integers(1, V, (2 * B, T + 1))
    response = np.zeros_like(tokens)
    response[:, 2:] = 1
    response[1, -1] = 0                                          # one shorter response
    _, targets = response_targets(tokens, response)
    ref_logits = rng.standard_normal((2 * B, T, V))
    ref = sequence_logprob_forward(ref_logits, targets)[0]
    logits = rng.standard_normal((2 * B, T, V))

    def loss_of(x):
        s, s_cache = sequence_logprob_forward(x, targets)        # (2B,): chosen rows, rejected rows
        loss, cache = dpo_forward(s[:B], s[B:], ref[:B], ref[B:], beta=0.5)
        return loss, (s_cache, cache)

    loss, (s_cache, cache) = loss_of(logits)
    dpi_c, dpi_r = dpo_backward(1.0, cache)
    dlogits = sequence_logprob_backward(np.concatenate([dpi_c, dpi_r]), s_cache)
    numerical = numerical_gradient_of_scalar(lambda: loss_of(logits)[0], logits)
    assert rel_error(dlogits, numerical) < 1e-7


def test_dpo_rejects_a_bad_beta(rng):
    with pytest.raises(ValueError, match="beta must be a number > 0, got 0"):
        dpo_forward(*logps(rng), beta=0)
