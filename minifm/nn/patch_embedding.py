"""``PatchEmbedding``: a ViT's first layer, image -> a sequence of patch vectors.

Dimensions: B batch, H x W image side, Ch channels, p patch side, P = (H/p)(W/p) patches,
K = p * p * Ch numbers per patch, C width.

    patches = patchify(images, p)          (B, H, W, Ch) -> (B, P, K)    (minifm.functional.patches)
    x = patches @ proj.weight + proj.bias  (B, P, K) -> (B, P, C)        one Linear for every patch

The same thing as a convolution with a p x p kernel and stride p (how the ViT paper and CLIP
write it), spelled as a reshape and a matrix product. Lesson: lessons/10_clip.md.
"""

from __future__ import annotations

import numpy as np

from minifm.functional.patches import patchify_backward, patchify_forward
from minifm.nn.linear import Linear
from minifm.nn.module import Module
from minifm.validation import check_floats


class PatchEmbedding(Module):
    """Cuts (B, H, W, Ch) images into p x p patches and projects each to width C (``proj``).

    ``bias=False`` when learned positions are added next: they already add a vector per position.
    """

    def __init__(self, image_size: int, patch_size: int, channels: int, dim: int,
                 bias: bool = True, *, rng: np.random.Generator, dtype: type = np.float32):
        if image_size % patch_size:
            raise ValueError(f"image_size={image_size} is not divisible by "
                             f"patch_size={patch_size}")
        self.image_size, self.patch_size, self.channels = image_size, patch_size, channels
        self.num_patches = (image_size // patch_size) ** 2
        self.proj = Linear(patch_size * patch_size * channels, dim, bias, rng=rng, dtype=dtype)

    def forward(self, images: np.ndarray) -> np.ndarray:
        """images: (B, H, W, Ch) with H = W = image_size, in the layer's dtype -> (B, P, C)."""
        S, Ch = self.image_size, self.channels
        check_floats(images, "PatchEmbedding images", shape=(None, S, S, Ch),
                     axes=f"(B, {S}, {S}, {Ch})", dtype=self.proj.weight.data.dtype)
        patches, self._cache = patchify_forward(images, self.patch_size)   # (B, P, K)
        return self.proj(patches)                                          # (B, P, K) -> (B, P, C)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (B, P, C) -> dimages: (B, H, W, Ch); adds into proj's gradients."""
        cache = self._pop_cache()
        dpatches = self.proj.backward(dout)              # (B, P, K); proj checks dout's shape
        return patchify_backward(dpatches, cache)                          # -> (B, H, W, Ch)

    def __repr__(self) -> str:
        return (f"PatchEmbedding(image_size={self.image_size}, patch_size={self.patch_size}, "
                f"channels={self.channels}, dim={self.proj.out_features}, "
                f"bias={self.proj.bias is not None})")
