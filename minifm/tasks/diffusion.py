"""DALL-E 2 on the shapes world (Ramesh et al. 2022, unCLIP): a diffusion decoder conditioned on
the frozen CLIP image embedding, a prior from the CLIP text embedding to an image embedding, and
the caption -> prior -> decoder -> image pipeline, judged like the token model.

Lesson: lessons/14_dalle2_diffusion.md.

    clip, captions = load_clip_run("out/clip")                         (minifm.tasks.clip)
    pools = build_pools(clip, captions, seed)          # images and captions, CLIP-embedded once
    decoder = decoder_trainer(clip, pools)                     # a Trainer over DecoderData
    run, metrics = train_decoder_and_prior(decoder, clip, captions, pools)   # then the prior
    # (its parts: decoder.run(); prior_trainer("diffusion", clip, pools).run(); DiffusionRun)
    images = draw(run, ["a red circle"], 8, rng=rng)                   # (1, 8, H, W, 3)
    result = evaluate(run, reranker=Reranker(clip, captions))

A run folder of ``minifm train diffusion`` holds ``checkpoint.npz`` (the decoder, family
"diffusion"), ``prior/checkpoint.npz`` (family "diffusion-prior" or "regression-prior") and
``clip.npz``, a copy of the CLIP checkpoint it was trained on, so the folder alone draws.

What each model sees. The decoder trains on images x_0 (as [-1, 1]) of the "train" split (a pool
of 8,000, each batch drawn from it with fresh noise) with cond = the CLIP image embedding of x_0 (DALL-E 2 §2.1); the prior trains on
(caption, image) pairs of that split, from the caption's text embedding to the image's. CLIP is
frozen throughout. Embeddings are unit vectors; the prior works on them times sqrt(E) (components
of unit variance, the scale of the noise) and its outputs are normalised back to unit length,
where CLIP's image embeddings live, before the decoder reads them.

Measured (3 seeds, each its own `train clip` run and seed; decoder 3000 steps of 32 images, about
2 minutes of one core; priors 3000 steps of 64 pairs; 10 picks x 4 candidates per prompt, DDIM
25 steps, guidance 3): judged right without reranking, seen pairs 95.6 % (95.0-96.6) and
held-out pairs 96.4 % (93.3-100) with the diffusion prior, against 92.5 % (86.7-100) and 88.9 %
(66.7-100) with the regression prior; colour is 100 % throughout, every miss is a shape (mostly
rings drawn as circles). The regression prior gives one embedding per caption, the mean, so a
prompt is drawn right every time or never (seed 3: "a blue circle" and "a yellow cross" never);
the diffusion prior's misses are spread thin. Guidance w = 0, 1, 2, 3, 5 (diffusion prior,
8 samples): held-out 0, 88.2, 95.8, 95.1, 82.6 %. A noise-predicting decoder instead
(``DiffusionConfig.target="eps"``, 6000 steps, regression prior) drew only 30 % (seen) and 22 %
(held-out) right: the shape was lost at high noise.

Dimensions: B batch, M prompts, N drawings per prompt, E embedding width, H = W image side.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from minifm.data.shapes_captions import ShapesCaptionData
from minifm.models.clip import CLIP
from minifm.models.diffusion import DiffusionConfig, DiffusionTransformer
from minifm.models.diffusion_prior import (DiffusionPrior, DiffusionPriorConfig,
                                           RegressionPrior, RegressionPriorConfig)
from minifm.models.diffusion_sampling import SAMPLERS, check_guidance, ddim_timesteps, sample
from minifm.tasks.clip import embed_images, embed_texts, load_clip_run
from minifm.tasks.dalle import Reranker, check_captions, format_judged, judge_prompts
from minifm.training.checkpoint import (CheckpointError, load_checkpoint,
                                        resolve_checkpoint_path)
from minifm.training.seeds import stream
from minifm.training.trainer import Throughput, TrainConfig, Trainer

DECODER_DEFAULTS = TrainConfig(steps=3000, batch_size=32, lr=2e-3, min_lr=1e-4,
                               warmup_steps=100, eval_interval=500, eval_batches=4)
PRIOR_DEFAULTS = TrainConfig(steps=3000, batch_size=64, lr=1e-3, min_lr=1e-4, warmup_steps=100,
                             eval_interval=500, eval_batches=4)
# The decoder's speed counts images (a batch's first array is x0 (B, H, W, 3)), the prior's pairs.
DECODER_THROUGHPUT = Throughput("images/s", lambda batch: len(batch[0]))
PRIOR_THROUGHPUT = Throughput("pairs/s", lambda batch: len(batch[0]))
PRIORS = ("diffusion", "regression")
PRIOR_FAMILIES = {"diffusion": "diffusion-prior", "regression": "regression-prior"}
CLIP_COPY = "clip.npz"
PRIOR_DIR = "prior"
Prior = DiffusionPrior | RegressionPrior


# ---- the models ---------------------------------------------------------------------------------
def check_prior_kind(kind: str) -> None:
    if kind not in PRIORS:
        raise ValueError(f"unknown prior {kind!r}; choose one of {', '.join(PRIORS)}")


def new_decoder(clip: CLIP, seed: int, **sizes: Any) -> DiffusionTransformer:
    """A decoder for CLIP's images and embedding width (initial weights: stream "decoder_init");
    ``sizes`` replace DiffusionConfig's defaults (None: keep)."""
    cfg = clip.config
    sizes = {"target": "x0", **{k: v for k, v in sizes.items() if v is not None}}
    config = DiffusionConfig(image_size=cfg.image_size, channels=cfg.channels,
                             cond_dim=cfg.embed_dim, **sizes)
    return DiffusionTransformer(config, rng=stream(seed, "decoder_init"))


