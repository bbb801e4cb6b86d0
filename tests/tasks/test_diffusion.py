"""minifm.tasks.diffusion at tiny sizes with an untrained CLIP: the embedding pools and batches,
checkpoints of the decoder and both priors (no pickle, refused when tampered, bit-identical
resume), caption -> prior -> decoder -> image, and bad requests."""

import dataclasses

import numpy as np
import pytest

from minifm.models.clip import CLIP, CLIPConfig
from minifm.models.diffusion_prior import DiffusionPrior, RegressionPrior
from minifm.tasks.clip import caption_data, embed_images, embed_texts
from minifm.tasks.diffusion import (CLIP_COPY, PRIOR_DIR, DecoderData, DiffusionRun, PriorData,
                                    build_pools, check_clip_fits, copy_clip, decoder_trainer, denoising_strip,
                                    draw, interpolate, load_diffusion_run, prior_trainer, slerp,
                                    train_decoder_and_prior, variations)
from minifm.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minifm.training.optim import AdamW
from minifm.training.trainer import TrainConfig, Trainer

SIZES = {"dim": 16, "n_layers": 1, "n_heads": 2, "hidden_dim": 32, "num_steps": 20}
STEPS = TrainConfig(steps=6, batch_size=4, lr=1e-3, warmup_steps=1, eval_interval=3,
                    eval_batches=1, log_interval=1, seed=3)


@pytest.fixture(scope="module")
def world():
    captions = caption_data()
    config = CLIPConfig(vision_width=16, vision_layers=1, text_width=16, text_layers=1,
                        embed_dim=8, vocab_size=captions.tokenizer.vocab_size,
                        context_length=captions.context_length)
    clip = CLIP(config, rng=np.random.default_rng(0))
    return clip, captions, build_pools(clip, captions, seed=0, n_train=64, n_val=16)


