"""Every figure minifm draws (minifm/plots/) renders, has a title saying what it shows, and
labels both axes of every chart in it (image panels have no axes to label; colour bars are
labelled by the chart they belong to)."""

import io

import numpy as np
import pytest

from minifm.data.shapes import ShapesWorld
from minifm.data.shapes_captions import ShapesCaptionData
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.models.dalle import DALLE
from minifm.plots.clip import plot_embeddings, plot_similarity, plot_temperature
from minifm.plots.dalle import (plot_caption_grid, plot_codebook_usage, plot_reconstructions,
                                plot_reranking, plot_reranking_accuracy, plot_token_grids)
from minifm.plots.shapes import show_images
from minifm.plots.training import LOSS_LABELS, plot_history
from minifm.tasks.clip import embedding_map, model_config, new_model, similarity_batch
from minifm.tasks.dalle import evaluate
from minifm.tasks.dalle import model_config as dalle_config
from minifm.tasks.image_tokens import fit_kmeans_tokenizer


class FirstIsBest:
    """A stand-in reranker: the first drawing of every caption scores highest."""

    def score(self, images, captions):
        return -np.arange(len(images), dtype=float)


def _clip_figures():
    data = ShapesCaptionData()
    model = new_model(model_config("classroom", data, vision_width=8, text_width=8,
                                   vision_layers=1, text_layers=1, vision_heads=2, text_heads=2,
                                   embed_dim=8), seed=0)
    history = [{"step": 1, "temperature": 0.07}, {"step": 2, "temperature": 0.05}]
    return {"similarity": plot_similarity(similarity_batch(model, data, n=4)),
            "temperature": plot_temperature(history),
            "embeddings": plot_embeddings(embedding_map(model, data, n_images=20))}


def _dalle_figures():
    rng = np.random.default_rng(0)
    world = ShapesWorld()
    tok = fit_kmeans_tokenizer(world.sample(50, rng).images, 8, 4, rng)
    data = ShapesTokenData(tok, world)
    model = DALLE(dalle_config(data, n_layer=1, n_embd=16, n_head=2), rng=rng)
    images = world.sample(3, rng).images
    grid = np.zeros((2, 3, 16, 16, 3))
    correct = np.array([[True, False, True], [False, False, True]])
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]])
    evaluation = evaluate(model, data, reranker=FirstIsBest(), samples=1, candidates=2)
    return {"reconstructions": plot_reconstructions(images, tok.reconstruct(images)),
            "codebook usage": plot_codebook_usage(tok.encode(images), tok.vocab_size),
            "tokens": plot_token_grids(tok.encode(images)[:2], tok, ["a", "b"]),
            "samples": plot_caption_grid(grid, ["a red circle", "a blue bar"], correct=correct),
            "generate grid": plot_caption_grid(grid, ["a", "b"], [["x"] * 3] * 2,
                                               title="what the judge reads"),
            "reranking": plot_reranking(grid, scores, correct, ["a red circle", "a blue bar"]),
            "reranking accuracy": plot_reranking_accuracy(evaluation)}


def _all_figures():
    history = [{"step": 5, "train_loss": 2.0, "val_loss": 2.1},
               {"step": 10, "train_loss": 1.5, "val_loss": 1.7}]
    figures = {f"loss ({family})": plot_history(history, "", label)
               for family, label in LOSS_LABELS.items()}
    figures["images"] = show_images(np.zeros((3, 16, 16, 3)), ["a", "b", "c"],
                                    suptitle="what CLIP picks")
    return {**figures, **_clip_figures(), **_dalle_figures()}


FIGURES = _all_figures()


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_renders_with_a_title_and_labelled_axes(name):
    fig = FIGURES[name]
    fig.savefig(io.BytesIO(), format="png", dpi=50)                  # renders without error
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]
    assert any(t.strip() for t in titles), f"{name}: no title"
    charts = [ax for ax in fig.axes if not ax.images and not hasattr(ax, "_colorbar")
              and (ax.lines or ax.patches or ax.collections)]
    for ax in charts:
        assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), \
            f"{name}: an unlabelled axis in {ax.get_title()!r}"
    for ax in fig.axes:
        if hasattr(ax, "_colorbar"):
            assert ax.get_ylabel().strip(), f"{name}: an unlabelled colour bar"


def test_the_loss_axis_names_each_familys_loss():
    fig = plot_history([{"step": 1, "train_loss": 1.0, "val_loss": None}], "", LOSS_LABELS["bert"])
    assert fig.axes[0].get_ylabel() == "masked-LM + next-sentence cross-entropy (nats)"


def test_the_reranking_legend_sits_off_the_bars():
    fig = FIGURES["reranking accuracy"]
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1 - 1           # right of the plotting area
