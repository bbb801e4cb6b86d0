"""Pictures of the text-to-image family: reconstructions, codebook usage, image tokens as a grid,
captions x samples, and what CLIP reranking changes. Each ``plot_*`` function returns a matplotlib
Figure (save it with ``fig.savefig(path)``); ``save_plots`` draws a trained model's set of PNGs.
Lesson: lessons/11_images_as_tokens.md.

Dimensions: N images, H = W image side, P image tokens (a rows x cols grid), V codebook size,
M captions, S samples per caption, K candidates per pick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from minifm.data.shapes import class_prompt
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.models.dalle import DALLE
from minifm.tasks.dalle import Reranker, draw, judged_correct, score_drawings
from minifm.tokenizers.image import ImageTokenizer
from minifm.training.seeds import stream


def _show(ax, image: np.ndarray, title: str | None = None, colour: str | None = None) -> None:
    """One image without ticks; ``colour`` (if given) tints its frame and title."""
    ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if colour is not None:
        for spine in ax.spines.values():
            spine.set(color=colour, linewidth=3)
    if title is not None:
        ax.set_title(title, fontsize=7, color=colour or "black")


def plot_reconstructions(originals: np.ndarray, reconstructions: np.ndarray,
                         title: str = "") -> Figure:
    """Originals (N, H, W, 3) in the top row, their reconstructions below."""
    n = len(originals)
    fig = Figure(figsize=(1.2 * n, 2.8), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        _show(axes[0, i], originals[i])
        _show(axes[1, i], reconstructions[i])
    axes[0, 0].set_ylabel("original", fontsize=8)
    axes[1, 0].set_ylabel("decoded", fontsize=8)
    fig.suptitle(title or "originals (top) and what their image tokens decode to (bottom)",
                 fontsize=9)
    return fig


def plot_codebook_usage(codes: np.ndarray, vocab_size: int, title: str = "") -> Figure:
    """How often each code is used in ``codes`` (any shape), most used first, on a log scale."""
    counts = np.bincount(np.asarray(codes).ravel(), minlength=vocab_size)
    share = np.sort(counts)[::-1] / counts.sum()                            # (V,)
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.bar(np.arange(vocab_size), share, width=1.0)
    ax.set(yscale="log", xlabel="code, from most to least used",
           ylabel="share of image tokens",
           title=title or f"codebook usage: {int((counts > 0).sum())} of {vocab_size} codes used")
    return fig


def plot_token_grids(codes: np.ndarray, tokenizer: ImageTokenizer,
                     captions: Sequence[str] | None = None) -> Figure:
    """Each row: the image-token grid (codes (N, P) as coloured cells with their ids) and the
    image those codes decode to."""
    rows, cols = tokenizer.grid
    images = tokenizer.decode(codes)
    cmap = colormaps["tab20"]
    fig = Figure(figsize=(4.4, 2.1 * len(codes)), layout="constrained")
    axes = fig.subplots(len(codes), 2, squeeze=False)
    for i, row in enumerate(codes):
        grid = row.reshape(rows, cols)                                       # (P,) -> (rows, cols)
        axes[i, 0].imshow(cmap(grid % 20), interpolation="nearest")
        for (r, c), code in np.ndenumerate(grid):
            axes[i, 0].text(c, r, str(code), ha="center", va="center", fontsize=7)
        axes[i, 0].set_xticks([])
        axes[i, 0].set_yticks([])
        axes[i, 0].set_title("image tokens (reading order)", fontsize=7)
        _show(axes[i, 1], images[i], "decoded" if captions is None else captions[i])
    fig.suptitle("each cell: a patch's code id; right: the image the codes decode to",
                 fontsize=8)
    return fig


def plot_caption_grid(images: np.ndarray, captions: Sequence[str],
                      titles: Sequence[Sequence[str]] | None = None,
                      correct: np.ndarray | None = None, title: str | None = None) -> Figure:
    """Captions down, samples across: images (M, S, H, W, 3); optional per-image titles (M, S)
    and a bool (M, S) ``correct`` that frames each image green (right) or red (wrong). The
    figure's ``title`` (default: what the frames mean, or "drawings per caption") should say
    what the per-image titles are."""
    M, S = images.shape[:2]
    fig = Figure(figsize=(1.3 * S + 1.6, 1.45 * M), layout="constrained")
    axes = fig.subplots(M, S, squeeze=False)
    for m in range(M):
        for s in range(S):
            colour = None if correct is None else ("green" if correct[m, s] else "red")
            _show(axes[m, s], images[m, s], None if titles is None else titles[m][s], colour)
        axes[m, 0].set_ylabel(captions[m], fontsize=8, rotation=0, ha="right", va="center")
    if title is None:
        title = ("drawings per caption" if correct is None else "drawings per caption: green "
                 "frame = the judge reads the caption's colour and shape, red = it does not")
    fig.suptitle(title, fontsize=8)
    return fig


def plot_reranking(images: np.ndarray, scores: np.ndarray, correct: np.ndarray,
                   captions: Sequence[str]) -> Figure:
    """One row per caption: its candidates (M, K, H, W, 3) sorted by CLIP score (M, K), best
    first, each titled with its score and framed green where the judge reads the caption's
    colour and shape (``correct`` (M, K)), red where not. Reranking keeps the leftmost."""
    order = np.argsort(-scores, axis=1, kind="stable")                       # (M, K)
    sorted_images = np.take_along_axis(images, order[:, :, None, None, None], axis=1)
    sorted_scores = np.take_along_axis(scores, order, axis=1)
    sorted_correct = np.take_along_axis(correct, order, axis=1)
    titles = [[f"{x:.2f}" for x in row] for row in sorted_scores]
    return plot_caption_grid(sorted_images, captions, titles, sorted_correct,
                             "candidates sorted by CLIP similarity to the caption (the number; "
                             "reranking keeps the first); green frame = the judge agrees")


def plot_reranking_accuracy(evaluation: dict[str, Any]) -> Figure:
    """Bars from ``minifm.tasks.dalle.evaluate`` (run with a reranker): the judge-read accuracy
    of every unseen prompt and the mean over the seen ones, for all samples and for the
    CLIP-best of each group of candidates; chance as a dashed line."""
    unseen = evaluation["unseen"]
    labels = [p.removeprefix("a ") for p in unseen["per_prompt"]] + ["seen pairs (mean)"]
    plain = list(unseen["per_prompt"].values()) + [evaluation["seen"]["accuracy"]]
    best = list(unseen["reranked"]["per_prompt"].values()) \
        + [evaluation["seen"]["reranked"]["accuracy"]]
    x = np.arange(len(labels))
    fig = Figure(figsize=(7.5, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.bar(x - 0.2, plain, width=0.4, label="every sample")
    ax.bar(x + 0.2, best, width=0.4,
           label=f"CLIP's pick of {evaluation['candidates']} candidates")
    ax.axhline(evaluation["chance"]["accuracy"], color="grey", linestyle="--", label="chance")
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel="share drawn right (judge)", xlabel="prompt",
           title="reranking: unseen (colour, shape) pairs, and the seen ones on average")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))   # off the bars
    return fig


def save_plots(model: DALLE, data: ShapesTokenData, out_dir: Path,
               reranker: Reranker | None = None, evaluation: dict[str, Any] | None = None,
               seed: int = 0) -> list[Path]:
    """reconstructions.png, codebook_usage.png, samples.png, tokens.png, and with a reranker
    reranking.png (candidates sorted by CLIP) and, given its ``evaluate`` result,
    reranking_accuracy.png, in out_dir; returns their paths."""
    world, tok = data.world, data.image_tokenizer
    rng = stream(seed, "pictures")
    originals = world.sample(10, rng, "all").images
    figures = {
        "reconstructions.png": plot_reconstructions(
            originals, tok.reconstruct(originals),
            f"{tok.type_name} image tokenizer: {tok.num_tokens} tokens of {tok.vocab_size} codes"),
        "codebook_usage.png": plot_codebook_usage(
            tok.encode(world.sample(500, rng, "all").images), tok.vocab_size),
    }
    seen = world.combos("seen")[::6]                                        # 5 seen pairs
    classes = np.concatenate([seen, world.combos("unseen")[:3]])
    prompts = [class_prompt(c, s) + (" (unseen)" if i >= len(seen) else "")
               for i, (c, s) in enumerate(classes)]
    captions = [class_prompt(c, s) for c, s in classes]
    codes, images = draw(model, data, captions, 8, rng=rng)
    colour_ok, shape_ok = judged_correct(world, images, classes)
    figures["samples.png"] = plot_caption_grid(images, prompts, correct=colour_ok & shape_ok)
    figures["tokens.png"] = plot_token_grids(codes[:4, 0], tok, captions[:4])
    if reranker is not None:
        unseen = world.combos("unseen")
        captions = [class_prompt(c, s) for c, s in unseen]
        _, images = draw(model, data, captions, 8, rng=rng)                # (6, 8, H, W, 3)
        scores = score_drawings(reranker, images, captions)                # (6, 8)
        colour_ok, shape_ok = judged_correct(world, images, unseen)
        figures["reranking.png"] = plot_reranking(images, scores, colour_ok & shape_ok, captions)
        if evaluation is not None:
            figures["reranking_accuracy.png"] = plot_reranking_accuracy(evaluation)
    paths = []
    for name, fig in figures.items():
        fig.savefig(out_dir / name, dpi=100)
        paths.append(out_dir / name)
    return paths
