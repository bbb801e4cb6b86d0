"""Learning from preference pairs: the Bradley–Terry loss of a reward model, and DPO.

Dimensions: B preference pairs (a prompt with a chosen and a rejected response).

**Bradley–Terry** (Bradley & Terry 1952; the reward-model loss of Ouyang et al. 2022, eq. 1):
the probability that the chosen response wins is sigmoid(r_c - r_r), so with z = r_c - r_r

    loss = mean_b -log sigmoid(z_b) = mean_b softplus(-z_b) = mean_b logaddexp(0, -z_b)

written with ``logaddexp`` so a large |z| neither overflows nor loses the small loss. Since
d/dz softplus(-z) = -sigmoid(-z),

    dloss/dr_c[b] = -sigmoid(-z_b) / B,        dloss/dr_r[b] = +sigmoid(-z_b) / B

A pair the model already ranks right by a wide margin (sigmoid(-z) ~ 0) teaches nothing; a pair
it gets wrong pushes r_c up and r_r down with a weight near 1. Only differences of rewards
matter, so a constant added to every reward changes nothing (a reward head needs no bias).

**DPO** (Rafailov et al. 2023, "Direct Preference Optimization", eq. 7): with pi and ref the
sequence log-probabilities log pi(y | x) of the policy and of the frozen reference (SFT) model,
each response gets the *implicit reward* (their section 5)

    r(x, y) = beta * (log pi(y | x) - log ref(y | x))

and the DPO loss is exactly Bradley–Terry on these rewards:

    loss = mean_b -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))

The optimal policy of the KL-regularised RL objective is pi* ~ ref * exp(r / beta) (their eq. 4),
so a reward can be read off any policy as beta * log(pi / ref) (up to a per-prompt constant that
cancels in r_c - r_r): fitting the preferences with this reward trains the policy directly, with
no reward model and no sampling. By the chain rule through the BT gradient above,

    dloss/dpi_c[b] = -beta * sigmoid(-z_b) / B,    dloss/dpi_r[b] = +beta * sigmoid(-z_b) / B

with z_b = r_c - r_r: raise the chosen response's log-probability and lower the rejected one's,
weighted by how wrongly the implicit reward ranks the pair (their section 4, "What does the DPO
update do?"). The reference is frozen: it gets no gradient. Sent on to the logits through
``minifm.functional.sequence_logprob.sequence_logprob_backward``, this is the whole DPO backward.
Lesson: "From GPT to assistant" (issue 12; the Bradley–Terry and DPO gradients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minifm.validation import check_floats


@dataclass
class BradleyTerryCache:
    sig_neg: np.ndarray      # (B,) sigmoid(-(r_c - r_r)), the weight of each pair's gradient


def _check_pairs(what: str, **arrays: np.ndarray) -> int:
    """Every array is a float (B,) vector, all with the same B; returns B."""
    B = None
    for name, a in arrays.items():
        check_floats(a, f"{what} {name}", ndim=1, axes="(B,)")
        if B is not None and a.shape[0] != B:
            shapes = ", ".join(f"{n} {x.shape}" for n, x in arrays.items())
            raise ValueError(f"{what} needs one value per pair in each of its inputs, got {shapes}")
        B = a.shape[0]
    return B


def bradley_terry_forward(r_chosen: np.ndarray, r_rejected: np.ndarray
                          ) -> tuple[float, BradleyTerryCache]:
    """Mean -log sigmoid(r_c - r_r) over B pairs.

    r_chosen, r_rejected: (B,) float rewards of the chosen and rejected responses.
    Returns the loss (a float; log 2 when the two rewards are equal) and the cache.
    """
    _check_pairs("bradley_terry", r_chosen=r_chosen, r_rejected=r_rejected)
    z = r_chosen - r_rejected                                        # (B,) reward margins
    loss = float(np.mean(np.logaddexp(0.0, -z)))                     # softplus(-z) = -log sig(z)
    sig_neg = np.exp(-np.logaddexp(0.0, z))                          # sigmoid(-z), never overflows
    return loss, BradleyTerryCache(sig_neg.astype(z.dtype, copy=False))


def bradley_terry_backward(dloss: float, cache: BradleyTerryCache
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Returns dr_chosen (B,) and dr_rejected (B,)."""
    sig_neg = cache.sig_neg
    # fwd: loss = mean_b softplus(-z_b), z = r_c - r_r  =>  dz_b = -sigmoid(-z_b) / B
    dz = sig_neg * (-float(dloss) / sig_neg.shape[0])
    return dz, -dz                                                   # dr_c = dz, dr_r = -dz


