"""Bad input to the layers: Python lists, 0-d arrays, integer arrays, empty batches, T = 0, and
a ``dout`` of the wrong shape, above all one of the right *size* in another shape (a transposed
gradient), which used to be reshaped silently into garbage gradients. Then property tests
(hypothesis): random ranks, shapes and dtypes give either the correct result or a clear
TypeError / ValueError, never anything else."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minifm.nn import (GELU, ContrastiveLoss, CrossEntropyLoss, Dropout, Embedding, FeedForward,
                       LayerNorm, Linear, MultiHeadAttention, ReLU, SinusoidalPositionalEncoding,
                       Softmax, TransformerBlock)
from minifm.nn.patch_embedding import PatchEmbedding

F64 = np.float64


def _rng():
    return np.random.default_rng(0)


# ---- inputs that are not arrays, or have no axis -------------------------------------------------
LAYERS = {
    "Linear": lambda: Linear(4, 3, rng=_rng(), dtype=F64),
    "LayerNorm": lambda: LayerNorm(4, dtype=F64),
    "GELU": lambda: GELU(), "GELU-exact": lambda: GELU("none"), "ReLU": lambda: ReLU(),
    "Softmax": lambda: Softmax(), "Dropout": lambda: Dropout(0.5, rng=_rng()),
    "FeedForward": lambda: FeedForward(4, 8, rng=_rng(), dtype=F64),
    "MultiHeadAttention": lambda: MultiHeadAttention(4, 2, rng=_rng(), dtype=F64),
    "TransformerBlock": lambda: TransformerBlock(4, 2, 8, rng=_rng(), dtype=F64),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("x", [[[0.5] * 4], 0.5, np.float64(0.5)])
def test_a_list_or_a_scalar_is_a_type_error(name, x):
    with pytest.raises(TypeError, match="must be a floating-point numpy array, got"):
        LAYERS[name]()(x)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_0d_array_is_a_value_error(name):
    with pytest.raises(ValueError, match=r"(at least one axis, got a 0-d array|got shape \(\))"):
        LAYERS[name]()(np.array(0.5))


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.bool_, np.complex128, object])
def test_integer_bool_complex_or_object_arrays_are_type_errors(name, dtype):
    with pytest.raises(TypeError, match="must be a floating-point numpy array, got an array of"):
        LAYERS[name]()(np.ones((2, 3, 4), dtype=dtype))


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("shape", [(0, 3, 4), (2, 0, 4)])
def test_an_empty_batch_or_t_0_is_a_value_error(name, shape):
    with pytest.raises(ValueError, match=r"is empty \(shape"):
        LAYERS[name]()(np.zeros(shape))


def test_embedding_refuses_lists_floats_scalars_and_empty_ids():
    emb = Embedding(5, 3, rng=_rng(), dtype=F64)
    for bad, error in (([1, 2], TypeError), (np.zeros(3), TypeError), (np.array(1), ValueError),
                       (np.zeros((2, 0), int), ValueError), (np.array([True]), TypeError)):
        with pytest.raises(error, match="Embedding ids"):
            emb(bad)


def test_losses_refuse_empty_inputs_and_dloss_that_is_not_a_number():
    ce = CrossEntropyLoss()
    for logits, targets in ((np.zeros((0, 3)), np.zeros(0, int)),
                            (np.zeros((2, 0, 3)), np.zeros((2, 0), int))):
        with pytest.raises(ValueError, match="cross_entropy logits are empty"):
            ce(logits, targets)
    ce(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(TypeError, match="dloss must be a number, got '1'"):
        ce.backward("1")
    clip = ContrastiveLoss(dtype=F64)
    with pytest.raises(ValueError, match="contrastive loss embeddings are empty"):
        clip(np.zeros((0, 3)), np.zeros((0, 3)))
    clip(np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="dloss must be a finite number"):
        clip.backward(float("nan"))


@pytest.mark.parametrize("make, words", [
    (lambda: Linear(0, 3, rng=_rng()), "Linear in_features must be a positive int, got 0"),
    (lambda: Linear("4", 3, rng=_rng()), "Linear in_features must be an int, got '4'"),
    (lambda: Linear(4, 3, rng=0), "Linear rng must be a np.random.Generator"),
    (lambda: Embedding(5, 3, rng=None), "Embedding rng must be a np.random.Generator"),
    (lambda: Embedding(5, 2.0, rng=_rng()), "Embedding dim must be an int, got 2.0"),
    (lambda: LayerNorm(-1), "LayerNorm dim must be a positive int, got -1"),
    (lambda: LayerNorm(4, eps="1e-5"), "LayerNorm eps must be a number"),
    (lambda: Dropout("0.5", rng=_rng()), "Dropout probability p must be a number, got '0.5'"),
    (lambda: Dropout(0.5, rng=0), "Dropout rng must be a np.random.Generator"),
    (lambda: Softmax(axis=1.0), "Softmax axis must be an int"),
    (lambda: SinusoidalPositionalEncoding(8, 4)(True), "expects an integer T, got True"),
])
def test_constructors_and_arguments_name_what_is_wrong(make, words):
    with pytest.raises((TypeError, ValueError), match=words):
        make()


def test_softmax_axis_outside_the_input_is_a_value_error():
    with pytest.raises(ValueError, match=r"Softmax axis=2 does not exist in an input of shape "
                                         r"\(2, 3\) \(axes -2 .. 1\)"):
        Softmax(axis=2)(np.zeros((2, 3)))


# ---- dout of the wrong shape, at the module and at the functional pair ---------------------------
def _forward(name: str):
    """A layer after one forward on (B, T, C) = (2, 3, 4), and its output."""
    layer = LAYERS[name]()
    x = _rng().standard_normal((2, 3, 4))
    return layer, layer(x)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_transposed_dout_of_the_right_size_is_refused(name):
    layer, y = _forward(name)
    dout = np.ones(y.shape[::-1])                    # (C, T, B): the same size, another shape
    assert dout.size == y.size and dout.shape != y.shape
    shape = re.escape(str(y.shape))
    with pytest.raises(ValueError, match=rf"d(out|y) must have the forward output's shape {shape}, "
                                         rf"got {re.escape(str(dout.shape))}"):
        layer.backward(dout)


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("bad", ["shorter", "list", "int"])
def test_a_dout_of_the_wrong_shape_or_kind_is_refused(name, bad):
    layer, y = _forward(name)
    dout = {"shorter": np.ones(y.shape[:-1]), "list": np.ones(y.shape).tolist(),
            "int": np.ones(y.shape, dtype=int)}[bad]
    with pytest.raises((TypeError, ValueError), match="d(out|y) must"):
        layer.backward(dout)


def test_embedding_and_patch_embedding_refuse_a_transposed_dout():
    emb = Embedding(5, 3, rng=_rng(), dtype=F64)
    emb(np.array([[0, 1, 2, 3], [4, 0, 1, 2]]))                        # (2, 4) -> (2, 4, 3)
    with pytest.raises(ValueError, match=r"Embedding dout must .* \(2, 4, 3\), got \(4, 2, 3\)"):
        emb.backward(np.ones((4, 2, 3)))
    patches = PatchEmbedding(4, 2, 3, 5, rng=_rng(), dtype=F64)
    patches(np.zeros((1, 4, 4, 3)))                                     # -> (1, P=4, C=5)
    with pytest.raises(ValueError, match=r"\(1, 4, 5\), got \(1, 5, 4\)"):
        patches.backward(np.ones((1, 5, 4)))


def test_the_functional_pairs_check_dout_too():
    from minifm.functional.embedding import embedding_backward, embedding_forward
    from minifm.functional.layernorm import layernorm_backward, layernorm_forward
    from minifm.functional.linear import linear_backward, linear_forward
    from minifm.functional.patches import patchify_backward, patchify_forward
    rng = _rng()
    _, cache = linear_forward(rng.standard_normal((2, 3)), rng.standard_normal((3, 2)), None)
    with pytest.raises(ValueError, match=r"linear dout must have .* \(2, 2\), got \(4,\)"):
        linear_backward(np.ones(4), cache)
    _, cache = embedding_forward(np.array([0, 1, 2]), rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match=r"embedding dout must have .* \(3, 2\), got \(2, 3\)"):
        embedding_backward(np.ones((2, 3)), cache)
    _, cache = layernorm_forward(rng.standard_normal((2, 3)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"layernorm dout must have .* \(2, 3\), got \(3, 2\)"):
        layernorm_backward(np.ones((3, 2)), cache)
    _, cache = patchify_forward(np.zeros((1, 4, 4, 3)), 2)
    with pytest.raises(ValueError, match=r"patchify dpatches must have shape \(B, P=4, K=12\)"):
        patchify_backward(np.ones((1, 4, 24)), cache)                  # 6 channels, not 3


# ---- properties: random ranks, shapes and dtypes -------------------------------------------------
DTYPES = [np.float16, np.float32, np.float64, np.int32, np.bool_]
shapes = st.lists(st.integers(0, 3), min_size=0, max_size=4).map(tuple)
CLEAR = (TypeError, ValueError)


def _array(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_elementwise_layers_give_the_right_values_or_a_clear_error(shape, dtype, seed):
    x = _array(shape, dtype, seed)
    for layer, reference in ((ReLU(), lambda a: np.maximum(a, 0)),
                             (GELU("none"), None), (Softmax(), None)):
        try:
            y = layer(x)
        except CLEAR as e:
            ok_kind = np.issubdtype(x.dtype, np.floating)
            assert (not ok_kind and isinstance(e, TypeError)) or x.ndim == 0 or x.size == 0
            continue
        assert np.issubdtype(dtype, np.floating) and x.size > 0 and x.ndim > 0
        assert y.shape == x.shape and y.dtype == x.dtype
        if reference is not None:
            np.testing.assert_array_equal(y, reference(x))
        elif isinstance(layer, Softmax):
            np.testing.assert_allclose(y.astype(F64).sum(-1), 1.0, rtol=3e-3)
        dx = layer.backward(np.ones_like(y))
        assert dx.shape == x.shape


@settings(max_examples=60, deadline=None)
@given(shape=shapes, dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_linear_and_layernorm_give_the_right_values_or_a_clear_error(shape, dtype, seed):
    x = _array(shape, dtype, seed)
    C = 3
    linear, norm = Linear(C, 2, rng=_rng(), dtype=np.float32), LayerNorm(C)
    for layer in (linear, norm):
        try:
            y = layer(x)
        except CLEAR:
            assert (x.dtype != np.float32 or x.ndim == 0 or x.shape[-1] != C or x.size == 0)
            continue
        assert x.dtype == np.float32 and x.shape[-1] == C and x.size > 0
        if layer is linear:
            np.testing.assert_allclose(y, x @ linear.weight.data + linear.bias.data, rtol=1e-5,
                                       atol=1e-6)
        else:
            assert y.shape == x.shape and np.abs(y.mean(-1)).max() < 1e-5
        with pytest.raises(CLEAR):                   # any other shape of dout is refused
            layer.backward(np.ones(y.shape + (1,), np.float32))


@settings(max_examples=40, deadline=None)
@given(shape=shapes, perm_seed=st.integers(0, 100))
def test_linear_backward_takes_only_its_own_output_shape(shape, perm_seed):
    """Any dout with the output's size but another shape (a reshape or a permutation) is refused;
    the output's own shape gives dx = dout @ W^T."""
    if not shape or 0 in shape:
        return
    linear = Linear(3, shape[-1], rng=_rng(), dtype=F64)
    x = _rng().standard_normal(shape[:-1] + (3,))
    y = linear(x)
    order = np.random.default_rng(perm_seed).permutation(y.ndim)
    dout = np.ones(y.shape).transpose(order).copy()
    if dout.shape == y.shape:
        np.testing.assert_allclose(linear.backward(dout), dout @ linear.weight.data.T)
    else:
        with pytest.raises(ValueError, match="Linear dout must have the forward output's shape"):
            linear.backward(dout)


