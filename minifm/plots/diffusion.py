"""Pictures of DALL-E 2 on the shapes world: a denoising strip, samples per caption, guidance
against judged accuracy, variations of one image and an interpolation between two captions.
Each ``plot_*`` returns a matplotlib Figure; ``save_plots`` draws a trained run's set of PNGs.
Lesson: lessons/14_dalle2_diffusion.md.

Dimensions: N images, H = W image side, M captions, S samples per caption, K strip points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from minifm.data.shapes import class_prompt
from minifm.plots.dalle import _show, plot_caption_grid, plot_reranking_accuracy
from minifm.tasks.dalle import judged_correct
from minifm.tasks.diffusion import (DiffusionRun, denoising_strip, draw, interpolate,
                                    variations)
from minifm.training.seeds import stream


def plot_denoising_strip(xs: np.ndarray, timesteps: np.ndarray, caption: str) -> Figure:
    """Strip points across, drawings down: xs (K, S, H, W, 3) at steps ``timesteps`` (K,)."""
    K, S = xs.shape[:2]
    fig = Figure(figsize=(1.2 * K + 0.6, 1.3 * S + 0.6), layout="constrained")
    axes = fig.subplots(S, K, squeeze=False)
    for k in range(K):
        for s in range(S):
            _show(axes[s, k], xs[k, s], None if s else
                  ("x_0" if timesteps[k] < 0 else f"t = {timesteps[k]}"))
    fig.suptitle(f"denoising {caption!r} (DDIM): x_T (noise) on the left, the image on the right")
    fig.supxlabel("sampling step")
    fig.supylabel("drawing")
    return fig


def plot_guidance_sweep(sweep: dict[str, Any]) -> Figure:
    """Judged accuracy on seen and unseen pairs against the guidance scale
    (``minifm.tasks.diffusion.guidance_sweep``)."""
    scales = sweep["scales"]
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    for split, marker in (("seen", "o"), ("unseen", "s")):
        ax.plot(scales, [r[split]["accuracy"] for r in sweep["results"]], marker=marker,
                label=f"{split} pairs")
    ax.axhline(sweep["results"][0]["chance"]["accuracy"], color="grey", linestyle="--",
               label="chance")
    ax.set(xlabel="guidance scale w (1 = conditional model, no guidance)",
           ylabel="drawn right (judge)", ylim=(0, 1.05),
           title="classifier-free guidance against judged accuracy")
    ax.legend(fontsize=8)
    return fig


def plot_variations(image: np.ndarray, drawn: np.ndarray) -> Figure:
    """One image (H, W, 3) and N decodes (N, H, W, 3) of its CLIP embedding."""
    N = len(drawn)
    fig = Figure(figsize=(1.3 * (N + 1), 1.8), layout="constrained")
    axes = fig.subplots(1, N + 1, squeeze=False)[0]
    _show(axes[0], image, "the image")
    for i, x in enumerate(drawn):
        _show(axes[i + 1], x, f"variation {i + 1}")
    fig.suptitle("variations: the decoder redraws one image's CLIP embedding")
    fig.supxlabel("decodes from fresh noise")
    return fig


def plot_interpolation(images: np.ndarray, caption_a: str, caption_b: str) -> Figure:
    """Images (N, H, W, 3) along the slerp from caption_a's embedding to caption_b's."""
    N = len(images)
    fig = Figure(figsize=(1.3 * N, 1.9), layout="constrained")
    axes = fig.subplots(1, N, squeeze=False)[0]
    for i, (x, w) in enumerate(zip(images, np.linspace(0, 1, N))):
        _show(axes[i], x, f"{w:.2f}")
    fig.suptitle(f"interpolating the prior's embeddings: {caption_a!r} -> {caption_b!r}")
    fig.supxlabel("slerp weight (same starting noise throughout)")
    return fig



def plot_side_by_side(drawings: dict[str, np.ndarray], correct: dict[str, np.ndarray],
                      captions: Sequence[str]) -> Figure:
    """The same captions drawn by several generators, one panel each, left to right: for each
    name, drawings[name] (M, S, H, W, 3) framed green where correct[name] (M, S) is True (the
    judge reads the caption's colour and shape), red where not; captions (M,) down the side."""
    M, S = next(iter(drawings.values())).shape[:2]
    fig = Figure(figsize=(1.1 * S * len(drawings) + 2.2, 1.2 * M + 0.8), layout="constrained")
    for panel, name in zip(fig.subfigures(1, len(drawings), squeeze=False)[0], drawings):
        axes = panel.subplots(M, S, squeeze=False)
        for m in range(M):
            for s in range(S):
                _show(axes[m, s], drawings[name][m, s], None,
                      "green" if correct[name][m, s] else "red")
            if panel is fig.subfigs[0]:
                axes[m, 0].set_ylabel(captions[m], fontsize=8, rotation=0, ha="right",
                                      va="center")
        panel.suptitle(f"{name}: {correct[name].mean():.0%} judged right", fontsize=9)
    fig.suptitle("the same captions, two generators: green frame = the judge reads the "
                 "caption's colour and shape, red = it does not", fontsize=9)
    return fig

def _save(figures: dict[str, Figure], out_dir: Path) -> list[Path]:
    paths = []
    for name, fig in figures.items():
        fig.savefig(out_dir / name, dpi=100)
        paths.append(out_dir / name)
    return paths


def save_plots(run: DiffusionRun, out_dir: Path, evaluation: dict[str, Any] | None = None,
               sweep: dict[str, Any] | None = None, seed: int = 0,
               guidance: float = 3.0) -> list[Path]:
    """denoising.png, samples.png, variations.png, interpolation.png, and given results
    reranking_accuracy.png and guidance.png, in out_dir; returns their paths."""
    world, rng = run.captions.world, stream(seed, "pictures")
    xs, timesteps = denoising_strip(run, "a blue circle", 4, rng, guidance=guidance)
    seen = world.combos("seen")[::6]                                        # 5 seen pairs
    classes = np.concatenate([seen, world.combos("unseen")])
    prompts = [class_prompt(c, s) + (" (unseen)" if i >= len(seen) else "")
               for i, (c, s) in enumerate(classes)]
    images = draw(run, [class_prompt(c, s) for c, s in classes], 8, rng=rng, guidance=guidance)
    colour_ok, shape_ok = judged_correct(world, images, classes)
    original = world.sample(1, rng, "seen").images[0]
    figures = {
        "denoising.png": plot_denoising_strip(xs, timesteps, "a blue circle"),
        "samples.png": plot_caption_grid(images, prompts, correct=colour_ok & shape_ok),
        "variations.png": plot_variations(original, variations(run, original, 6, rng,
                                                               guidance=guidance)),
        "interpolation.png": plot_interpolation(
            interpolate(run, "a red square", "a blue ring", 7, rng, guidance=guidance),
            "a red square", "a blue ring"),
    }
    if evaluation is not None and "reranked" in evaluation["unseen"]:
        figures["reranking_accuracy.png"] = plot_reranking_accuracy(evaluation)
    if sweep is not None:
        figures["guidance.png"] = plot_guidance_sweep(sweep)
    return _save(figures, out_dir)
