"""Optimizers, parameter groups, schedule and clipping, checked against closed forms.

PyTorch parity for the same functions is in tests/parity/test_optim_parity.py.
"""

import math

import numpy as np
import pytest

from minifm import nn
from minifm.nn.module import Module, Parameter
from minifm.training.optim import (SGD, AdamW, clip_grad_norm, cosine_with_warmup, global_grad_norm,
                          param_groups)


def _param(values, dtype=np.float64) -> Parameter:
    return Parameter(np.array(values, dtype=dtype))


# ---- AdamW -------------------------------------------------------------------------------------
def test_adamw_minimises_a_quadratic(rng):
    p = _param(rng.standard_normal(5))
    target = rng.standard_normal(5)
    opt = AdamW([p], lr=0.05, weight_decay=0.0)
    for _ in range(500):
        p.grad[...] = 2 * (p.data - target)        # d/dp sum((p - target)^2)
        opt.step()
    assert np.max(np.abs(p.data - target)) < 1e-3


def test_adamw_first_step_moves_each_weight_by_about_lr():
    # After one step m_hat = g and v_hat = g^2 (bias correction), so the step is lr g / (|g| + eps).
    g = np.array([3.0, -0.5, 1e-3])
    p = _param([1.0, 2.0, 3.0])
    p.grad[...] = g
    AdamW([p], lr=0.1, eps=1e-8, weight_decay=0.0).step()
    np.testing.assert_allclose(p.data, [1.0, 2.0, 3.0] - 0.1 * g / (np.abs(g) + 1e-8),
                               rtol=0, atol=1e-15)


def test_adamw_decays_only_the_decay_group():
    # With zero gradients the Adam update is 0, so only the decoupled decay moves a weight:
    # p_t = p_0 (1 - lr wd)^t in the decay group, p_t = p_0 in the other.
    w, b = _param([[1.0, -2.0]]), _param([1.0, -2.0])
    opt = AdamW([{"params": [w], "weight_decay": 0.5}, {"params": [b], "weight_decay": 0.0}],
                lr=0.1)
    for _ in range(3):
        opt.step()
    np.testing.assert_allclose(w.data, np.array([[1.0, -2.0]]) * 0.95 ** 3, rtol=1e-15)
    np.testing.assert_array_equal(b.data, [1.0, -2.0])


def test_adamw_keeps_float32(rng):
    p = _param(rng.standard_normal((3, 4)), dtype=np.float32)
    p.grad[...] = rng.standard_normal((3, 4))
    opt = AdamW([p], lr=1e-2)
    opt.step()
    assert p.data.dtype == np.float32
    assert all(a.dtype == np.float32 for a in opt.exp_avg + opt.exp_avg_sq)


def test_group_lr_overrides_the_optimizer_lr():
    fixed, follows = _param([0.0]), _param([0.0])
    opt = SGD([{"params": [fixed], "lr": 0.5}, {"params": [follows]}], lr=0.1)
    fixed.grad[...] = follows.grad[...] = 1.0
    opt.lr = 0.2                                  # a schedule sets this; the fixed group ignores it
    opt.step()
    assert fixed.data[0] == -0.5
    assert follows.data[0] == -0.2


def test_zero_grad_clears_every_group():
    a, b = _param([1.0, 2.0]), _param([[3.0]])
    a.grad[...], b.grad[...] = 5.0, 6.0
    AdamW([{"params": [a]}, {"params": [b], "weight_decay": 0.0}], lr=0.1).zero_grad()
    assert not a.grad.any() and not b.grad.any()


# ---- SGD ---------------------------------------------------------------------------------------
def test_sgd_momentum_matches_closed_form():
    # Constant gradient g: buf_t = g (1 - mu^t) / (1 - mu); p_t = p_0 - lr * sum_k buf_k.
    lr, mu, g = 0.1, 0.9, 2.0
    p = _param([1.0])
    opt = SGD([p], lr=lr, momentum=mu)
    for _ in range(4):
        p.grad[...] = g
        opt.step()
    expected = 1.0 - lr * sum(g * (1 - mu ** k) / (1 - mu) for k in range(1, 5))
    assert p.data[0] == pytest.approx(expected, rel=1e-14)


def test_sgd_weight_decay_is_added_to_the_gradient():
    p = _param([2.0])
    p.grad[...] = 1.0
    SGD([p], lr=0.1, weight_decay=0.5).step()
    assert p.data[0] == pytest.approx(2.0 - 0.1 * (1.0 + 0.5 * 2.0), rel=1e-15)


# ---- state dicts -------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda ps: AdamW(ps, lr=0.01),
                                  lambda ps: SGD(ps, lr=0.01, momentum=0.9)])
