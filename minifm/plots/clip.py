"""Pictures of a CLIP run: a batch's similarity matrix, the learned temperature over training,
and image and text embeddings in one plane. The numbers come from ``minifm.tasks.clip``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from minifm.data.shapes import COLOURS, PALETTE
from minifm.data.shapes_captions import ShapesCaptionData
from minifm.models.clip import CLIP
from minifm.tasks.clip import EmbeddingMap, SimilarityBatch, embedding_map, similarity_batch


def plot_similarity(batch: SimilarityBatch) -> Figure:
    """The (n, n) cosine similarities of a batch, images down, captions across, with the images
    along the left edge."""
    images, captions, sim = batch
    n = len(sim)
    fig = Figure(figsize=(2.5 + 0.7 * n, 1.5 + 0.7 * n), layout="constrained")
    grid = fig.add_gridspec(n, 2, width_ratios=[1, n])
    ax = fig.add_subplot(grid[:, 1])
    im = ax.imshow(sim, cmap="viridis", vmin=-1, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if sim[i, j] > 0.3 else "white")
        thumb = fig.add_subplot(grid[i, 0])
        thumb.imshow(images[i], interpolation="nearest")
        thumb.axis("off")
    ax.set_xticks(range(n), captions, rotation=60, ha="right", fontsize=7)
    ax.set_yticks([])
    ax.set(xlabel="caption", ylabel="image (shown on the left)",
           title="cosine similarity: image (row) vs caption (column)")
    fig.colorbar(im, ax=ax, shrink=0.6, label="cosine similarity")
    return fig


def plot_temperature(history: list[dict[str, Any]]) -> Figure:
    """The learned temperature over training (history rows with a "temperature" entry)."""
    rows = [r for r in history if "temperature" in r]
    if not rows:
        raise ValueError("the history has no temperature: train with "
                         "Trainer(..., extra_metrics=temperature_metric)")
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot([r["step"] for r in rows], [r["temperature"] for r in rows])
    ax.axhline(0.01, color="grey", linestyle="--", label="floor: logit scale clamped at 100")
    ax.set(xlabel="step", ylabel="temperature 1 / exp(logit_scale)", yscale="log",
           title="learned temperature")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_embeddings(emap: EmbeddingMap) -> Figure:
    """Image embeddings as dots coloured by their colour (unseen combinations outlined) and the
    class-prompt embeddings as crosses in their prompt's colour, labelled with its shape (the
    colour is in the cross, so the 36 labels stay short enough not to pile up), on their first
    two principal components."""
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.subplots()
    ax.scatter(*emap.image_xy.T, c=PALETTE[emap.colour], s=14,
               edgecolors=np.where(emap.unseen[:, None], [[0, 0, 0, 1]], [[0, 0, 0, 0]]),
               label="images (outlined: unseen pairs)")
    prompt_colour = [PALETTE[COLOURS.index(p.split()[1])] for p in emap.prompts]
    ax.scatter(*emap.prompt_xy.T, marker="X", c=prompt_colour, edgecolors="black", s=60,
               linewidths=0.6, label="class prompts 'a {colour} {shape}' (labelled by shape)")
    for (x, y), prompt in zip(emap.prompt_xy, emap.prompts):
        ax.annotate(prompt.split()[-1], (x, y), xytext=(4, -3), textcoords="offset points",
                    fontsize=7)
    ax.set(title="image and text embeddings, first two principal components",
           xlabel="PC 1", ylabel="PC 2")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.08), ncols=2)
    return fig


def save_plots(model: CLIP, data: ShapesCaptionData, history: list[dict[str, Any]],
               out_dir: Path) -> list[Path]:
    """similarity.png, temperature.png and embeddings.png in out_dir; returns their paths."""
    figures = {"similarity.png": plot_similarity(similarity_batch(model, data)),
               "temperature.png": plot_temperature(history),
               "embeddings.png": plot_embeddings(embedding_map(model, data))}
    paths = []
    for name, fig in figures.items():
        paths.append(Path(out_dir) / name)
        fig.savefig(paths[-1], dpi=100)
    return paths
