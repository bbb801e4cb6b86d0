"""Train DALL-E 2 on the shapes world: a diffusion decoder on a CLIP run's image embeddings, and a prior.

    minifm train diffusion --clip out/clip --out out/diffusion              (diffusion prior)
    minifm train diffusion --clip out/clip --prior regression --out out/diff-reg
    minifm generate out/diffusion --caption "a blue circle" --samples 8 --guidance 3 --out g.png

``train`` copies the CLIP checkpoint into ``--out`` (``clip.npz``), embeds a pool of training
images and captions with it once, trains the decoder (``checkpoint.npz``, ``metrics.json``,
``loss.png``), then the prior (``prior/``), and judges caption -> prior -> decoder -> image on
the 30 seen and 6 held-out (colour, shape) pairs, with and without CLIP reranking
(``minifm.tasks.diffusion``). ``--resume`` continues the decoder; the prior is trained again
unless its checkpoint has already taken ``--prior-steps`` steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from minifm.cli.common import output_dir, print_run_summary, start_or_resume
from minifm.cli.flags import integer, real
from minifm.cli.outputs import check_output_file
from minifm.models.diffusion import DiffusionConfig
from minifm.models.diffusion_sampling import SAMPLERS
from minifm.plots.dalle import plot_caption_grid
from minifm.plots.diffusion import save_plots
from minifm.plots.training import save_loss_curve
from minifm.tasks.clip import load_clip_run, pick_best
from minifm.tasks.dalle import Reranker, judge_titles, score_drawings
from minifm.tasks.diffusion import (CLIP_COPY, DECODER_DEFAULTS, DECODER_THROUGHPUT,
                                    PRIOR_DEFAULTS, PRIOR_DIR, PRIORS, DecoderData, build_pools,
                                    check_clip_fits, check_sampling, copy_clip, draw, evaluate,
                                    format_evaluation, load_diffusion_run, new_decoder,
                                    train_decoder_and_prior)
from minifm.training.checkpoint import load_checkpoint, resolve_checkpoint_path

MODEL_FLAGS = ("dim", "n_layers")


# ---- minifm train diffusion ---------------------------------------------------------------------
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minifm train diffusion``."""
    g = parser.add_argument_group("DALL-E 2")
    g.add_argument("--clip", metavar="CLIP_DIR",
                   help="a `train clip` folder whose frozen embeddings condition the decoder "
                        "(required unless --resume)")
    g.add_argument("--prior", choices=PRIORS, default="diffusion",
                   help="caption embedding -> image embedding (default diffusion)")
    g.add_argument("--prior-steps", type=integer(1), default=PRIOR_DEFAULTS.steps,
                   help=f"prior training steps (default {PRIOR_DEFAULTS.steps})")
    defaults = DiffusionConfig()
    g.add_argument("--dim", type=integer(1), help=f"decoder width (default {defaults.dim})")
    g.add_argument("--n-layers", type=integer(1),
                   help=f"decoder DiT blocks (default {defaults.n_layers})")
    g = parser.add_argument_group("evaluation")
    g.add_argument("--eval-samples", type=integer(1), default=10,
                   help="picks per prompt in the evaluation (default 10)")
    g.add_argument("--candidates", type=integer(1), default=4,
                   help="samples per pick; the CLIP-best one counts as reranked (default 4)")
    g.add_argument("--guidance", type=real(0), default=3.0,
                   help="classifier-free guidance scale of the evaluation (default 3)")


