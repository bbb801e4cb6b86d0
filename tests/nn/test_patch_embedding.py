"""Tests for minifm.nn.patch_embedding.PatchEmbedding."""

import numpy as np
import pytest

from minifm.gradcheck import check_module, worst
from minifm.nn.patch_embedding import PatchEmbedding

# A reshape and a Linear layer: smooth, so the library bound for layers.
BOUND = 1e-7


@pytest.mark.parametrize("bias", [True, False])
def test_patch_embedding_backward_matches_numerical(rng, bias):
    layer = PatchEmbedding(4, 2, 3, 5, bias, rng=rng, dtype=np.float64)
    results = check_module(layer, rng.standard_normal((2, 4, 4, 3)), rng=rng)
    expected = {"x", "proj.weight"} | ({"proj.bias"} if bias else set())
    assert set(results) == expected
    assert worst(results) < BOUND


def test_patch_embedding_is_a_strided_convolution(rng):
    # A p x p kernel at stride p: output (row, col) = sum over the tile of weight * pixel + bias.
    layer = PatchEmbedding(6, 3, 2, 4, rng=rng, dtype=np.float64)
    layer.proj.bias.data[:] = rng.standard_normal(4)
    images = rng.standard_normal((2, 6, 6, 2))
    kernel = layer.proj.weight.data.reshape(3, 3, 2, 4)          # (p, p, Ch, C)
    out = layer(images)
    assert out.shape == (2, 4, 4)
    for row in range(2):
        for col in range(2):
            tile = images[:, 3 * row:3 * row + 3, 3 * col:3 * col + 3]          # (B, p, p, Ch)
            expected = np.einsum("bijc,ijco->bo", tile, kernel) + layer.proj.bias.data
            np.testing.assert_allclose(out[:, 2 * row + col], expected, rtol=1e-12)


def test_patch_embedding_keeps_float32(rng):
    layer = PatchEmbedding(4, 2, 3, 5, rng=rng)
    out = layer(rng.random((2, 4, 4, 3), dtype=np.float32))
    dx = layer.backward(np.ones_like(out))
    assert out.dtype == dx.dtype == layer.proj.weight.grad.dtype == np.float32
    assert layer.num_patches == 4


def test_patch_embedding_rejects_bad_input(rng):
    layer = PatchEmbedding(4, 2, 3, 5, rng=rng)
    with pytest.raises(ValueError, match=r"\(B, 4, 4, 3\) with size 3 on axis 3, got shape "
                                         r"\(2, 4, 4, 1\)"):
        layer(np.zeros((2, 4, 4, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(B, 4, 4, 3\), got shape \(4, 4, 3\) \(add a batch"):
        layer(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="float32 like the parameters, got float64"):
        layer(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="not divisible"):
        PatchEmbedding(5, 2, 3, 5, rng=rng)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((2, 4, 5), dtype=np.float32))