@dataclass
class DPOCache:
    beta: float
    bt: BradleyTerryCache    # Bradley–Terry on the implicit rewards


@dataclass(frozen=True)
class DPOStats:
    """The numbers to watch while training with DPO: the implicit rewards (Rafailov et al. 2023,
    section 5) of the chosen and rejected responses, their margin, and the preference accuracy,
    how often the chosen response's implicit reward is the higher one."""

    reward_chosen: float     # mean beta * (pi_c - ref_c)
    reward_rejected: float   # mean beta * (pi_r - ref_r)
    margin: float            # mean (r_c - r_r)
    accuracy: float          # fraction of pairs with r_c > r_r (ties count as wrong)


def dpo_implicit_rewards(pi_chosen: np.ndarray, pi_rejected: np.ndarray, ref_chosen: np.ndarray,
                         ref_rejected: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """r = beta * (log pi - log ref) for the chosen and the rejected responses, each (B,)."""
    _check_pairs("dpo", pi_chosen=pi_chosen, pi_rejected=pi_rejected, ref_chosen=ref_chosen,
                 ref_rejected=ref_rejected)
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating)) or not beta > 0:
        raise ValueError(f"dpo: beta must be a number > 0, got {beta!r}")
    return beta * (pi_chosen - ref_chosen), beta * (pi_rejected - ref_rejected)


def dpo_stats(r_chosen: np.ndarray, r_rejected: np.ndarray) -> DPOStats:
    """Summary of the implicit rewards (B,) of a batch (see ``dpo_implicit_rewards``)."""
    return DPOStats(float(r_chosen.mean()), float(r_rejected.mean()),
                    float((r_chosen - r_rejected).mean()), float((r_chosen > r_rejected).mean()))


def dpo_forward(pi_chosen: np.ndarray, pi_rejected: np.ndarray, ref_chosen: np.ndarray,
                ref_rejected: np.ndarray, beta: float = 0.1) -> tuple[float, DPOCache]:
    """The DPO loss of B pairs (Rafailov et al. 2023, eq. 7).

    pi_chosen, pi_rejected: (B,) policy sequence log-probs log pi(y | x) of the two responses;
    ref_chosen, ref_rejected: (B,) the frozen reference model's; beta > 0, the strength of the
    implicit KL leash (0.1 is a common choice). Returns the loss (log 2 when the policy equals
    the reference) and the cache. ``dpo_implicit_rewards`` and ``dpo_stats`` give the numbers to
    log.
    """
    r_c, r_r = dpo_implicit_rewards(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta)
    loss, bt = bradley_terry_forward(r_c, r_r)
    return loss, DPOCache(float(beta), bt)


def dpo_backward(dloss: float, cache: DPOCache) -> tuple[np.ndarray, np.ndarray]:
    """Returns dpi_chosen (B,) and dpi_rejected (B,); the reference gets no gradient."""
    beta, bt = cache.beta, cache.bt
    dr_c, dr_r = bradley_terry_backward(dloss, bt)
    # fwd: r_c = beta * (pi_c - ref_c), r_r = beta * (pi_r - ref_r)  =>  dpi = beta * dr
    return beta * dr_c, beta * dr_r
