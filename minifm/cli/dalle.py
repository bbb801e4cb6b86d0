"""Train a DALL-E-like text-to-image model on the shapes world; draw captions; rerank with CLIP.

    minifm train dalle --out out/dalle                              (k-means image tokens)
    minifm train dalle --image-tokenizer vqvae --clip out/clip --out out/dalle
    minifm generate out/dalle --caption "a red circle" --samples 8 --out grid.png
    minifm generate out/dalle --caption "a blue circle" --clip out/clip --candidates 8 --out b.png

``train`` first fits the image tokenizer (k-means over 2 x 2 patches, or a VQ-VAE) and measures
its reconstructions, then trains the transformer on fresh (caption, image codes) batches
(``minifm.tasks.image_tokens``, ``minifm.tasks.dalle``). It saves in ``--out``:
``checkpoint.npz`` (the transformer, with both its tokenizers inside: the caption words and the
image codes), ``tokenizer.json`` (the caption tokenizer), ``metrics.json`` (with
"image_tokenizer" and "evaluation" entries), ``loss.png`` and the plots ``reconstructions.png``,
``codebook_usage.png``, ``samples.png``, ``tokens.png`` and, with ``--clip``, ``reranking.png``
and ``reranking_accuracy.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from minifm.cli import diffusion
from minifm.cli.common import finish_training, output_dir, print_run_summary, start_or_resume
from minifm.cli.flags import integer, real
from minifm.cli.outputs import check_output_file
from minifm.data.shapes import ShapesWorld
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.models.dalle import DALLE, DALLEConfig
from minifm.plots.dalle import plot_caption_grid, save_plots
from minifm.tasks.clip import pick_best
from minifm.tasks.dalle import (THROUGHPUT, TRAIN_DEFAULTS, Reranker, check_captions,
                                data_from_checkpoint, draw, evaluate, format_evaluation,
                                judge_titles, load_dalle, model_config, score_drawings)
from minifm.tasks.image_tokens import (IMAGE_TOKENIZERS, VQVAE_DEFAULTS, fit_image_tokenizer,
                                       format_tokenizer_report, tokenizer_report)
from minifm.training.seeds import stream

MODEL_FLAGS = ("n_layer", "n_head", "n_embd", "dropout", "text_loss_weight")


# ---- minifm train dalle --------------------------------------------------------------------------
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minifm train dalle`` (image tokenizer, model size, evaluation)."""
    g = parser.add_argument_group("image tokenizer")
    g.add_argument("--image-tokenizer", choices=IMAGE_TOKENIZERS, default="kmeans",
                   help="k-means over patches, or a VQ-VAE")
    g.add_argument("--codebook-size", type=integer(1), default=128, help="image codes")
    g.add_argument("--patch-size", type=integer(1), default=2,
                   help="patch side in pixels: a 16 x 16 image becomes (16 / p)^2 tokens")
    g.add_argument("--tokenizer-images", type=integer(1), default=2000,
                   help="training images the tokenizer is fitted on")
    g.add_argument("--vqvae-steps", type=integer(1), default=VQVAE_DEFAULTS.steps,
                   help="VQ-VAE training steps")
    g = parser.add_argument_group("model")
    defaults = DALLEConfig()
    g.add_argument("--n-layer", type=integer(1),
                   help=f"transformer blocks (default: {defaults.n_layer})")
    g.add_argument("--n-head", type=integer(1),
                   help=f"attention heads (default: {defaults.n_head})")
    g.add_argument("--n-embd", type=integer(1), help=f"model width (default: {defaults.n_embd})")
    g.add_argument("--dropout", type=real(0, 1, high_open=True),
                   help="dropout probability (default: 0)")
    g.add_argument("--text-loss-weight", type=real(0),
                   help=f"weight of the caption's next-word loss (default: "
                        f"{defaults.text_loss_weight:.3f})")
    g = parser.add_argument_group("evaluation")
    g.add_argument("--clip", metavar="CLIP_DIR",
                   help="a `train clip` folder: rerank samples by CLIP similarity in the "
                        "evaluation")
    g.add_argument("--eval-samples", type=integer(1), default=10,
                   help="picks per prompt in the evaluation")
    g.add_argument("--candidates", type=integer(1), default=8,
                   help="samples per pick; with --clip the CLIP-best one counts")