def test_pools_hold_unit_clip_embeddings_of_their_images_and_captions(world):
    clip, captions, pools = world
    pool = pools["train"]
    assert pool.images.shape == (64, 16, 16, 3) and pool.image_emb.shape == (64, 8)
    np.testing.assert_allclose(np.linalg.norm(pool.text_emb, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(pool.image_emb[:5], embed_images(clip, pool.images[:5]),
                               rtol=1e-5, atol=1e-6)
    again = build_pools(clip, captions, seed=0, n_train=64, n_val=16)
    np.testing.assert_array_equal(again["val"].images, pools["val"].images)
    assert not np.array_equal(again["train"].images[:16], pools["val"].images)


def test_batches_are_scaled_embeddings_and_a_noise_generator(world):
    _, _, pools = world
    x0, cond, noise = DecoderData(pools).get_batch("train", 5, np.random.default_rng(0))
    assert x0.shape == (5, 16, 16, 3) and x0.min() >= -1 and x0.max() <= 1
    assert cond.shape == (5, 8) and isinstance(noise, np.random.Generator)
    text, image = PriorData("regression", pools).get_batch("val", 5, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(image, axis=1), np.sqrt(8), rtol=1e-5)
    assert text.shape == (5, 8)
    with pytest.raises(ValueError, match="split must be one of train, val, got 'test'"):
        DecoderData(pools).get_batch("test", 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown prior 'autoregressive'"):
        PriorData("autoregressive", pools)


def _params(model):
    return {name: p.data.copy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("which", ["decoder", "diffusion", "regression"])
def test_resumed_training_is_bit_identical(world, tmp_path, which):
    clip, _, pools = world

    def trainer(out):
        if which == "decoder":
            return decoder_trainer(clip, pools, STEPS, out=out, **SIZES)
        return prior_trainer(which, clip, pools, STEPS, out=out)

    whole = trainer(tmp_path / "whole")
    whole.run()
    half = trainer(tmp_path / "half")
    half.run(until_step=3)
    data = whole.data
    resumed = Trainer.from_checkpoint(tmp_path / "half", data, out_dir=tmp_path / "half",
                                      quiet=True)
    assert resumed.step == 3
    resumed.run()
    a, b = _params(whole.model), _params(resumed.model)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_checkpoints_hold_plain_arrays_and_a_tampered_one_is_refused(world, tmp_path):
    clip, _, pools = world
    trainer = decoder_trainer(clip, pools, dataclasses.replace(STEPS, steps=1), out=tmp_path,
                              **SIZES)
    trainer.run()
    path = tmp_path / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as f:                  # no object arrays inside
        assert all(f[k].dtype != object for k in f.files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz", "metrics.json"]
    assert load_checkpoint(path, family="diffusion").build_model().config.dim == 16
    raw = dict(np.load(path, allow_pickle=False))
    raw["param/head.weight"] = raw["param/head.weight"] + 1          # tampered, meta unchanged
    np.savez(tmp_path / "tampered.npz", **raw)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(tmp_path / "tampered.npz")



# ---- the orchestration of `minifm train diffusion` and the tour ---------------------------------
def test_train_decoder_and_prior_trains_both_into_the_run_folder(world, tmp_path):
    clip, captions, pools = world
    decoder = decoder_trainer(clip, pools, STEPS, out=tmp_path, **SIZES)
    run, metrics = train_decoder_and_prior(decoder, clip, captions, pools, prior="regression",
                                           prior_config=STEPS)
    assert isinstance(run, DiffusionRun) and run.decoder is decoder.model
    assert isinstance(run.prior, RegressionPrior) and run.clip is clip
    assert metrics["steps_done"] == 6 and metrics["prior"] == {"kind": "regression", "steps": 6}
    assert load_checkpoint(tmp_path, family="diffusion").step == 6
    assert load_checkpoint(tmp_path / PRIOR_DIR, family="regression-prior").step == 6


def test_a_resumed_run_keeps_a_finished_prior_of_its_kind_and_retrains_another(world, tmp_path):
    clip, captions, pools = world
    train_decoder_and_prior(decoder_trainer(clip, pools, STEPS, out=tmp_path, **SIZES), clip,
                            captions, pools, prior_config=STEPS)
    finished = (tmp_path / PRIOR_DIR / "checkpoint.npz").read_bytes()
    longer = dataclasses.replace(STEPS, steps=8)

    def resume(kind, prior_steps):
        decoder = Trainer.from_checkpoint(tmp_path, DecoderData(pools), config=longer,
                                          out_dir=tmp_path, family="diffusion", quiet=True)
        longer_prior = dataclasses.replace(STEPS, steps=prior_steps)
        return train_decoder_and_prior(decoder, clip, captions, pools, prior=kind,
                                       prior_config=longer_prior, keep_finished_prior=True)

    run, metrics = resume("diffusion", 6)
    assert metrics["steps_done"] == 8 and isinstance(run.prior, DiffusionPrior)
    assert (tmp_path / PRIOR_DIR / "checkpoint.npz").read_bytes() == finished     # kept
    run, _ = resume("regression", 6)                                  # another kind: trained
    assert isinstance(run.prior, RegressionPrior)
    assert load_checkpoint(tmp_path / PRIOR_DIR, family="regression-prior").step == 6


def test_train_decoder_and_prior_without_a_folder_writes_nothing_and_stops_on_divergence(world):
    clip, captions, pools = world
    run, _ = train_decoder_and_prior(decoder_trainer(clip, pools, STEPS, **SIZES), clip,
                                     captions, pools, prior_config=STEPS)
    assert isinstance(run.prior, DiffusionPrior)
    diverging = decoder_trainer(clip, pools, STEPS, **SIZES)
    diverging.model.named_parameters().__next__()[1].data[...] = np.inf     # loss: not finite
    run, metrics = train_decoder_and_prior(diverging, clip, captions, pools, prior_config=STEPS)
    assert run is None and metrics["stopped_early"]
    with pytest.raises(ValueError, match="unknown prior 'autoregressive'"):
        train_decoder_and_prior(decoder_trainer(clip, pools, STEPS, **SIZES), clip, captions,
                                pools, prior="autoregressive")

@pytest.fixture(scope="module")
def run(world, tmp_path_factory):
    """A run folder as `train diffusion` leaves it (untrained weights, 1 step each)."""
    clip, captions, pools = world
    out = tmp_path_factory.mktemp("run")
    one = dataclasses.replace(STEPS, steps=1)
    decoder_trainer(clip, pools, one, out=out, **SIZES).run()
    prior_trainer("diffusion", clip, pools, one, out=out / PRIOR_DIR).run()
    save_checkpoint(out / CLIP_COPY, model=clip, optimizer=AdamW(clip.parameters(), lr=1e-3), step=0,
                    rng=np.random.default_rng(0), train_config=None,
                    tokenizer=captions.tokenizer, family="clip")
    return out


def test_a_run_folder_loads_and_draws_captions(run):
    loaded = load_diffusion_run(run)
    assert isinstance(loaded.prior, DiffusionPrior) and loaded.prior_kind == "diffusion"
    images = draw(loaded, ["a red circle", "a blue ring"], 3, rng=np.random.default_rng(0),
                  steps=3)
    assert images.shape == (2, 3, 16, 16, 3) and images.min() >= 0 and images.max() <= 1
    again = draw(loaded, ["a red circle", "a blue ring"], 3, rng=np.random.default_rng(0),
                 steps=3)
    np.testing.assert_array_equal(images, again)
    ddpm = draw(loaded, ["a red circle"], 1, rng=np.random.default_rng(0), sampler="ddpm")
    assert ddpm.shape == (1, 1, 16, 16, 3)


def test_regression_prior_runs_the_same_pipeline(run, world):
    clip, captions, pools = world
    loaded = load_diffusion_run(run)
    regression = DiffusionRun(loaded.decoder, RegressionPrior(
        prior_trainer("regression", clip, pools, STEPS).model.config,
        rng=np.random.default_rng(0)), clip, captions)
    assert regression.prior_kind == "regression"
    assert draw(regression, ["a cyan bar"], 2, rng=np.random.default_rng(0),
                steps=2).shape == (1, 2, 16, 16, 3)


def test_pictures_have_their_shapes(run):
    loaded = load_diffusion_run(run)
    rng = np.random.default_rng(0)
    xs, t = denoising_strip(loaded, "a red circle", 2, rng, steps=5, shown=4)
    assert xs.shape == (4, 2, 16, 16, 3) and t[0] == 19 and t[-1] == -1
    image = loaded.captions.world.sample(1, rng).images[0]
    assert variations(loaded, image, 3, rng, steps=2).shape == (3, 16, 16, 3)
    assert interpolate(loaded, "a red circle", "a blue ring", 4, rng,
                       steps=2).shape == (4, 16, 16, 3)


def test_slerp_runs_along_the_sphere_between_its_ends():
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    path = slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[-1], b, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(path[2], np.array([1.0, 1.0, 0.0]) / np.sqrt(2), atol=1e-12)


def test_bad_requests_name_what_is_wrong(run, world):
    loaded = load_diffusion_run(run)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="guidance must be a number >= 0"):
        draw(loaded, ["a red circle"], 1, rng=rng, guidance=-1.0)
    with pytest.raises(ValueError, match=r"steps must be an int in \[1, 20\], got 0"):
        draw(loaded, ["a red circle"], 1, rng=rng, steps=0)
    with pytest.raises(ValueError, match="unknown sampler 'euler'; choose one of ddpm, ddim"):
        draw(loaded, ["a red circle"], 1, rng=rng, sampler="euler")
    with pytest.raises(ValueError, match="never saw: purple"):
        draw(loaded, ["a purple circle"], 1, rng=rng, steps=2)
    with pytest.raises(ValueError, match="number of samples must be a positive int"):
        draw(loaded, ["a red circle"], 0, rng=rng, steps=2)
    with pytest.raises(CheckpointError, match="holds a 'diffusion' model, not a 'clip' one"):
        copy_clip(run, run / "elsewhere")
    clip, _, _ = world
    small = CLIP(dataclasses.replace(clip.config, image_size=8), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="the CLIP run sees 8 x 8 x 3 images"):
        check_clip_fits(small)
    text = embed_texts(loaded.clip, loaded.captions, ["a red circle"])
    assert text.shape == (1, 8)
