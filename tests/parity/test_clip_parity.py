"""CLIP's new pieces against PyTorch autograd in float64, values and gradients within 1e-10:
the patch embedding (as torch's strided convolution), L2 normalisation (F.normalize), and the
chain patch embedding -> mean pool -> normalise -> contrastive loss."""

import numpy as np
import pytest

from minifm.functional.normalize import l2_normalize_backward, l2_normalize_forward
from minifm.functional.pooling import mean_pool_backward, mean_pool_forward
from minifm.nn import ContrastiveLoss
from minifm.nn.patch_embedding import PatchEmbedding

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-10
B, S, P_SIDE, CH, C = 3, 8, 4, 3, 5          # 3 images of 8 x 8 x 3, 4 x 4 patches, width 5


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - b.detach().numpy())))


def torch_conv_weight(weight):
    """minifm's (p * p * Ch, C) patch weight, rows ordered (row, column, channel), as torch's
    conv2d weight (C, Ch, p, p)."""
    return torch.tensor(weight.reshape(P_SIDE, P_SIDE, CH, C)).permute(3, 2, 0, 1)


def torch_patch_embed(images, weight, bias):
    """(B, H, W, Ch) -> (B, P, C) with a p x p convolution at stride p, patches in reading order."""
    out = F.conv2d(images.permute(0, 3, 1, 2), weight, bias, stride=P_SIDE)     # (B, C, 2, 2)
    return out.flatten(2).transpose(1, 2)                                      # (B, P, C)


def test_patch_embedding_matches_a_strided_convolution(rng):
    layer = PatchEmbedding(S, P_SIDE, CH, C, rng=rng, dtype=np.float64)
    layer.proj.bias.data[:] = rng.standard_normal(C)
    images = rng.random((B, S, S, CH))
    out = layer(images)
    dout = rng.standard_normal(out.shape)
    dimages = layer.backward(dout)

    x = torch.tensor(images, requires_grad=True)
    w = torch_conv_weight(layer.proj.weight.data).detach().requires_grad_()
    b = torch.tensor(layer.proj.bias.data, requires_grad=True)
    t_out = torch_patch_embed(x, w, b)
    (t_out * torch.tensor(dout)).sum().backward()
    assert max_diff(out, t_out) <= TOL
    assert max_diff(dimages, x.grad) <= TOL
    assert max_diff(layer.proj.weight.grad,
                    w.grad.permute(2, 3, 1, 0).reshape(-1, C)) <= TOL   # back to (p p Ch, C)
    assert max_diff(layer.proj.bias.grad, b.grad) <= TOL


def test_l2_normalize_matches_torch(rng):
    x = rng.standard_normal((4, 6)) * 3
    y, cache = l2_normalize_forward(x)
    dy = rng.standard_normal(y.shape)
    dx = l2_normalize_backward(dy, cache)

    t_x = torch.tensor(x, requires_grad=True)
    t_y = F.normalize(t_x, dim=-1)
    (t_y * torch.tensor(dy)).sum().backward()
    assert max_diff(y, t_y) <= TOL
    assert max_diff(dx, t_x.grad) <= TOL


def test_patch_embedding_pooling_normalisation_and_clip_loss_match_torch(rng):
    layer = PatchEmbedding(S, P_SIDE, CH, C, rng=rng, dtype=np.float64)
    layer.proj.weight.data *= 20                         # similarities far from 0, a real loss
    loss_fn = ContrastiveLoss(dtype=np.float64)
    images, text = rng.random((B, S, S, CH)), rng.standard_normal((B, C))

    patches = layer(images)                              # (B, P, C)
    v, pool_cache = mean_pool_forward(patches)           # (B, C)
    img, img_cache = l2_normalize_forward(v)
    txt, txt_cache = l2_normalize_forward(text)
    loss = loss_fn(img, txt)
    dimg, dtxt = loss_fn.backward(1.0)
    dtext = l2_normalize_backward(dtxt, txt_cache)
    dimages = layer.backward(mean_pool_backward(l2_normalize_backward(dimg, img_cache),
                                                pool_cache))

    x = torch.tensor(images, requires_grad=True)
    w = torch_conv_weight(layer.proj.weight.data).detach().requires_grad_()
    b = torch.tensor(layer.proj.bias.data, requires_grad=True)
    t_text = torch.tensor(text, requires_grad=True)
    scale = torch.tensor(float(loss_fn.logit_scale.data), dtype=torch.float64,
                         requires_grad=True)
    t_img = F.normalize(torch_patch_embed(x, w, b).mean(dim=1), dim=-1)
    t_txt = F.normalize(t_text, dim=-1)
    logits = scale.exp() * t_img @ t_txt.T
    labels = torch.arange(B)
    t_loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    t_loss.backward()
    assert t_loss.item() > 0.1                           # not a saturated, near-zero loss
    assert abs(loss - t_loss.item()) <= TOL
    assert max_diff(dimages, x.grad) <= TOL
    assert max_diff(layer.proj.weight.grad, w.grad.permute(2, 3, 1, 0).reshape(-1, C)) <= TOL
    assert max_diff(layer.proj.bias.grad, b.grad) <= TOL
    assert max_diff(dtext, t_text.grad) <= TOL
    assert max_diff(loss_fn.logit_scale.grad, scale.grad) <= TOL
