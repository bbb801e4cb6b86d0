"""Pictures of the scale, bias and inside-the-model measurements: loss against compute with the
frontier, learned skew before and after balanced fine-tuning, attention maps per layer and head,
head-ablation drops, the logit lens, and probe accuracy per layer against its control.

Dimensions: L layers, H heads, T time, J occupations.
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from minifm.analysis.probes import ProbeReport
from minifm.data.occupations import OCCUPATIONS
from minifm.tasks.bias import BiasReport
from minifm.tasks.scaling import ScalingResult


def plot_scaling(result: ScalingResult) -> Figure:
    """Three panels: held-out loss against training compute (one line per size, the frontier
    and its power-law fit), L(N) at the largest budget and L(D) for the largest model."""
    fig = Figure(figsize=(13, 4), layout="constrained")
    ax_c, ax_n, ax_d = fig.subplots(1, 3)
    for (L, C), compute, loss in zip(result.grid.sizes, result.compute, result.loss):
        ax_c.plot(compute, loss, "o-", alpha=0.7, label=f"L={L} C={C}")
    frontier_c = result.compute.ravel()[result.frontier]
    frontier_l = result.loss.ravel()[result.frontier]
    ax_c.plot(frontier_c, frontier_l, "k--", lw=2, label="compute-efficient frontier")
    if result.fit_frontier is not None:
        grid = np.geomspace(frontier_c.min(), frontier_c.max(), 50)
        law = result.fit_frontier
        ax_c.plot(grid, law(grid), "r:", lw=2, label=f"fit: alpha={law.alpha:.2f}")
    ax_c.set(xscale="log", yscale="log", xlabel="training compute (FLOPs)",
             ylabel="held-out loss (nats/char)", title="Loss against compute")
    ax_c.legend(fontsize=7)
    for ax, x, y, law, xlabel, title in (
            (ax_n, result.params, result.loss[:, -1], result.fit_n,
             "non-embedding parameters N", f"L(N) at D={int(result.tokens[-1]):,} tokens"),
            (ax_d, result.tokens, result.loss[-1], result.fit_d, "training tokens D",
             f"L(D) for N={int(result.params[-1]):,}")):
        ax.plot(x, y, "o", label="measured")
        if law is not None:
            grid = np.geomspace(x.min(), x.max(), 50)
            ax.plot(grid, law(grid), "-", label=f"a x^-{law.alpha:.2f} + {law.c:.2f}")
        ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="held-out loss (nats/char)",
               title=title)
        ax.legend(fontsize=7)
    for ax in (ax_c, ax_n, ax_d):
        ax.grid(alpha=0.3, which="both")
    return fig


def plot_skew(report: BiasReport) -> Figure:
    """Share of "she" per occupation: the data, the GPT and the BERT, before (left) and after
    (right) fine-tuning on balanced text."""
    fig = Figure(figsize=(12, 4), layout="constrained")
    x, width = np.arange(len(OCCUPATIONS)), 0.27
    for ax, data, gpt, bert, when in (
            (fig.add_subplot(1, 2, 1), report.data_before, report.gpt_before,
             report.bert_before, "trained on the 80/20 text"),
            (fig.add_subplot(1, 2, 2), report.data_after, report.gpt_after, report.bert_after,
             "then fine-tuned on balanced text")):
        ax.bar(x - width, data, width, label="data (counted)", color="0.6")
        ax.bar(x, gpt, width, label="GPT next-token")
        ax.bar(x + width, bert, width, label="BERT fill-mask")
        ax.axhline(0.5, color="k", lw=0.8, ls=":")
        ax.set_xticks(x, OCCUPATIONS, rotation=30)
        ax.set(ylim=(0, 1), xlabel="occupation", ylabel='p(she) / (p(he) + p(she))',
               title=f"Learned skew, {when}")
        ax.legend(fontsize=7)
    return fig


def plot_attention(maps: np.ndarray, tokens: Sequence[str]) -> Figure:
    """Attention maps of one sequence, a row per layer and a column per head, each with its
    colorbar. maps: (L, H, T, T) probabilities (query rows, key columns); tokens: T labels."""
    if maps.ndim != 4 or maps.shape[2] != maps.shape[3] or maps.shape[2] != len(tokens):
        raise ValueError(f"maps must be (L, H, T, T) with T = len(tokens) = {len(tokens)}, "
                         f"got {maps.shape}")
    L, H, T, _ = maps.shape
    side = max(3.2, 0.13 * T)                   # inches per map: room for every token's label
    fig = Figure(figsize=(side * H, 0.95 * side * L), layout="constrained")
    axes = np.asarray(fig.subplots(L, H, squeeze=False))
    for (l, h), ax in np.ndenumerate(axes):
        image = ax.imshow(maps[l, h], vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(T), tokens, fontsize=7, rotation=90)
        ax.set_yticks(range(T), tokens, fontsize=7)
        ax.set(title=f"layer {l} head {h}", xlabel="key (attended to)", ylabel="query")
        fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def plot_ablation(drops: np.ndarray, what: str = "agreement accuracy", change: str = "drop"
                  ) -> Figure:
    """How ``what`` changes (its ``change``: a drop, a rise) when each head alone is ablated,
    drops (L, H), as a heatmap."""
    L, H = drops.shape
    fig = Figure(figsize=(1.5 + 1.2 * H, 1 + 0.9 * L), layout="constrained")
    ax = fig.subplots()
    bound = max(float(np.abs(drops).max()), 1e-9)
    image = ax.imshow(drops, cmap="RdBu_r", vmin=-bound, vmax=bound)
    for (l, h), v in np.ndenumerate(drops):
        ax.text(h, l, f"{v:+.3f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(H))
    ax.set_yticks(range(L))
    ax.set(xlabel="head", ylabel="layer",
           title=f"{change.capitalize()} in {what} with one head ablated")
    fig.colorbar(image, ax=ax, label=change)
    return fig


def plot_logit_lens(probs: np.ndarray, tokens: Sequence[str], top: Sequence[Sequence[str]]
                    ) -> Figure:
    """The logit lens of one sequence: probs (L + 1, T), each layer's probability of the true
    next token, with ``top[l][t]``, the lens's likeliest token, written in each cell."""
    n_layers, T = probs.shape
    fig = Figure(figsize=(1 + 0.45 * T, 1 + 0.5 * n_layers), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(probs, vmin=0, vmax=1, cmap="magma", aspect="auto")
    for (l, t), _ in np.ndenumerate(probs):
        ax.text(t, l, repr(top[l][t])[1:-1], ha="center", va="center", fontsize=6,
                color="w" if probs[l, t] < 0.5 else "k")
    ax.set_xticks(range(T), [repr(c)[1:-1] for c in tokens], fontsize=6)
    ax.set_yticks(range(n_layers), ["embed"] + [f"block {l}" for l in range(n_layers - 1)])
    ax.set(xlabel="input position (token read)", ylabel="residual stream after",
           title="Logit lens: p(true next token), likeliest token written")
    fig.colorbar(image, ax=ax, label="p(next token)")
    return fig


def plot_probes(reports: dict[str, list[ProbeReport]]) -> Figure:
    """Held-out probe accuracy per layer for each property (a panel each), with its control."""
    fig = Figure(figsize=(5 * len(reports), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(reports)))
    for ax, (name, layer_reports) in zip(axes, reports.items()):
        layers = np.arange(len(layer_reports))
        ax.plot(layers, [r.task_accuracy for r in layer_reports], "o-", label="task")
        ax.plot(layers, [r.control_accuracy for r in layer_reports], "s--", label="control task")
        ax.set_xticks(layers, ["embed"] + [f"block {l}" for l in layers[1:] - 1])
        ax.set(ylim=(0, 1.02), xlabel="layer", ylabel="held-out accuracy",
               title=f"Probing {name}")
        ax.grid(alpha=0.3)
        ax.legend()
    return fig