def new_prior(kind: str, clip: CLIP, seed: int) -> Prior:
    """A "diffusion" or "regression" prior for CLIP's embedding width (stream "prior_init")."""
    check_prior_kind(kind)
    E, rng = clip.config.embed_dim, stream(seed, "prior_init")
    if kind == "diffusion":
        return DiffusionPrior(DiffusionPriorConfig(embed_dim=E), rng=rng)
    return RegressionPrior(RegressionPriorConfig(embed_dim=E), rng=rng)


def _noise_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator for one batch's noise, seeded from the batch generator (so a resumed run
    draws the same noise)."""
    return np.random.default_rng(rng.integers(2 ** 63))


# ---- the training data ----------------------------------------------------------------------------
@dataclass(frozen=True)
class EmbeddingPool:
    """N captioned images of one split with their frozen CLIP embeddings, computed once (CLIP's
    forward costs more than a decoder step, so batches are drawn from a pool rather than
    rendered and embedded afresh).

    images (N, H, W, 3) in [0, 1]; image_emb, text_emb (N, E), unit length; caption i is image
    i's (any of the shapes world's templates)."""

    images: np.ndarray
    image_emb: np.ndarray
    text_emb: np.ndarray

    @classmethod
    def build(cls, clip: CLIP, captions: ShapesCaptionData, n: int, split: str,
              rng: np.random.Generator) -> EmbeddingPool:
        sample = captions.world.sample(n, rng, split)
        unique = sorted(set(sample.captions))                 # a few hundred distinct captions
        table = embed_texts(clip, captions, unique)                                # (U, E)
        index = {c: i for i, c in enumerate(unique)}
        text = table[[index[c] for c in sample.captions]]                          # (N, E)
        return cls(sample.images, embed_images(clip, sample.images), text)


def build_pools(clip: CLIP, captions: ShapesCaptionData, seed: int, n_train: int = 8000,
                n_val: int = 512) -> dict[str, EmbeddingPool]:
    """The "train" pool (train split) and the "val" pool (fresh images of the seen pairs), from
    the run seed's "diffusion_pool" stream."""
    rng = stream(seed, "diffusion_pool")
    return {"train": EmbeddingPool.build(clip, captions, n_train, "train", rng),
            "val": EmbeddingPool.build(clip, captions, n_val, "seen", rng)}


def _pool(pools: dict[str, EmbeddingPool], split: str) -> EmbeddingPool:
    if split not in pools:
        raise ValueError(f"split must be one of {', '.join(pools)}, got {split!r}")
    return pools[split]


class DecoderData:
    """``get_batch(split, B, rng) -> (x0 (B, H, W, 3) in [-1, 1], cond (B, E), noise rng)``:
    pool images of the split and their CLIP image embeddings."""

    def __init__(self, pools: dict[str, EmbeddingPool]):
        self.pools = pools

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
        pool = _pool(self.pools, split)
        i = rng.integers(len(pool.images), size=batch_size)                      # (B,)
        return 2 * pool.images[i] - 1, pool.image_emb[i], _noise_rng(rng)


