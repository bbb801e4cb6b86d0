"""Every analysis figure renders, titled and with labelled axes."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from minifm.analysis.probes import ProbeReport
from minifm.analysis.scaling import PowerLaw
from minifm.plots.analysis import (plot_ablation, plot_attention, plot_logit_lens, plot_probes,
                                   plot_scaling, plot_skew)
from minifm.tasks.bias import BiasReport
from minifm.tasks.scaling import ScalingGrid, ScalingResult


def rendered(fig):
    FigureCanvasAgg(fig).draw()
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    for ax in axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    return axes


def test_scaling_figure():
    grid = ScalingGrid(sizes=((1, 8), (1, 16), (2, 16), (2, 24)), steps=(4, 8, 16, 32))
    params = np.array([768.0, 3072, 6144, 13824])
    tokens = np.array([1e3, 2e3, 4e3, 8e3])
    compute = 6 * params[:, None] * tokens[None, :]
    loss = 3 * (params[:, None] / 1e3) ** -0.1 * (tokens[None, :] / 1e3) ** -0.2
    law = PowerLaw(3.0, 0.1, 0.0)
    result = ScalingResult(grid=grid, params=params, tokens=tokens, compute=compute, loss=loss,
                           seconds=1.0, fit_n=law, fit_d=law, frontier=np.array([0, 1, 5, 15]),
                           fit_frontier=law)
    assert len(rendered(plot_scaling(result))) == 3


def test_skew_figure():
    shares = np.linspace(0.1, 0.9, 8)
    assert len(rendered(plot_skew(BiasReport(*[shares] * 6)))) == 2


def test_attention_figure_has_a_colorbar_per_head():
    maps = np.full((2, 3, 4, 4), 0.25)
    fig = plot_attention(maps, ["a", "b", "c", "d"])
    assert len(rendered(fig)) == 6 and len(fig.axes) == 12
    with pytest.raises(ValueError, match="len\\(tokens\\)"):
        plot_attention(maps, ["a", "b"])


def test_ablation_logit_lens_and_probe_figures():
    assert len(rendered(plot_ablation(np.array([[0.1, -0.02], [0.0, 0.3]])))) == 1
    probs = np.array([[0.1, 0.5, 0.9], [0.2, 0.6, 0.95]])
    top = [["a", "b", "\n"], ["a", "c", "d"]]
    assert len(rendered(plot_logit_lens(probs, ["x", "y", "z"], top))) == 1
    reports = {"part of speech": [ProbeReport(0.9, 0.5), ProbeReport(0.95, 0.4)],
               "noun number": [ProbeReport(0.7, 0.6), ProbeReport(0.99, 0.5)]}
    assert len(rendered(plot_probes(reports))) == 2
