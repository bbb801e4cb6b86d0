"""Images as tokens: turn an image into a short grid of discrete codes, and codes back into pixels.

A text-to-image transformer (``minifm.models.dalle``) predicts image tokens the way GPT predicts
words, so an image must first become a sequence of ids from a fixed vocabulary, the codebook.
Both tokenizers here cut the image into p x p patches, in reading order, and give each patch the
id of its nearest codebook vector:

    KMeansImageTokenizer   the codebook is k-means centroids of raw patches (pixel space);
                           decoding a code returns its centroid patch.
    VQVAEImageTokenizer    the codebook lives in the latent space of a VQ-VAE
                           (``minifm.models.vqvae``): an encoder maps a patch to a latent vector,
                           a decoder maps a code's vector back to a patch; all three are learned.

Dimensions: N images, H = W image side, Ch channels, p patch side, P = (H/p)^2 tokens per image,
K = p * p * Ch numbers per patch, V codebook size (the image vocabulary), D vector width.

k-means (Lloyd 1982; seeding: Arthur & Vassilvitskii 2007, "k-means++") alternates two steps
until no assignment changes: assign each vector to its nearest centroid (``nearest_code``), then
move each centroid to the mean of its vectors. A centroid left with no vectors moves to the vector
farthest from its own centroid.

    tok = KMeansImageTokenizer.train(images, vocab_size=128, patch_size=2, rng=rng)
    codes = tok.encode(images)            # (N, 64) ints in [0, 128): an 8 x 8 grid
    pixels = tok.decode(codes)            # (N, 16, 16, 3) in [0, 1]
    tok.save("image_tokenizer.npz"); tok = load_image_tokenizer("image_tokenizer.npz")
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from minifm.atomic import atomic_write
from minifm.functional.patches import patchify, unpatchify
from minifm.functional.vector_quantize import nearest_code
from minifm.models.vqvae import VQVAE, VQVAEConfig
from minifm.trainer import TrainConfig, Trainer

FORMAT = "minifm-image-tokenizer"


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 50
           ) -> tuple[np.ndarray, np.ndarray]:
    """Cluster vectors x (N, D) into k groups. Returns (centroids (k, D), codes (N,) int64).

    k-means++ seeding, then at most ``iters`` rounds of Lloyd's algorithm (fewer if the
    assignment stops changing). Works in x's dtype; needs N >= k.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 2 or not np.issubdtype(x.dtype, np.floating):
        got = (f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray)
               else type(x).__name__)
        raise ValueError(f"kmeans expects float vectors of shape (N, D), got {got}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(x):
        raise ValueError(f"kmeans needs an int k with 1 <= k <= N={len(x)}, got {k!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator, got {type(rng).__name__}")
    N, D = x.shape
    # k-means++: each new seed is drawn with probability proportional to its squared distance
    # from the nearest seed so far, so seeds spread over the data (one loop over k, not over N)
    centroids = np.empty((k, D), dtype=x.dtype)
    centroids[0] = x[rng.integers(N)]
    d2 = ((x - centroids[0]) ** 2).sum(axis=1)                     # (N,)
    for j in range(1, k):
        total = d2.sum()
        i = rng.choice(N, p=d2 / total) if total > 0 else rng.integers(N)
        centroids[j] = x[i]
        np.minimum(d2, ((x - centroids[j]) ** 2).sum(axis=1), out=d2)
    codes = np.full(N, -1)
    for _ in range(iters):
        new_codes = nearest_code(x, centroids)                     # assignment step, (N,)
        if np.array_equal(new_codes, codes):
            break
        codes = new_codes
        # update step: centroid = mean of its vectors. The sums are one scatter-add: entry
        # (n, d) adds into flat slot codes[n] * D + d of the (k, D) table (as np.add.at would)
        slots = (codes[:, None] * D + np.arange(D)).reshape(-1)   # (N, D) -> (N*D,)
        sums = np.bincount(slots, weights=x.reshape(-1), minlength=k * D).reshape(k, D)
        counts = np.bincount(codes, minlength=k)                   # (k,)
        used = counts > 0
        centroids[used] = sums[used] / counts[used, None]
        if not used.all():            # empty clusters restart at the worst-fitted vectors
            err = ((x - centroids[codes]) ** 2).sum(axis=1)        # (N,)
            centroids[~used] = x[np.argsort(-err, kind="stable")[:int((~used).sum())]]
    return centroids, nearest_code(x, centroids)


class ImageBatches:
    """Random batches ``(images,)`` from fixed arrays, for training a VQ-VAE with the Trainer."""

    def __init__(self, train: np.ndarray, val: np.ndarray):
        self.splits = {"train": train, "val": val}

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray]:
        if split not in self.splits:
            raise ValueError(f"split must be one of {tuple(self.splits)}, got {split!r}")
        images = self.splits[split]
        return (images[rng.integers(len(images), size=batch_size)],)   # (B, H, W, Ch)


