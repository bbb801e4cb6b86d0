"""Parameter and compute counts against the papers' figures; power-law fits on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from minifm.analysis.scaling import (PowerLaw, compute_frontier, fit_power_law,
                                     forward_flops_per_token, kaplan_params,
                                     non_embedding_params, training_flops)
from minifm.models.gpt import PRESETS, GPTConfig


def test_kaplan_params_is_12_L_C_squared():
    gpt3 = PRESETS["gpt3-175b"]
    assert kaplan_params(gpt3) == 12 * 96 * 12288**2 == 173_946_175_488


def test_exact_non_embedding_count_adds_the_biases_and_layernorms():
    for config in (PRESETS["gpt2"], PRESETS["classroom"], GPTConfig(bias=False)):
        C, L = config.n_embd, config.n_layer
        per_block = 13 * C if config.bias else 4 * C          # see models.gpt.count_params
        assert non_embedding_params(config) == kaplan_params(config) + L * per_block + 2 * C
    # GPT-2 small: 124,439,808 in all, 85M without its embeddings
    assert non_embedding_params(PRESETS["gpt2"]) == 124_439_808 - (50257 + 1024) * 768


def test_forward_flops_are_2N_plus_attention():
    config = GPTConfig(n_layer=3, n_embd=16, context_length=10)
    N = 12 * 3 * 16**2
    assert forward_flops_per_token(config) == 2 * N + 2 * 3 * 10 * 16
    assert forward_flops_per_token(config, n_ctx=4) == 2 * N + 2 * 3 * 4 * 16
    assert training_flops(config, 1000) == 3 * (2 * N + 2 * 3 * 10 * 16) * 1000


def test_gpt3_training_compute_matches_brown_et_al():
    """Brown et al. 2020, Table D.1: GPT-3 175B trained on 300B tokens took 3.14e23 FLOPs
    (counted as 6 N D); the attention term adds 6 L T C D, about 1.4% more here."""
    flops = training_flops(PRESETS["gpt3-175b"], 300 * 10**9)
    assert flops == pytest.approx(3.14e23, rel=0.02)
    six_n_d = 6 * kaplan_params(PRESETS["gpt3-175b"]) * 300 * 10**9
    assert flops / six_n_d == pytest.approx(1 + 2048 / (12 * 12288), rel=1e-12)


def test_fit_recovers_a_noise_free_power_law():
    law = PowerLaw(a=40.0, alpha=0.35, c=1.7)
    N = np.geomspace(1e3, 1e7, 9)
    fit = fit_power_law(N, law(N))
    assert fit.a == pytest.approx(40.0, rel=1e-6)
    assert fit.alpha == pytest.approx(0.35, rel=1e-6)
    assert fit.c == pytest.approx(1.7, rel=1e-6)


def test_fit_recovers_a_law_without_an_irreducible_term():
    law = PowerLaw(a=3.0, alpha=0.1, c=0.0)
    D = np.geomspace(1e4, 1e9, 6)
    fit = fit_power_law(D, law(D))
    assert fit.c == pytest.approx(0.0, abs=1e-6)
    assert fit.alpha == pytest.approx(0.1, rel=1e-5)


def test_fit_under_noise_is_close_and_beats_the_truth_in_squared_error(rng):
    law = PowerLaw(a=12.0, alpha=0.5, c=2.0)
    N = np.geomspace(1e2, 1e6, 15)
    y = law(N) + 0.002 * rng.standard_normal(15)
    fit = fit_power_law(N, y)
    assert fit.alpha == pytest.approx(0.5, rel=0.05)
    assert fit.c == pytest.approx(2.0, abs=0.01)
    sse = lambda f: float(np.sum((y - f(N)) ** 2))            # noqa: E731
    assert sse(fit) <= sse(law)                               # a least-squares fit


def test_frontier_keeps_runs_no_cheaper_run_beats():
    compute = np.array([1.0, 2.0, 2.0, 4.0, 8.0, 3.0])
    loss = np.array([5.0, 4.0, 4.5, 4.2, 3.0, 3.9])
    assert compute_frontier(compute, loss).tolist() == [0, 1, 5, 4]


def test_bad_scaling_input_is_named():
    with pytest.raises(ValueError, match="n >= 4"):
        fit_power_law(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="positive"):
        fit_power_law(np.array([1.0, 2.0, 3.0, 0.0]), np.ones(4))
    with pytest.raises(ValueError, match="grid must be an int >= 3"):
        fit_power_law(np.arange(1.0, 6.0), np.arange(6.0, 1.0, -1), grid=1)
    with pytest.raises(ValueError, match="tokens"):
        training_flops(GPTConfig(), -1)
    with pytest.raises(ValueError, match="n_ctx"):
        forward_flops_per_token(GPTConfig(), n_ctx=0)
    with pytest.raises(ValueError, match="one shape"):
        compute_frontier(np.ones(3), np.ones(2))
