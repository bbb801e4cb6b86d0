"""Train a DALL-E-like text-to-image model on the shapes world; draw captions; rerank with CLIP.

    minifm train dalle --out out/dalle                              (k-means image tokens)
    minifm train dalle --image-tokenizer vqvae --clip out/clip --out out/dalle
    minifm generate out/dalle --caption "a red circle" --samples 8 --out grid.png
    minifm generate out/dalle --caption "a blue circle" --clip out/clip --candidates 8 --out b.png

``train`` first fits the image tokenizer (k-means over 2 x 2 patches, or a VQ-VAE) and measures
its reconstructions, then trains the transformer on fresh (caption, image codes) batches. It saves
in ``--out``: ``checkpoint.npz`` (the transformer, with the caption tokenizer), ``tokenizer.json``,
``image_tokenizer.npz``, ``metrics.json`` (with "image_tokenizer" and "evaluation" entries),
``loss.png`` and the plots ``reconstructions.png``, ``codebook_usage.png``, ``samples.png``,
``tokens.png`` and, with ``--clip``, ``reranking.png`` and ``reranking_accuracy.png``.

``evaluate`` measures what the lesson quotes: for the class prompt of each (colour, shape) pair
("a red circle"), the 30 seen in training and the 6 held out, the share of generated images that
the shapes world's judge reads as the prompt's colour and shape. Without reranking that is the
share over every sample; with a CLIP, samples come in groups of ``candidates`` and only the one
most similar to the prompt counts (Ramesh et al. 2021 rerank 512 samples per caption this way).

Why 2 x 2 patches (64 tokens per image) rather than 4 x 4 (16 tokens): the codebook is fitted on
training images only, so a code is a patch the training set shows. A 4 x 4 patch holds a piece of
a shape in one colour, and pieces of a green ring never occur in training: 256 such codes
reconstruct held-out pairs so that the judge agrees only 70 % of the time (98 % on seen pairs),
and the transformer cannot draw what its tokens cannot say. A 2 x 2 patch is one colour in one of
16 masks, and every mask occurs in every colour: 6 x 15 + 1 (background) = 91 patterns, which
128 codes hold, so every pair is reconstructed and the model can compose the parts (measured:
10 % of unseen prompts drawn right with 4 x 4 tokens, about 70 % with 2 x 2).

This module also holds the text-to-image stop of ``minifm tour`` (``tour_stop``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from minifm.atomic import atomic_write
from minifm.checkpoint import load_checkpoint
from minifm.cli import output_dir, train_config_from_args
from minifm.data.shapes import COLOURS, SHAPES, ShapesWorld, class_prompt
from minifm.data.shapes_captions import ShapesCaptionData
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.models.clip import CLIP, clip_score
from minifm.models.dalle import DALLE, DalleConfig
from minifm.models.vqvae import VQVAEConfig
from minifm.recipes import clip as clip_recipe
from minifm.recipes.dalle_plots import (plot_caption_grid, plot_codebook_usage,
                                        plot_reconstructions, plot_reranking,
                                        plot_reranking_accuracy, plot_token_grids)
from minifm.tokenizers.image import (ImageTokenizer, KMeansImageTokenizer, VQVAEImageTokenizer,
                                     load_image_tokenizer)
from minifm.tokenizers.word import split_words
from minifm.trainer import TrainConfig, Trainer

TRAIN_DEFAULTS = TrainConfig(steps=1500, batch_size=32, lr=2e-3, min_lr=2e-4, warmup_steps=100,
                             eval_interval=500, eval_batches=4)
VQVAE_DEFAULTS = TrainConfig(steps=3000, batch_size=64, lr=1e-2, min_lr=1e-3, warmup_steps=50,
                             eval_interval=3000, eval_batches=4, weight_decay=0.0)
IMAGE_TOKENIZERS = ("kmeans", "vqvae")
MODEL_FLAGS = ("n_layer", "n_head", "n_embd", "dropout", "text_loss_weight")
IMAGE_TOKENIZER_FILE = "image_tokenizer.npz"
CHANCE = {"accuracy": 1 / (len(COLOURS) * len(SHAPES)), "colour": 1 / len(COLOURS),
          "shape": 1 / len(SHAPES)}


# ---- the image tokenizer -------------------------------------------------------------------------
def build_image_tokenizer(kind: str, world: ShapesWorld, *, vocab_size: int = 128,
                          patch_size: int = 2, n_images: int = 2000, seed: int = 0,
                          vqvae_config: TrainConfig = VQVAE_DEFAULTS) -> ImageTokenizer:
    """Fit an image tokenizer on ``n_images`` training images: ``kmeans`` or ``vqvae``."""
    if kind not in IMAGE_TOKENIZERS:
        raise ValueError(f"unknown image tokenizer {kind!r}; choose one of "
                         f"{', '.join(IMAGE_TOKENIZERS)}")
    rng = np.random.default_rng([seed, 4])
    images = world.sample(n_images, rng, "train").images
    if kind == "kmeans":
        return KMeansImageTokenizer.train(images, vocab_size, patch_size, rng)
    config = VQVAEConfig(image_size=world.config.image_size, patch_size=patch_size,
                         codebook_size=vocab_size)
    val = world.sample(256, rng, "train").images
    return VQVAEImageTokenizer.train(images, config, dataclasses.replace(vqvae_config, seed=seed),
                                     val_images=val)[0]


def tokenizer_report(tokenizer: ImageTokenizer, world: ShapesWorld, n_images: int = 1000,
                     seed: int = 0) -> dict[str, Any]:
    """Reconstruction quality on ``n_images`` fresh images of the seen and of the unseen pairs.

    Per split: ``mse`` per pixel and channel, and ``judge_agreement``, the share of images whose
    reconstruction the judge reads as the same (colour, shape) as the original. Over both:
    ``codes_used`` and ``perplexity`` (exp of the entropy of the code frequencies: the number of
    equally used codes the usage is worth).
    """
    rng = np.random.default_rng([seed, 5])
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


# ---- CLIP as a reranker --------------------------------------------------------------------------
@dataclass
class Reranker:
    """A trained CLIP and the caption encoding it was trained with."""

    model: CLIP
    captions: ShapesCaptionData

    @classmethod
    def load(cls, path: str | Path) -> Reranker:
        """From a ``minifm train clip`` folder or checkpoint file."""
        ckpt = load_checkpoint(path, family="clip")
        return cls(ckpt.build_model(), ShapesCaptionData(tokenizer=ckpt.build_tokenizer()))

    def score(self, images: np.ndarray, captions: Sequence[str]) -> np.ndarray:
        """Cosine similarity (N,) of image i (N, H, W, 3) with caption i."""
        return clip_score(self.model, images.astype(self.model.dtype),
                          self.captions.encode(captions))


# ---- drawing captions ----------------------------------------------------------------------------
def check_captions(data: ShapesTokenData, captions: Sequence[str]) -> None:
    """Raise ValueError for an empty caption, unknown words or a caption longer than the model's."""
    known = set(data.tokenizer.vocab)
    for caption in captions:
        words = split_words(caption)
        if not words:
            raise ValueError("a caption is empty; try e.g. 'a red circle'")
        unknown = [w for w in words if w not in known]
        if unknown:
            raise ValueError(f"caption {caption!r} has words the model never saw: "
                             f"{', '.join(unknown)}; it knows: "
                             f"{', '.join(data.tokenizer.vocab[4:])}")
        if len(words) + 2 > data.context_length:
            raise ValueError(f"caption {caption!r} has {len(words)} words; the model reads at "
                             f"most {data.context_length - 2}")


