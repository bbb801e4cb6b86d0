"""Parity of the diffusion transformer's new ops with PyTorch in float64: modulation, gate,
adaptive LayerNorm, un-patchify, the timestep embedding and the MSE loss, and the whole DiT
denoiser against a twin written with torch.nn.functional. Outputs and every gradient (PyTorch's
via autograd) agree to a max absolute difference of 1e-10 (rtol 0)."""

import numpy as np
import pytest

from minifm.functional.modulation import (gate_backward, gate_forward, modulate_backward,
                                          modulate_forward)
from minifm.functional.noise_schedule import q_sample
from minifm.functional.unpatchify import unpatchify_backward, unpatchify_forward
from minifm.functional.vector_quantize import mse_backward, mse_forward
from minifm.models.diffusion import DiffusionConfig, DiffusionTransformer, NoiseDraw
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


def _torch_block(x, c, P, pre, H):
    """DiT's adaLN-Zero block written with torch.nn.functional, from the same weights."""
    B, T, C = x.shape
    D = C // H
    mod = F.linear(c, P[pre + "ada.weight"].T, P[pre + "ada.bias"])
    s1, sc1, g1, s2, sc2, g2 = mod.chunk(6, dim=1)
    h = F.layer_norm(x, (C,), eps=1e-6) * (1 + sc1[:, None]) + s1[:, None]
    qkv = F.linear(h, P[pre + "attn.c_attn.weight"].T, P[pre + "attn.c_attn.bias"])
    q, k, v = (a.view(B, T, H, D).transpose(1, 2) for a in qkv.split(C, dim=2))
    h = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, C)
    h = F.linear(h, P[pre + "attn.c_proj.weight"].T, P[pre + "attn.c_proj.bias"])
    x = x + g1[:, None] * h
    h = F.layer_norm(x, (C,), eps=1e-6) * (1 + sc2[:, None]) + s2[:, None]
    h = F.gelu(F.linear(h, P[pre + "mlp.c_fc.weight"].T, P[pre + "mlp.c_fc.bias"]),
               approximate="tanh")
    h = F.linear(h, P[pre + "mlp.c_proj.weight"].T, P[pre + "mlp.c_proj.bias"])
    return x + g2[:, None] * h


def test_whole_denoiser_matches_a_torch_twin(rng):
    """The DiT denoiser's eps_hat, its loss and every parameter gradient against the same network
    written in torch (patchify and un-patchify as reshapes, the sinusoid as a constant)."""
    cfg = DiffusionConfig(image_size=4, patch_size=2, channels=3, dim=8, n_layers=2, n_heads=2,
                          hidden_dim=16, cond_dim=5, num_steps=10)
    model = DiffusionTransformer(cfg, rng=rng, dtype=np.float64)
    for _, p in model.named_parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    B, S, p, Ch, C = 3, 4, 2, 3, 8
    x0, cond = rng.uniform(-1, 1, (B, S, S, Ch)), rng.standard_normal((B, 5))
    draw = NoiseDraw(np.array([0, 9, 4]), rng.standard_normal((B, S, S, Ch)),
                     np.array([True, False, False]))
    model.zero_grad()
    eps_hat, loss = model(x0, cond, draw)
    model.backward()

    P = {name: _t(q.data) for name, q in model.named_parameters()}
    x_t = torch.tensor(q_sample(x0, draw.t, draw.eps, model.schedule))
    patches = x_t.reshape(B, S // p, p, S // p, p, Ch).permute(0, 1, 3, 2, 4, 5).reshape(B, 4, 12)
    x = patches @ P["patch_embed.proj.weight"] + P["wpe.weight"]
    e = torch.where(torch.tensor(draw.uncond)[:, None], P["null_cond"], torch.tensor(cond))
    temb = torch.tensor(model.t_embed.table[draw.t])
    temb = F.gelu(F.linear(temb, P["t_embed.c_fc.weight"].T, P["t_embed.c_fc.bias"]),
                  approximate="tanh")
    temb = F.linear(temb, P["t_embed.c_proj.weight"].T, P["t_embed.c_proj.bias"])
    c = F.gelu(temb + F.linear(e, P["cond_proj.weight"].T, P["cond_proj.bias"]),
               approximate="tanh")
    for i in range(cfg.n_layers):
        x = _torch_block(x, c, P, f"blocks.{i}.", cfg.n_heads)
    shift, scale = F.linear(c, P["ada_f.weight"].T, P["ada_f.bias"]).chunk(2, 1)
    x = F.layer_norm(x, (C,), eps=1e-6) * (1 + scale[:, None]) + shift[:, None]
    out = F.linear(x, P["head.weight"].T, P["head.bias"])
    teps = out.reshape(B, S // p, S // p, p, p, Ch).permute(0, 1, 3, 2, 4, 5).reshape(B, S, S, Ch)
    tloss = F.mse_loss(teps, torch.tensor(draw.eps))
    tloss.backward()

    _assert_close(eps_hat, teps)
    assert abs(loss - tloss.item()) <= ATOL
    for name, q in model.named_parameters():
        _assert_close(q.grad, P[name].grad)
