"""Tests for minifm.functional.noise_schedule: the schedules and the closed-form forward process."""

import numpy as np
import pytest

from minifm.functional.noise_schedule import (cosine_schedule, linear_schedule, make_schedule,
                                              q_sample)

# Statistical tests: N draws per entry; a sample mean has standard error sqrt(var / N) and a sample
# variance sqrt(2 / (N - 1)) * var (Gaussian). 5 standard errors: a correct implementation fails
# with probability ~6e-7 per entry (and the seed is fixed, so the outcome is too).
N_DRAWS = 200_000
Z = 5.0


def test_linear_schedule_is_ho_et_al_at_1000_steps():
    s = linear_schedule(1000)
    np.testing.assert_allclose(s.betas, np.linspace(1e-4, 0.02, 1000), rtol=0, atol=1e-15)
    np.testing.assert_allclose(s.alphas, 1 - s.betas, rtol=0, atol=0)
    np.testing.assert_allclose(s.alpha_bar, np.cumprod(1 - s.betas), rtol=1e-12)


def test_cosine_schedule_follows_nichol_dhariwal_eq_17():
    S, s_off = 1000, 0.008
    sched = cosine_schedule(S)
    t = np.arange(1, S + 1) / S
    f = lambda u: np.cos((u + s_off) / (1 + s_off) * np.pi / 2) ** 2   # noqa: E731
    expected = f(t) / f(0.0)
    unclipped = sched.betas < 0.999                # only the very last steps hit the clip
    assert unclipped.sum() >= S - 2
    first_clipped = np.argmin(unclipped) if not unclipped.all() else S
    np.testing.assert_allclose(sched.alpha_bar[:first_clipped], expected[:first_clipped],
                               rtol=1e-9, atol=1e-15)
    assert sched.betas.max() <= 0.999


@pytest.mark.parametrize("name", ["linear", "cosine"])
@pytest.mark.parametrize("S", [10, 100, 1000])
def test_schedules_go_from_clean_to_pure_noise(name, S):
    sched = make_schedule(name, S)
    assert sched.num_steps == S
    assert sched.alpha_bar[0] > 0.9                       # the first step barely adds noise
    assert sched.alpha_bar[-1] < 1e-3                     # the last is (almost) pure noise
    assert np.all(np.diff(sched.alpha_bar) < 0)           # each step adds noise
    assert np.all((sched.betas > 0) & (sched.betas < 1))


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_q_sample_has_the_closed_form_mean_and_variance(name):
    rng = np.random.default_rng(0)
    sched = make_schedule(name, 50)
    x0 = np.array([1.0, -0.5, 0.0, 2.0])                  # one example of 4 entries
    for step in (0, 10, 25, 49):
        abar = sched.alpha_bar[step]
        eps = rng.standard_normal((N_DRAWS, 4))
        xt = q_sample(np.broadcast_to(x0, (N_DRAWS, 4)).copy(), np.full(N_DRAWS, step), eps,
                      sched)
        var = 1 - abar
        assert np.all(np.abs(xt.mean(0) - np.sqrt(abar) * x0) < Z * np.sqrt(var / N_DRAWS))
        assert np.all(np.abs(xt.var(0) - var) < Z * np.sqrt(2 / (N_DRAWS - 1)) * var)


def test_closed_form_matches_running_the_chain_step_by_step():
    """q(x_t | x_0) in one go has the law of t steps q(x_s | x_{s-1}) (Ho et al. eq. 2 and 4)."""
    rng = np.random.default_rng(1)
    sched = linear_schedule(20)
    x0 = np.array([1.5, -1.0])
    x = np.broadcast_to(x0, (N_DRAWS, 2)).copy()
    for s in range(12):                                   # steps 0 .. 11
        x = np.sqrt(sched.alphas[s]) * x + np.sqrt(sched.betas[s]) * rng.standard_normal(x.shape)
    abar = sched.alpha_bar[11]
    var = 1 - abar
    assert np.all(np.abs(x.mean(0) - np.sqrt(abar) * x0) < Z * np.sqrt(var / N_DRAWS))
    assert np.all(np.abs(x.var(0) - var) < Z * np.sqrt(2 / (N_DRAWS - 1)) * var)


def test_q_sample_uses_each_examples_own_step_and_keeps_dtype(rng):
    sched = cosine_schedule(10)
    x0 = rng.standard_normal((3, 2, 2, 1)).astype(np.float32)
    eps = rng.standard_normal((3, 2, 2, 1)).astype(np.float32)
    t = np.array([0, 5, 9])
    xt = q_sample(x0, t, eps, sched)
    assert xt.dtype == np.float32 and xt.shape == x0.shape
    for b in range(3):
        ab = sched.alpha_bar[t[b]]
        np.testing.assert_allclose(xt[b], np.sqrt(ab) * x0[b] + np.sqrt(1 - ab) * eps[b],
                                   rtol=1e-6, atol=1e-6)


def test_bad_input_is_refused_with_a_clear_message(rng):
    with pytest.raises(ValueError, match="unknown noise schedule 'quadratic'"):
        make_schedule("quadratic", 10)
    with pytest.raises(ValueError, match="num_steps must be a positive int"):
        linear_schedule(0)
    sched = linear_schedule(10)
    x = rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match=r"timesteps t must lie in \[0, 10\), got 10"):
        q_sample(x, np.array([0, 10]), x, sched)
    with pytest.raises(TypeError, match="timesteps t must be an integer"):
        q_sample(x, np.array([0.0, 1.0]), x, sched)
    with pytest.raises(ValueError, match=r"shape \(B,\) = \(2,\)"):
        q_sample(x, np.array([0]), x, sched)
    with pytest.raises(ValueError, match="arrays of one shape"):
        q_sample(x, np.array([0, 1]), x[:, :2], sched)
