"""``Unpatchify``: the last layer of a patch transformer that outputs an image, (B, P, K) ->
(B, H, W, Ch); the inverse of ``PatchEmbedding``'s cutting (see minifm.functional.unpatchify).

Dimensions: B batch, P = (H/p)(W/p) patches, K = p * p * Ch, H = W image side, Ch channels.
Lesson: lessons/14_dalle2_diffusion.md.
"""

from __future__ import annotations

import numpy as np

from minifm.functional.unpatchify import unpatchify_backward, unpatchify_forward
from minifm.nn.module import Module
from minifm.validation import check_floats, check_same_shape


class Unpatchify(Module):
    """No parameters: puts each patch vector back at its p x p tile, in reading order."""

    def __init__(self, image_size: int, patch_size: int, channels: int):
        if image_size % patch_size:
            raise ValueError(f"image_size={image_size} is not divisible by "
                             f"patch_size={patch_size}")
        self.image_size, self.patch_size, self.channels = image_size, patch_size, channels
        self.num_patches = (image_size // patch_size) ** 2

    def forward(self, patches: np.ndarray) -> np.ndarray:
        """patches: (B, P, K) -> images (B, H, W, Ch)."""
        P, K = self.num_patches, self.patch_size ** 2 * self.channels
        check_floats(patches, "Unpatchify patches", shape=(None, P, K), axes=f"(B, P={P}, K={K})")
        S = self.image_size
        images, cache = unpatchify_forward(patches, self.patch_size, (S, S))
        self._cache = cache, images.shape
        return images

    def backward(self, dimages: np.ndarray) -> np.ndarray:
        """dimages: (B, H, W, Ch) -> dpatches (B, P, K)."""
        cache, shape = self._pop_cache()
        check_same_shape(dimages, shape, "Unpatchify dimages")
        return unpatchify_backward(dimages, cache)

    def __repr__(self) -> str:
        return (f"Unpatchify(image_size={self.image_size}, patch_size={self.patch_size}, "
                f"channels={self.channels})")