class PriorData:
    """(caption, image) pool pairs as CLIP embeddings times sqrt(E), (B, E) each: for a
    "regression" prior ``(text, image)``, for a "diffusion" prior ``(image, text, noise rng)``."""

    def __init__(self, kind: str, pools: dict[str, EmbeddingPool]):
        check_prior_kind(kind)
        self.kind, self.pools = kind, pools
        self.scale = math.sqrt(pools["train"].image_emb.shape[1])

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator) -> tuple:
        pool = _pool(self.pools, split)
        i = rng.integers(len(pool.images), size=batch_size)                      # (B,)
        image, text = pool.image_emb[i] * self.scale, pool.text_emb[i] * self.scale
        if self.kind == "regression":
            return text, image
        return image, text, _noise_rng(rng)


def decoder_trainer(clip: CLIP, pools: dict[str, EmbeddingPool],
                    config: TrainConfig = DECODER_DEFAULTS, *, out: str | Path | None = None,
                    quiet: bool = True, **sizes: Any) -> Trainer:
    """The Trainer of a new decoder (checkpoints in ``out`` as family "diffusion")."""
    return Trainer(new_decoder(clip, config.seed, **sizes), DecoderData(pools), config,
                   out_dir=out, family=None if out is None else "diffusion", quiet=quiet,
                   throughput=DECODER_THROUGHPUT)


def prior_trainer(kind: str, clip: CLIP, pools: dict[str, EmbeddingPool],
                  config: TrainConfig = PRIOR_DEFAULTS, *, out: str | Path | None = None,
                  quiet: bool = True) -> Trainer:
    """The Trainer of a new prior (checkpoints in ``out`` as its PRIOR_FAMILIES family)."""
    return Trainer(new_prior(kind, clip, config.seed), PriorData(kind, pools), config,
                   out_dir=out, family=None if out is None else PRIOR_FAMILIES[kind],
                   quiet=quiet, throughput=PRIOR_THROUGHPUT)


# ---- a trained run ------------------------------------------------------------------------------
@dataclass
class DiffusionRun:
    """Everything caption -> image needs: the decoder, a prior, and the frozen CLIP."""

    decoder: DiffusionTransformer
    prior: Prior
    clip: CLIP
    captions: ShapesCaptionData

    @property
    def prior_kind(self) -> str:
        return "diffusion" if isinstance(self.prior, DiffusionPrior) else "regression"


def check_clip_fits(clip: CLIP, image_size: int = 16) -> None:
    """The decoder draws the shapes world's images: CLIP must have been trained on that size."""
    if clip.config.image_size != image_size or clip.config.channels != 3:
        raise ValueError(f"the CLIP run sees {clip.config.image_size} x "
                         f"{clip.config.image_size} x {clip.config.channels} images; the "
                         f"decoder draws {image_size} x {image_size} x 3 shapes-world images")


def copy_clip(clip_path: str | Path, out: str | Path) -> Path:
    """Copy a ``train clip`` checkpoint into a diffusion run folder (after checking its kind)."""
    ckpt = load_checkpoint(clip_path, family="clip")
    Path(out).mkdir(parents=True, exist_ok=True)
    target = Path(out) / CLIP_COPY
    shutil.copyfile(ckpt.path, target)
    return target


def load_diffusion_run(path: str | Path) -> DiffusionRun:
    """A ``train diffusion`` folder: decoder, prior and the CLIP copy."""
    path = Path(path)
    decoder_ckpt = load_checkpoint(path, family="diffusion")
    folder = decoder_ckpt.path.parent
    prior_path = folder / PRIOR_DIR
    prior_ckpt = load_checkpoint(prior_path)
    if prior_ckpt.family not in PRIOR_FAMILIES.values():
        raise CheckpointError(f"checkpoint {prior_ckpt.path} holds a {prior_ckpt.family!r} "
                              f"model, not a prior")
    clip, captions = load_clip_run(folder / CLIP_COPY)
    return DiffusionRun(decoder_ckpt.build_model(), prior_ckpt.build_model(), clip, captions)


