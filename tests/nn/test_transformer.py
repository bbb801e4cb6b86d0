"""TransformerBlock: pre-LN (GPT-2) and post-LN (BERT) gradients of x and every parameter under
each mask, dropout, the residual structure, and KV-cached decoding.

A block is smooth, but it is a small model rather than one op, and its gradient checks are
limited by round-off, not by the backward: float64 central differences carry an absolute error
of about eps * |f| / h ~ 1e-10, while the q and k columns of c_attn get gradients ~100x smaller
than the rest, so an exact backward can show a relative error of 1e-6 on a tiny entry (over 300
random seeds: 20 % of checks exceed 1e-7, 3 % exceed 1e-6, none 1e-5). We therefore assert the
library's whole-model bound, 1e-5. The torch parity tests pin the very same gradients to 1e-10
absolute (tests/parity/test_attention_parity.py).
"""

import numpy as np
import pytest

from helpers import Reseeded, key_bias_gradcheck
from minifm.nn import TransformerBlock

B, T, C, H, F = 2, 3, 4, 2, 8
BOUND = 1e-5    # the whole-model bound; see the module docstring for why not 1e-7
PARAMS = {"x", "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
          "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
          "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"}


def block(rng, causal=False, norm_first=True, dtype=np.float64, **kw):
    m = TransformerBlock(C, H, F, causal, norm_first, rng=rng, dtype=dtype, **kw)
    for name, p in m.named_parameters():     # perturb everything, LayerNorm gains around 1
        p.data[...] = rng.standard_normal(p.data.shape) * 0.5 + (name.endswith("ln_1.weight")
                                                                 or name.endswith("ln_2.weight"))
    return m


MASKS = {
    "none": (False, None),
    "causal": (True, None),
    "padding": (False, np.array([[1, 1, 1], [1, 1, 0]], dtype=bool)),
    "causal+padding": (True, np.array([[1, 1, 1], [1, 0, 1]], dtype=bool)),
    "fully-masked-row": (True, np.array([[1, 1, 1], [0, 1, 1]], dtype=bool)),
}


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-LN", "post-LN"])
@pytest.mark.parametrize("name", MASKS)
def test_block_backward_matches_numerical(rng, name, norm_first):
    causal, mask = MASKS[name]
    errors, key_bias = key_bias_gradcheck(block(rng, causal, norm_first),
                                          rng.standard_normal((B, T, C)), mask, rng,
                                          bias="attn.c_attn.bias")
    assert set(errors) == PARAMS - {"attn.c_attn.bias"} | {"attn.c_attn.bias[q|v]"}
    assert max(errors.values()) < BOUND, errors
    assert max(key_bias) < 1e-9


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-LN", "post-LN"])
def test_block_with_exact_gelu_and_dropout_matches_numerical(rng, norm_first):
    model = Reseeded(block(rng, True, norm_first, approximate="none", dropout=0.3))
    x = rng.standard_normal((B, T, C))
    np.testing.assert_array_equal(model(x), model(x))
    errors, key_bias = key_bias_gradcheck(model, x, None, rng, bias="inner.attn.c_attn.bias")
    assert max(errors.values()) < BOUND, errors
    assert max(key_bias) < 1e-9


def test_pre_ln_block_is_two_residual_steps(rng):
    m = block(rng, True, True)
    x = rng.standard_normal((B, T, C))
    y = m(x)
    h = x + m.attn(m.ln_1(x))
    np.testing.assert_array_equal(y, h + m.mlp(m.ln_2(h)))


def test_post_ln_block_normalises_each_sublayer_output(rng):
    m = block(rng, False, False)
    for ln in (m.ln_1, m.ln_2):
        ln.weight.data[...] = 1.0
        ln.bias.data[...] = 0.0
    x = rng.standard_normal((B, T, C))
    y = m(x)
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1.0, atol=1e-4)     # var / (var + eps), eps = 1e-5
    h = m.ln_1(x + m.attn(x))
    np.testing.assert_array_equal(y, m.ln_2(h + m.mlp(h)))


def test_block_keeps_float32_and_children_are_gpt2_named(rng):
    m = TransformerBlock(C, H, F, True, rng=rng)
    assert [n for n, _ in m.named_children()] == ["ln_1", "attn", "ln_2", "mlp"]
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    y = m(x)
    dx = m.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in m.parameters())


def test_block_backward_before_forward_is_an_error(rng):
    with pytest.raises(RuntimeError, match="before forward"):
        block(rng).backward(np.ones((B, T, C)))


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-LN", "post-LN"])
def test_cached_decoding_equals_full_causal_forward(rng, norm_first):
    m = block(rng, True, norm_first, dropout=0.1).eval()
    x = rng.standard_normal((B, 5, C))
    full = m(x)
    cache = m.attn.new_cache(B, max_len=5)
    out = [m.forward_cached(x[:, :2], cache)]
    out += [m.forward_cached(x[:, t:t + 1], cache) for t in range(2, 5)]
    np.testing.assert_allclose(np.concatenate(out, axis=1), full, rtol=0, atol=1e-12)
