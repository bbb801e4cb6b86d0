"""Train CLIP on the shapes world: images and captions in one embedding space.

    minifm train clip --steps 1000 --out out/clip
    minifm train clip --pooling cls-eot --out out/clip-cls   (OpenAI's pooling: it exports,
    minifm export out/clip-cls --to hf out/clip-hf            see minifm.pretrained.clip)
    minifm zeroshot out/clip                                   (all 36 class prompts)
    minifm zeroshot out/clip --labels "a red circle" "a blue circle" --n-images 8

``train`` saves ``checkpoint.npz``, ``tokenizer.json``, ``loss.png``, ``metrics.json`` (with the
evaluation of ``minifm.tasks.clip.evaluate`` under "evaluation") and three plots in ``--out``:
``similarity.png`` (a batch's cosine similarities), ``temperature.png`` (the learned temperature
over training) and ``embeddings.png`` (image and text embeddings projected to 2-D).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from minifm.cli.common import finish_training, output_dir, print_run_summary, start_or_resume
from minifm.cli.flags import integer, real
from minifm.cli.outputs import check_output_file
from minifm.data.shapes import COLOURS, SHAPES, class_prompts
from minifm.data.shapes_captions import ShapesCaptionData
from minifm.models.clip import CLIP
from minifm.plots.clip import save_plots
from minifm.plots.shapes import show_images
from minifm.tasks.clip import (THROUGHPUT, TRAIN_DEFAULTS, caption_data, check_known_words,
                               classify, evaluate, format_evaluation, images_of_classes,
                               is_unseen, label_classes, load_clip_run, model_config, new_model,
                               temperature_metric)
from minifm.tokenizers.word import WordTokenizer
from minifm.training.trainer import TrainConfig

MODEL_FLAGS = ("patch_size", "vision_width", "vision_layers", "vision_heads", "image_pool",
               "text_width", "text_layers", "text_heads", "text_pool", "embed_dim", "dropout")
# --pooling NAME -> (image_pool, text_pool); "cls-eot" is OpenAI's, which `minifm export` writes
POOLINGS = {"mean": ("mean", "mean"), "cls-eot": ("cls", "eot")}


def pool_flags(args: argparse.Namespace) -> dict[str, str | None]:
    """image_pool and text_pool from --pooling and --image-pool / --text-pool (which must agree
    with --pooling where both are given)."""
    given = {"image_pool": args.image_pool, "text_pool": args.text_pool}
    if args.pooling is None:
        return given
    implied = dict(zip(given, POOLINGS[args.pooling]))
    clash = [f"--{k.replace('_', '-')} {v}" for k, v in given.items()
             if v is not None and v != implied[k]]
    if clash:
        raise ValueError(f"--pooling {args.pooling} means --image-pool {implied['image_pool']} "
                         f"--text-pool {implied['text_pool']}, but {' '.join(clash)} was given")
    return implied


# ---- minifm train clip --------------------------------------------------------------------------
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The CLIP flags of ``minifm train clip`` (data and model size)."""
    g = parser.add_argument_group("data (the shapes world)")
    g.add_argument("--image-size", type=integer(1), help="image side in pixels (default: 16)")
    g.add_argument("--eval-images", type=integer(1), default=600,
                   help="images per split for the final zero-shot evaluation")
    g = parser.add_argument_group("model (a preset, then any override)")
    g.add_argument("--preset", choices=["classroom"], default="classroom",
                   help="model size (default classroom: 2 + 2 layers, width 64, 4 heads)")
    g.add_argument("--patch-size", type=integer(1), help="side of a ViT patch in pixels")
    for tower in ("vision", "text"):
        g.add_argument(f"--{tower}-width", type=integer(1), help=f"width of the {tower} tower")
        g.add_argument(f"--{tower}-layers", type=integer(1), help=f"blocks of the {tower} tower")
        g.add_argument(f"--{tower}-heads", type=integer(1),
                       help=f"attention heads of the {tower} tower")
    g.add_argument("--image-pool", choices=["cls", "mean"], help="class token or mean of patches")
    g.add_argument("--text-pool", choices=["eot", "mean"],
                   help="end-of-text token or mean of tokens")
    g.add_argument("--pooling", choices=list(POOLINGS),
                   help="both pools at once: mean (the classroom default) or cls-eot (the class "
                        "token and [EOS], as OpenAI's CLIP; `minifm export` needs it)")
    g.add_argument("--embed-dim", type=integer(1), help="width of the joint embedding space")
    g.add_argument("--dropout", type=real(0, 1, high_open=True), help="dropout probability")