# ---- training a run -----------------------------------------------------------------------------
def train_decoder_and_prior(decoder: Trainer, clip: CLIP, captions: ShapesCaptionData,
                            pools: dict[str, EmbeddingPool], *, prior: str = "diffusion",
                            prior_config: TrainConfig = PRIOR_DEFAULTS,
                            keep_finished_prior: bool = False
                            ) -> tuple[DiffusionRun | None, dict[str, Any]]:
    """DALL-E 2's training over a frozen CLIP, as ``minifm train diffusion`` and the tour run it:
    the decoder's Trainer (new, from ``decoder_trainer``, or resumed), then a new ``prior`` on
    the same pools, checkpointed in ``decoder.out_dir / PRIOR_DIR`` when the decoder has a
    folder. With ``keep_finished_prior`` (a resumed run) a prior of that kind already there
    that has taken ``prior_config.steps`` steps is kept instead of trained again.

    Returns the run (None if a training stopped early: its loss was not finite) and the
    decoder's metrics with ``"prior": {"kind": prior, "steps": prior_config.steps}``.
    """
    check_prior_kind(prior)
    metrics = decoder.run()
    metrics["prior"] = {"kind": prior, "steps": prior_config.steps}
    if metrics["stopped_early"]:
        return None, metrics
    folder = None if decoder.out_dir is None else decoder.out_dir / PRIOR_DIR
    if keep_finished_prior and folder is not None and resolve_checkpoint_path(folder).is_file():
        ckpt = load_checkpoint(folder)
        if ckpt.family == PRIOR_FAMILIES[prior] and ckpt.step >= prior_config.steps:
            return DiffusionRun(decoder.model, ckpt.build_model(), clip, captions), metrics
    trainer = prior_trainer(prior, clip, pools, prior_config, out=folder, quiet=decoder.quiet)
    if not decoder.quiet:
        print(f"training a {prior} prior of {trainer.model.num_parameters():,} parameters",
              flush=True)
    if trainer.run()["stopped_early"]:
        return None, metrics
    return DiffusionRun(decoder.model, trainer.model, clip, captions), metrics


# ---- caption -> prior -> decoder -> image --------------------------------------------------------
def _unit(z: np.ndarray) -> np.ndarray:
    return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)


def prior_embeddings(run: DiffusionRun, text: np.ndarray, rng: np.random.Generator, *,
                     guidance: float = 1.0, steps: int = 50) -> np.ndarray:
    """Image embeddings (B, E), unit length, for unit text embeddings (B, E)."""
    scale = math.sqrt(run.clip.config.embed_dim)
    with run.prior.evaluating():
        if isinstance(run.prior, RegressionPrior):
            z = run.prior.predict(text * scale)
        else:
            z = sample(run.prior, text * scale, rng, steps=steps, guidance=guidance, clip=False)
    return _unit(z)


def decode(run: DiffusionRun, image_embeddings: np.ndarray, rng: np.random.Generator, *,
           guidance: float = 3.0, sampler: str = "ddim", steps: int | None = 50,
           x_T: np.ndarray | None = None, trajectory: list | None = None) -> np.ndarray:
    """Images (B, H, W, 3) in [0, 1] from image embeddings (B, E)."""
    if sampler == "ddpm":
        steps = None
    x = sample(run.decoder, image_embeddings.astype(run.decoder.dtype), rng, sampler=sampler,
               steps=steps, guidance=guidance, x_T=x_T, trajectory=trajectory)
    return np.clip((x + 1) / 2, 0.0, 1.0)


def check_sampling(guidance: float, sampler: str, steps: int | None, num_steps: int) -> None:
    """Refuse a negative guidance, an unknown sampler and a step count outside [1, S]."""
    check_guidance(guidance)
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                              or not 1 <= steps <= num_steps):
        raise ValueError(f"steps must be an int in [1, {num_steps}], got {steps!r}")


def draw(run: DiffusionRun, captions: Sequence[str], n: int, *, rng: np.random.Generator,
         guidance: float = 3.0, sampler: str = "ddim", steps: int | None = 50,
         prior_guidance: float = 1.0) -> np.ndarray:
    """n drawings of each caption: images (M, n, H, W, 3) in [0, 1] (``steps`` is for DDIM;
    DDPM runs every step)."""
    steps = None if sampler == "ddpm" else steps
    check_sampling(guidance, sampler, steps, run.decoder.config.num_steps)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of samples must be a positive int, got {n!r}")
    check_captions(run.captions, captions)                  # CLIP's words, CLIP's length
    text = np.repeat(embed_texts(run.clip, run.captions, list(captions)), n, axis=0)  # (M n, E)
    z = prior_embeddings(run, text, rng, guidance=prior_guidance)
    images = decode(run, z, rng, guidance=guidance, sampler=sampler, steps=steps)
    return images.reshape(len(captions), n, *images.shape[1:])


def evaluate(run: DiffusionRun, *, reranker: Reranker | None = None, samples: int = 10,
             candidates: int = 8, guidance: float = 3.0, steps: int = 25, seed: int = 0
             ) -> dict[str, Any]:
    """The token model's evaluation (``minifm.tasks.dalle.judge_prompts``) of this pipeline."""
    def drawer(prompts: list[str], n: int, rng: np.random.Generator) -> np.ndarray:
        return draw(run, prompts, n, rng=rng, guidance=guidance, steps=steps)

    result = judge_prompts(run.captions.world, drawer, reranker=reranker, samples=samples,
                           candidates=candidates, seed=seed)
    result.update({"guidance": guidance, "steps": steps, "prior": run.prior_kind})
    return result


