"""Pictures of a training run: the loss curves of a ``Trainer`` history."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


def plot_history(history: list[dict[str, Any]], title: str = "") -> Figure:
    """The train loss of every history row and the validation loss where it was measured."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot([r["step"] for r in history], [r["train_loss"] for r in history], label="train")
    val = [(r["step"], r["val_loss"]) for r in history if r["val_loss"] is not None]
    if val:
        ax.plot(*zip(*val), "o-", label="validation")
    ax.set(xlabel="step", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def save_loss_curve(history: list[dict[str, Any]], out_dir: str | os.PathLike,
                    title: str = "") -> Path | None:
    """Write ``out_dir/loss.png`` from a history; returns its path (None for an empty history)."""
    if not history:
        return None
    path = Path(out_dir) / "loss.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_history(history, title).savefig(path, dpi=100)
    return path
