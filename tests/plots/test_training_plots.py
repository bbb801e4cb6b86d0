"""The loss curve of a training run, drawn from a Trainer history."""

from __future__ import annotations

from minifm.plots.training import plot_history, save_loss_curve

HISTORY = [{"step": 5, "train_loss": 2.0, "val_loss": None},
           {"step": 10, "train_loss": 1.5, "val_loss": 1.7},
           {"step": 15, "train_loss": 1.2, "val_loss": None},
           {"step": 20, "train_loss": 1.0, "val_loss": 1.1}]


def test_loss_curve_shows_every_train_row_and_only_measured_validations():
    fig = plot_history(HISTORY, "run")
    train, val = fig.axes[0].get_lines()
    assert list(train.get_xdata()) == [5, 10, 15, 20]
    assert list(train.get_ydata()) == [2.0, 1.5, 1.2, 1.0]
    assert list(val.get_xdata()) == [10, 20] and list(val.get_ydata()) == [1.7, 1.1]
    assert fig.axes[0].get_title() == "run"


def test_save_loss_curve_writes_a_png_and_skips_an_empty_history(tmp_path):
    path = save_loss_curve(HISTORY, tmp_path / "run")
    assert path == tmp_path / "run" / "loss.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert save_loss_curve([], tmp_path / "empty") is None
    assert not (tmp_path / "empty").exists()
