"""MultiHeadAttention: gradients of x and every parameter under each mask, dropout, mask
validation, attention maps, and KV-cached decoding.

Attention is smooth, so float64 gradient checks assert a relative error below 1e-7.
"""

import numpy as np
import pytest

from helpers import Reseeded, key_bias_gradcheck
from minifm.gradcheck import check_module, worst
from minifm.nn import KVCache, MultiHeadAttention

B, T, C, H = 2, 3, 4, 2
PARAMS = {"x", "c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias"}


def mha(rng, causal=False, dtype=np.float64, **kw):
    m = MultiHeadAttention(C, H, causal, rng=rng, dtype=dtype, **kw)
    # O(1) weights and non-zero biases: attention is neither uniform nor one-hot, and every
    # gradient is exercised (the GPT-2 init, std 0.02, would make the layer almost linear)
    for _, p in m.named_parameters():
        p.data[...] = 0.5 * rng.standard_normal(p.data.shape)
    return m


CASES = {
    "none": (False, None),
    "causal": (True, None),
    "padding": (False, np.array([[1, 1, 1], [1, 1, 0]], dtype=bool)),
    "causal+padding": (True, np.array([[1, 1, 1], [1, 0, 1]], dtype=bool)),
    "fully-masked-row": (True, np.array([[1, 1, 1], [0, 1, 1]], dtype=bool)),
}


@pytest.mark.parametrize("name", CASES)
def test_mha_backward_matches_numerical(rng, name):
    causal, mask = CASES[name]
    x = rng.standard_normal((B, T, C))
    errors, (key_bias_analytic, key_bias_numerical) = key_bias_gradcheck(
        mha(rng, causal), x, mask, rng, bias="c_attn.bias")
    assert set(errors) == PARAMS - {"c_attn.bias"} | {"c_attn.bias[q|v]"}
    assert max(errors.values()) < 1e-7, errors
    assert key_bias_analytic < 1e-14 and key_bias_numerical < 1e-9


def test_mha_with_attention_and_residual_dropout_matches_numerical(rng):
    x = rng.standard_normal((B, T, C))
    model = Reseeded(mha(rng, True, dropout=0.3))
    y1, y2 = model(x), model(x)
    np.testing.assert_array_equal(y1, y2)
    errors, key_bias = key_bias_gradcheck(model, x, None, rng, bias="inner.c_attn.bias")
    assert max(errors.values()) < 1e-7, errors
    assert max(key_bias) < 1e-9


def test_mha_dropout_is_active_in_train_mode_and_off_in_eval_mode(rng):
    x = rng.standard_normal((B, T, C))
    m = mha(rng, True, dropout=0.5)
    y_train = m(x)
    m.eval()
    y_eval = m(x)
    np.testing.assert_array_equal(y_eval, m(x))
    assert np.abs(y_train - y_eval).max() > 1e-3
    plain = MultiHeadAttention(C, H, True, rng=rng, dtype=np.float64)
    plain.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(plain(x), y_eval)


def test_mha_without_bias_has_only_weights(rng):
    m = MultiHeadAttention(C, H, rng=rng, bias=False, dtype=np.float64)
    assert {n for n, _ in m.named_parameters()} == {"c_attn.weight", "c_proj.weight"}
    assert m.c_attn.weight.shape == (C, 3 * C) and m.c_proj.weight.shape == (C, C)
    res = check_module(m, rng.standard_normal((B, T, C)), rng=rng)
    assert set(res) == {"x", "c_attn.weight", "c_proj.weight"}
    assert worst(res) < 1e-7


def test_attn_probs_sum_to_one_over_allowed_keys_and_are_zero_on_masked_keys(rng):
    m = mha(rng, True)
    mask = np.array([[1, 1, 1], [1, 0, 1]], dtype=bool)
    m(rng.standard_normal((B, T, C)), mask)
    att = m.attn_probs
    assert att.shape == (B, H, T, T)
    allowed = np.tril(np.ones((T, T), bool))[None, None] & mask[:, None, None, :]
    allowed = np.broadcast_to(allowed, att.shape)
    assert np.all(att[~allowed] == 0.0) and np.all(att[allowed] > 0.0)
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-14)


