"""Tests for minifm.models.diffusion: the DiT denoiser and its epsilon-prediction loss."""

import dataclasses

import numpy as np
import pytest

from minifm.functional.noise_schedule import q_sample
from minifm.gradcheck import numerical_gradient_of_scalar, rel_error
from minifm.models import build_model
from minifm.models.diffusion import DiffusionConfig, DiffusionTransformer, NoiseDraw
from minifm.training.checkpoint import load_checkpoint, save_checkpoint
from minifm.training.optim import AdamW

# Whole model in float64 (attention, LayerNorms, GELUs, modulation, the MSE): the library bound for
# whole models.
MODEL_BOUND = 1e-5

TINY = DiffusionConfig(image_size=4, patch_size=2, channels=3, dim=8, n_layers=2, n_heads=2,
                       hidden_dim=16, cond_dim=5, num_steps=10, p_uncond=0.5)


def _model(rng, config=TINY, dtype=np.float64, well_scaled=False):
    model = DiffusionTransformer(config, rng=rng, dtype=dtype)
    if well_scaled:   # at adaLN-Zero init the output is 0 and most gradients vanish
        for _, p in model.named_parameters():
            p.data[...] = rng.standard_normal(p.shape) * 0.5
    return model


def _batch(rng, config=TINY, B=3):
    S, Ch = config.image_size, config.channels
    x0 = rng.uniform(-1, 1, (B, S, S, Ch))
    cond = rng.standard_normal((B, config.cond_dim))
    draw = NoiseDraw(t=rng.integers(0, config.num_steps, B), eps=rng.standard_normal(x0.shape),
                     uncond=np.arange(B) % 2 == 0)                  # rows 0 and 2 dropped
    return x0, cond, draw


def test_untrained_denoiser_predicts_zero_noise(rng):
    model = _model(rng)
    x0, cond, draw = _batch(rng)
    eps_hat, loss = model(x0, cond, draw)
    assert eps_hat.shape == x0.shape and eps_hat.dtype == np.float64
    assert not eps_hat.any()                                        # adaLN-Zero head
    assert loss == pytest.approx(np.mean(draw.eps ** 2), rel=1e-12)


def test_whole_denoiser_gradients_match_numerical(rng):
    model = _model(rng, well_scaled=True)
    batch = _batch(rng)

    def loss() -> float:
        return model(*batch)[1]

    model.zero_grad()
    loss()
    model.backward()
    errors, key_bias = {}, []
    for name, p in model.named_parameters():
        analytic, numerical = p.grad.copy(), numerical_gradient_of_scalar(loss, p.data)
        if name.endswith("attn.c_attn.bias"):
            # The key bias's exact gradient is 0 (softmax ignores a shift of a whole row):
            # both sides must vanish; the query and value thirds are compared as usual.
            q, k, v = np.split(np.arange(p.data.size), 3)
            key_bias += [np.abs(analytic[k]).max(), np.abs(numerical[k]).max()]
            qv = np.concatenate([q, v])
            analytic, numerical = analytic[qv], numerical[qv]
        errors[name] = rel_error(analytic, numerical)
    assert "null_cond" in errors and "blocks.1.ada.weight" in errors
    assert max(errors.values()) < MODEL_BOUND, max(errors.items(), key=lambda kv: kv[1])
    assert max(key_bias) < 1e-9


def test_dropped_rows_ignore_cond_and_train_the_null_conditioning(rng):
    model = _model(rng, well_scaled=True)
    x0, cond, draw = _batch(rng)
    eps_hat, _ = model(x0, cond, draw)
    other, _ = model(x0, cond + 1.0, draw)
    dropped = draw.uncond
    np.testing.assert_array_equal(eps_hat[dropped], other[dropped])
    assert np.abs(eps_hat[~dropped] - other[~dropped]).max() > 1e-6
    model.zero_grad()
    model(x0, cond, dataclasses.replace(draw, uncond=np.zeros(3, dtype=bool)))
    model.backward()
    assert not model.null_cond.grad.any()                           # no row dropped, no gradient


def test_the_loss_is_the_mse_of_the_noise_predicted_from_x_t(rng):
    model = _model(rng, well_scaled=True)
    x0, cond, draw = _batch(rng)
    eps_hat, loss = model(x0, cond, draw)
    x_t = q_sample(x0, draw.t, draw.eps, model.schedule)
    np.testing.assert_array_equal(model.predict_noise(x_t, draw.t, cond, draw.uncond), eps_hat)
    assert loss == pytest.approx(np.mean((eps_hat - draw.eps) ** 2), rel=1e-12)


