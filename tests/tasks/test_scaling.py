"""The scaling grid on a tiny case: shapes, counted compute, fits present only with enough points."""

from __future__ import annotations

import numpy as np
import pytest

from minifm.analysis.scaling import PowerLaw, training_flops
from minifm.models.gpt import GPTConfig
from minifm.tasks.scaling import GRIDS, ScalingGrid, held_out_windows, run_scaling, training_data

TINY = GRIDS["tiny"]


@pytest.fixture(scope="module")
def tiny_result():
    return run_scaling(TINY)


def test_grid_measures_every_run_and_counts_its_compute(tiny_result):
    r = tiny_result
    assert r.loss.shape == r.compute.shape == (4, 4)
    assert np.all(np.isfinite(r.loss)) and np.all(r.loss > 0)
    assert list(r.tokens) == [4 * 4 * 16, 8 * 4 * 16, 16 * 4 * 16, 32 * 4 * 16]
    assert list(r.params) == [12 * L * C * C for L, C in TINY.sizes]
    config = GPTConfig(vocab_size=30, context_length=16, n_layer=2, n_head=2, n_embd=24)
    assert r.compute[3, 2] == training_flops(config, 16 * 4 * 16)   # vocab is not counted


def test_more_training_lowers_the_loss_of_each_size(tiny_result):
    # a char model far from convergence: every doubling of steps must help
    assert np.all(np.diff(tiny_result.loss, axis=1) < 0)


def test_fits_and_frontier(tiny_result):
    r = tiny_result
    assert isinstance(r.fit_n, PowerLaw) and isinstance(r.fit_d, PowerLaw)
    assert r.fit_d.alpha > 0                       # loss falls with data
    frontier = r.frontier_runs()
    losses = [r.loss[i, j] for i, j in frontier]
    computes = [r.compute[i, j] for i, j in frontier]
    assert np.all(np.diff(losses) < 0) and np.all(np.diff(computes) >= 0)
    assert frontier[-1] == tuple(np.unravel_index(np.argmin(r.loss), r.loss.shape))
    exponent = r.optimal_size_exponent()
    assert exponent is None or np.isfinite(exponent)


def test_fits_are_left_out_with_fewer_than_four_points():
    r = run_scaling(ScalingGrid(sizes=((1, 8), (1, 16)), steps=(2, 4), batch_size=2,
                                context_length=8, held_out_sentences=20))
    assert r.fit_n is None and r.fit_d is None
    assert (r.fit_frontier is None) == (len(r.frontier) < 4)     # up to all 4 runs
    assert r.loss.shape == (2, 2)


def test_training_text_covers_the_largest_budget_and_held_out_text_is_separate():
    data, tokenizer = training_data(TINY)
    assert len(data.splits["train"]) >= TINY.tokens(max(TINY.steps))
    inputs, targets = held_out_windows(TINY, tokenizer)
    assert inputs.shape == targets.shape and inputs.shape[1] == 16
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])


def test_bad_grids_are_refused():
    with pytest.raises(ValueError, match="n_head"):
        ScalingGrid(sizes=((1, 15),))
    with pytest.raises(ValueError, match="steps"):
        ScalingGrid(steps=(0, 10))
    with pytest.raises(ValueError, match="at least one"):
        ScalingGrid(sizes=())