def test_causal_output_does_not_depend_on_future_tokens(rng):
    m = mha(rng, True)
    x = rng.standard_normal((B, T, C))
    y = m(x)
    x2 = x.copy()
    x2[:, -1] += 10.0
    y2 = m(x2)
    np.testing.assert_array_equal(y[:, :-1], y2[:, :-1])
    assert np.abs(y[:, -1] - y2[:, -1]).max() > 1e-3


def test_padding_tokens_do_not_change_real_positions(rng):
    m = mha(rng)
    mask = np.array([[1, 1, 1], [1, 1, 0]], dtype=bool)
    x = rng.standard_normal((B, T, C))
    y = m(x, mask)
    x2 = x.copy()
    x2[1, 2] = rng.standard_normal(C) * 100
    y2 = m(x2, mask)
    np.testing.assert_array_equal(y[0], y2[0])
    np.testing.assert_allclose(y[1, :2], y2[1, :2], rtol=0, atol=1e-13)


def test_integer_mask_equals_bool_mask(rng):
    m = mha(rng, True)
    x = rng.standard_normal((B, T, C))
    ints = np.array([[1, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(m(x, ints), m(x, ints.astype(bool)))


def test_fully_masked_query_outputs_the_projection_bias_without_nan(rng):
    m = mha(rng, True)
    mask = np.array([[1, 1, 1], [0, 1, 1]], dtype=bool)
    y = m(rng.standard_normal((B, T, C)), mask)
    assert np.all(np.isfinite(y))
    # query 0 of sequence 1 may attend to nothing: its attention output is 0, so y = 0 @ W + b
    np.testing.assert_array_equal(y[1, 0], m.c_proj.bias.data)
    assert np.all(m.attn_probs[1, :, 0] == 0.0)
    dx = m.backward(np.ones_like(y))
    assert np.all(np.isfinite(dx))


def test_mha_keeps_float32(rng):
    m = MultiHeadAttention(C, H, True, rng=rng, dropout=0.1)
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    y = m(x, np.ones((B, T), dtype=bool))
    dx = m.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == m.attn_probs.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in m.parameters())


def test_mha_rejects_bad_inputs(rng):
    with pytest.raises(ValueError, match="dim=6 is not divisible by n_heads=4"):
        MultiHeadAttention(6, 4, rng=rng)
    m = mha(rng)
    x = rng.standard_normal((B, T, C))
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, C=4\), got shape \(3, 4\) "
                                         r"\(add a batch axis"):
        m(x[0])
    with pytest.raises(ValueError, match=r"\(B, T, C=4\) with size 4 on axis 2, got shape "
                                         r"\(2, 3, 5\)"):
        m(rng.standard_normal((B, T, C + 1)))
    with pytest.raises(TypeError, match="x must be float64 like the parameters, got float32"):
        m(x.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(B, T\) = \(2, 3\), got shape \(2, 4\)"):
        m(x, np.ones((B, T + 1), dtype=bool))
    with pytest.raises(ValueError, match=r"got shape \(2, 1, 3\)"):
        m(x, np.ones((B, 1, T), dtype=bool))
    with pytest.raises(TypeError, match="bool or 0/1 integer numpy array, got an array of float64"):
        m(x, np.ones((B, T)))
    with pytest.raises(ValueError, match=r"only 0 \(padding\) and 1 \(real\), got values "
                                         r"\[0 1 2\]"):
        m(x, np.array([[1, 1, 0], [1, 2, 1]]))
    with pytest.raises(RuntimeError, match="before forward"):
        m.backward(x)


def test_mha_backward_rejects_a_dy_of_another_shape(rng):
    # (B, T, C) = (2, 3, 4): a (3, 2, 4) gradient has the same size and used to be reshaped
    # silently into wrong gradients
    m = mha(rng)
    x = rng.standard_normal((B, T, C))
    m(x)
    with pytest.raises(ValueError, match=r"MultiHeadAttention dy must have the forward output's "
                                         r"shape \(2, 3, 4\), got \(3, 2, 4\)"):
        m.backward(rng.standard_normal((T, B, C)))
    m(x)
    with pytest.raises(TypeError, match="dy must be a floating-point numpy array"):
        m.backward(np.ones((B, T, C), dtype=np.int64))


# ---- KV-cached decoding -------------------------------------------------------------------

def test_cached_decoding_token_by_token_equals_full_causal_forward(rng):
    m = mha(rng, True)
    x = rng.standard_normal((B, 6, C))
    full = m(x)
    cache = m.new_cache(B, max_len=8)
    steps = [m.forward_cached(x[:, t:t + 1], cache) for t in range(6)]
    assert cache.length == 6
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=0, atol=1e-13)


