"""Parity of the diffusion transformer's new ops with PyTorch in float64: modulation, gate,
adaptive LayerNorm, un-patchify, the timestep embedding and the MSE loss. Outputs and every
gradient (PyTorch's via autograd) agree to a max absolute difference of 1e-10 (rtol 0)."""

import numpy as np
import pytest

from minifm.functional.modulation import (gate_backward, gate_forward, modulate_backward,
                                          modulate_forward)
from minifm.functional.unpatchify import unpatchify_backward, unpatchify_forward
from minifm.functional.vector_quantize import mse_backward, mse_forward
from minifm.nn.modulation import AdaLayerNorm
from minifm.nn.timestep_embedding import TimestepEmbedding

torch = pytest.importorskip("torch")
F = torch.nn.functional

ATOL = 1e-10


def _t(a: np.ndarray):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def _assert_close(ours, theirs) -> None:
    theirs = theirs.detach().numpy()
    assert np.shape(ours) == theirs.shape
    assert np.max(np.abs(ours - theirs)) <= ATOL


def test_modulate_and_gate_match_torch(rng):
    x, shift, scale = (rng.standard_normal(s) for s in ((2, 3, 4), (2, 4), (2, 4)))
    dy = rng.standard_normal((2, 3, 4))
    y, cache = modulate_forward(x, shift, scale)
    grads = modulate_backward(dy, cache)
    tx, tshift, tscale = _t(x), _t(shift), _t(scale)
    ty = tx * (1 + tscale.unsqueeze(1)) + tshift.unsqueeze(1)
    ty.backward(torch.tensor(dy))
    _assert_close(y, ty)
    for ours, theirs in zip(grads, (tx, tshift, tscale)):
        _assert_close(ours, theirs.grad)

    y, cache = gate_forward(x, scale)
    dh, dgate = gate_backward(dy, cache)
    tx, tgate = _t(x), _t(scale)
    ty = tx * tgate.unsqueeze(1)
    ty.backward(torch.tensor(dy))
    _assert_close(y, ty)
    _assert_close(dh, tx.grad)
    _assert_close(dgate, tgate.grad)


def test_ada_layernorm_matches_torch_layer_norm_without_affine(rng):
    x, shift, scale = (rng.standard_normal(s) for s in ((2, 3, 4), (2, 4), (2, 4)))
    dy = rng.standard_normal((2, 3, 4))
    norm = AdaLayerNorm(4, eps=1e-6, dtype=np.float64)
    y = norm(x, shift, scale)
    grads = norm.backward(dy)
    tx, tshift, tscale = _t(x), _t(shift), _t(scale)
    ty = F.layer_norm(tx, (4,), eps=1e-6) * (1 + tscale.unsqueeze(1)) + tshift.unsqueeze(1)
    ty.backward(torch.tensor(dy))
    _assert_close(y, ty)
    for ours, theirs in zip(grads, (tx, tshift, tscale)):
        _assert_close(ours, theirs.grad)


def test_unpatchify_matches_torch_fold(rng):
    """torch's Fold with a p x p kernel and stride p is the same permutation (channels first)."""
    p, H, W, Ch = 2, 4, 6, 3
    patches, dimages = rng.standard_normal((2, 6, p * p * Ch)), rng.standard_normal((2, H, W, Ch))
    images, cache = unpatchify_forward(patches, p, (H, W))
    dpatches = unpatchify_backward(dimages, cache)
    tp = _t(patches)
    # ours: K ordered (row, col, channel); Fold wants (channel, row, col) columns: (B, Ch*p*p, P)
    cols = tp.reshape(2, 6, p, p, Ch).permute(0, 4, 2, 3, 1).reshape(2, Ch * p * p, 6)
    timages = F.fold(cols, (H, W), kernel_size=p, stride=p).permute(0, 2, 3, 1)   # -> (B, H, W, Ch)
    timages.backward(torch.tensor(dimages))
    _assert_close(images, timages)
    _assert_close(dpatches, tp.grad)


def test_timestep_embedding_matches_torch(rng):
    S, C, Fh = 30, 6, 10
    emb = TimestepEmbedding(S, C, Fh, rng=rng, dtype=np.float64)
    for _, p in emb.named_parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    t = np.array([0, 29, 4])
    dy = rng.standard_normal((3, C))
    emb.zero_grad()
    y = emb(t)
    emb.backward(dy)
    # The sinusoid written out in torch: dims 2i and 2i+1 hold sin and cos of t / 10000^(2i/C).
    tt = torch.tensor(t, dtype=torch.float64)[:, None]
    angle = tt * 10000.0 ** (-torch.arange(0, C, 2, dtype=torch.float64) / C)
    e = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).reshape(3, C)
    w1, b1, w2, b2 = (_t(emb.c_fc.weight.data.T.copy()), _t(emb.c_fc.bias.data),
                      _t(emb.c_proj.weight.data.T.copy()), _t(emb.c_proj.bias.data))
    ty = F.linear(F.gelu(F.linear(e, w1, b1), approximate="tanh"), w2, b2)
    ty.backward(torch.tensor(dy))
    _assert_close(y, ty)
    _assert_close(emb.c_fc.weight.grad, w1.grad.T)
    _assert_close(emb.c_fc.bias.grad, b1.grad)
    _assert_close(emb.c_proj.weight.grad, w2.grad.T)
    _assert_close(emb.c_proj.bias.grad, b2.grad)


def test_mse_matches_torch(rng):
    a, b = rng.standard_normal((2, 4, 4, 3)), rng.standard_normal((2, 4, 4, 3))
    loss, cache = mse_forward(a, b)
    da, db = mse_backward(0.7, cache)
    ta, tb = _t(a), _t(b)
    tloss = F.mse_loss(ta, tb)
    (0.7 * tloss).backward()
    assert abs(loss - tloss.item()) <= ATOL
    _assert_close(da, ta.grad)
    _assert_close(db, tb.grad)
