"""DALL-E 2 learns: a short real run (CLIP 300 steps, decoder 600, regression prior 300; about
25 s of one core) draws held-out (colour, shape) pairs judged right above chance."""

import dataclasses

import pytest

from minifm.data.shapes import CHANCE
from minifm.tasks import clip as clip_task
from minifm.tasks.diffusion import (DECODER_DEFAULTS, PRIOR_DEFAULTS, DiffusionRun, build_pools,
                                    decoder_trainer, evaluate, prior_trainer)
from minifm.training.trainer import Trainer


@pytest.mark.slow
def test_short_run_draws_held_out_pairs_above_chance():
    captions = clip_task.caption_data()
    clip = clip_task.new_model(clip_task.model_config("classroom", captions), seed=0)
    Trainer(clip, captions, dataclasses.replace(clip_task.TRAIN_DEFAULTS, steps=300,
                                                batch_size=32, eval_interval=300,
                                                eval_batches=1), quiet=True).run()
    pools = build_pools(clip, captions, seed=0, n_train=2000, n_val=64)
    decoder = decoder_trainer(clip, pools, dataclasses.replace(
        DECODER_DEFAULTS, steps=600, eval_interval=600, eval_batches=1, seed=0))
    decoder.run()
    prior = prior_trainer("regression", clip, pools, dataclasses.replace(
        PRIOR_DEFAULTS, steps=300, eval_interval=300, eval_batches=1, seed=0))
    prior.run()
    run = DiffusionRun(decoder.model, prior.model, clip, captions)
    result = evaluate(run, samples=8, candidates=1, guidance=3.0, steps=10)
    unseen = result["unseen"]
    # Measured on this run (seeded, 48 held-out drawings): 25.0 % right (12 drawings; colour
    # 100 %, shape 25.0 %); seen pairs 29.2 %. Chance is 2.8 % (both) and 16.7 % (colour); the
    # bounds (11.1 %, 50 %) sit well under the measurement: 600 steps teach colour, not yet shape.
    assert unseen["accuracy"] > 4 * CHANCE["accuracy"]
    assert unseen["colour"] > 3 * CHANCE["colour"]
