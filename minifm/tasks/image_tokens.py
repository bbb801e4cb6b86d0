"""Fitting image tokenizers and measuring them: k-means over patches, or a VQ-VAE trained with code
restarts; then how well the codes reconstruct images the shapes world's judge can read.

Lesson: lessons/11_images_as_tokens.md.

The tokenizers themselves (``minifm.tokenizers.image``) only encode, decode and store; what they
are fitted with lives here, because fitting a VQ-VAE is a training run:

    tok = fit_image_tokenizer("kmeans", ShapesWorld(), vocab_size=128, patch_size=2)
    report = tokenizer_report(tok, ShapesWorld())      # mse, judge agreement, codes used

Dimensions: N vectors or images, D vector width, k clusters, H = W image side, p patch side,
P patches per image, K = p * p * 3 numbers per patch, V codebook size.

k-means (Lloyd 1982; seeding: Arthur & Vassilvitskii 2007, "k-means++") alternates two steps
until no assignment changes: assign each vector to its nearest centroid (``nearest_code``), then
move each centroid to the mean of its vectors. A centroid left with no vectors moves to the vector
farthest from its own centroid.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from minifm.data.shapes import ShapesWorld
from minifm.functional.patches import patchify
from minifm.functional.vector_quantize import nearest_code
from minifm.models.vqvae import VQVAE, VQVAEConfig
from minifm.tokenizers.image import ImageTokenizer, KMeansImageTokenizer, VQVAEImageTokenizer
from minifm.training.seeds import stream
from minifm.training.trainer import TrainConfig, Trainer
from minifm.validation import check_batch_request, check_finite, check_rng

IMAGE_TOKENIZERS = ("kmeans", "vqvae")
VQVAE_DEFAULTS = TrainConfig(steps=3000, batch_size=64, lr=1e-2, min_lr=1e-3, warmup_steps=50,
                             eval_interval=3000, eval_batches=4, weight_decay=0.0)


# ---- k-means ------------------------------------------------------------------------------------
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
    check_rng(rng)
    check_finite(x, "kmeans input x")
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


def fit_kmeans_tokenizer(images: np.ndarray, vocab_size: int, patch_size: int,
                         rng: np.random.Generator, iters: int = 50) -> KMeansImageTokenizer:
    """k-means over every patch of ``images`` (N, H, W, Ch) into ``vocab_size`` centroids."""
    if not isinstance(images, np.ndarray) or images.ndim != 4 \
            or images.shape[1] != images.shape[2]:
        shape = images.shape if isinstance(images, np.ndarray) else type(images).__name__
        raise ValueError(f"fit_kmeans_tokenizer expects square images (N, H, H, Ch), got {shape}")
    N, S, _, Ch = images.shape
    patches = patchify(images.astype(np.float32), patch_size)    # (N, P, K)
    centroids, _ = kmeans(patches.reshape(-1, patches.shape[2]), vocab_size, rng, iters)
    return KMeansImageTokenizer(centroids, S, patch_size, Ch)


# ---- the VQ-VAE ---------------------------------------------------------------------------------
class ImageBatches:
    """Random batches ``(images,)`` from fixed arrays, for training a VQ-VAE with the Trainer."""

    def __init__(self, train: np.ndarray, val: np.ndarray):
        self.splits = {"train": train, "val": val}

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray]:
        if split not in self.splits:
            raise ValueError(f"split must be one of {tuple(self.splits)}, got {split!r}")
        check_batch_request(batch_size, rng)
        images = self.splits[split]
        return (images[rng.integers(len(images), size=batch_size)],)   # (B, H, W, Ch)


def vqvae_tokenizer(model: VQVAE) -> VQVAEImageTokenizer:
    """The tokenizer of a (trained) VQ-VAE: a copy of its weights."""
    cfg = model.config
    return VQVAEImageTokenizer(model.state_dict(), cfg.image_size, cfg.patch_size, cfg.channels)


def fit_vqvae_tokenizer(images: np.ndarray, config: VQVAEConfig, train_config: TrainConfig, *,
                        val_images: np.ndarray | None = None, restart_every: int = 100,
                        quiet: bool = True) -> tuple[VQVAEImageTokenizer, dict[str, Any]]:
    """Train a VQ-VAE on ``images`` (N, H, W, Ch) with ``minifm.training.trainer.Trainer``.

    The codebook starts at k-means centroids of the untrained encoder's outputs, and every
    ``restart_every`` steps during the first 80 % of training the codes no patch of a batch
    uses move onto that batch's worst-fitted latents (``VQVAE.restart_unused_codes``): both
    keep the whole codebook in use. Batches are drawn from ``images``; validation uses
    ``val_images`` (default: the same images). Returns the tokenizer and the trainer's
    metrics.
    """
    rng = stream(train_config.seed, "vqvae_init")
    model = VQVAE(config, rng=rng)
    images = images.astype(model.dtype)
    sample = images[rng.choice(len(images), min(len(images), 1024), replace=False)]
    z = model.encode_latents(sample)                                   # (n, P, E)
    model.set_codebook(kmeans(z.reshape(-1, config.latent_dim), config.codebook_size, rng)[0])
    data = ImageBatches(images, images if val_images is None else val_images)
    trainer = Trainer(model, data, train_config, quiet=quiet)
    last_restart = int(0.8 * train_config.steps)
    for step in range(restart_every, last_restart + 1, restart_every):
        trainer.run(until_step=step)
        model.restart_unused_codes(data.get_batch("train", 256, rng)[0], rng)
    metrics = trainer.run()
    return vqvae_tokenizer(model), metrics


# ---- one entry point, and the report ------------------------------------------------------------
def fit_image_tokenizer(kind: str, world: ShapesWorld, *, vocab_size: int = 128,
                        patch_size: int = 2, n_images: int = 2000, seed: int = 0,
                        vqvae_config: TrainConfig = VQVAE_DEFAULTS) -> ImageTokenizer:
    """Fit an image tokenizer on ``n_images`` training images: ``kmeans`` or ``vqvae``."""
    if kind not in IMAGE_TOKENIZERS:
        raise ValueError(f"unknown image tokenizer {kind!r}; choose one of "
                         f"{', '.join(IMAGE_TOKENIZERS)}")
    rng = stream(seed, "image_tokenizer_fit")
    images = world.sample(n_images, rng, "train").images
    if kind == "kmeans":
        return fit_kmeans_tokenizer(images, vocab_size, patch_size, rng)
    config = VQVAEConfig(image_size=world.config.image_size, patch_size=patch_size,
                         codebook_size=vocab_size)
    val = world.sample(256, rng, "train").images
    return fit_vqvae_tokenizer(images, config, dataclasses.replace(vqvae_config, seed=seed),
                               val_images=val)[0]


def tokenizer_report(tokenizer: ImageTokenizer, world: ShapesWorld, n_images: int = 1000,
                     seed: int = 0) -> dict[str, Any]:
    """Reconstruction quality on ``n_images`` fresh images of the seen and of the unseen pairs.

    Per split: ``mse`` per pixel and channel, and ``judge_agreement``, the share of images whose
    reconstruction the judge reads as the same (colour, shape) as the original. Over both:
    ``codes_used`` and ``perplexity`` (exp of the entropy of the code frequencies: the number of
    equally used codes the usage is worth).
    """
    rng = stream(seed, "image_tokenizer_report")
    report: dict[str, Any] = {"kind": tokenizer.type_name, "vocab_size": tokenizer.vocab_size,
                              "tokens_per_image": tokenizer.num_tokens, "images": n_images}
    counts = np.zeros(tokenizer.vocab_size)
    for split in ("seen", "unseen"):
        images = world.sample(n_images, rng, split).images
        codes = tokenizer.encode(images)
        recon = tokenizer.decode(codes)
        colour, shape = world.judge(images)
        colour_r, shape_r = world.judge(recon)
        report[split] = {"mse": float(np.mean((recon - images) ** 2)),
                         "judge_agreement": float(np.mean((colour == colour_r)
                                                          & (shape == shape_r)))}
        counts += np.bincount(codes.ravel(), minlength=tokenizer.vocab_size)
    freq = counts[counts > 0] / counts.sum()
    report["codes_used"] = int((counts > 0).sum())
    report["perplexity"] = float(np.exp(-(freq * np.log(freq)).sum()))
    return report


def format_tokenizer_report(report: dict[str, Any]) -> str:
    """The tokenizer report as one readable line."""
    return (f"{report['kind']} image tokenizer, {report['tokens_per_image']} tokens of "
            f"{report['vocab_size']} codes: reconstruction mse {report['seen']['mse']:.4f} "
            f"(unseen pairs {report['unseen']['mse']:.4f}), the judge agrees on "
            f"{report['seen']['judge_agreement']:.1%} (unseen pairs "
            f"{report['unseen']['judge_agreement']:.1%}); {report['codes_used']} codes used, "
            f"perplexity {report['perplexity']:.1f}")
