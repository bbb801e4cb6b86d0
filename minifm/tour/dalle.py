"""The tour's text-to-image stop, two ways: DALL-E's token model draws a caption one image token
at a time, and DALL-E 2 turns the caption's CLIP embedding into an image embedding (the prior)
and the image embedding into pixels (a diffusion decoder). Both use the CLIP of the CLIP stop, and
the shapes world's judge reads their drawings of the same captions before and after training.

The sizes below are this stop's, chosen to learn within about a minute of one core; the tasks'
defaults, which lessons 11 and 14 quote, train longer and draw better. Measured (one thread, the
CLIP of the CLIP stop, 58 s of CPU on a machine loaded about 10 deep): the token model draws 1 %
-> 76 % of seen pairs right (held-out 31 %; CLIP's pick of 4: 88 %, 56 %), DALL-E 2 0 % -> 82 %
(held-out 50 %; colour 100 %, every miss a shape).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from minifm.data.shapes import CHANCE, ShapesWorld, class_prompt
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.models.dalle import DALLE
from minifm.plots.diffusion import plot_side_by_side
from minifm.plots.training import save_loss_curve
from minifm.tasks import dalle, diffusion
from minifm.tasks.clip import load_clip_run
from minifm.tasks.image_tokens import fit_image_tokenizer, tokenizer_report
from minifm.tour.clip import stop as clip_stop
from minifm.training.checkpoint import CHECKPOINT_NAME
from minifm.training.seeds import stream
from minifm.training.trainer import Trainer

# The token model: 2 x 2 patches (64 tokens; lesson 11 says why not 4 x 4), a 2 x 48 transformer.
CODES, PATCH, TOKENIZER_IMAGES = 128, 2, 1000
TOKEN_SIZES = {"n_layer": 2, "n_embd": 48, "n_head": 4}
TOKEN_TRAIN = dataclasses.replace(dalle.TRAIN_DEFAULTS, steps=800, batch_size=16, lr=6e-3,
                                  warmup_steps=50, eval_interval=400, eval_batches=2)
# DALL-E 2: the default decoder (3 x 64 DiT) and diffusion prior, a smaller pool, fewer steps.
POOL_TRAIN, POOL_VAL = 2000, 64
DECODER_TRAIN = dataclasses.replace(diffusion.DECODER_DEFAULTS, steps=600, lr=6e-3,
                                    warmup_steps=50, eval_interval=300, eval_batches=2)
PRIOR_TRAIN = dataclasses.replace(diffusion.PRIOR_DEFAULTS, steps=300, warmup_steps=50,
                                  eval_interval=300, eval_batches=2)
DDIM_STEPS = 10
# The judged evaluation: each of the 30 seen and 6 held-out class prompts ("a red circle") is
# drawn PICKS x CANDIDATES times; CLIP keeps the best of each group of CANDIDATES. Before
# training, PICKS drawings per prompt (they are at chance).
PICKS, CANDIDATES = 3, 4
PICTURE_SAMPLES = 4                                 # drawings per caption in the picture


def stop(out_dir: Path) -> dict[str, Any]:
    """Train both text-to-image routes on the shapes world over the CLIP stop's CLIP; judge them.

    The CLIP comes from ``out_dir/../clip`` when the CLIP stop ran; otherwise that stop runs
    first, into ``out_dir/clip``. The token model's run is ``out_dir`` itself, DALL-E 2's is
    ``out_dir/diffusion`` (``minifm generate`` draws with either). Returns the numbers the tour
    prints and its test checks: for "tokens" and "diffusion", the judged accuracy on seen
    pairs before training and the evaluation after it (seen and held-out, every drawing and
    CLIP's pick); the image tokenizer's report; the CLIP folder; the plots' paths.
    """
    clip_dir = _clip_run(out_dir)
    print("Two ways to draw a caption, side by side on the same captions, both over the CLIP "
          f"of {clip_dir}. Six (colour, shape) pairs, such as 'a blue circle', are never shown "
          f"in training. The judge reads colour and shape (chance {CHANCE['accuracy']:.1%}).")
    token_model, data, tokens = _token_route(out_dir, clip_dir)
    run, diffused = _diffusion_route(out_dir / "diffusion", clip_dir)
    picture = _side_by_side(token_model, data, run, out_dir)
    print(f"\n{'':28s}seen pairs          held-out pairs")
    for name, result in (("DALL-E (image tokens)", tokens), ("DALL-E 2 (diffusion)", diffused)):
        after = result["evaluation"]
        print(f"{name:28s}{result['seen_before']:4.0%} -> {after['seen']['accuracy']:4.0%}"
              f"{'':10s}{after['unseen']['accuracy']:4.0%}   (CLIP's pick of {CANDIDATES}: "
              f"{after['seen']['reranked']['accuracy']:.0%}, "
              f"{after['unseen']['reranked']['accuracy']:.0%})")
    plots = [out_dir / "loss.png", out_dir / "diffusion" / "loss.png", picture]
    print(f"plots: {', '.join(str(p) for p in plots)}\ntry: python -m minifm generate "
          f"{out_dir} --caption \"a blue circle\" --clip {clip_dir} --candidates 4 --out t.png"
          f"\n     python -m minifm generate {out_dir / 'diffusion'} --caption \"a blue circle\" "
          f"--out d.png")
    return {"tokens": tokens, "diffusion": diffused, "clip": clip_dir, "plots": plots}


def _clip_run(out_dir: Path) -> Path:
    """The CLIP stop's folder, or a new one in out_dir/clip if that stop did not run."""
    clip_dir = out_dir.parent / "clip"
    if not (clip_dir / CHECKPOINT_NAME).is_file():
        clip_dir = out_dir / "clip"
        clip_dir.mkdir(parents=True, exist_ok=True)
        print("Both routes need a CLIP, and no earlier stop trained one: training it now.\n")
        clip_stop(clip_dir)
        print()
    return clip_dir


def _token_route(out_dir: Path, clip_dir: Path) -> tuple[DALLE, ShapesTokenData, dict]:
    """DALL-E: an image tokenizer, then a transformer over [caption][image tokens]."""
    world, seed = ShapesWorld(), TOKEN_TRAIN.seed
    tokenizer = fit_image_tokenizer("kmeans", world, vocab_size=CODES, patch_size=PATCH,
                                    n_images=TOKENIZER_IMAGES, seed=seed)
    report = tokenizer_report(tokenizer, world, n_images=200)
    data = ShapesTokenData(tokenizer, world)
    model = DALLE(dalle.model_config(data, **TOKEN_SIZES), rng=stream(seed, "init"))
    reranker = dalle.Reranker.load(clip_dir)
    side = world.config.image_size // PATCH
    print(f"\n1. DALL-E: images become tokens. k-means finds {CODES} typical {PATCH} x {PATCH} "
          f"patches of {TOKENIZER_IMAGES} images; an image is then the {side * side} ids of its "
          f"patches' nearest codes (decoded back, the judge reads the same colour and shape in "
          f"{report['seen']['judge_agreement']:.0%} of them). A transformer of "
          f"{model.num_parameters():,} parameters learns to predict each image token from the "
          f"caption and the tokens before it.")

    def evaluate(samples: int, candidates: int) -> dict[str, Any]:
        return dalle.evaluate(model, data, reranker=reranker if candidates > 1 else None,
                              samples=samples, candidates=candidates)

    before = evaluate(PICKS, 1)
    print(f"Before training {before['seen']['accuracy']:.0%} of its drawings of seen pairs are "
          f"right. Training for {TOKEN_TRAIN.steps} steps of {TOKEN_TRAIN.batch_size} captioned "
          f"images ...", flush=True)
    trainer = Trainer(model, data, TOKEN_TRAIN, out_dir=out_dir, tokenizer=data.tokenizers,
                      family="dalle", throughput=dalle.THROUGHPUT)
    trainer.run()
    data.tokenizer.save(out_dir / "tokenizer.json")
    save_loss_curve(trainer.history, out_dir, "DALL-E on the shapes world", "dalle")
    after = evaluate(PICKS, CANDIDATES)
    print(dalle.format_evaluation(after))
    return model, data, {"image_tokenizer": report, "seen_before": before["seen"]["accuracy"],
                         "before": before, "evaluation": after}


def _diffusion_route(out: Path, clip_dir: Path) -> tuple[diffusion.DiffusionRun, dict]:
    """DALL-E 2: a diffusion decoder over CLIP image embeddings, and a diffusion prior."""
    clip, captions = load_clip_run(diffusion.copy_clip(clip_dir, out))
    seed = DECODER_TRAIN.seed
    pools = diffusion.build_pools(clip, captions, seed, n_train=POOL_TRAIN, n_val=POOL_VAL)
    decoder = diffusion.decoder_trainer(clip, pools, DECODER_TRAIN, out=out, quiet=False)
    untrained = diffusion.DiffusionRun(decoder.model, diffusion.new_prior("diffusion", clip, seed),
                                       clip, captions)
    print(f"\n2. DALL-E 2: CLIP embeds {POOL_TRAIN} captioned training images once. A diffusion "
          f"decoder of {decoder.model.num_parameters():,} parameters learns to draw an image "
          f"from its CLIP image embedding (removing noise step by step); a diffusion prior "
          f"learns to turn a caption's CLIP text embedding into an image embedding.")

    def evaluate(run: diffusion.DiffusionRun, samples: int, candidates: int) -> dict[str, Any]:
        reranker = dalle.Reranker(clip, captions) if candidates > 1 else None
        return diffusion.evaluate(run, reranker=reranker, samples=samples,
                                  candidates=candidates, steps=DDIM_STEPS)

    before = evaluate(untrained, PICKS, 1)
    print(f"Before training {before['seen']['accuracy']:.0%} of its drawings of seen pairs are "
          f"right. Training the decoder for {DECODER_TRAIN.steps} steps of "
          f"{DECODER_TRAIN.batch_size} images, then the prior for {PRIOR_TRAIN.steps} steps "
          f"of {PRIOR_TRAIN.batch_size} pairs ...", flush=True)
    prior_config = dataclasses.replace(PRIOR_TRAIN, seed=seed)
    run, _ = diffusion.train_decoder_and_prior(decoder, clip, captions, pools,
                                               prior_config=prior_config)
    save_loss_curve(decoder.history, out, "DALL-E 2's decoder on the shapes world", "diffusion")
    if run is None:
        raise RuntimeError("DALL-E 2's training diverged (a loss that was not finite)")
    after = evaluate(run, PICKS, CANDIDATES)
    print(diffusion.format_evaluation(after))
    return run, {"seen_before": before["seen"]["accuracy"], "before": before,
                 "evaluation": after}


def _side_by_side(model: DALLE, data: ShapesTokenData, run: diffusion.DiffusionRun,
                  out_dir: Path) -> Path:
    """side_by_side.png: five seen and the six held-out captions, drawn by both routes."""
    world, rng = data.world, stream(TOKEN_TRAIN.seed, "pictures")
    classes = np.concatenate([world.combos("seen")[::6], world.combos("unseen")])
    captions = [class_prompt(c, s) for c, s in classes]
    drawings = {
        "DALL-E (image tokens)": dalle.draw(model, data, captions, PICTURE_SAMPLES, rng=rng)[1],
        "DALL-E 2 (diffusion)": diffusion.draw(run, captions, PICTURE_SAMPLES, rng=rng,
                                               steps=DDIM_STEPS)}
    correct = {}
    for name, images in drawings.items():
        colour_ok, shape_ok = dalle.judged_correct(world, images, classes)
        correct[name] = colour_ok & shape_ok
    labels = [c + (" (held out)" if i >= 5 else "") for i, c in enumerate(captions)]
    path = out_dir / "side_by_side.png"
    plot_side_by_side(drawings, correct, labels).savefig(path, dpi=100)
    return path