def draw(model: DALLE, data: ShapesTokenData, captions: Sequence[str], n: int, *,
         temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
         rng: np.random.Generator, use_cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """n samples of each caption: codes (M, n, P) and decoded images (M, n, H, W, 3)."""
    check_captions(data, captions)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of samples must be a positive int, got {n!r}")
    text = np.repeat(data.encode(captions), n, axis=0)                  # (M n, Tt)
    codes = model.generate(text, temperature, top_k, top_p, rng=rng, use_cache=use_cache)
    images = data.image_tokenizer.decode(codes)                         # (M n, H, W, 3)
    M = len(captions)
    return codes.reshape(M, n, -1), images.reshape(M, n, *images.shape[1:])


def judged_correct(world: ShapesWorld, images: np.ndarray, classes: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Whether the judge reads each image as its class: images (M, S, H, W, 3), classes (M, 2)
    (colour, shape) -> colour_ok, shape_ok, each (M, S) bool."""
    M, S = images.shape[:2]
    colour, shape = world.judge(images.reshape(M * S, *images.shape[2:]))
    return (colour.reshape(M, S) == classes[:, :1]), (shape.reshape(M, S) == classes[:, 1:])


def evaluate(model: DALLE, data: ShapesTokenData, *, reranker: Reranker | None = None,
             samples: int = 10, candidates: int = 8, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int = 0
             ) -> dict[str, Any]:
    """Judge-read accuracy of generated images for the class prompts of seen and unseen pairs.

    Each prompt gets ``samples * candidates`` images. ``accuracy`` is the share the judge reads
    as the prompt's colour and shape (``colour``, ``shape``: each on its own); ``per_prompt``
    holds it for every prompt. With a ``reranker``, ``reranked`` is the same for the CLIP-best
    image of each group of ``candidates`` (``samples`` picks per prompt). Everything is drawn
    from ``default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {"samples": samples, "candidates": candidates,
                              "temperature": temperature, "top_k": top_k, "top_p": top_p,
                              "chance": CHANCE}
    for split in ("seen", "unseen"):
        classes = data.world.combos(split)                                  # (M, 2)
        prompts = [class_prompt(c, s) for c, s in classes]
        _, images = draw(model, data, prompts, samples * candidates, temperature=temperature,
                         top_k=top_k, top_p=top_p, rng=rng)                 # (M, S K, H, W, 3)
        colour_ok, shape_ok = judged_correct(data.world, images, classes)
        both = colour_ok & shape_ok
        entry = {"accuracy": float(both.mean()), "colour": float(colour_ok.mean()),
                 "shape": float(shape_ok.mean()),
                 "per_prompt": {p: float(a) for p, a in zip(prompts, both.mean(axis=1))}}
        if reranker is not None:
            M, SK = both.shape
            scores = reranker.score(images.reshape(M * SK, *images.shape[2:]),
                                    [p for p in prompts for _ in range(SK)])
            best = scores.reshape(M, samples, candidates).argmax(axis=2)   # (M, samples)

            def pick(ok: np.ndarray) -> np.ndarray:     # (M, S K) -> (M, S): the CLIP-best
                return np.take_along_axis(ok.reshape(M, samples, candidates),
                                          best[:, :, None], axis=2)[:, :, 0]

            entry["reranked"] = {"accuracy": float(pick(both).mean()),
                                 "colour": float(pick(colour_ok).mean()),
                                 "shape": float(pick(shape_ok).mean()),
                                 "per_prompt": {p: float(a)
                                                for p, a in zip(prompts, pick(both).mean(axis=1))}}
        result[split] = entry
    return result


def format_evaluation(result: dict[str, Any]) -> str:
    """The evaluation as a few readable lines."""
    lines = []
    for split in ("seen", "unseen"):
        e = result[split]
        line = (f"{split:6s} pairs: {e['accuracy']:.1%} of samples drawn right (colour "
                f"{e['colour']:.1%}, shape {e['shape']:.1%})")
        if "reranked" in e:
            line += (f"; CLIP-reranked best of {result['candidates']}: "
                     f"{e['reranked']['accuracy']:.1%}")
        lines.append(line)
    lines.append(f"  (chance: {result['chance']['accuracy']:.1%}; temperature "
                 f"{result['temperature']}, top-k {result['top_k']}, "
                 f"{result['samples'] * result['candidates']} samples per prompt)")
    return "\n".join(lines)


# ---- pictures ------------------------------------------------------------------------------------
def save_plots(model: DALLE, data: ShapesTokenData, out_dir: Path,
               reranker: Reranker | None = None, evaluation: dict[str, Any] | None = None,
               seed: int = 0) -> list[Path]:
    """reconstructions.png, codebook_usage.png, samples.png, tokens.png, and with a reranker
    reranking.png (candidates sorted by CLIP) and, given its ``evaluate`` result,
    reranking_accuracy.png, in out_dir; returns their paths."""
    world, tok = data.world, data.image_tokenizer
    rng = np.random.default_rng([seed, 6])
    originals = world.sample(10, rng, "all").images
    figures = {
        "reconstructions.png": plot_reconstructions(
            originals, tok.reconstruct(originals),
            f"{tok.type_name} image tokenizer: {tok.num_tokens} tokens of {tok.vocab_size} codes"),
        "codebook_usage.png": plot_codebook_usage(
            tok.encode(world.sample(500, rng, "all").images), tok.vocab_size),
    }
    seen = world.combos("seen")[::6]                                        # 5 seen pairs
    classes = np.concatenate([seen, world.combos("unseen")[:3]])
    prompts = [class_prompt(c, s) + (" (unseen)" if i >= len(seen) else "")
               for i, (c, s) in enumerate(classes)]
    captions = [class_prompt(c, s) for c, s in classes]
    codes, images = draw(model, data, captions, 8, rng=rng)
    colour_ok, shape_ok = judged_correct(world, images, classes)
    figures["samples.png"] = plot_caption_grid(images, prompts, correct=colour_ok & shape_ok)
    figures["tokens.png"] = plot_token_grids(codes[:4, 0], tok, captions[:4])
    if reranker is not None:
        unseen = world.combos("unseen")
        captions = [class_prompt(c, s) for c, s in unseen]
        _, images = draw(model, data, captions, 8, rng=rng)
        scores = reranker.score(images.reshape(-1, *images.shape[2:]),
                                [c for c in captions for _ in range(8)]).reshape(len(unseen), 8)
        colour_ok, shape_ok = judged_correct(world, images, unseen)
        figures["reranking.png"] = plot_reranking(images, scores, colour_ok & shape_ok, captions)
        if evaluation is not None:
            figures["reranking_accuracy.png"] = plot_reranking_accuracy(evaluation)
    paths = []
    for name, fig in figures.items():
        fig.savefig(out_dir / name, dpi=100)
        paths.append(out_dir / name)
    return paths


# ---- minifm train dalle --------------------------------------------------------------------------
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minifm train dalle`` (image tokenizer, model size, evaluation)."""
    g = parser.add_argument_group("image tokenizer")
    g.add_argument("--image-tokenizer", choices=IMAGE_TOKENIZERS, default="kmeans",
                   help="k-means over patches, or a VQ-VAE (default kmeans)")
    g.add_argument("--codebook-size", type=int, metavar="N", default=128,
                   help="image codes (default 128)")
    g.add_argument("--patch-size", type=int, metavar="N", default=2,
                   help="patch side in pixels: a 16 x 16 image becomes (16 / p)^2 tokens "
                        "(default 2)")
    g.add_argument("--tokenizer-images", type=int, metavar="N", default=2000,
                   help="training images the tokenizer is fitted on (default 2000)")
    g.add_argument("--vqvae-steps", type=int, metavar="N", default=VQVAE_DEFAULTS.steps,
                   help=f"VQ-VAE training steps (default {VQVAE_DEFAULTS.steps})")
    g = parser.add_argument_group("model")
    defaults = DalleConfig()
    g.add_argument("--n-layer", type=int, metavar="N",
                   help=f"transformer blocks (default {defaults.n_layer})")
    g.add_argument("--n-head", type=int, metavar="N",
                   help=f"attention heads (default {defaults.n_head})")
    g.add_argument("--n-embd", type=int, metavar="N",
                   help=f"model width (default {defaults.n_embd})")
    g.add_argument("--dropout", type=float, metavar="X", help="dropout probability (default 0)")
    g.add_argument("--text-loss-weight", type=float, metavar="X",
                   help=f"weight of the caption's next-word loss (default "
                        f"{defaults.text_loss_weight:.3f})")
    g = parser.add_argument_group("evaluation")
    g.add_argument("--clip", metavar="CLIP_DIR",
                   help="a `train clip` folder: rerank samples by CLIP similarity in the "
                        "evaluation")
    g.add_argument("--eval-samples", type=int, metavar="N", default=10,
                   help="picks per prompt in the evaluation (default 10)")
    g.add_argument("--candidates", type=int, metavar="N", default=8,
                   help="samples per pick; with --clip the CLIP-best one counts (default 8)")


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def train(args: argparse.Namespace) -> int:
    """``minifm train dalle``: fit the image tokenizer, train the transformer, measure."""
    _check_counts(eval_samples=args.eval_samples, candidates=args.candidates,
                  codebook_size=args.codebook_size, tokenizer_images=args.tokenizer_images,
                  vqvae_steps=args.vqvae_steps)
    out = output_dir(args, "out/dalle")
    reranker = Reranker.load(args.clip) if args.clip else None
    world = ShapesWorld()
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in MODEL_FLAGS if getattr(args, k) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} cannot change when resuming: the model comes "
                             "from the checkpoint")
        ckpt = load_checkpoint(args.resume, family="dalle")
        image_tokenizer = load_image_tokenizer(ckpt.path.parent / IMAGE_TOKENIZER_FILE)
        data = ShapesTokenData(image_tokenizer, world, ckpt.build_tokenizer())
        base = TrainConfig(**ckpt.train_config) if ckpt.train_config else TRAIN_DEFAULTS
        trainer = Trainer.from_checkpoint(ckpt.path, data,
                                          config=train_config_from_args(args, base),
                                          family="dalle", out_dir=out, quiet=args.quiet,
                                          metrics_out=args.metrics_out)
    else:
        train_config = train_config_from_args(args, TRAIN_DEFAULTS)
        if not args.quiet:
            print(f"fitting a {args.image_tokenizer} image tokenizer ({args.codebook_size} codes, "
                  f"{args.patch_size} x {args.patch_size} patches) on {args.tokenizer_images} "
                  "images ...", flush=True)
        image_tokenizer = build_image_tokenizer(
            args.image_tokenizer, world, vocab_size=args.codebook_size,
            patch_size=args.patch_size, n_images=args.tokenizer_images, seed=train_config.seed,
            vqvae_config=dataclasses.replace(VQVAE_DEFAULTS, steps=args.vqvae_steps,
                                             eval_interval=args.vqvae_steps))
        data = ShapesTokenData(image_tokenizer, world)
        config = model_config(data, **{k: getattr(args, k) for k in MODEL_FLAGS})
        model = DALLE(config, rng=np.random.default_rng([train_config.seed, 2]))
        trainer = Trainer(model, data, train_config, out_dir=out, tokenizer=data.tokenizer,
                          family="dalle", quiet=args.quiet, metrics_out=args.metrics_out)
    out.mkdir(parents=True, exist_ok=True)
    image_tokenizer.save(out / IMAGE_TOKENIZER_FILE)
    data.tokenizer.save(out / "tokenizer.json")
    report = tokenizer_report(image_tokenizer, world)
    if not args.quiet:
        print(format_tokenizer_report(report))
        print(f"training a DALLE of {trainer.model.num_parameters():,} parameters "
              f"({json.dumps(dataclasses.asdict(trainer.model.config))})", flush=True)
    metrics = trainer.run()
    if metrics["stopped_early"]:
        return 1
    started = time.perf_counter()
    metrics["image_tokenizer"] = report
    metrics["evaluation"] = evaluate(trainer.model, data, reranker=reranker,
                                     samples=args.eval_samples, candidates=args.candidates)
    metrics["evaluation"]["seconds"] = time.perf_counter() - started
    text = json.dumps(metrics, indent=1).encode("utf-8")
    for path in [out / "metrics.json"] + ([Path(args.metrics_out)] if args.metrics_out else []):
        atomic_write(path, lambda f: f.write(text))
    plots = save_plots(trainer.model, data, out, reranker, metrics["evaluation"])
    if not args.quiet:
        print(f"{metrics['steps_done']} steps in {metrics['seconds']:.0f} s: train loss "
              f"{metrics['final_train_loss']:.4f}, val loss {metrics['final_val_loss']:.4f}")
        print(format_evaluation(metrics["evaluation"]))
        print(f"saved to {out}/ (checkpoint.npz, {IMAGE_TOKENIZER_FILE}, tokenizer.json, "
              f"metrics.json, loss.png, {', '.join(p.name for p in plots)})")
    return 0


def model_config(data: ShapesTokenData, **overrides: Any) -> DalleConfig:
    """DalleConfig sized for the data (vocabularies, caption length, image tokens) plus every
    override that is not None."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    tok = data.image_tokenizer
    return DalleConfig(text_vocab_size=data.tokenizer.vocab_size,
                       text_length=data.context_length, image_vocab_size=tok.vocab_size,
                       image_tokens=tok.num_tokens, pad_id=data.tokenizer.pad_id, **changes)


# ---- minifm generate -----------------------------------------------------------------------------
def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="DIR", help="a folder from `train dalle`")
    parser.add_argument("--caption", action="append", required=True, metavar="TEXT",
                        help='what to draw, e.g. "a red circle" (repeatable: one row each)')
    parser.add_argument("--samples", type=int, metavar="N", default=8,
                        help="images per caption (default 8)")
    parser.add_argument("--out", metavar="PNG", help="save the captions x samples grid here")
    parser.add_argument("--temperature", type=float, metavar="X", default=1.0,
                        help="0 = greedy; < 1 sharper, > 1 flatter (default 1)")
    parser.add_argument("--top-k", type=int, metavar="N",
                        help="sample only from the k most likely codes")
    parser.add_argument("--top-p", type=float, metavar="X",
                        help="sample only from the smallest set of codes with probability >= p")
    parser.add_argument("--clip", metavar="CLIP_DIR",
                        help="a `train clip` folder: rerank by CLIP similarity to the caption")
    parser.add_argument("--candidates", type=int, metavar="N", default=1,
                        help="with --clip: draw this many per image and keep the CLIP-best")
    parser.add_argument("--seed", type=int, metavar="N", default=0,
                        help="seed of the sampling generator")
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute the whole prefix each step (no KV cache)")


def load_dalle(path: str | Path) -> tuple[DALLE, ShapesTokenData]:
    """The model and its data encoding from a ``train dalle`` folder (or its checkpoint file)."""
    ckpt = load_checkpoint(path, family="dalle")
    image_tokenizer = load_image_tokenizer(ckpt.path.parent / IMAGE_TOKENIZER_FILE)
    return ckpt.build_model(), ShapesTokenData(image_tokenizer, tokenizer=ckpt.build_tokenizer())


def generate(args: argparse.Namespace) -> int:
    """Draw images for captions with a trained text-to-image model (optionally CLIP-reranked)."""
    _check_counts(samples=args.samples, candidates=args.candidates)
    if args.candidates > 1 and not args.clip:
        raise ValueError("--candidates > 1 reranks by CLIP similarity: give --clip CLIP_DIR")
    model, data = load_dalle(args.checkpoint)
    check_captions(data, args.caption)
    reranker = Reranker.load(args.clip) if args.clip else None
    K, S = args.candidates, args.samples
    _, images = draw(model, data, args.caption, S * K, temperature=args.temperature,
                     top_k=args.top_k, top_p=args.top_p, rng=np.random.default_rng(args.seed),
                     use_cache=not args.no_cache)                        # (M, S K, H, W, 3)
    M = len(args.caption)
    scores = None
    if reranker is not None:
        scores = reranker.score(images.reshape(M * S * K, *images.shape[2:]),
                                [c for c in args.caption for _ in range(S * K)])
        scores = scores.reshape(M, S, K)
        best = scores.argmax(axis=2)                                     # (M, S)
        images = np.take_along_axis(images.reshape(M, S, K, *images.shape[2:]),
                                    best[:, :, None, None, None, None], axis=2)[:, :, 0]
        scores = np.take_along_axis(scores, best[:, :, None], axis=2)[:, :, 0]
    colour, shape = data.world.judge(images.reshape(M * S, *images.shape[2:]))
    titles = []
    for m, caption in enumerate(args.caption):
        row = []
        for s in range(S):
            c, sh = colour[m * S + s], shape[m * S + s]
            read = "nothing" if c < 0 else f"{COLOURS[c]} {SHAPES[sh]}"
            row.append(read + ("" if scores is None else f" ({scores[m, s]:.2f})"))
        titles.append(row)
        print(f"{caption!r}: the judge reads " + "; ".join(row))
    if args.out:
        plot_caption_grid(images, args.caption, titles).savefig(args.out, dpi=100)
        print(f"saved {args.out}")
    return 0


COMMANDS = {"generate": (add_generate_arguments, generate)}


# ---- the tour's text-to-image stop ---------------------------------------------------------------
def tour_stop(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Tokenize images, train a small text-to-image transformer, draw captions, rerank with CLIP.

    The CLIP comes from the tour's CLIP stop when it ran (``out_dir/../clip/checkpoint.npz``);
    otherwise that stop runs here first, into ``out_dir/clip``. Returns the numbers the tour
    prints and tests check: the image tokenizer's report, the accuracy on seen prompts before
    training, the evaluation after it (seen and unseen, without and with reranking), and the
    plots' paths. ``minifm generate out_dir`` draws with the trained model afterwards.
    """
    world = ShapesWorld()
    if quick:
        vocab_size, patch, n_images = 32, 4, 200
        sizes = {"n_layer": 1, "n_embd": 32, "n_head": 2}
        train_config = dataclasses.replace(TRAIN_DEFAULTS, steps=30, batch_size=16,
                                           warmup_steps=5, eval_interval=15, eval_batches=1)
        samples, candidates = 2, 2
    else:
        vocab_size, patch, n_images, sizes, train_config = 128, 2, 2000, {}, TRAIN_DEFAULTS
        samples, candidates = 10, 8
    side = world.config.image_size // patch
    print(f"DALL-E draws a caption one image token at a time. First, images become tokens: "
          f"k-means over the {patch * patch * 3} numbers of each {patch} x {patch} patch of "
          f"{n_images} images finds {vocab_size} typical patches (the codebook); an image is "
          f"then the {side * side} ids of its patches' nearest codes, in reading order.")
    tokenizer = build_image_tokenizer("kmeans", world, vocab_size=vocab_size, patch_size=patch,
                                      n_images=n_images, seed=train_config.seed)
    report = tokenizer_report(tokenizer, world, n_images=200 if quick else 1000)
    print(f"Decoding the codes back: mean squared error {report['seen']['mse']:.4f} per pixel; "
          f"the judge reads the same colour and shape in {report['seen']['judge_agreement']:.0%} "
          f"of reconstructions ({report['unseen']['judge_agreement']:.0%} for the held-out "
          f"pairs; {report['codes_used']} codes in use).")
    data = ShapesTokenData(tokenizer, world)
    model = DALLE(model_config(data, **sizes), rng=np.random.default_rng([train_config.seed, 2]))
    print(f"\nA transformer of {model.num_parameters():,} parameters reads [caption] [<image>] "
          f"[{side * side} image tokens] and learns to predict each image token from everything "
          f"before it. Six (colour, shape) pairs, such as 'a blue circle', are never shown.")
    before = evaluate(model, data, samples=1, candidates=1)["seen"]["accuracy"]
    print(f"Before training, {before:.0%} of drawings of seen pairs are right "
          f"(chance {CHANCE['accuracy']:.1%}).\nTraining for {train_config.steps} steps of "
          f"{train_config.batch_size} captioned images ...", flush=True)
    trainer = Trainer(model, data, train_config, out_dir=out_dir, tokenizer=data.tokenizer,
                      family="dalle", quiet=quick)
    trainer.run()
    tokenizer.save(out_dir / IMAGE_TOKENIZER_FILE)
    data.tokenizer.save(out_dir / "tokenizer.json")
    clip_dir = out_dir.parent / "clip"
    if not (clip_dir / "checkpoint.npz").is_file():
        clip_dir = out_dir / "clip"
        clip_dir.mkdir(parents=True, exist_ok=True)
        print("\nReranking needs a CLIP, and no earlier stop trained one: training it now.\n")
        clip_recipe.tour_stop(clip_dir, quick)
    reranker = Reranker.load(clip_dir)
    print(f"\nDrawing {samples * candidates} images per class prompt; CLIP (from {clip_dir}) "
          f"keeps the best of each {candidates}:")
    result = evaluate(model, data, reranker=reranker, samples=samples, candidates=candidates)
    print(format_evaluation(result))
    plots = save_plots(model, data, out_dir, reranker, result)
    print(f"plots: {', '.join(str(p) for p in plots)}\ntry: python -m minifm generate {out_dir} "
          f"--caption \"a blue circle\" --clip {clip_dir} --candidates 8 --out blue_circle.png")
    return {"image_tokenizer": report, "seen_before": before, "evaluation": result,
            "clip": clip_dir, "plots": plots}