def train(args: argparse.Namespace) -> int:
    """``minifm train diffusion``: the decoder, then the prior, then the judged evaluation."""
    check_sampling(args.guidance, "ddim", None, 1)
    out = output_dir(args, "out/diffusion")
    if args.resume:
        clip_path = resolve_checkpoint_path(args.resume).parent / CLIP_COPY
    elif args.clip:
        clip_path = copy_clip(args.clip, out)
    else:
        raise ValueError("train diffusion needs --clip CLIP_DIR (a `train clip` folder)")
    clip, captions = load_clip_run(clip_path)
    check_clip_fits(clip)
    pools = {}

    def start(train_config):
        pools.update(build_pools(clip, captions, train_config.seed))
        sizes = {k: getattr(args, k) for k in MODEL_FLAGS}
        return new_decoder(clip, train_config.seed, **sizes), DecoderData(pools), None

    def resume_data(ckpt):
        pools.update(build_pools(clip, captions, ckpt.train_config["seed"]))
        return DecoderData(pools)

    trainer = start_or_resume(args, family="diffusion", defaults=DECODER_DEFAULTS, out=out,
                              model_flags=MODEL_FLAGS, start=start, resume_data=resume_data,
                              throughput=DECODER_THROUGHPUT)
    if not args.quiet:
        print(f"training a diffusion decoder of {trainer.model.num_parameters():,} parameters "
              f"on {len(pools['train'].images)} CLIP-embedded images", flush=True)
    prior_config = dataclasses.replace(PRIOR_DEFAULTS, steps=args.prior_steps,
                                       seed=trainer.config.seed)
    run, metrics = train_decoder_and_prior(trainer, clip, captions, pools, prior=args.prior,
                                           prior_config=prior_config,
                                           keep_finished_prior=bool(args.resume))
    save_loss_curve(trainer.history, out, "diffusion training", "diffusion")
    if run is None:
        return 1
    started = time.perf_counter()
    metrics["evaluation"] = evaluate(run, reranker=Reranker(clip, captions),
                                     samples=args.eval_samples, candidates=args.candidates,
                                     guidance=args.guidance)
    metrics["evaluation"]["seconds"] = time.perf_counter() - started
    metrics = trainer.write_metrics(metrics)
    plots = save_plots(run, out, metrics["evaluation"])
    if not args.quiet:
        print_run_summary(metrics, out, ["checkpoint.npz", CLIP_COPY, f"{PRIOR_DIR}/",
                                         "metrics.json", "loss.png", *(p.name for p in plots)],
                          format_evaluation(metrics["evaluation"]))
    return 0


# ---- minifm generate on a diffusion run ---------------------------------------------------------
def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags ``generate`` has only for a diffusion run (cli/dalle.py adds the rest)."""
    g = parser.add_argument_group("a `train diffusion` run")
    g.add_argument("--guidance", type=real(0), default=3.0,
                   help="classifier-free guidance: 0 unconditional, 1 conditional, > 1 guided "
                        "(default 3)")
    g.add_argument("--sampler", default="ddim", metavar="NAME",
                   help=f"one of {', '.join(SAMPLERS)} (default ddim)")
    g.add_argument("--steps", type=integer(1), default=50,
                   help="DDIM steps (default 50; ddpm runs all of them)")


def is_diffusion_run(path: str) -> bool:
    """Whether ``path`` is a ``train diffusion`` folder (its checkpoint's family)."""
    return load_checkpoint(path).family == "diffusion"


def generate(args: argparse.Namespace) -> int:
    """Draw captions with a diffusion run: prior, decoder, and CLIP reranking with --candidates."""
    if args.out:
        check_output_file(args.out, "--out")          # before drawing
    run = load_diffusion_run(args.checkpoint)
    steps = None if args.sampler == "ddpm" else args.steps
    check_sampling(args.guidance, args.sampler, steps, run.decoder.config.num_steps)
    M, S, K = len(args.caption), args.samples, args.candidates
    images = draw(run, args.caption, S * K, rng=np.random.default_rng(args.seed),
                  guidance=args.guidance, sampler=args.sampler, steps=steps)  # (M, S K, ...)
    scores = None
    if K > 1:
        scores = score_drawings(Reranker(run.clip, run.captions), images,
                                args.caption).reshape(M, S, K)
        images = pick_best(scores, images.reshape(M, S, K, *images.shape[2:]))   # (M, S, ...)
        scores = scores.max(axis=2)                                      # (M, S)
    titles = judge_titles(run.captions.world, images, scores)
    for caption, row in zip(args.caption, titles):
        print(f"{caption!r}: the judge reads " + "; ".join(row))
    if args.out:
        plot_caption_grid(images, args.caption, titles).savefig(args.out, dpi=100)
        print(f"saved {args.out}")
    return 0
