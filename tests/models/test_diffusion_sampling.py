"""Tests for minifm.models.diffusion_sampling: DDPM, DDIM and classifier-free guidance."""

import numpy as np
import pytest

from minifm.functional.noise_schedule import cosine_schedule, q_sample
from minifm.models.diffusion import DiffusionConfig, DiffusionTransformer
from minifm.models.diffusion_sampling import (ddim_step, ddim_timesteps, ddpm_step, guided_noise,
                                              sample)

# The samplers are closed-form arithmetic: two float64 routes to the same number agree to
# round-off, which after 10 steps through a random network stays far below 1e-9.
EXACT = 1e-9

TINY = DiffusionConfig(image_size=4, patch_size=2, channels=3, dim=8, n_layers=2, n_heads=2,
                       hidden_dim=16, cond_dim=5, num_steps=10)


@pytest.fixture
def model(rng):
    m = DiffusionTransformer(TINY, rng=rng, dtype=np.float64)
    for _, p in m.named_parameters():     # a random network: eps_hat depends on x, t and cond
        p.data[...] = rng.standard_normal(p.shape) * 0.3
    return m


def _cond(rng, B=2):
    return rng.standard_normal((B, TINY.cond_dim))


def test_ddim_with_eta_0_is_deterministic_given_the_starting_noise(model, rng):
    cond, x_T = _cond(rng), rng.standard_normal((2, 4, 4, 3))
    a = sample(model, cond, np.random.default_rng(1), steps=4, x_T=x_T, guidance=2.0)
    b = sample(model, cond, np.random.default_rng(2), steps=4, x_T=x_T, guidance=2.0)
    np.testing.assert_array_equal(a, b)
    c = sample(model, cond, np.random.default_rng(1), steps=4, x_T=x_T + 0.1, guidance=2.0)
    assert np.abs(a - c).max() > 1e-6
    d = sample(model, cond, np.random.default_rng(1), steps=4, x_T=x_T, guidance=2.0, eta=1.0)
    assert np.abs(a - d).max() > 1e-6                     # eta > 0 adds fresh noise


def test_ddim_with_eta_1_on_the_full_chain_is_ddpm(model, rng):
    cond = _cond(rng)
    ddpm = sample(model, cond, np.random.default_rng(5), sampler="ddpm")
    ddim = sample(model, cond, np.random.default_rng(5), sampler="ddim", steps=10, eta=1.0)
    assert np.abs(ddpm - ddim).max() < EXACT


def test_ddpm_step_mean_is_the_posterior_mean_of_x0_hat(rng):
    """Ho et al. eq. 7 with x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) gives eq. 11."""
    s = cosine_schedule(10)
    x_t, eps = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    for t in (1, 5, 9):
        abar, abar_prev, beta = s.alpha_bar[t], s.alpha_bar[t - 1], s.betas[t]
        x0_hat = (x_t - np.sqrt(1 - abar) * eps) / np.sqrt(abar)
        mu = (np.sqrt(abar_prev) * beta / (1 - abar) * x0_hat
              + np.sqrt(s.alphas[t]) * (1 - abar_prev) / (1 - abar) * x_t)
        np.testing.assert_allclose(ddpm_step(s, x_t, t, eps, np.zeros_like(x_t)), mu,
                                   rtol=0, atol=1e-12)


def test_ddim_step_with_the_true_noise_lands_on_the_forward_marginal(rng):
    """If eps_hat is the noise that made x_t from x_0, an eta = 0 step to t' gives x_t' of the
    same x_0 and eps, and the step to -1 gives x_0 itself."""
    s = cosine_schedule(10)
    x0, eps = rng.uniform(-1, 1, (2, 4, 4, 3)), rng.standard_normal((2, 4, 4, 3))
    x_t = q_sample(x0, np.array([8, 8]), eps, s)
    expected = q_sample(x0, np.array([3, 3]), eps, s)
    np.testing.assert_allclose(ddim_step(s, x_t, 8, 3, eps, 0.0, None), expected, atol=1e-12)
    np.testing.assert_allclose(ddim_step(s, x_t, 8, -1, eps, 0.0, None), x0, atol=1e-12)


def test_guidance_extrapolates_from_the_unconditional_prediction(model, rng):
    cond, x = _cond(rng), rng.standard_normal((2, 4, 4, 3))
    t = np.full(2, 6)
    eps_c = model.predict_noise(x, t, cond)
    eps_u = model.predict_noise(x, t, cond, np.ones(2, dtype=bool))
    assert np.abs(eps_c - eps_u).max() > 1e-6
    np.testing.assert_allclose(guided_noise(model, x, 6, cond, 3.0), eps_u + 3.0 * (eps_c - eps_u),
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(guided_noise(model, x, 6, cond, 1.0), eps_c)
    np.testing.assert_array_equal(guided_noise(model, x, 6, cond, 0.0), eps_u)


def test_ddim_timesteps_run_evenly_from_pure_noise_to_clean():
    ts = ddim_timesteps(1000, 50)
    assert len(ts) == 50 and ts[0] == 999 and ts[-1] == 0 and np.all(np.diff(ts) < 0)
    np.testing.assert_array_equal(ddim_timesteps(10, 10), np.arange(9, -1, -1))
    np.testing.assert_array_equal(ddim_timesteps(10, 1), [9])


def test_trajectory_records_every_step_and_images_keep_the_model_dtype(rng):
    m = DiffusionTransformer(TINY, rng=rng, dtype=np.float32)
    cond = _cond(rng).astype(np.float32)
    steps: list = []
    x0 = sample(m, cond, rng, steps=3, guidance=1.5, trajectory=steps)
    assert len(steps) == 4 and steps[-1] is x0
    assert x0.shape == (2, 4, 4, 3) and x0.dtype == np.float32 and np.isfinite(x0).all()


def test_bad_sampling_arguments_are_refused(model, rng):
    cond = _cond(rng)
    with pytest.raises(ValueError, match=r"guidance must be a number >= 0 \(1 = no guidance\), "
                                         r"got -0.5"):
        sample(model, cond, rng, guidance=-0.5)
    with pytest.raises(ValueError, match="guidance must be a number"):
        sample(model, cond, rng, guidance=float("nan"))
    with pytest.raises(ValueError, match=r"steps must be an int in \[1, 10\].*got 0"):
        sample(model, cond, rng, steps=0)
    with pytest.raises(ValueError, match=r"steps must be an int in \[1, 10\].*got 11"):
        sample(model, cond, rng, steps=11)
    with pytest.raises(ValueError, match="unknown sampler 'euler'; choose one of ddpm, ddim"):
        sample(model, cond, rng, sampler="euler")
    with pytest.raises(ValueError, match="eta must be a number >= 0"):
        sample(model, cond, rng, eta=-1.0)
    with pytest.raises(ValueError, match="the ddpm sampler runs all 10 steps, got steps=5"):
        sample(model, cond, rng, sampler="ddpm", steps=5)
    with pytest.raises(ValueError, match=r"cond must have shape \(B, E\) = \(2, 5\)"):
        sample(model, cond[:, :3], rng)
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 4, 4, 3\)"):
        sample(model, cond, rng, x_T=rng.standard_normal((2, 4, 4, 1)))
