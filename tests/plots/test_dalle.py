"""minifm/plots/dalle.py: reconstructions, codebook usage, token grids, captions x samples, the
reranking pictures, and ``save_plots`` writing a run's set of PNGs."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from minifm.data.shapes import ShapesWorld
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.models.dalle import DALLE
from minifm.plots.dalle import (plot_caption_grid, plot_codebook_usage, plot_reconstructions,
                                plot_reranking, plot_reranking_accuracy, plot_token_grids,
                                save_plots)
from minifm.tasks.dalle import evaluate, model_config
from minifm.tasks.image_tokens import fit_kmeans_tokenizer


@pytest.fixture(scope="module")
def untrained():
    """An untrained tiny DALLE over a k-means tokenizer of 4 x 4 patches: enough to draw."""
    rng = np.random.default_rng(0)
    world = ShapesWorld()
    data = ShapesTokenData(fit_kmeans_tokenizer(world.sample(50, rng).images, 8, 4, rng), world)
    return DALLE(model_config(data, n_layer=1, n_embd=16, n_head=2), rng=rng), data


class FirstIsBest:
    """A stand-in reranker: the first drawing of every caption scores highest."""

    def score(self, images, captions):
        return -np.arange(len(images), dtype=float)


def test_image_token_pictures(untrained):
    tok = untrained[1].image_tokenizer
    images = ShapesWorld().sample(3, np.random.default_rng(1)).images
    fig = plot_reconstructions(images, tok.reconstruct(images), "title")
    assert isinstance(fig, Figure) and len(fig.axes) == 6 and fig.get_suptitle() == "title"
    codes = tok.encode(images)
    fig = plot_codebook_usage(codes, tok.vocab_size)
    assert len(fig.axes[0].patches) == tok.vocab_size             # one bar per code
    assert "codes used" in fig.axes[0].get_title()
    fig = plot_token_grids(codes[:2], tok, ["a", "b"])
    assert len(fig.axes) == 4 and len(fig.axes[0].texts) == tok.num_tokens   # every id written


def test_caption_grid_and_reranking_pictures():
    images = np.zeros((2, 3, 16, 16, 3))
    correct = np.array([[True, False, True], [False, False, True]])
    fig = plot_caption_grid(images, ["a red circle", "a blue bar"], correct=correct)
    assert len(fig.axes) == 6
    frames = [ax.spines["top"].get_edgecolor() for ax in fig.axes]
    assert frames.count((0.0, 0.5019607843137255, 0.0, 1.0)) == 3     # green = right
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]])
    fig = plot_reranking(images, scores, correct, ["a red circle", "a blue bar"])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["0.90", "0.50", "0.10"]                    # best first
    assert titles[3:] == ["0.30", "0.20", "0.10"]


def test_save_plots_writes_every_picture_of_a_run(untrained, tmp_path):
    model, data = untrained
    evaluation = evaluate(model, data, reranker=FirstIsBest(), samples=1, candidates=2)
    fig = plot_reranking_accuracy(evaluation)
    assert len(fig.axes[0].patches) == 2 * (6 + 1)          # 6 unseen prompts + seen, two bars
    paths = save_plots(model, data, tmp_path, FirstIsBest(), evaluation)
    assert [p.name for p in paths] == ["reconstructions.png", "codebook_usage.png",
                                       "samples.png", "tokens.png", "reranking.png",
                                       "reranking_accuracy.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    (tmp_path / "plain").mkdir()
    assert len(save_plots(model, data, tmp_path / "plain", None)) == 4   # no reranker: 4 plots
