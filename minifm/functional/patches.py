"""Cutting an image into patches and putting it back together (the first step of a ViT).

Dimensions: B batch, H x W image side in pixels, Ch colour channels, p patch side,
P = (H / p) * (W / p) patches, K = p * p * Ch numbers per patch.

A Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", eq. 1) reads an
image as a sequence: cut it into p x p tiles, in reading order (left to right, top to bottom),
flatten each tile into a vector of K numbers (row, then column, then channel), and project each
vector with one shared Linear layer. ``patchify`` does the cutting; it only moves numbers around:

    images (B, H, W, Ch) -> (B, H/p, p, W/p, p, Ch) -> (B, H/p, W/p, p, p, Ch) -> (B, P, K)

Every input number lands in exactly one output slot, so ``patchify`` is a permutation. The
gradient of a permutation is the inverse permutation applied to the upstream gradient: the
backward of ``patchify`` is ``unpatchify``, which also turns patch grids back into images (the
DALL-E-like model's decoder uses it that way). Lesson: lessons/10_clip.md.
"""

from __future__ import annotations

import numpy as np

from minifm.validation import check_floats


def _check_images(images: np.ndarray, patch_size: int) -> tuple[int, int, int, int]:
    if not isinstance(images, np.ndarray) or images.ndim != 4:
        shape = images.shape if isinstance(images, np.ndarray) else type(images).__name__
        raise ValueError(f"patchify expects images of shape (B, H, W, Ch), got {shape}")
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) \
            or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int, got {patch_size!r}")
    B, H, W, Ch = images.shape
    if H % patch_size or W % patch_size:
        raise ValueError(f"image side {H} x {W} is not divisible by patch_size={patch_size}")
    return B, H, W, Ch


def patchify(images: np.ndarray, patch_size: int) -> np.ndarray:
    """Cut images (B, H, W, Ch) into (B, P, K) flattened p x p patches in reading order."""
    B, H, W, Ch = _check_images(images, patch_size)
    p = patch_size
    x = images.reshape(B, H // p, p, W // p, p, Ch)        # -> (B, H/p, p, W/p, p, Ch)
    x = x.transpose(0, 1, 3, 2, 4, 5)                      # -> (B, H/p, W/p, p, p, Ch)
    return x.reshape(B, (H // p) * (W // p), p * p * Ch)   # -> (B, P, K)


def unpatchify(patches: np.ndarray, patch_size: int, image_size: tuple[int, int]) -> np.ndarray:
    """Undo ``patchify``: patches (B, P, K) -> images (B, H, W, Ch) with (H, W) = image_size."""
    H, W = image_size
    p = patch_size
    if not isinstance(patches, np.ndarray) or patches.ndim != 3 or H % p or W % p \
            or patches.shape[1] != (H // p) * (W // p) or patches.shape[2] % (p * p):
        shape = patches.shape if isinstance(patches, np.ndarray) else type(patches).__name__
        raise ValueError(f"unpatchify expects patches (B, P, K) with P = {(H // p) * (W // p)} "
                         f"patches of {p} x {p} x Ch for a {H} x {W} image, got {shape}")
    B, _, K = patches.shape
    Ch = K // (p * p)
    x = patches.reshape(B, H // p, W // p, p, p, Ch)       # (B, P, K) -> (B, H/p, W/p, p, p, Ch)
    x = x.transpose(0, 1, 3, 2, 4, 5)                      # -> (B, H/p, p, W/p, p, Ch)
    return x.reshape(B, H, W, Ch)                          # -> (B, H, W, Ch)


def patchify_forward(images: np.ndarray, patch_size: int) -> tuple[np.ndarray, tuple]:
    """The functional pair's forward: ``patchify`` plus the cache its backward needs."""
    return patchify(images, patch_size), (patch_size, images.shape[1:])     # (H, W, Ch)


def patchify_backward(dpatches: np.ndarray, cache: tuple) -> np.ndarray:
    """dpatches (B, P, K) -> dimages (B, H, W, Ch).

    fwd: patches = a permutation of the image's entries  =>  dimages = the inverse permutation
    of dpatches, i.e. ``unpatchify``.
    """
    patch_size, (H, W, Ch) = cache
    p = patch_size
    P, K = (H // p) * (W // p), p * p * Ch
    check_floats(dpatches, "patchify dpatches", shape=(None, P, K), axes=f"(B, P={P}, K={K})")
    return unpatchify(dpatches, patch_size, (H, W))
