"""The tour's text-to-image stop: images become tokens, a small transformer learns to draw captions
one token at a time, and CLIP reranks its drawings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minifm.data.shapes import CHANCE, ShapesWorld
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.models.dalle import DALLE
from minifm.plots.dalle import save_plots
from minifm.plots.training import save_loss_curve
from minifm.tasks.dalle import (THROUGHPUT, TRAIN_DEFAULTS, Reranker, evaluate,
                                format_evaluation, model_config)
from minifm.tasks.image_tokens import fit_image_tokenizer, tokenizer_report
from minifm.tour.clip import stop as clip_stop
from minifm.training.seeds import stream
from minifm.training.trainer import Trainer


def stop(out_dir: Path) -> dict[str, Any]:
    """Tokenize images, train a small text-to-image transformer, draw captions, rerank with CLIP.

    The CLIP comes from the tour's CLIP stop when it ran (``out_dir/../clip/checkpoint.npz``);
    otherwise that stop runs here first, into ``out_dir/clip``. Returns the numbers the tour
    prints and tests check: the image tokenizer's report, the accuracy on seen prompts before
    training, the evaluation after it (seen and unseen, without and with reranking), and the
    plots' paths. ``minifm generate out_dir`` draws with the trained model afterwards.
    """
    world = ShapesWorld()
    vocab_size, patch, n_images, train_config = 128, 2, 2000, TRAIN_DEFAULTS
    samples, candidates = 10, 8
    side = world.config.image_size // patch
    print(f"DALL-E draws a caption one image token at a time. First, images become tokens: "
          f"k-means over the {patch * patch * 3} numbers of each {patch} x {patch} patch of "
          f"{n_images} images finds {vocab_size} typical patches (the codebook); an image is "
          f"then the {side * side} ids of its patches' nearest codes, in reading order.")
    tokenizer = fit_image_tokenizer("kmeans", world, vocab_size=vocab_size, patch_size=patch,
                                    n_images=n_images, seed=train_config.seed)
    report = tokenizer_report(tokenizer, world, n_images=1000)
    print(f"Decoding the codes back: mean squared error {report['seen']['mse']:.4f} per pixel; "
          f"the judge reads the same colour and shape in {report['seen']['judge_agreement']:.0%} "
          f"of reconstructions ({report['unseen']['judge_agreement']:.0%} for the held-out "
          f"pairs; {report['codes_used']} codes in use).")
    data = ShapesTokenData(tokenizer, world)
    model = DALLE(model_config(data), rng=stream(train_config.seed, "init"))
    print(f"\nA transformer of {model.num_parameters():,} parameters reads [caption] [<image>] "
          f"[{side * side} image tokens] and learns to predict each image token from everything "
          f"before it. Six (colour, shape) pairs, such as 'a blue circle', are never shown.")
    before = evaluate(model, data, samples=1, candidates=1)["seen"]["accuracy"]
    print(f"Before training, {before:.0%} of drawings of seen pairs are right "
          f"(chance {CHANCE['accuracy']:.1%}).\nTraining for {train_config.steps} steps of "
          f"{train_config.batch_size} captioned images ...", flush=True)
    trainer = Trainer(model, data, train_config, out_dir=out_dir, tokenizer=data.tokenizers,
                      family="dalle", throughput=THROUGHPUT)
    trainer.run()
    data.tokenizer.save(out_dir / "tokenizer.json")
    loss_plot = save_loss_curve(trainer.history, out_dir, "DALL-E on the shapes world", "dalle")
    clip_dir = out_dir.parent / "clip"
    if not (clip_dir / "checkpoint.npz").is_file():
        clip_dir = out_dir / "clip"
        clip_dir.mkdir(parents=True, exist_ok=True)
        print("\nReranking needs a CLIP, and no earlier stop trained one: training it now.\n")
        clip_stop(clip_dir)
    reranker = Reranker.load(clip_dir)
    print(f"\nDrawing {samples * candidates} images per class prompt; CLIP (from {clip_dir}) "
          f"keeps the best of each {candidates}:")
    result = evaluate(model, data, reranker=reranker, samples=samples, candidates=candidates)
    print(format_evaluation(result))
    plots = [loss_plot, *save_plots(model, data, out_dir, reranker, result)]
    print(f"plots: {', '.join(str(p) for p in plots)}\ntry: python -m minifm generate {out_dir} "
          f"--caption \"a blue circle\" --clip {clip_dir} --candidates 8 --out blue_circle.png")
    return {"image_tokenizer": report, "seen_before": before, "evaluation": result,
            "clip": clip_dir, "plots": plots}
