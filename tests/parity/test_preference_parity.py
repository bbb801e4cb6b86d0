"""Bradley–Terry, DPO (from sequence log-probs and from the logits) and the GRPO-style surrogate
against PyTorch autograd in float64: values and gradients within 1e-10."""

import numpy as np
import pytest

from minifm.functional.policy_gradient import policy_gradient_backward, policy_gradient_forward
from minifm.functional.preference import (bradley_terry_backward, bradley_terry_forward,
                                          dpo_backward, dpo_forward)
from minifm.functional.sequence_logprob import (response_targets, sequence_logprob_backward,
                                                sequence_logprob_forward, token_logprob_forward)

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-10
B, T, V = 4, 5, 6


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - b.detach().numpy())))


def test_bradley_terry_matches_torch(rng):
    r_c, r_r = rng.standard_normal(B) * 5, rng.standard_normal(B) * 5
    loss, cache = bradley_terry_forward(r_c, r_r)
    dr_c, dr_r = bradley_terry_backward(1.0, cache)
    tc, tr = torch.tensor(r_c, requires_grad=True), torch.tensor(r_r, requires_grad=True)
    t_loss = -F.logsigmoid(tc - tr).mean()
    t_loss.backward()
    assert abs(loss - t_loss.item()) <= TOL
    assert max_diff(dr_c, tc.grad) <= TOL and max_diff(dr_r, tr.grad) <= TOL


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_loss_matches_torch(rng, beta):
    pi_c, pi_r, ref_c, ref_r = (rng.standard_normal(B) * 3 - 10 for _ in range(4))
    loss, cache = dpo_forward(pi_c, pi_r, ref_c, ref_r, beta=beta)
    dpi_c, dpi_r = dpo_backward(1.0, cache)
    tc, tr = torch.tensor(pi_c, requires_grad=True), torch.tensor(pi_r, requires_grad=True)
    logits = (tc - torch.tensor(ref_c)) - (tr - torch.tensor(ref_r))
    t_loss = -F.logsigmoid(beta * logits).mean()                 # Rafailov et al. 2023, eq. 7
    t_loss.backward()
    assert abs(loss - t_loss.item()) <= TOL
    assert max_diff(dpi_c, tc.grad) <= TOL and max_diff(dpi_r, tr.grad) <= TOL


def torch_sequence_logprob(logits, targets):
    mask = targets != -100
    picked = torch.gather(F.log_softmax(logits, dim=-1), -1,
                          targets.clamp(min=0)[..., None])[..., 0]
    return (picked * mask).sum(-1), picked, mask


def sampled_batch(rng):
    tokens = rng.integers(0, V, (2 * B, T + 1))
    response = np.zeros_like(tokens)
    response[:, 2:] = 1
    response[0, -2:] = 0
    return response_targets(tokens, response)[1]


def test_dpo_through_the_logits_matches_torch(rng):
    targets = sampled_batch(rng)
    logits, ref_logits = rng.standard_normal((2 * B, T, V)), rng.standard_normal((2 * B, T, V))
    ref = sequence_logprob_forward(ref_logits, targets)[0]
    s, s_cache = sequence_logprob_forward(logits, targets)
    loss, cache = dpo_forward(s[:B], s[B:], ref[:B], ref[B:], beta=0.2)
    dlogits = sequence_logprob_backward(np.concatenate(dpo_backward(1.0, cache)), s_cache)

    x = torch.tensor(logits, requires_grad=True)
    tt = torch.tensor(targets)
    t_s = torch_sequence_logprob(x, tt)[0]
    t_ref = torch_sequence_logprob(torch.tensor(ref_logits), tt)[0]
    margin = (t_s[:B] - t_ref[:B]) - (t_s[B:] - t_ref[B:])
    t_loss = -F.logsigmoid(0.2 * margin).mean()
    t_loss.backward()
    assert max_diff(s, t_s) <= TOL and abs(loss - t_loss.item()) <= TOL
    assert max_diff(dlogits, x.grad) <= TOL


def test_policy_gradient_surrogate_matches_torch(rng):
    targets = sampled_batch(rng)
    logits, ref_logits = rng.standard_normal((2 * B, T, V)), rng.standard_normal((2 * B, T, V))
    ref_logp, _ = token_logprob_forward(ref_logits, targets)
    adv = rng.standard_normal(2 * B)
    loss, cache = policy_gradient_forward(logits, targets, ref_logp, adv, beta=0.04)
    dlogits = policy_gradient_backward(1.0, cache)

    x = torch.tensor(logits, requires_grad=True)
    _, logp, mask = torch_sequence_logprob(x, torch.tensor(targets))
    u = torch.tensor(ref_logp) - logp
    k3 = torch.exp(u) - u - 1                                    # Shao et al. 2024, eq. 4
    per_token = -torch.tensor(adv)[:, None] * logp + 0.04 * k3
    t_loss = ((per_token * mask).sum(-1) / mask.sum(-1)).mean()  # GRPO's eq. 3 averaging
    t_loss.backward()
    assert abs(loss - t_loss.item()) <= TOL
    assert max_diff(dlogits, x.grad) <= TOL
