"""minifm/plots/clip.py: the similarity matrix, the temperature and the embedding map."""

import dataclasses

import numpy as np
import pytest
from matplotlib.figure import Figure

from minifm.data.shapes_captions import ShapesCaptionData
from minifm.plots.clip import plot_embeddings, plot_similarity, plot_temperature, save_plots
from minifm.tasks.clip import (TRAIN_DEFAULTS, embedding_map, model_config, new_model,
                               similarity_batch, temperature_metric)
from minifm.training.trainer import Trainer


def test_plot_temperature_needs_a_logged_temperature(tmp_path):
    with pytest.raises(ValueError, match="no temperature"):
        plot_temperature([{"step": 1, "train_loss": 1.0}])
    fig = plot_temperature([{"step": 1, "temperature": 0.07}, {"step": 2, "temperature": 0.05}])
    assert isinstance(fig, Figure)
    assert fig.axes[0].lines[0].get_ydata().tolist() == [0.07, 0.05]


def test_save_plots_draws_a_run_into_three_files(tmp_path):
    data = ShapesCaptionData()
    model = new_model(model_config("classroom", data, vision_width=8, text_width=8,
                                   vision_layers=1, text_layers=1, vision_heads=2, text_heads=2,
                                   embed_dim=8), seed=0)
    config = dataclasses.replace(TRAIN_DEFAULTS, steps=10, batch_size=8, warmup_steps=1,
                                 eval_interval=10, eval_batches=1)
    trainer = Trainer(model, data, config, quiet=True, extra_metrics=temperature_metric)
    trainer.run()
    batch = similarity_batch(model, data, n=4)
    fig = plot_similarity(batch)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [f"{s:.2f}" for s in batch.sim.ravel()]          # one number per cell
    assert len([ax for ax in fig.axes if ax.images]) == 1 + 4        # matrix + 4 thumbnails
    emap = embedding_map(model, data, n_images=20)
    fig = plot_embeddings(emap)
    assert [len(c.get_offsets()) for c in fig.axes[0].collections] == [20, 36]
    paths = save_plots(model, data, trainer.history, tmp_path)
    assert [p.name for p in paths] == ["similarity.png", "temperature.png", "embeddings.png"]
    assert all(p.parent == tmp_path and p.stat().st_size > 0 for p in paths)
    assert np.isfinite(batch.sim).all()