def train(args: argparse.Namespace) -> int:
    """``minifm train dalle``: fit the image tokenizer, train the transformer, measure."""
    reranker = Reranker.load(args.clip) if args.clip else None
    world = ShapesWorld()

    def start(train_config):
        if not args.quiet:
            print(f"fitting a {args.image_tokenizer} image tokenizer ({args.codebook_size} codes, "
                  f"{args.patch_size} x {args.patch_size} patches) on {args.tokenizer_images} "
                  "images ...", flush=True)
        image_tokenizer = fit_image_tokenizer(
            args.image_tokenizer, world, vocab_size=args.codebook_size,
            patch_size=args.patch_size, n_images=args.tokenizer_images, seed=train_config.seed,
            vqvae_config=dataclasses.replace(VQVAE_DEFAULTS, steps=args.vqvae_steps,
                                             eval_interval=args.vqvae_steps))
        data = ShapesTokenData(image_tokenizer, world)
        config = model_config(data, **{k: getattr(args, k) for k in MODEL_FLAGS})
        return DALLE(config, rng=stream(train_config.seed, "init")), data, data.tokenizers

    trainer = start_or_resume(
        args, family="dalle", defaults=TRAIN_DEFAULTS, out=output_dir(args, "out/dalle"),
        model_flags=MODEL_FLAGS, start=start,
        resume_data=lambda ckpt: data_from_checkpoint(ckpt, world), throughput=THROUGHPUT)
    model, data, out = trainer.model, trainer.data, trainer.out_dir
    report = tokenizer_report(data.image_tokenizer, world)
    if not args.quiet:
        print(format_tokenizer_report(report))
        print(f"training a DALLE of {model.num_parameters():,} parameters "
              f"({json.dumps(dataclasses.asdict(model.config))})", flush=True)
    metrics = finish_training(trainer, data.tokenizer)
    if metrics["stopped_early"]:
        return 1
    started = time.perf_counter()
    metrics["image_tokenizer"] = report
    metrics["evaluation"] = evaluate(model, data, reranker=reranker, samples=args.eval_samples,
                                     candidates=args.candidates)
    metrics["evaluation"]["seconds"] = time.perf_counter() - started
    metrics = trainer.write_metrics(metrics)
    plots = save_plots(model, data, out, reranker, metrics["evaluation"])
    if not args.quiet:
        print_run_summary(metrics, out, ["checkpoint.npz with both tokenizers", "tokenizer.json",
                                         "metrics.json", "loss.png", *(p.name for p in plots)],
                          format_evaluation(metrics["evaluation"]))
    return 0


# ---- minifm generate -----------------------------------------------------------------------------
def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="RUN",
                        help="a folder from `train dalle` or `train diffusion` (or its "
                             "checkpoint.npz)")
    parser.add_argument("--caption", action="append", required=True, metavar="TEXT",
                        help='what to draw, e.g. "a red circle" (repeatable: one row each)')
    parser.add_argument("--samples", type=integer(1), default=8, help="images per caption")
    parser.add_argument("--out", metavar="PATH",
                        help="save the captions x samples grid here (a .png; its folder is "
                             "created)")
    parser.add_argument("--temperature", type=real(0), default=1.0,
                        help="0 = greedy; < 1 sharper, > 1 flatter")
    parser.add_argument("--top-k", type=integer(1),
                        help="sample only from the k most likely codes")
    parser.add_argument("--top-p", type=real(0, 1, low_open=True),
                        help="sample only from the smallest set of codes with probability >= p")
    parser.add_argument("--clip", metavar="CLIP_DIR",
                        help="a `train clip` folder: rerank by CLIP similarity to the caption")
    parser.add_argument("--candidates", type=integer(1), default=1,
                        help="with --clip: draw this many per image and keep the CLIP-best")
    parser.add_argument("--seed", type=integer(), default=0,
                        help="seed of the sampling generator")
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute the whole prefix each step (no KV cache)")
    diffusion.add_generate_arguments(parser)


def generate(args: argparse.Namespace) -> int:
    """Draw images for captions with a trained text-to-image model (optionally CLIP-reranked)."""
    if diffusion.is_diffusion_run(args.checkpoint):
        return diffusion.generate(args)
    if args.candidates > 1 and not args.clip:
        raise ValueError("--candidates > 1 reranks by CLIP similarity: give --clip CLIP_DIR")
    if args.out:
        check_output_file(args.out, "--out")
    model, data = load_dalle(args.checkpoint)
    check_captions(data, args.caption)
    reranker = Reranker.load(args.clip) if args.clip else None
    M, S, K = len(args.caption), args.samples, args.candidates
    _, images = draw(model, data, args.caption, S * K, temperature=args.temperature,
                     top_k=args.top_k, top_p=args.top_p, rng=np.random.default_rng(args.seed),
                     use_cache=not args.no_cache)                        # (M, S K, H, W, 3)
    scores = None
    if reranker is not None:
        scores = score_drawings(reranker, images, args.caption).reshape(M, S, K)
        images = pick_best(scores, images.reshape(M, S, K, *images.shape[2:]))   # (M, S, ...)
        scores = scores.max(axis=2)                                      # (M, S)
    titles = judge_titles(data.world, images, scores)
    for caption, row in zip(args.caption, titles):
        print(f"{caption!r}: the judge reads " + "; ".join(row))
    if args.out:
        what = "what the judge reads in each drawing" + (
            "" if scores is None else " (its CLIP similarity to the caption)")
        plot_caption_grid(images, args.caption, titles, title=what).savefig(args.out, dpi=100)
        print(f"saved {args.out}")
    return 0


COMMANDS = {"generate": (add_generate_arguments, generate)}
