"""Images as tokens: turn an image into a short grid of discrete codes, and codes back into pixels.

Lesson: lessons/11_images_as_tokens.md.

A text-to-image transformer (``minifm.models.dalle``) predicts image tokens the way GPT predicts
words, so an image must first become a sequence of ids from a fixed vocabulary, the codebook.
Both tokenizers here cut the image into p x p patches, in reading order, and give each patch the
id of its nearest codebook vector:

    KMeansImageTokenizer   the codebook is k-means centroids of raw patches (pixel space);
                           decoding a code returns its centroid patch.
    VQVAEImageTokenizer    the codebook lives in the latent space of a VQ-VAE
                           (``minifm.models.vqvae``): an encoder maps a patch to a latent vector,
                           a decoder maps a code's vector back to a patch. The tokenizer holds the
                           trained weights and runs them with the functional ops, so this module
                           imports no model and the data layer can take any image tokenizer.

Dimensions: N images, H = W image side, Ch channels, p patch side, P = (H/p)^2 tokens per image,
K = p * p * Ch numbers per patch, V codebook size (the image vocabulary), E latent width.

A tokenizer here only encodes, decodes and stores itself. Fitting one (k-means over patches, or
training a VQ-VAE with code restarts) is done once, by ``minifm.tasks.image_tokens``:

    tok = fit_kmeans_tokenizer(images, vocab_size=128, patch_size=2, rng=rng)   # the tasks layer
    codes = tok.encode(images)            # (N, 64) ints in [0, 128): an 8 x 8 grid
    pixels = tok.decode(codes)            # (N, 16, 16, 3) in [0, 1]

Storing: like every minifm tokenizer (``minifm.tokenizers``), ``to_dict()`` / ``from_dict(d)``
give a JSON-ready dict with a ``"type"`` key, and ``save(path)`` / ``load(path)`` write and read
it. The arrays (a codebook, a VQ-VAE's weights) go into the dict as ``{"dtype", "shape",
"values"}`` with the values as a flat list of Python floats. That is exact: a float32 widened to
a float64 is the same number, JSON writes a float64 so that it reads back unchanged, and the
narrowing back is exact too. So a checkpoint that keeps the dict in its JSON metadata (as a
DALL-E checkpoint does) rebuilds bit for bit the tokenizer its model was trained on, without
pickle and without a second file. (A few thousand numbers: a k-means codebook of 128 x 12 or a
small VQ-VAE's ~6,000 weights; a large tokenizer would want an array payload instead.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minifm.functional.activations import gelu_forward
from minifm.functional.linear import linear_forward
from minifm.functional.patches import patchify, unpatchify
from minifm.functional.vector_quantize import nearest_code
from minifm.tokenizers.base import Stored, check_dict
from minifm.validation import check_finite, check_floats, check_ids, check_int

# The VQ-VAE's parameters (``minifm.models.vqvae.VQVAE.state_dict()`` names) a tokenizer needs.
VQVAE_PARAMS = tuple(f"{part}.{layer}.{kind}" for part in ("encoder", "decoder")
                     for layer in ("c_fc", "c_proj") for kind in ("weight", "bias")) + ("codebook",)


def array_to_json(a: np.ndarray) -> dict[str, Any]:
    """An array as JSON-ready data: dtype, shape and the values as a flat list (exact)."""
    return {"dtype": str(a.dtype), "shape": list(a.shape), "values": a.ravel().tolist()}


def array_from_json(d: dict[str, Any], what: str = "array") -> np.ndarray:
    """The float array ``array_to_json`` described; ValueError naming ``what`` for a dict that
    is incomplete (a key, or some of its values, missing) or malformed."""
    if not isinstance(d, dict) or not {"dtype", "shape", "values"} <= set(d):
        raise ValueError(f"{what} must be stored as a dict with 'dtype', 'shape' and 'values', "
                         f"got {sorted(d) if isinstance(d, dict) else type(d).__name__}")
    if d["dtype"] not in ("float16", "float32", "float64"):
        raise ValueError(f"{what} must have a float dtype (float16, float32, float64), got "
                         f"{d['dtype']!r}")
    shape, values = d["shape"], d["values"]
    if not (isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool)
                                            and n >= 0 for n in shape)):
        raise ValueError(f"{what} shape must be a list of sizes >= 0, got {shape!r}")
    if not (isinstance(values, list) and all(isinstance(v, (int, float))
                                             and not isinstance(v, bool) for v in values)):
        raise ValueError(f"{what} values must be a flat list of numbers")
    if len(values) != int(np.prod(shape)):
        raise ValueError(f"{what} holds {len(values)} values, but its shape {tuple(shape)} needs "
                         f"{int(np.prod(shape))} (an incomplete or damaged file?)")
    return np.asarray(values, dtype=d["dtype"]).reshape(shape)


class ImageTokenizer(Stored):
    """What both image tokenizers share: the patch grid, input checks, ``reconstruct``, storing.

    Subclasses define ``type_name``, ``vocab_size``, ``encode``, ``decode``, ``to_dict`` and
    ``from_dict``.
    """

    def __init__(self, image_size: int, patch_size: int, channels: int):
        for n, what in ((image_size, "image_size"), (patch_size, "patch_size"),
                        (channels, "channels")):
            check_int(n, what, minimum=1)
        if image_size % patch_size:
            raise ValueError(f"image_size={image_size} is not divisible by "
                             f"patch_size={patch_size}")
        self.image_size, self.patch_size, self.channels = image_size, patch_size, channels

    @property
    def vocab_size(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, columns) of the token grid: (H/p, W/p)."""
        side = self.image_size // self.patch_size
        return side, side

    @property
    def num_tokens(self) -> int:
        """P, the number of tokens per image."""
        rows, cols = self.grid
        return rows * cols

    def check_images(self, images: np.ndarray) -> None:
        """Images to encode: (N, H, W, Ch) floats, no NaN or inf (they have no nearest code, and
        would quietly get one)."""
        S, Ch = self.image_size, self.channels
        check_floats(images, "images", shape=(None, S, S, Ch), axes=f"(N, {S}, {S}, {Ch})")
        check_finite(images, "images")

    def check_codes(self, codes: np.ndarray) -> None:
        P = self.num_tokens
        check_ids(codes, "codes (image tokens)", vocab_size=self.vocab_size, shape=(None, P),
                  axes=f"(N, P={P})")

    def encode(self, images: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, codes: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """decode(encode(images)): what survives the round trip, (N, H, W, Ch)."""
        return self.decode(self.encode(images))

    # ---- storing: a JSON dict, as every minifm tokenizer ----------------------------------------
    def _grid_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "image_size": self.image_size,
                "patch_size": self.patch_size, "channels": self.channels}

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageTokenizer:  # pragma: no cover - abstract
        raise NotImplementedError


