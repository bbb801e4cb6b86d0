"""Attention, MultiHeadAttention and TransformerBlock against PyTorch autograd in float64.

The same math is written with torch.nn.functional and the same weights; outputs, the input
gradient and every parameter gradient must agree to a max abs difference of 1e-10. MHA is also
compared with torch.nn.MultiheadAttention, which pins down the weight layout convention
(``in_proj_weight = c_attn.weight.T``: q, k, v fused in that order).
"""

import numpy as np
import pytest

from minifm.functional.attention import attention_backward, attention_forward
from minifm.nn import MultiHeadAttention, TransformerBlock

torch = pytest.importorskip("torch")
F = torch.nn.functional

B, T, C, H, FF = 2, 5, 8, 2, 16
D = C // H
TOL = 1e-10

MASKS = {
    "none": (False, None),
    "causal": (True, None),
    "padding": (False, [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
    "causal+padding": (True, [[1, 1, 1, 1, 0], [1, 1, 0, 1, 1]]),
    "fully-masked-row": (True, [[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]]),
}


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - b.detach().numpy())))


def torch_params(module):
    return {name: torch.tensor(p.data, requires_grad=True) for name, p in module.named_parameters()}


def randomise(module, rng):
    for name, p in module.named_parameters():
        p.data[...] = rng.standard_normal(p.data.shape) * 0.5 + name.endswith(("ln_1.weight",
                                                                               "ln_2.weight"))


def allowed_mask(causal, mask):
    """(B, 1, T, T) bool, True = may attend, or None."""
    allowed = torch.ones(B, 1, T, T, dtype=torch.bool)
    if causal:
        allowed &= torch.tril(torch.ones(T, T, dtype=torch.bool))
    if mask is not None:
        allowed &= torch.tensor(mask, dtype=torch.bool)[:, None, None, :]
    return allowed


def torch_mha(x, P, prefix, allowed):
    qkv = F.linear(x, P[prefix + "c_attn.weight"].T, P[prefix + "c_attn.bias"])
    q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in qkv.split(C, dim=2))
    # like minifm, torch's SDPA gives 0 (not NaN) for a query with no allowed key
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    y = y.transpose(1, 2).reshape(B, T, C)
    return F.linear(y, P[prefix + "c_proj.weight"].T, P[prefix + "c_proj.bias"])


def torch_block(x, P, norm_first, allowed, approximate):
    def ln(z, name):
        return F.layer_norm(z, (C,), P[name + ".weight"], P[name + ".bias"], eps=1e-5)

    def mlp(z):
        h = F.gelu(F.linear(z, P["mlp.c_fc.weight"].T, P["mlp.c_fc.bias"]), approximate=approximate)
        return F.linear(h, P["mlp.c_proj.weight"].T, P["mlp.c_proj.bias"])

    if norm_first:
        x = x + torch_mha(ln(x, "ln_1"), P, "attn.", allowed)
        x = x + mlp(ln(x, "ln_2"))
    else:
        x = ln(x + torch_mha(x, P, "attn.", allowed), "ln_1")
        x = ln(x + mlp(x), "ln_2")
    return x


def compare(module, x, mask, torch_forward, rng):
    """Run minifm and torch forward + backward; return the max abs diff of output and grads."""
    P = torch_params(module)
    y = module(x, None if mask is None else np.array(mask, dtype=bool))
    dy = rng.standard_normal(y.shape)
    module.zero_grad()
    dx = module.backward(dy)

    tx = torch.tensor(x, requires_grad=True)
    ty = torch_forward(tx, P)
    (ty * torch.tensor(dy)).sum().backward()
    diffs = {"y": max_diff(y, ty), "x": max_diff(dx, tx.grad)}
    diffs.update({name: max_diff(p.grad, P[name].grad) for name, p in module.named_parameters()})
    return diffs


