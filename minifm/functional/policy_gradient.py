"""RL with a KL leash: REINFORCE with group-normalised advantages (GRPO) and the k3 KL penalty.

Dimensions: N prompts, G sampled responses per prompt (a group), B = N * G sequences,
T time (positions), V vocabulary.

**The policy gradient.** For responses y ~ pi(. | x) scored by a reward R(y), the log-derivative
trick (Williams 1992, REINFORCE) gives

    grad E_y[R(y)] = E_y[R(y) grad log pi(y | x)],   log pi(y | x) = sum_t log pi(y_t | x, y_<t)

and any baseline b that does not depend on y may be subtracted from R, because
E_y[grad log pi(y)] = grad sum_y pi(y) = grad 1 = 0. GRPO (Shao et al. 2024, "DeepSeekMath",
section 4.1) samples a group of G responses per prompt and uses the group itself as the baseline,
normalised by the group's spread:

    A_i = (R_i - mean(R_1..R_G)) / std(R_1..R_G)                    (each group sums to 0)

so no value network (a second model with its own backward) is needed. The surrogate whose
gradient is the policy gradient holds A fixed (no gradient flows into it):

    L_pg = -A_i * log pi(y_i,t | x, y_i,<t)     =>    dL_pg / dlog pi = -A_i

**Why REINFORCE and not PPO-clip** (Schulman et al. 2017): here every batch of samples is used
for one gradient step, so PPO's (and GRPO's) ratio pi / pi_old equals 1 at the step, its clip
never acts, and its gradient is exactly the one above. Clipping only matters when one batch is
reused for several steps, which costs memory and a second code path a course does not need.

**The KL leash.** The reward model is only trustworthy near the data it was trained on, so the
policy is kept near the reference (SFT) model with a per-token penalty beta * KL(pi || ref),
estimated at the sampled token with Schulman's (2020, "Approximating KL Divergence") k3
estimator, as GRPO does (its eq. 4). With u = log ref(y_t) - log pi(y_t):

    k3 = exp(u) - u - 1   >= 0,   E_{y_t ~ pi}[k3] = KL(pi || ref),   k3 = 0 where pi = ref
    dk3 / dlog pi = 1 - exp(u) = 1 - ref / pi

An honest remark on that gradient: E_{y_t ~ pi}[(1 - ref/pi) grad log pi] = -sum_y ref grad log pi
= grad KL(ref || pi), so the k3 penalty in the loss follows the gradient of the *other* direction
of the KL; both vanish only at pi = ref and both pull pi back to it.

**The loss** averages each sequence's tokens, then the sequences (GRPO's eq. 3):

    loss = 1/B sum_i 1/|y_i| sum_t ( -A_i log pi(y_i,t) + beta * k3_i,t )

and ``sequence_logprob``'s token log-prob pair carries dloss / dlog pi to the logits.
Lesson: "From GPT to assistant" (issue 12; the policy gradient with a KL penalty).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minifm.functional.sequence_logprob import (TokenLogprobCache, token_logprob_backward,
                                                token_logprob_forward)
from minifm.validation import check_floats

STD_EPS = 1e-6   # added to a group's std: a group whose rewards are all equal gets A = 0


def group_advantages(rewards: np.ndarray) -> np.ndarray:
    """GRPO's advantages: rewards (N, G), G responses per prompt -> (N, G) float advantages
    (R - group mean) / (group std + STD_EPS); every row sums to 0 (up to rounding)."""
    check_floats(rewards, "group_advantages rewards", ndim=2, axes="(N, G)")
    if rewards.shape[1] < 2:
        raise ValueError(f"group_advantages needs at least G = 2 responses per prompt to compare, "
                         f"got rewards of shape (N, G) = {rewards.shape}")
    centred = rewards - rewards.mean(axis=1, keepdims=True)          # (N, G)
    return centred / (rewards.std(axis=1, keepdims=True) + STD_EPS)  # population std per group


@dataclass
class PolicyGradientCache:
    logprob: TokenLogprobCache   # the policy's token log-probs (softmax, targets, valid)
    weight: np.ndarray           # (B, T) 1 / (B |y_b|) on response tokens, 0 elsewhere
    ratio: np.ndarray            # (B, T) ref / pi at the sampled tokens (1 off the response)
    advantages: np.ndarray       # (B,)
    beta: float
    kl: float                    # mean k3 over every response token: the KL per token


def policy_gradient_forward(logits: np.ndarray, targets: np.ndarray, ref_logprobs: np.ndarray,
                            advantages: np.ndarray, beta: float = 0.04
                            ) -> tuple[float, PolicyGradientCache]:
    """The GRPO-style surrogate loss with its k3 KL penalty (see the module docstring).

    logits: (B, T, V) the policy's logits on the sampled sequences; targets: (B, T) the sampled
    response tokens, IGNORE_INDEX on prompt and padding (``response_targets``), at least one
    response token per row; ref_logprobs: (B, T) the frozen reference's log-probs of the same
    targets (``token_logprob_forward`` on its logits; ignored off the response); advantages: (B,)
    constants (``group_advantages`` flattened); beta >= 0 the KL coefficient (GRPO uses 0.04;
    0 turns the leash off). Returns the loss and the cache, whose ``kl`` is the KL per token.
    """
    logp, lp_cache = token_logprob_forward(logits, targets)          # (B, T)
    B, T = logp.shape
    check_floats(ref_logprobs, "policy_gradient ref_logprobs", shape=(B, T), axes="(B, T)")
    check_floats(advantages, "policy_gradient advantages", shape=(B,), axes="(B,)")
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating)) or not beta >= 0:
        raise ValueError(f"policy_gradient: beta must be a number >= 0, got {beta!r}")
    valid = lp_cache.valid
    lengths = valid.sum(axis=1)                                      # (B,) |y_b|
    if (lengths == 0).any():
        raise ValueError(f"policy_gradient: row {int(np.argmax(lengths == 0))} of targets has no "
                         "response token (every target is IGNORE_INDEX)")
    weight = (valid / (B * lengths[:, None])).astype(logp.dtype)     # (B, T)
    u = np.where(valid, ref_logprobs - logp, 0.0)                    # log(ref / pi), 0 off it
    ratio = np.exp(u)
    k3 = ratio - u - 1.0                                             # (B, T), 0 off the response
    per_token = -advantages[:, None] * logp + beta * k3              # (B,) -> (B, 1) broadcast
    loss = float(np.sum(weight * per_token))
    kl = float(k3.sum() / lengths.sum())
    return loss, PolicyGradientCache(lp_cache, weight, ratio, advantages, float(beta), kl)


def policy_gradient_backward(dloss: float, cache: PolicyGradientCache) -> np.ndarray:
    """Returns dlogits (B, T, V), exactly 0 off the response; the reference and the advantages
    are constants and get no gradient."""
    lp_cache, weight, ratio, advantages, beta = (cache.logprob, cache.weight, cache.ratio,
                                                 cache.advantages, cache.beta)
    # fwd: loss = sum w * (-A log pi + beta * k3),  k3 = exp(u) - u - 1,  u = log ref - log pi
    #  =>  dlog pi = dloss * w * (-A + beta * (1 - ref / pi))
    dlogp = float(dloss) * weight * (-advantages[:, None] + beta * (1.0 - ratio))   # (B, T)
    return token_logprob_backward(dlogp, lp_cache)