def test_cached_decoding_of_a_prompt_then_single_tokens_equals_full_forward(rng):
    m = mha(rng, True)
    x = rng.standard_normal((B, 6, C))
    full = m(x)
    cache = m.new_cache(B, max_len=6)
    out = [m.forward_cached(x[:, :4], cache),         # the prompt: causal among new tokens
           m.forward_cached(x[:, 4:5], cache), m.forward_cached(x[:, 5:6], cache)]
    np.testing.assert_allclose(np.concatenate(out, axis=1), full, rtol=0, atol=1e-13)
    cache.reset()
    assert cache.length == 0
    np.testing.assert_allclose(m.forward_cached(x[:, :2], cache), full[:, :2], rtol=0, atol=1e-13)


def test_kv_cache_layout_and_overflow(rng):
    m = mha(rng, True)
    cache = m.new_cache(B, max_len=3)
    assert isinstance(cache, KVCache)
    assert cache.k.shape == cache.v.shape == (B, H, 3, C // H) and cache.k.dtype == np.float64
    assert cache.max_len == 3
    x = rng.standard_normal((B, 2, C))
    m.forward_cached(x, cache)
    q, k, v = np.split(x @ m.c_attn.weight.data + m.c_attn.bias.data, 3, axis=-1)
    np.testing.assert_allclose(cache.k[:, :, :2], k.reshape(B, 2, H, C // H).transpose(0, 2, 1, 3),
                               atol=1e-15)
    np.testing.assert_allclose(cache.v[:, :, :2], v.reshape(B, 2, H, C // H).transpose(0, 2, 1, 3),
                               atol=1e-15)
    with pytest.raises(ValueError, match="KVCache overflow: it holds 2 of at most 3 positions "
                                         "and cannot take 2 more"):
        m.forward_cached(x, cache)
    assert cache.length == 2


def test_forward_cached_rejects_misuse(rng):
    x = rng.standard_normal((B, 1, C))
    bidirectional = mha(rng, False)
    with pytest.raises(ValueError, match="causal=True"):
        bidirectional.forward_cached(x, bidirectional.new_cache(B, 4))
    m = mha(rng, True, dropout=0.1)
    with pytest.raises(RuntimeError, match="eval"):
        m.forward_cached(x, m.new_cache(B, 4))
    m.eval()
    with pytest.raises(ValueError, match="does not fit"):
        m.forward_cached(x, m.new_cache(B + 1, 4))
    with pytest.raises(ValueError, match="KVCache holds"):
        KVCache(B, H, 4, C // H).append(np.zeros((B, H, 1, 3)), np.zeros((B, H, 1, 3)))
    m(rng.standard_normal((B, T, C)))
    m.forward_cached(x, m.new_cache(B, 4))
    with pytest.raises(RuntimeError, match="before forward"):
        m.backward(np.ones((B, T, C)))
