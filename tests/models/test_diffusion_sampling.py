"""Tests for minifm.models.diffusion_sampling: DDPM, DDIM and classifier-free guidance."""

import numpy as np
import pytest

from minifm.functional.noise_schedule import cosine_schedule, q_sample
from minifm.models.diffusion import DiffusionConfig, DiffusionTransformer
from minifm.models.diffusion_sampling import (ddim_step, ddim_timesteps, ddpm_step, guided_noise,
                                              predict_x0, sample)

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


@pytest.mark.parametrize("clip", [False, True])
def test_ddim_with_eta_1_on_the_full_chain_is_ddpm(model, rng, clip):
    cond = _cond(rng)
    ddpm = sample(model, cond, np.random.default_rng(5), sampler="ddpm", clip=clip)
    ddim = sample(model, cond, np.random.default_rng(5), sampler="ddim", steps=10, eta=1.0,
                  clip=clip)
    assert np.abs(ddpm - ddim).max() < EXACT


def test_ddpm_step_through_x0_hat_is_algorithm_2(rng):
    """Ho et al. eq. 7 with x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) is Algorithm 2's
    (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z, sigma_t^2 = beta~_t."""
    s = cosine_schedule(10)
    x_t, eps, z = (rng.standard_normal((2, 3)) for _ in range(3))
    for t in (0, 1, 5, 9):
        abar, beta = s.alpha_bar[t], s.betas[t]
        abar_prev = s.alpha_bar[t - 1] if t > 0 else 1.0
        sigma = np.sqrt((1 - abar_prev) / (1 - abar) * beta)
        algorithm_2 = (x_t - beta / np.sqrt(1 - abar) * eps) / np.sqrt(s.alphas[t]) + sigma * z
        x0_hat, same_eps = predict_x0(s, x_t, t, eps, clip=False)
        assert same_eps is eps
        np.testing.assert_allclose(ddpm_step(s, x_t, t, x0_hat, z if t > 0 else None),
                                   algorithm_2, rtol=0, atol=1e-12)


def test_clipping_keeps_x0_hat_in_range_and_the_pair_consistent(rng):
    s = cosine_schedule(10)
    x_t, eps = 3 * rng.standard_normal((2, 4, 4, 3)), rng.standard_normal((2, 4, 4, 3))
    x0_hat, eps_c = predict_x0(s, x_t, 9, eps, clip=True)
    assert np.abs(x0_hat).max() <= 1.0
    assert np.abs(predict_x0(s, x_t, 9, eps, clip=False)[0]).max() > 1.0   # it did clip
    np.testing.assert_allclose(np.sqrt(s.alpha_bar[9]) * x0_hat
                               + np.sqrt(1 - s.alpha_bar[9]) * eps_c, x_t, atol=1e-12)


def test_ddim_step_with_the_true_noise_lands_on_the_forward_marginal(rng):
    """If eps_hat is the noise that made x_t from x_0, an eta = 0 step to t' gives x_t' of the
    same x_0 and eps, and the step to -1 gives x_0 itself."""
    s = cosine_schedule(10)
    x0, eps = rng.uniform(-1, 1, (2, 4, 4, 3)), rng.standard_normal((2, 4, 4, 3))
    x_t = q_sample(x0, np.array([8, 8]), eps, s)
    x0_hat, eps_hat = predict_x0(s, x_t, 8, eps, clip=True)
    np.testing.assert_allclose(x0_hat, x0, atol=1e-12)
    expected = q_sample(x0, np.array([3, 3]), eps, s)
    np.testing.assert_allclose(ddim_step(s, 8, 3, x0_hat, eps_hat, 0.0, None), expected,
                               atol=1e-12)
    np.testing.assert_allclose(ddim_step(s, 8, -1, x0_hat, eps_hat, 0.0, None), x0, atol=1e-12)


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
    with pytest.raises(ValueError, match=r"x_T must have shape \(B, H, W, Ch\) = \(2, 4, 4, 3\)"):
        sample(model, cond, rng, x_T=rng.standard_normal((2, 4, 4, 1)))
    with pytest.raises(TypeError, match="x_T must be float64 like the parameters"):
        sample(model, cond, rng, x_T=rng.standard_normal((2, 4, 4, 3)).astype(np.float32))