@settings(max_examples=50, deadline=None)
@given(shape=shapes, dtype=st.sampled_from([np.int64, np.int8, np.uint8, np.float32, np.bool_]),
       high=st.integers(1, 8))
def test_embedding_gives_the_table_rows_or_a_clear_error(shape, dtype, high):
    emb = Embedding(5, 2, rng=_rng(), dtype=F64)
    ids = np.random.default_rng(high).integers(0, high, size=shape).astype(dtype)
    try:
        out = emb(ids)
    except CLEAR as e:
        bad_kind = not np.issubdtype(ids.dtype, np.integer) or ids.dtype == np.bool_
        assert bad_kind == isinstance(e, TypeError)
        assert bad_kind or ids.ndim == 0 or ids.size == 0 or ids.max() >= 5
        return
    np.testing.assert_array_equal(out, emb.weight.data[ids])
    emb.backward(np.ones(out.shape))
    counts = np.bincount(ids.ravel().astype(np.int64), minlength=5)
    np.testing.assert_array_equal(emb.weight.grad.sum(axis=1), 2 * counts)   # C = 2 ones a use


@settings(max_examples=40, deadline=None)
@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64, np.int32]))
def test_attention_gives_a_b_t_c_result_or_a_clear_error(shape, dtype):
    attn = MultiHeadAttention(4, 2, causal=True, rng=_rng(), dtype=F64)
    x = np.ones(shape, dtype=dtype)
    try:
        y = attn(x)
    except CLEAR:
        assert dtype != F64 or len(shape) != 3 or shape[-1] != 4 or 0 in shape
        return
    assert y.shape == x.shape and np.isfinite(y).all()
    assert attn.backward(np.ones_like(y)).shape == x.shape