class ImageTokenizer:
    """What both image tokenizers share: the patch grid, checks, ``reconstruct`` and saving.

    Subclasses define ``type_name``, ``vocab_size``, ``encode``, ``decode``, ``_arrays`` and
    ``_from_arrays``.
    """

    type_name: ClassVar[str] = ""

    def __init__(self, image_size: int, patch_size: int, channels: int):
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
        S, Ch = self.image_size, self.channels
        if not isinstance(images, np.ndarray) or images.ndim != 4 \
                or images.shape[1:] != (S, S, Ch) or not np.issubdtype(images.dtype, np.floating):
            got = (f"{images.dtype} array of shape {images.shape}" if isinstance(images, np.ndarray)
                   else type(images).__name__)
            raise ValueError(f"{type(self).__name__} expects float images (N, {S}, {S}, {Ch}), "
                             f"got {got}")

    def check_codes(self, codes: np.ndarray) -> None:
        P, V = self.num_tokens, self.vocab_size
        if not isinstance(codes, np.ndarray) or not np.issubdtype(codes.dtype, np.integer) \
                or codes.ndim != 2 or codes.shape[1] != P:
            got = (f"{codes.dtype} array of shape {codes.shape}" if isinstance(codes, np.ndarray)
                   else type(codes).__name__)
            raise ValueError(f"{type(self).__name__} expects integer codes (N, P={P}), got {got}")
        if codes.size and (codes.min() < 0 or codes.max() >= V):
            bad = codes[(codes < 0) | (codes >= V)].flat[0]
            raise ValueError(f"codes hold {bad}, outside the codebook [0, {V})")

    def encode(self, images: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, codes: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """decode(encode(images)): what survives the round trip, (N, H, W, Ch)."""
        return self.decode(self.encode(images))

    # ---- saving and loading: one .npz with a JSON "meta" entry and the arrays -------------------
    def _arrays(self) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "type": self.type_name, "image_size": self.image_size,
                "patch_size": self.patch_size, "channels": self.channels}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the tokenizer to ``path`` (.npz, no pickle), atomically."""
        arrays = dict(self._arrays())
        arrays["meta"] = np.frombuffer(json.dumps(self._meta()).encode("utf-8"), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        atomic_write(path, lambda f: f.write(buffer.getvalue()))
        return Path(path)


class KMeansImageTokenizer(ImageTokenizer):
    """Codebook = k-means centroids of raw p x p patches: ``codebook`` (V, K) in pixel space."""

    type_name = "kmeans"

    def __init__(self, codebook: np.ndarray, image_size: int, patch_size: int, channels: int = 3):
        super().__init__(image_size, patch_size, channels)
        K = patch_size * patch_size * channels
        if not isinstance(codebook, np.ndarray) or codebook.ndim != 2 or codebook.shape[1] != K \
                or not np.issubdtype(codebook.dtype, np.floating):
            shape = codebook.shape if isinstance(codebook, np.ndarray) else type(codebook).__name__
            raise ValueError(f"KMeansImageTokenizer needs a float codebook (V, K={K}), got {shape}")
        self.codebook = codebook.astype(np.float32)

    @classmethod
    def train(cls, images: np.ndarray, vocab_size: int, patch_size: int,
              rng: np.random.Generator, iters: int = 50) -> KMeansImageTokenizer:
        """k-means over every patch of ``images`` (N, H, W, Ch) into ``vocab_size`` centroids."""
        if not isinstance(images, np.ndarray) or images.ndim != 4 \
                or images.shape[1] != images.shape[2]:
            shape = images.shape if isinstance(images, np.ndarray) else type(images).__name__
            raise ValueError(f"KMeansImageTokenizer.train expects square images (N, H, H, Ch), "
                             f"got {shape}")
        N, S, _, Ch = images.shape
        patches = patchify(images.astype(np.float32), patch_size)    # (N, P, K)
        centroids, _ = kmeans(patches.reshape(-1, patches.shape[2]), vocab_size, rng, iters)
        return cls(centroids, S, patch_size, Ch)

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

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"codebook": self.codebook}

    @classmethod
    def _from_arrays(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]
                     ) -> KMeansImageTokenizer:
        return cls(arrays["codebook"], meta["image_size"], meta["patch_size"], meta["channels"])


class VQVAEImageTokenizer(ImageTokenizer):
    """Tokens = the codes of a trained VQ-VAE (``minifm.models.vqvae.VQVAE``)."""

    type_name = "vqvae"

    def __init__(self, model: VQVAE):
        cfg = model.config
        super().__init__(cfg.image_size, cfg.patch_size, cfg.channels)
        self.model = model

    @classmethod
    def train(cls, images: np.ndarray, config: VQVAEConfig, train_config: TrainConfig, *,
              val_images: np.ndarray | None = None, restart_every: int = 100,
              quiet: bool = True) -> tuple[VQVAEImageTokenizer, dict[str, Any]]:
        """Train a VQ-VAE on ``images`` (N, H, W, Ch) with ``minifm.trainer.Trainer``.

        The codebook starts at k-means centroids of the untrained encoder's outputs, and every
        ``restart_every`` steps during the first 80 % of training the codes no patch of a batch
        uses move onto that batch's worst-fitted latents (``VQVAE.restart_unused_codes``): both
        keep the whole codebook in use. Batches are drawn from ``images``; validation uses
        ``val_images`` (default: the same images). Returns the tokenizer and the trainer's
        metrics.
        """
        rng = np.random.default_rng([train_config.seed, 3])
        model = VQVAE(config, rng=rng)
        images = images.astype(model.dtype)
        sample = images[rng.choice(len(images), min(len(images), 1024), replace=False)]
        z = model.encode_latents(sample)                                   # (n, P, E)
        model.set_codebook(kmeans(z.reshape(-1, config.latent_dim), config.codebook_size,
                                  rng)[0])
        data = ImageBatches(images, images if val_images is None else val_images)
        trainer = Trainer(model, data, train_config, quiet=quiet)
        last_restart = int(0.8 * train_config.steps)
        for step in range(restart_every, last_restart + 1, restart_every):
            trainer.run(until_step=step)
            model.restart_unused_codes(data.get_batch("train", 256, rng)[0], rng)
        metrics = trainer.run()
        return cls(model), metrics

    @property
    def vocab_size(self) -> int:
        return self.model.config.codebook_size

    def encode(self, images: np.ndarray) -> np.ndarray:
        """images (N, H, W, Ch) -> codes (N, P) int64."""
        self.check_images(images)
        return self.model.encode(images.astype(self.model.dtype))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """codes (N, P) -> images (N, H, W, Ch) in [0, 1]."""
        self.check_codes(codes)
        return self.model.decode(codes).astype(np.float32)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {f"param/{name}": a for name, a in self.model.state_dict().items()}

    def _meta(self) -> dict[str, Any]:
        return {**super()._meta(), "config": dataclasses.asdict(self.model.config)}

    @classmethod
    def _from_arrays(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]
                     ) -> VQVAEImageTokenizer:
        params = {k.removeprefix("param/"): a for k, a in arrays.items()}
        model = VQVAE(VQVAEConfig(**meta["config"]), rng=np.random.default_rng(0),
                      dtype=params["codebook"].dtype)
        model.load_state_dict(params)
        return cls(model)


IMAGE_TOKENIZERS: dict[str, type[ImageTokenizer]] = {
    cls.type_name: cls for cls in (KMeansImageTokenizer, VQVAEImageTokenizer)}


def load_image_tokenizer(path: str | os.PathLike) -> ImageTokenizer:
    """Read a tokenizer written by ``ImageTokenizer.save``, whatever its type."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image tokenizer not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (KeyError, ValueError, OSError, AttributeError) as e:
        raise ValueError(f"{path} is not an image tokenizer file: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT \
            or meta.get("type") not in IMAGE_TOKENIZERS:
        raise ValueError(f"{path} is not a minifm image tokenizer (meta: {meta!r:.120})")
    return IMAGE_TOKENIZERS[meta["type"]]._from_arrays(meta, arrays)