def test_optimizer_state_dict_round_trip_continues_identically(make, rng):
    shapes = [(3, 4), (4,)]
    init = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(5)]
    a = [Parameter(x.copy()) for x in init]
    opt_a = make(a)
    for step_grads in grads[:3]:
        for p, g in zip(a, step_grads):
            p.grad[...] = g
        opt_a.step()
    state = opt_a.state_dict()
    assert all(isinstance(v, (int, np.ndarray)) for v in state.values())
    b = [Parameter(p.data.copy()) for p in a]
    opt_b = make(b)
    opt_b.load_state_dict(state)
    for step_grads in grads[3:]:
        for pa, pb, g in zip(a, b, step_grads):
            pa.grad[...] = pb.grad[...] = g
        opt_a.step()
        opt_b.step()
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_load_state_dict_rejects_mismatched_state(rng):
    opt = AdamW([_param(rng.standard_normal((2, 3)))], lr=0.1)
    state = opt.state_dict()
    with pytest.raises(ValueError, match="missing"):
        AdamW([_param([1.0]), _param([1.0])], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match=r"exp_avg/0: expected shape \(3, 2\)"):
        AdamW([_param(np.zeros((3, 2)))], lr=0.1).load_state_dict(state)


# ---- bad input ---------------------------------------------------------------------------------
def test_optimizers_reject_bad_arguments():
    p = _param([1.0])
    with pytest.raises(ValueError, match="no parameters"):
        AdamW([], lr=0.1)
    with pytest.raises(TypeError, match="holds a ndarray"):
        AdamW([{"params": [np.zeros(2)]}], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        AdamW([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="unknown keys"):
        AdamW([{"params": [p], "momentum": 0.9}], lr=0.1)
    with pytest.raises(ValueError, match="betas"):
        AdamW([p], lr=0.1, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="momentum"):
        SGD([p], lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="learning rate"):
        SGD([p], lr=-1.0)
    opt = SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        opt.lr = math.nan


# ---- parameter groups --------------------------------------------------------------------------
class _Tiny(Module):
    """An embedding, a LayerNorm and two Linear layers (parameters only; never run)."""

    def __init__(self, rng):
        self.wte = nn.Embedding(5, 4, rng=rng)
        self.ln_f = nn.LayerNorm(4)
        self.head = nn.Linear(4, 3, rng=rng)
        self.proj = nn.Linear(3, 3, rng=rng)


def test_param_groups_decay_only_weight_matrices(rng):
    model = _Tiny(rng)
    decay, no_decay = param_groups(model, weight_decay=0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert sorted(decay["names"]) == ["head.weight", "proj.weight"]
    assert sorted(no_decay["names"]) == ["head.bias", "ln_f.bias", "ln_f.weight", "proj.bias",
                                         "wte.weight"]
    assert [id(p) for p in decay["params"]] == [id(model.head.weight), id(model.proj.weight)]


def test_param_groups_list_a_tied_weight_once_without_decay(rng):
    model = _Tiny(rng)
    model.lm_head_weight = model.wte.weight        # tied: the same 2-D Parameter under two names
    decay, no_decay = param_groups(model, weight_decay=0.1)
    ids = [id(p) for p in decay["params"] + no_decay["params"]]
    assert len(ids) == len(set(ids)) == len(model.parameters())
    assert id(model.wte.weight) in {id(p) for p in no_decay["params"]}


# ---- schedule and clipping ---------------------------------------------------------------------
def test_cosine_with_warmup_matches_closed_form():
    max_lr, min_lr, warmup, total = 1.0, 0.1, 4, 14
    lrs = [cosine_with_warmup(s, max_lr, min_lr, warmup, total) for s in range(20)]
    assert lrs[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8], rel=1e-15)   # max_lr (s + 1) / 5
    assert lrs[4] == max_lr                                             # cosine starts at max
    assert lrs[9] == pytest.approx((max_lr + min_lr) / 2, rel=1e-15)    # halfway: cos(pi/2) = 0
    assert lrs[6] == pytest.approx(min_lr + 0.45 * (1 + math.cos(math.pi * 0.2)), rel=1e-15)
    assert lrs[14:] == [min_lr] * 6
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))


def test_cosine_with_warmup_without_warmup_starts_at_max_lr():
    assert cosine_with_warmup(0, 3e-4, 3e-5, 0, 100) == 3e-4
    assert cosine_with_warmup(7, 3e-4, 3e-5, 10, 5) == pytest.approx(3e-4 * 8 / 11)
    with pytest.raises(ValueError, match=">= 0"):
        cosine_with_warmup(-1, 1.0, 0.1, 0, 10)


def test_clip_grad_norm_scales_to_max_norm():
    a, b = _param([0.0, 0.0]), _param([0.0])
    a.grad[...] = [3.0, 0.0]
    b.grad[...] = [4.0]                            # global norm sqrt(9 + 16) = 5
    assert clip_grad_norm([a, b], max_norm=1.0) == 5.0
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad, [3.0 * scale, 0.0], rtol=1e-15)
    np.testing.assert_allclose(b.grad, [4.0 * scale], rtol=1e-15)
    assert global_grad_norm([a, b]) == pytest.approx(5.0 * scale, rel=1e-15)


def test_clip_grad_norm_leaves_small_gradients_alone():
    a = _param([0.0, 0.0])
    a.grad[...] = [0.3, 0.4]
    assert clip_grad_norm([a], max_norm=1.0) == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(a.grad, [0.3, 0.4])
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([a], max_norm=0.0)
