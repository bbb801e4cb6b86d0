"""Un-patchify as a functional pair: patch vectors back into an image, with its backward.
Lesson: lessons/14_dalle2_diffusion.md; the permutation itself is
taught with patchify in lessons/10_clip.md.

Dimensions: B batch, H x W image side, Ch channels, p patch side, P = (H/p)(W/p) patches,
K = p * p * Ch numbers per patch.

A diffusion transformer predicts one K-vector per patch and must hand back an image-shaped noise
estimate. ``unpatchify`` (minifm.functional.patches) is a permutation of the entries, the inverse
of ``patchify``; the gradient of a permutation is its inverse applied to the upstream gradient:

    fwd: images = unpatchify(patches)  =>  dpatches = patchify(dimages)

so this pair is ``patchify_forward`` / ``patchify_backward`` read the other way round.
"""

from __future__ import annotations

import numpy as np

from minifm.functional.patches import patchify, unpatchify


def unpatchify_forward(patches: np.ndarray, patch_size: int, image_size: tuple[int, int]
                       ) -> tuple[np.ndarray, int]:
    """patches (B, P, K) -> images (B, H, W, Ch) with (H, W) = image_size, and the cache."""
    return unpatchify(patches, patch_size, image_size), patch_size


def unpatchify_backward(dimages: np.ndarray, cache: int) -> np.ndarray:
    """dimages (B, H, W, Ch) -> dpatches (B, P, K)."""
    patch_size = cache
    # fwd: images = unpatchify(patches), a permutation  =>  dpatches = patchify(dimages)
    return patchify(dimages, patch_size)