def test_functional_attention_with_dropout_mask_matches_torch(rng):
    q, k, v = (rng.standard_normal((B, H, T, D)) for _ in range(3))
    allowed = allowed_mask(*MASKS["causal+padding"]).numpy()
    keep = rng.random((B, H, T, T)) >= 0.3
    y, cache = attention_forward(q, k, v, allowed, dropout_p=0.3, dropout_keep=keep)
    dy = rng.standard_normal(y.shape)
    grads = attention_backward(dy, cache)

    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    scores = (tq @ tk.transpose(-1, -2) / D ** 0.5).masked_fill(~torch.tensor(allowed), -np.inf)
    att = F.softmax(scores, dim=-1)
    ty = (att * torch.tensor(keep) / 0.7) @ tv
    (ty * torch.tensor(dy)).sum().backward()
    assert max_diff(y, ty) <= TOL
    assert max_diff(cache.att, att) <= TOL
    for g, t in zip(grads, (tq, tk, tv)):
        assert max_diff(g, t.grad) <= TOL


@pytest.mark.parametrize("name", MASKS)
def test_mha_matches_torch_functional(rng, name):
    causal, mask = MASKS[name]
    m = MultiHeadAttention(C, H, causal, rng=rng, dtype=np.float64)
    randomise(m, rng)
    allowed = allowed_mask(causal, mask)
    diffs = compare(m, rng.standard_normal((B, T, C)), mask,
                    lambda tx, P: torch_mha(tx, P, "", allowed), rng)
    assert len(diffs) == 6
    assert max(diffs.values()) <= TOL, diffs


@pytest.mark.parametrize("name", ["none", "causal", "padding", "causal+padding"])
def test_mha_matches_torch_multihead_attention_module(rng, name):
    causal, mask = MASKS[name]
    m = MultiHeadAttention(C, H, causal, rng=rng, dtype=np.float64)
    randomise(m, rng)
    ref = torch.nn.MultiheadAttention(C, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.tensor(m.c_attn.weight.data.T))     # (3C, C): q | k | v
        ref.in_proj_bias.copy_(torch.tensor(m.c_attn.bias.data))
        ref.out_proj.weight.copy_(torch.tensor(m.c_proj.weight.data.T))
        ref.out_proj.bias.copy_(torch.tensor(m.c_proj.bias.data))
    x = rng.standard_normal((B, T, C))
    y = m(x, None if mask is None else np.array(mask, dtype=bool))
    dy = rng.standard_normal(y.shape)
    dx = m.backward(dy)

    tx = torch.tensor(x, requires_grad=True)
    # torch's masks say where NOT to attend: the opposite of minifm's
    attn_mask = ~torch.tril(torch.ones(T, T, dtype=torch.bool)) if causal else None
    pad = None if mask is None else ~torch.tensor(mask, dtype=torch.bool)
    ty, weights = ref(tx, tx, tx, attn_mask=attn_mask, key_padding_mask=pad, need_weights=True,
                      average_attn_weights=False)
    (ty * torch.tensor(dy)).sum().backward()
    diffs = {"y": max_diff(y, ty), "attn_probs": max_diff(m.attn_probs, weights),
             "x": max_diff(dx, tx.grad),
             "c_attn.weight": max_diff(m.c_attn.weight.grad, ref.in_proj_weight.grad.T),
             "c_attn.bias": max_diff(m.c_attn.bias.grad, ref.in_proj_bias.grad),
             "c_proj.weight": max_diff(m.c_proj.weight.grad, ref.out_proj.weight.grad.T),
             "c_proj.bias": max_diff(m.c_proj.bias.grad, ref.out_proj.bias.grad)}
    assert max(diffs.values()) <= TOL, diffs


@pytest.mark.parametrize("approximate", ["tanh", "none"])
@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-LN", "post-LN"])
@pytest.mark.parametrize("name", MASKS)
def test_block_matches_torch_functional(rng, name, norm_first, approximate):
    causal, mask = MASKS[name]
    m = TransformerBlock(C, H, FF, causal, norm_first, approximate=approximate, rng=rng,
                         dtype=np.float64)
    randomise(m, rng)
    allowed = allowed_mask(causal, mask)
    diffs = compare(m, rng.standard_normal((B, T, C)), mask,
                    lambda tx, P: torch_block(tx, P, norm_first, allowed, approximate), rng)
    assert len(diffs) == 14
    assert max(diffs.values()) <= TOL, diffs