class KMeansImageTokenizer(ImageTokenizer):
    """Codebook = k-means centroids of raw p x p patches: ``codebook`` (V, K) in pixel space."""

    type_name = "kmeans"

    def __init__(self, codebook: np.ndarray, image_size: int, patch_size: int, channels: int = 3):
        super().__init__(image_size, patch_size, channels)
        K = patch_size * patch_size * channels
        check_floats(codebook, "the k-means codebook", shape=(None, K), axes=f"(V, K={K})")
        self.codebook = codebook.astype(np.float32)

    @property
    def vocab_size(self) -> int:
        return len(self.codebook)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """images (N, H, W, Ch) -> codes (N, P) int64: the nearest centroid of each patch."""
        self.check_images(images)
        return nearest_code(patchify(images.astype(np.float32), self.patch_size), self.codebook)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """codes (N, P) -> images (N, H, W, Ch) float32: each patch is its code's centroid."""
        self.check_codes(codes)
        S = self.image_size
        return unpatchify(self.codebook[codes], self.patch_size, (S, S))   # (N, P, K) -> image

    def to_dict(self) -> dict[str, Any]:
        return {**self._grid_dict(), "codebook": array_to_json(self.codebook)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KMeansImageTokenizer:
        check_dict(d, cls.type_name, ("image_size", "patch_size", "channels", "codebook"))
        return cls(array_from_json(d["codebook"], "the k-means codebook"), d["image_size"],
                   d["patch_size"], d["channels"])


class VQVAEImageTokenizer(ImageTokenizer):
    """Tokens = the codes of a trained VQ-VAE: ``params`` holds its weights under the names of
    ``VQVAE.state_dict()`` (``VQVAE_PARAMS``), run here exactly as the model runs them.

    ``minifm.tasks.image_tokens.fit_vqvae_tokenizer`` trains the VQ-VAE and wraps its weights.
    """

    type_name = "vqvae"

    def __init__(self, params: dict[str, np.ndarray], image_size: int, patch_size: int,
                 channels: int = 3):
        super().__init__(image_size, patch_size, channels)
        missing = [name for name in VQVAE_PARAMS if name not in params]
        if missing:
            raise ValueError(f"VQVAEImageTokenizer needs the VQ-VAE parameters {missing}")
        _check_vqvae_shapes(params, patch_size * patch_size * channels)
        self.params = {name: np.array(params[name]) for name in VQVAE_PARAMS}   # own copies
        self.dtype = self.params["codebook"].dtype

    @property
    def vocab_size(self) -> int:
        return len(self.params["codebook"])

    def _mlp(self, x: np.ndarray, part: str) -> np.ndarray:
        """The VQ-VAE's per-patch MLP ``part`` (encoder or decoder): Linear -> GELU -> Linear,
        (..., in) -> (..., out), with the functional ops its ``PatchMLP`` calls."""
        p = self.params
        h, _ = linear_forward(x, p[f"{part}.c_fc.weight"], p[f"{part}.c_fc.bias"])
        h, _ = gelu_forward(h)
        y, _ = linear_forward(h, p[f"{part}.c_proj.weight"], p[f"{part}.c_proj.bias"])
        return y

    def encode(self, images: np.ndarray) -> np.ndarray:
        """images (N, H, W, Ch) -> codes (N, P) int64: the nearest code of each patch's latent."""
        self.check_images(images)
        patches = patchify(images.astype(self.dtype), self.patch_size)     # (N, P, K)
        return nearest_code(self._mlp(patches, "encoder"), self.params["codebook"])   # (N, P)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """codes (N, P) -> images (N, H, W, Ch) float32 in [0, 1]."""
        self.check_codes(codes)
        S = self.image_size
        recon = self._mlp(self.params["codebook"][codes], "decoder")     # (N, P, E) -> (N, P, K)
        return np.clip(unpatchify(recon, self.patch_size, (S, S)), 0.0, 1.0).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {**self._grid_dict(),
                "params": {name: array_to_json(a) for name, a in self.params.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VQVAEImageTokenizer:
        check_dict(d, cls.type_name, ("image_size", "patch_size", "channels", "params"))
        if not isinstance(d["params"], dict):
            raise ValueError(f"vqvae tokenizer dict: 'params' must be a dict of arrays, got "
                             f"{type(d['params']).__name__}")
        params = {name: array_from_json(a, name) for name, a in d["params"].items()}
        return cls(params, d["image_size"], d["patch_size"], d["channels"])


def _check_vqvae_shapes(params: dict[str, np.ndarray], K: int) -> None:
    """The VQ-VAE weights must chain: patch (K) -> F -> latent (E) -> codebook (V, E) -> F2 -> K."""
    F = params["encoder.c_fc.weight"].shape[-1] if np.ndim(params["encoder.c_fc.weight"]) else 0
    E = params["codebook"].shape[-1] if np.ndim(params["codebook"]) else 0
    F2 = params["decoder.c_fc.weight"].shape[-1] if np.ndim(params["decoder.c_fc.weight"]) else 0
    expected = {"encoder.c_fc.weight": ((K, F), f"(K={K}, F)"), "encoder.c_fc.bias": ((F,), "(F,)"),
                "encoder.c_proj.weight": ((F, E), "(F, E)"), "encoder.c_proj.bias": ((E,), "(E,)"),
                "codebook": ((None, E), "(V, E)"),
                "decoder.c_fc.weight": ((E, F2), "(E, F2)"), "decoder.c_fc.bias": ((F2,), "(F2,)"),
                "decoder.c_proj.weight": ((F2, K), f"(F2, K={K})"),
                "decoder.c_proj.bias": ((K,), f"(K={K},)")}
    for name, (shape, axes) in expected.items():
        check_floats(params[name], f"VQ-VAE parameter {name}", shape=shape, axes=axes)