def train(args: argparse.Namespace) -> int:
    """``minifm train clip``: train from scratch, or continue with ``--resume``."""
    def start(train_config: TrainConfig) -> tuple[CLIP, ShapesCaptionData, WordTokenizer]:
        data = caption_data(args.image_size or 16)
        flags = {**{k: getattr(args, k) for k in MODEL_FLAGS}, **pool_flags(args)}
        config = model_config(args.preset, data, **flags)
        return new_model(config, train_config.seed), data, data.tokenizer

    trainer = start_or_resume(
        args, family="clip", defaults=TRAIN_DEFAULTS, out=output_dir(args, "out/clip"),
        model_flags=MODEL_FLAGS + ("image_size", "pooling"), start=start,
        resume_data=lambda ckpt: caption_data(ckpt.model_config["image_size"],
                                              ckpt.build_tokenizer()),
        extra_metrics=temperature_metric, throughput=THROUGHPUT)
    model, data, out = trainer.model, trainer.data, trainer.out_dir
    if not args.quiet:
        print(f"training a CLIP of {model.num_parameters():,} parameters "
              f"({json.dumps(dataclasses.asdict(model.config))}) on the shapes world")
    metrics = finish_training(trainer, data.tokenizer)
    if metrics["stopped_early"]:
        return 1
    metrics["evaluation"] = evaluate(model, data, n_images=args.eval_images)
    metrics = trainer.write_metrics(metrics)
    plots = save_plots(model, data, trainer.history, out)
    if not args.quiet:
        print_run_summary(metrics, out, ["checkpoint.npz", "tokenizer.json", "metrics.json",
                                         "loss.png", *(p.name for p in plots)],
                          format_evaluation(metrics["evaluation"]))
    return 0


# ---- minifm zeroshot ----------------------------------------------------------------------------
def add_zeroshot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a folder from `train clip` (or its checkpoint.npz)")
    parser.add_argument("--labels", nargs="+", metavar="TEXT",
                        help='candidate captions, e.g. "a red circle" "a blue square" '
                             "(default: the 36 class prompts)")
    parser.add_argument("--n-images", type=integer(1), default=12,
                        help="held-out images to classify")
    parser.add_argument("--seed", type=integer(), default=0, help="seed of the image sampler")
    parser.add_argument("--plot", metavar="PATH", help="also save the images with predictions")


def zeroshot(args: argparse.Namespace) -> int:
    """Classify held-out shapes images with a trained CLIP and text labels (zero-shot)."""
    labels = args.labels if args.labels else class_prompts()
    if args.plot:
        check_output_file(args.plot, "--plot")
    model, data = load_clip_run(args.checkpoint)
    check_known_words(data.tokenizer, labels, "label")
    rng = np.random.default_rng(args.seed)
    classes = label_classes(labels)
    if classes is None:            # free-form labels: images of every combination, no scoring
        sample = data.world.sample(args.n_images, rng, "all")
        images, colour, shape = sample.images, sample.colour, sample.shape
    else:
        images, colour, shape = images_of_classes(data.world, classes, args.n_images, rng)
    probs = classify(model, data, images, labels)                          # (N, labels)
    predicted = probs.argmax(axis=1)
    unseen = is_unseen(data.world, colour, shape)
    correct = np.array([classes is not None and classes[p] == (c, s)
                        for c, s, p in zip(colour, shape, predicted)])
    for i, (c, s, p) in enumerate(zip(colour, shape, predicted)):
        truth = f"{COLOURS[c]} {SHAPES[s]}" + (" (unseen pair)" if unseen[i] else "")
        mark = "" if classes is None else "  right" if correct[i] else "  WRONG"
        print(f"image {i:3d}: {truth:28s} -> {labels[p]!r} (p = {probs[i, p]:.2f}){mark}")
    if classes is not None:
        print(f"accuracy {correct.mean():.1%} on {len(correct)} images "
              f"(chance {1 / len(labels):.1%})")
        if unseen.any():
            print(f"  on unseen (colour, shape) pairs: {correct[unseen].mean():.1%} of "
                  f"{int(unseen.sum())} images")
    else:
        print("(the labels do not each name one colour and one shape, so there is no score)")
    if args.plot:
        show_images(images, [labels[p] for p in predicted],
                    suptitle="zero-shot: the label CLIP gives each held-out image"
                    ).savefig(args.plot, dpi=100)
        print(f"saved {args.plot}")
    return 0


COMMANDS = {"zeroshot": (add_zeroshot_arguments, zeroshot)}