def test_a_generator_draws_steps_noise_and_dropped_rows(rng):
    model = _model(rng, config=dataclasses.replace(TINY, p_uncond=0.1), dtype=np.float32)
    x0, cond, _ = _batch(rng)
    a = model(x0.astype(np.float32), cond.astype(np.float32), np.random.default_rng(7))
    b = model(x0.astype(np.float32), cond.astype(np.float32), np.random.default_rng(7))
    assert a[1] == b[1] and a[0].dtype == np.float32
    draw = model.draw_noise(20_000, np.random.default_rng(0))
    # binomial share: standard error sqrt(0.1 * 0.9 / 20000) = 0.0021; 5 of them
    assert abs(draw.uncond.mean() - 0.1) < 5 * 0.0021
    assert draw.t.min() == 0 and draw.t.max() == TINY.num_steps - 1
    assert draw.eps.dtype == np.float32


def test_default_config_builds_from_its_family_name():
    model = build_model("diffusion", dataclasses.asdict(DiffusionConfig()),
                        rng=np.random.default_rng(0))
    assert isinstance(model, DiffusionTransformer)
    assert model.config.num_patches == 16
    assert 100_000 < model.num_parameters() < 400_000


def test_bad_input_is_refused_with_clear_messages(rng):
    model = _model(rng)
    x0, cond, draw = _batch(rng)
    with pytest.raises(ValueError, match=r"x0 must have shape \(B, 4, 4, 3\)"):
        model(x0[:, :2], cond, draw)
    with pytest.raises(ValueError, match=r"cond must have shape \(B, E\) = \(3, 5\)"):
        model(x0, cond[:, :4], draw)
    with pytest.raises(TypeError, match="noise must be a NoiseDraw or a np.random.Generator"):
        model(x0, cond, 3)
    with pytest.raises(ValueError, match="uncond must be a bool array"):
        model(x0, cond, dataclasses.replace(draw, uncond=np.ones(3)))
    with pytest.raises(ValueError, match=r"timesteps t must lie in \[0, 10\)"):
        model(x0, cond, dataclasses.replace(draw, t=np.array([0, 1, 10])))
    with pytest.raises(RuntimeError, match="before forward"):
        _model(rng).backward()
    with pytest.raises(ValueError, match="schedule must be one of linear, cosine"):
        DiffusionConfig(schedule="quadratic")
    with pytest.raises(ValueError, match="p_uncond must be in"):
        DiffusionConfig(p_uncond=1.5)
    with pytest.raises(ValueError, match="divisible by patch_size"):
        DiffusionConfig(patch_size=3)


def test_a_checkpoint_rebuilds_the_same_denoiser(rng, tmp_path):
    model = _model(rng, dtype=np.float32, well_scaled=True)
    path = save_checkpoint(tmp_path / "ckpt.npz", model=model,
                           optimizer=AdamW(model.parameters(), lr=1e-3), step=3, rng=rng,
                           train_config=None, tokenizer=None, family="diffusion")
    again = load_checkpoint(path, family="diffusion").build_model()
    x0, cond, draw = _batch(rng)
    x0, cond = x0.astype(np.float32), cond.astype(np.float32)
    draw = dataclasses.replace(draw, eps=draw.eps.astype(np.float32))
    np.testing.assert_array_equal(again(x0, cond, draw)[0], model(x0, cond, draw)[0])


def test_x0_target_trains_on_the_image_and_samples_through_the_noise_it_implies(rng):
    config = dataclasses.replace(TINY, target="x0")
    model = _model(rng, config, well_scaled=True)
    x0, cond, draw = _batch(rng, config)
    x0_hat, loss = model(x0, cond, draw)
    assert loss == pytest.approx(np.mean((x0_hat - x0) ** 2), rel=1e-12)
    model.zero_grad()
    model(x0, cond, draw)
    model.backward()
    for name in ("head.weight", "null_cond", "cond_proj.weight"):     # the rest: same backward
        p = dict(model.named_parameters())[name]
        numerical = numerical_gradient_of_scalar(lambda: model(x0, cond, draw)[1], p.data)
        assert rel_error(p.grad, numerical) < MODEL_BOUND, name
    x_t = q_sample(x0, draw.t, draw.eps, model.schedule)
    eps_hat = model.predict_noise(x_t, draw.t, cond)
    abar = model.schedule.alpha_bar[draw.t].reshape(-1, 1, 1, 1)
    np.testing.assert_allclose(np.sqrt(abar) * model.predict(x_t, draw.t, cond)
                               + np.sqrt(1 - abar) * eps_hat, x_t, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="DiffusionConfig.target must be one of eps, x0"):
        dataclasses.replace(TINY, target="v")
