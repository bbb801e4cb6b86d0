"""SGD, AdamW and gradient clipping against PyTorch's own implementations, in float64.

Both sides start from the same weights and receive the same gradients for several steps (with a
learning rate that changes every step, as a schedule does); weights and optimizer state must
agree to 1e-12. The only differences allowed are rounding (PyTorch fuses some multiply-adds).
"""

import numpy as np
import pytest

from minifm.nn.module import Parameter
from minifm.training.optim import SGD, AdamW, clip_grad_norm, cosine_with_warmup

torch = pytest.importorskip("torch")

SHAPES = [(4, 3), (3,), (2, 5)]
STEPS = 6
TOL = 1e-12


def _pair(rng):
    """The same weights as minifm Parameters and as torch tensors."""
    init = [rng.standard_normal(s) for s in SHAPES]
    ours = [Parameter(x.copy()) for x in init]
    theirs = [torch.tensor(x, requires_grad=True) for x in init]
    return ours, theirs


def _set_grads(ours, theirs, rng):
    for p, t in zip(ours, theirs):
        g = rng.standard_normal(p.shape)
        p.grad[...] = g
        t.grad = torch.tensor(g)


def _assert_close(ours, theirs):
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=0, atol=TOL)


def test_adamw_matches_torch_with_two_groups_and_a_schedule(rng):
    ours, theirs = _pair(rng)
    betas, eps = (0.9, 0.95), 1e-8
    opt = AdamW([{"params": ours[:2], "weight_decay": 0.1},
                 {"params": ours[2:], "weight_decay": 0.0, "lr": 3e-3}],
                lr=1e-2, betas=betas, eps=eps)
    ref = torch.optim.AdamW([{"params": theirs[:2], "weight_decay": 0.1},
                             {"params": theirs[2:], "weight_decay": 0.0, "lr": 3e-3}],
                            lr=1e-2, betas=betas, eps=eps)
    for step in range(STEPS):
        lr = cosine_with_warmup(step, 1e-2, 1e-3, 2, STEPS)
        opt.lr = ref.param_groups[0]["lr"] = lr          # the second group keeps its own lr
        _set_grads(ours, theirs, rng)
        opt.step()
        ref.step()
    _assert_close(ours, theirs)
    for i, t in enumerate(theirs):
        np.testing.assert_allclose(opt.exp_avg[i], ref.state[t]["exp_avg"].numpy(),
                                   rtol=0, atol=TOL)
        np.testing.assert_allclose(opt.exp_avg_sq[i], ref.state[t]["exp_avg_sq"].numpy(),
                                   rtol=0, atol=TOL)
        assert int(ref.state[t]["step"]) == opt.step_count == STEPS


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 0.01)])
def test_sgd_matches_torch(rng, momentum, weight_decay):
    ours, theirs = _pair(rng)
    opt = SGD(ours, lr=0.1, momentum=momentum, weight_decay=weight_decay)
    ref = torch.optim.SGD(theirs, lr=0.1, momentum=momentum, weight_decay=weight_decay)
    for step in range(STEPS):
        opt.lr = ref.param_groups[0]["lr"] = 0.1 / (step + 1)
        _set_grads(ours, theirs, rng)
        opt.step()
        ref.step()
    _assert_close(ours, theirs)
    if momentum:
        for buf, t in zip(opt.velocity, theirs):
            np.testing.assert_allclose(buf, ref.state[t]["momentum_buffer"].numpy(),
                                       rtol=0, atol=TOL)


@pytest.mark.parametrize("max_norm", [0.5, 100.0])     # clipped, and left alone
def test_clip_grad_norm_matches_torch(rng, max_norm):
    ours, theirs = _pair(rng)
    _set_grads(ours, theirs, rng)
    norm = clip_grad_norm(ours, max_norm)
    ref_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert abs(norm - float(ref_norm)) < TOL
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=0, atol=TOL)
