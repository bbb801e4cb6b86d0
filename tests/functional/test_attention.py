"""Scaled dot-product attention: values against a loop reference, masks, dropout, gradients.

Attention is smooth in q, k and v, so every float64 gradient check asserts a relative error
below 1e-7.
"""

import numpy as np
import pytest

from minifm.functional.attention import attention_backward, attention_forward
from minifm.gradcheck import check_pair, worst

B, H, T, D = 2, 2, 3, 4


def qkv(rng, Tq=T, Tk=T, dtype=np.float64):
    return (rng.standard_normal((B, H, Tq, D)).astype(dtype),
            rng.standard_normal((B, H, Tk, D)).astype(dtype),
            rng.standard_normal((B, H, Tk, D)).astype(dtype))


def causal(Tq=T, Tk=T):
    return np.tril(np.ones((Tq, Tk), dtype=bool))


def padding(real):
    """(B, 1, 1, Tk) key mask from per-sequence lists of 0/1."""
    return np.array(real, dtype=bool)[:, None, None, :]


def reference(q, k, v, allowed):
    """One (batch, head, query) at a time, straight from the definition."""
    y = np.zeros_like(q)
    allowed = np.broadcast_to(allowed, q.shape[:3] + (k.shape[2],))
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            for i in range(q.shape[2]):
                keys = np.flatnonzero(allowed[b, h, i])
                if keys.size == 0:
                    continue
                s = np.array([q[b, h, i] @ k[b, h, j] / np.sqrt(q.shape[3]) for j in keys])
                w = np.exp(s - s.max())
                w /= w.sum()
                y[b, h, i] = sum(wj * v[b, h, j] for wj, j in zip(w, keys))
    return y


MASKS = {
    "none": None,
    "causal": causal(),
    "padding": padding([[1, 1, 1], [1, 1, 0]]),
    "causal+padding": causal() & padding([[1, 1, 1], [1, 0, 1]]),
}


@pytest.mark.parametrize("name", MASKS)
def test_attention_forward_matches_loop_reference(rng, name):
    q, k, v = qkv(rng)
    allowed = MASKS[name]
    y, _ = attention_forward(q, k, v, allowed)
    expected = reference(q, k, v, np.ones((T, T), bool) if allowed is None else allowed)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", MASKS)
def test_attention_backward_matches_numerical(rng, name):
    q, k, v = qkv(rng)
    allowed = MASKS[name]
    res = check_pair(lambda q, k, v: attention_forward(q, k, v, allowed), attention_backward,
                     [q, k, v], rng=rng)
    assert set(res) == {0, 1, 2}
    assert worst(res) < 1e-7


def test_attention_with_fewer_queries_than_keys_matches_numerical(rng):
    q, k, v = qkv(rng, Tq=2, Tk=5)
    allowed = np.arange(5)[None, :] <= np.array([3, 4])[:, None]      # decoding positions 3 and 4
    res = check_pair(lambda q, k, v: attention_forward(q, k, v, allowed), attention_backward,
                     [q, k, v], rng=rng)
    assert worst(res) < 1e-7
    y, _ = attention_forward(q, k, v, allowed)
    np.testing.assert_allclose(y, reference(q, k, v, allowed), rtol=0, atol=1e-12)


def test_probabilities_sum_to_one_over_allowed_keys_and_are_zero_on_masked_keys(rng):
    q, k, v = qkv(rng)
    allowed = causal() & padding([[1, 1, 1], [1, 0, 1]])
    _, cache = attention_forward(q, k, v, allowed)
    full = np.broadcast_to(allowed, cache.att.shape)
    assert np.all(cache.att[~full] == 0.0)
    assert np.all(cache.att[full] > 0.0)
    np.testing.assert_allclose(cache.att.sum(axis=-1), 1.0, rtol=0, atol=1e-14)