def guidance_sweep(run: DiffusionRun, scales: Sequence[float] = (1.0, 2.0, 3.0, 5.0), *,
                   samples: int = 8, steps: int = 25, seed: int = 0) -> dict[str, Any]:
    """``evaluate`` (no reranking, one candidate) at each guidance scale."""
    return {"scales": list(scales),
            "results": [evaluate(run, samples=samples, candidates=1, guidance=w, steps=steps,
                                 seed=seed) for w in scales]}


def format_evaluation(result: dict[str, Any]) -> str:
    """The evaluation as a few readable lines."""
    lines = format_judged(result)
    lines.append(f"  (chance: {result['chance']['accuracy']:.1%}; {result['prior']} prior, "
                 f"guidance {result['guidance']}, DDIM {result['steps']} steps, "
                 f"{result['samples'] * result['candidates']} samples per prompt)")
    return "\n".join(lines)


# ---- what the pictures show ---------------------------------------------------------------------
def variations(run: DiffusionRun, image: np.ndarray, n: int, rng: np.random.Generator, *,
               guidance: float = 3.0, steps: int = 50) -> np.ndarray:
    """n decodes (n, H, W, 3) of one image's (H, W, 3) CLIP embedding (DALL-E 2 §3.1)."""
    z = np.repeat(embed_images(run.clip, image[None]), n, axis=0)           # (n, E)
    return decode(run, z, rng, guidance=guidance, steps=steps)


def slerp(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Spherical interpolation between unit vectors a, b (E,) at weights (N,) -> (N, E)."""
    omega = math.acos(float(np.clip(a @ b, -1.0, 1.0)))
    w = np.asarray(weights, dtype=np.float64)[:, None]                       # (N, 1)
    if omega < 1e-6:
        return _unit((1 - w) * a + w * b)
    return (np.sin((1 - w) * omega) * a + np.sin(w * omega) * b) / math.sin(omega)


def interpolate(run: DiffusionRun, caption_a: str, caption_b: str, n: int,
                rng: np.random.Generator, *, guidance: float = 3.0, steps: int = 50
                ) -> np.ndarray:
    """n images (n, H, W, 3) along the slerp between two captions' prior embeddings, all from
    the same starting noise (DDIM, eta 0), so only the embedding changes (DALL-E 2 §3.2)."""
    text = embed_texts(run.clip, run.captions, [caption_a, caption_b])        # (2, E)
    z = prior_embeddings(run, text, rng)                                     # (2, E)
    path = slerp(z[0], z[1], np.linspace(0.0, 1.0, n)).astype(run.decoder.dtype)   # (n, E)
    H, Ch = run.decoder.config.image_size, run.decoder.config.channels
    x_T = np.repeat(rng.standard_normal((1, H, H, Ch)), n, axis=0).astype(run.decoder.dtype)
    return decode(run, path, rng, guidance=guidance, steps=steps, x_T=x_T)


def denoising_strip(run: DiffusionRun, caption: str, n: int, rng: np.random.Generator, *,
                    guidance: float = 3.0, steps: int = 20, shown: int = 8
                    ) -> tuple[np.ndarray, np.ndarray]:
    """x_t of n drawings of one caption at ``shown`` evenly spaced points of a DDIM run, from
    the noise x_T to the image: (shown, n, H, W, 3) in [0, 1] (x_t / 2 + 1/2, clipped), and
    the step t of each point (shown,) (-1 for the final image)."""
    check_captions(run.captions, [caption])
    text = np.repeat(embed_texts(run.clip, run.captions, [caption]), n, axis=0)   # (n, E)
    trajectory: list[np.ndarray] = []
    decode(run, prior_embeddings(run, text, rng), rng, guidance=guidance, steps=steps,
           trajectory=trajectory)
    timesteps = np.append(ddim_timesteps(run.decoder.config.num_steps, steps), -1)  # (N + 1,)
    pick = np.round(np.linspace(0, len(trajectory) - 1, shown)).astype(int)
    xs = np.stack([trajectory[i] for i in pick])                        # (shown, n, H, W, 3)
    return np.clip((xs + 1) / 2, 0.0, 1.0), timesteps[pick]
