"""Tests for minifm.functional.patches: cutting images into patches and back."""

import numpy as np
import pytest

from minifm.functional.patches import (patchify, patchify_backward, patchify_forward,
                                       unpatchify)
from minifm.gradcheck import check_pair, worst

# Smooth (here: linear) op: the library bound for functional pairs.
BOUND = 1e-7


def test_patchify_puts_each_tile_in_reading_order(rng):
    images = rng.standard_normal((2, 4, 6, 3))
    patches = patchify(images, 2)
    assert patches.shape == (2, 6, 12)                   # (4/2)*(6/2) patches of 2*2*3 numbers
    for b in range(2):
        for row in range(2):
            for col in range(3):
                tile = images[b, 2 * row:2 * row + 2, 2 * col:2 * col + 2]     # (2, 2, 3)
                np.testing.assert_array_equal(patches[b, row * 3 + col], tile.reshape(-1))


def test_unpatchify_inverts_patchify(rng):
    images = rng.standard_normal((3, 8, 4, 2))
    np.testing.assert_array_equal(unpatchify(patchify(images, 4), 4, (8, 4)), images)
    patches = rng.standard_normal((3, 2, 32))
    np.testing.assert_array_equal(patchify(unpatchify(patches, 4, (8, 4)), 4), patches)


def test_patchify_backward_matches_numerical(rng):
    images = rng.standard_normal((2, 4, 4, 3))
    results = check_pair(lambda x: patchify_forward(x, 2), patchify_backward, [images], rng=rng)
    assert worst(results) < BOUND


def test_patchify_with_one_patch_per_image_is_a_flatten(rng):
    images = rng.standard_normal((2, 3, 3, 3))
    np.testing.assert_array_equal(patchify(images, 3), images.reshape(2, 1, 27))


def test_patchify_keeps_float32(rng):
    images = rng.random((2, 4, 4, 3), dtype=np.float32)
    patches, cache = patchify_forward(images, 2)
    assert patches.dtype == np.float32 and patchify_backward(patches, cache).dtype == np.float32


def test_patchify_rejects_bad_input(rng):
    with pytest.raises(ValueError, match=r"\(B, H, W, Ch\)"):
        patchify(rng.standard_normal((4, 4, 3)), 2)
    with pytest.raises(ValueError, match="not divisible by patch_size=3"):
        patchify(rng.standard_normal((1, 4, 4, 3)), 3)
    with pytest.raises(ValueError, match="positive int"):
        patchify(rng.standard_normal((1, 4, 4, 3)), 0)
    with pytest.raises(ValueError, match="P = 4 patches"):
        unpatchify(rng.standard_normal((1, 3, 12)), 2, (4, 4))