def test_fully_masked_row_gives_zero_output_and_zero_gradient_without_nan(rng):
    q, k, v = qkv(rng)
    # sequence 1 is left-padded: under the causal mask its query 0 sees only key 0, a pad token
    allowed = causal() & padding([[1, 1, 1], [0, 1, 1]])
    y, cache = attention_forward(q, k, v, allowed)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(cache.att))
    assert np.all(y[1, :, 0] == 0.0) and np.all(cache.att[1, :, 0] == 0.0)
    np.testing.assert_allclose(cache.att[0].sum(-1), 1.0, atol=1e-14)
    dq, dk, dv = attention_backward(rng.standard_normal(y.shape), cache)
    assert all(np.all(np.isfinite(g)) for g in (dq, dk, dv))
    assert np.all(dq[1, :, 0] == 0.0)
    # the pad key 0 of sequence 1 is never attended to, so it gets no gradient either
    assert np.all(dk[1, :, 0] == 0.0) and np.all(dv[1, :, 0] == 0.0)
    res = check_pair(lambda q, k, v: attention_forward(q, k, v, allowed), attention_backward,
                     [q, k, v], rng=rng)
    assert worst(res) < 1e-7


def test_everything_masked_is_all_zero_in_float32(rng):
    q, k, v = qkv(rng, dtype=np.float32)
    y, cache = attention_forward(q, k, v, np.zeros((1, 1, 1, T), dtype=bool))
    assert y.dtype == np.float32 and np.all(y == 0.0)
    dq, dk, dv = attention_backward(np.ones_like(y), cache)
    assert not any(g.any() for g in (dq, dk, dv))


def test_attention_keeps_float32(rng):
    q, k, v = qkv(rng, dtype=np.float32)
    y, cache = attention_forward(q, k, v, causal(), dropout_p=0.5, rng=rng)
    grads = attention_backward(np.ones_like(y), cache)
    assert y.dtype == cache.att.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


def test_dropout_with_a_fixed_mask_matches_numerical(rng):
    q, k, v = qkv(rng)
    keep = rng.random((B, H, T, T)) >= 0.4
    assert not keep.all() and keep.any()
    res = check_pair(lambda q, k, v: attention_forward(q, k, v, causal(), dropout_p=0.4,
                                                       dropout_keep=keep),
                     attention_backward, [q, k, v], rng=rng)
    assert worst(res) < 1e-7


def test_dropout_from_a_fresh_seeded_rng_matches_numerical(rng):
    q, k, v = qkv(rng)

    def forward(q, k, v):
        return attention_forward(q, k, v, causal(), dropout_p=0.3, rng=np.random.default_rng(7))

    res = check_pair(forward, attention_backward, [q, k, v], rng=rng)
    assert worst(res) < 1e-7


def test_dropout_zeroes_probabilities_and_rescales_the_rest(rng):
    q, k, v = qkv(rng)
    p = 0.25
    y, cache = attention_forward(q, k, v, dropout_p=p, rng=np.random.default_rng(3))
    assert cache.keep is not None and not cache.keep.all()
    np.testing.assert_array_equal(cache.att_dropped[~cache.keep], 0.0)
    np.testing.assert_allclose(cache.att_dropped[cache.keep], cache.att[cache.keep] / (1 - p),
                               rtol=1e-15)
    np.testing.assert_allclose(y, cache.att_dropped @ v, rtol=1e-14)
    # the same seed gives the same mask
    y2, _ = attention_forward(q, k, v, dropout_p=p, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(y, y2)


def test_attention_rejects_bad_inputs(rng):
    q, k, v = qkv(rng)
    with pytest.raises(ValueError, match=r"attention q must have shape \(B, H, T, D\), got shape "
                                         r"\(2, 3, 4\)"):
        attention_forward(q[0], k, v)
    with pytest.raises(TypeError, match="attention v must be a floating-point numpy array"):
        attention_forward(q, k, v.astype(np.int64))
    with pytest.raises(ValueError, match="must be"):
        attention_forward(q, k[..., :3], v)
    with pytest.raises(ValueError, match="k .* v"):
        attention_forward(q, k, v[:, :, :2])
    with pytest.raises(TypeError, match="bool"):
        attention_forward(q, k, v, np.ones((T, T)))
    with pytest.raises(ValueError, match="does not broadcast"):
        attention_forward(q, k, v, np.ones((T, T + 1), dtype=bool))
    with pytest.raises(ValueError, match="dropout_p"):
        attention_forward(q, k, v, dropout_p=1.0, rng=rng)
    with pytest.raises(ValueError, match="rng"):
        attention_forward(q, k, v, dropout_p=0.1)
    with pytest.raises(ValueError, match="dropout_keep must be a bool array"):
        attention_forward(q, k, v, dropout_p=0.1, dropout_keep=np.ones((T, T), bool))
    with pytest.raises(ValueError, match="dropout_p is 0"):
        attention_forward(q, k, v, dropout_keep=np.ones((B, H, T, T), bool))
