"""The tour's CLIP stop: a small CLIP learns captioned shapes, then classifies images of
(colour, shape) pairs it never saw, zero-shot."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from minifm.data.shapes import CHANCE
from minifm.data.shapes_captions import ShapesCaptionData
from minifm.plots.clip import save_plots
from minifm.plots.training import save_loss_curve
from minifm.tasks.clip import (THROUGHPUT, TRAIN_DEFAULTS, evaluate, format_evaluation,
                               model_config, new_model, temperature_metric, zero_shot_accuracy)
from minifm.training.trainer import Trainer

# Sized for the tour: towers of width 32 rather than the lessons' 64 learn the unseen pairs at
# least as well (1,000 steps at width 32: 99.5 % zero-shot on them), each step about a third of
# the work. 700 steps at a larger learning rate reach ~90 % (600: ~85 %, 500: ~85 %).
WIDTH = 32
TRAIN_CONFIG = dataclasses.replace(TRAIN_DEFAULTS, steps=700, lr=3e-3, min_lr=3e-4,
                                   warmup_steps=50)
N_IMAGES = 600                       # fresh images per split for the zero-shot accuracy


def stop(out_dir: Path) -> dict[str, Any]:
    """Train a small CLIP on captioned shapes; classify held-out images zero-shot, before and after.

    Returns the numbers the tour prints and tests check: zero-shot accuracy on unseen (colour,
    shape) pairs before and after training, the final evaluation, and the plots' paths (the
    loss curve, the similarity matrix, the temperature and the embeddings).
    """
    data = ShapesCaptionData()
    config = model_config("classroom", data, vision_width=WIDTH, text_width=WIDTH)
    train_config, n_images = TRAIN_CONFIG, N_IMAGES
    model = new_model(config, train_config.seed)
    print(f"A CLIP of {model.num_parameters():,} parameters: a small ViT reads {config.image_size}"
          f" x {config.image_size} images in {config.patch_size} x {config.patch_size} patches, a "
          f"small transformer reads captions like 'a small red circle on the left'. Training "
          f"pulls each image towards its caption and away from the other "
          f"{train_config.batch_size - 1} captions in its batch. Six (colour, shape) pairs, such "
          f"as 'a blue circle', never appear in training.")
    before = zero_shot_accuracy(model, data, "unseen", n_images, np.random.default_rng(0))
    print(f"\nBefore training, zero-shot on unseen pairs: accuracy {before['accuracy']:.0%}, "
          f"colour {before['colour']:.0%}, shape {before['shape']:.0%} (chance: "
          f"{CHANCE['accuracy']:.1%}, {CHANCE['colour']:.0%}, {CHANCE['shape']:.0%})")
    trainer = Trainer(model, data, train_config, out_dir=out_dir, tokenizer=data.tokenizer,
                      family="clip", extra_metrics=temperature_metric,
                      throughput=THROUGHPUT)
    print(f"Training for {train_config.steps} steps of {train_config.batch_size} pairs ...")
    trainer.run()
    result = evaluate(model, data, n_images=n_images)
    print("\nAfter training:\n" + format_evaluation(result))
    plots = [save_loss_curve(trainer.history, out_dir, "CLIP on the shapes world", "clip"),
             *save_plots(model, data, trainer.history, out_dir)]
    print(f"plots: {', '.join(str(p) for p in plots)}")
    return {"unseen_before": before, "unseen_after": result["zero_shot"]["unseen"],
            "evaluation": result, "plots": plots}
