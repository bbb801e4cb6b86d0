"""Tests for minifm.models.diffusion_prior: the regression and diffusion priors of DALL-E 2."""

import dataclasses

import numpy as np
import pytest

from minifm.gradcheck import check_model, worst
from minifm.models import build_model
from minifm.models.diffusion import NoiseDraw
from minifm.models.diffusion_prior import (DiffusionPrior, DiffusionPriorConfig,
                                           RegressionPrior, RegressionPriorConfig)
from minifm.models.diffusion_sampling import sample

# Whole models in float64 (LayerNorms, GELUs, the MSE): the library bound for whole models.
MODEL_BOUND = 1e-5
E = 5
TINY_DIFFUSION = DiffusionPriorConfig(embed_dim=E, dim=8, n_layers=2, num_steps=10, p_uncond=0.5)
TINY_REGRESSION = RegressionPriorConfig(embed_dim=E, dim=8, n_layers=2)


def _scrambled(model, rng):
    """Random weights everywhere, so no gradient is zero by construction."""
    for _, p in model.named_parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    return model


def test_regression_prior_gradients_match_numerical(rng):
    model = _scrambled(RegressionPrior(TINY_REGRESSION, rng=rng, dtype=np.float64), rng)
    text, image = rng.standard_normal((3, E)), rng.standard_normal((3, E))
    assert worst(check_model(model, text, image)) < MODEL_BOUND


def test_diffusion_prior_gradients_match_numerical_with_dropped_rows(rng):
    model = _scrambled(DiffusionPrior(TINY_DIFFUSION, rng=rng, dtype=np.float64), rng)
    z0, text = rng.standard_normal((4, E)), rng.standard_normal((4, E))
    draw = NoiseDraw(t=np.array([0, 3, 7, 9]), eps=rng.standard_normal((4, E)),
                     uncond=np.array([True, False, True, False]))
    results = check_model(model, z0, text, draw)
    assert worst(results) < MODEL_BOUND
    assert np.abs(model.null_cond.grad).max() > 0          # the dropped rows reach null_cond


def test_null_conditioning_ignores_the_caption(rng):
    model = _scrambled(DiffusionPrior(TINY_DIFFUSION, rng=rng, dtype=np.float64), rng)
    z_t, t = rng.standard_normal((2, E)), np.array([4, 4])
    dropped = np.ones(2, dtype=bool)
    a = model.predict_noise(z_t, t, rng.standard_normal((2, E)), dropped)
    b = model.predict_noise(z_t, t, rng.standard_normal((2, E)), dropped)
    np.testing.assert_array_equal(a, b)


def test_sampler_draws_embeddings_from_the_prior(rng):
    model = DiffusionPrior(TINY_DIFFUSION, rng=rng, dtype=np.float64)
    text = rng.standard_normal((3, E))
    z = sample(model, text, np.random.default_rng(0), steps=4, guidance=2.0, clip=False)
    assert z.shape == (3, E) and np.isfinite(z).all()
    again = sample(model, text, np.random.default_rng(0), steps=4, guidance=2.0, clip=False)
    np.testing.assert_array_equal(z, again)                 # DDIM, eta 0: deterministic
    with pytest.raises(ValueError, match=r"x_T must have shape \(B, E\) = \(3, 5\)"):
        sample(model, text, rng, x_T=rng.standard_normal((3, 4)))


def test_priors_rebuild_from_their_family_names(rng):
    for family, model in (("diffusion-prior", DiffusionPrior(TINY_DIFFUSION, rng=rng)),
                          ("regression-prior", RegressionPrior(TINY_REGRESSION, rng=rng))):
        rebuilt = build_model(family, dataclasses.asdict(model.config), rng=rng)
        assert type(rebuilt) is type(model) and rebuilt.config == model.config


def test_bad_inputs_are_named(rng):
    model = DiffusionPrior(TINY_DIFFUSION, rng=rng, dtype=np.float64)
    with pytest.raises(ValueError, match="z0 must have shape"):
        model(rng.standard_normal((2, E + 1)), rng.standard_normal((2, E)), rng)
    with pytest.raises(TypeError, match="noise must be a NoiseDraw"):
        model(rng.standard_normal((2, E)), rng.standard_normal((2, E)), 3)
    with pytest.raises(ValueError, match="DiffusionPriorConfig.schedule"):
        DiffusionPriorConfig(schedule="square")
    with pytest.raises(ValueError, match="RegressionPriorConfig.dim must be a positive int"):
        RegressionPriorConfig(dim=0)
