"""GRPO's group-normalised advantages and the policy-gradient surrogate with its k3 KL penalty.

The surrogate is smooth in the logits (log-softmax, exp), so the float64 central-difference
checks assert relative errors below 1e-7.
"""

import numpy as np
import pytest

from minifm.functional.losses import IGNORE_INDEX
from minifm.functional.policy_gradient import (group_advantages, policy_gradient_backward,
                                               policy_gradient_forward)
from minifm.functional.sequence_logprob import response_targets, token_logprob_forward
from minifm.gradcheck import check_pair, worst

N, G, T, V = 2, 3, 5, 6
B = N * G


def test_group_advantages_sum_to_zero_and_have_unit_spread_per_group(rng):
    rewards = rng.standard_normal((N, G)) * 4 + 2
    a = group_advantages(rewards)
    np.testing.assert_allclose(a.sum(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(a.std(axis=1), 1.0, rtol=1e-5)   # std / (std + 1e-6)
    assert np.all(np.argsort(a, axis=1) == np.argsort(rewards, axis=1))


def test_a_group_of_equal_rewards_has_zero_advantages():
    a = group_advantages(np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]))
    assert np.all(a[0] == 0.0) and a[1, 1] > 0 > a[1, 0]


def test_group_advantages_reject_a_group_of_one():
    with pytest.raises(ValueError, match="at least G = 2"):
        group_advantages(np.zeros((3, 1)))


def batch(rng):
    tokens = rng.integers(1, V, (B, T + 1))
    response = np.zeros_like(tokens)
    response[:, 2:] = 1
    response[0, -2:] = 0                                         # shorter responses (padding)
    response[3, -1] = 0
    _, targets = response_targets(tokens, response)
    logits = rng.standard_normal((B, T, V))
    ref_logp, _ = token_logprob_forward(logits + 0.5 * rng.standard_normal((B, T, V)), targets)
    adv = group_advantages(rng.standard_normal((N, G))).reshape(B)
    return logits, targets, ref_logp, adv


def test_surrogate_matches_the_grpo_formula(rng):
    logits, targets, ref_logp, adv = batch(rng)
    loss, cache = policy_gradient_forward(logits, targets, ref_logp, adv, beta=0.1)
    logp, _ = token_logprob_forward(logits, targets)
    expected, kls = 0.0, []
    for b in range(B):
        ts = [t for t in range(T) if targets[b, t] != IGNORE_INDEX]
        u = np.array([ref_logp[b, t] - logp[b, t] for t in ts])
        k3 = np.exp(u) - u - 1
        kls.extend(k3)
        expected += np.mean(-adv[b] * logp[b, ts] + 0.1 * k3) / B
    assert abs(loss - expected) < 1e-13
    assert abs(cache.kl - np.mean(kls)) < 1e-14 and cache.kl > 0


def test_k3_is_zero_and_the_kl_gradient_vanishes_when_policy_equals_reference(rng):
    logits, targets, _, _ = batch(rng)
    ref_logp, _ = token_logprob_forward(logits, targets)
    zero_adv = np.zeros(B)
    loss, cache = policy_gradient_forward(logits, targets, ref_logp, zero_adv, beta=1.0)
    assert loss == 0.0 and cache.kl == 0.0
    assert not policy_gradient_backward(1.0, cache).any()


def test_surrogate_backward_matches_numerical_with_and_without_kl(rng):
    logits, targets, ref_logp, adv = batch(rng)
    for beta in (0.0, 0.3):
        res = check_pair(lambda x: policy_gradient_forward(x, targets, ref_logp, adv, beta),
                         policy_gradient_backward, [logits], rng=rng)
        assert worst(res) < 1e-7, beta


def test_surrogate_gradient_is_exactly_zero_off_the_response_and_raises_good_answers(rng):
    logits, targets, ref_logp, adv = batch(rng)
    _, cache = policy_gradient_forward(logits, targets, ref_logp, adv, beta=0.1)
    dlogits = policy_gradient_backward(1.0, cache)
    assert np.all(dlogits[targets == IGNORE_INDEX] == 0.0)
    # without the leash, a descent step raises the sampled token's logit where A > 0
    _, cache = policy_gradient_forward(logits, targets, ref_logp, adv, beta=0.0)
    d = policy_gradient_backward(1.0, cache)
    b, t = np.nonzero(targets != IGNORE_INDEX)
    picked = d[b, t, targets[b, t]]
    assert np.all(np.sign(picked) == -np.sign(adv[b]))


def test_surrogate_rejects_bad_input(rng):
    logits, targets, ref_logp, adv = batch(rng)
    empty = targets.copy()
    empty[2] = IGNORE_INDEX
    with pytest.raises(ValueError, match="row 2 of targets has no response token"):
        policy_gradient_forward(logits, empty, ref_logp, adv)
    with pytest.raises(ValueError, match="beta must be a number >= 0"):
        policy_gradient_forward(logits, targets, ref_logp, adv, beta=-1.0)
    with pytest.raises(ValueError, match=r"advantages must have shape \(B,\)"):
        policy_gradient_forward(logits, targets, ref_logp, adv[:-1])
    with pytest.raises(ValueError, match=r"ref_logprobs must have shape \(B, T\)"):
        policy_gradient_forward(logits, targets, ref_logp[:, :-1], adv)


def test_surrogate_keeps_float32(rng):
    logits, targets, ref_logp, adv = (a.astype(np.float32) if a.dtype.kind == "f" else a
                                      for a in batch(rng))
    loss, cache = policy_gradient_forward(logits, targets, ref_logp, adv, beta=np.float32(0.1))
    assert np.isfinite(loss) and policy_gradient_backward(1.0, cache).dtype == np.float32
