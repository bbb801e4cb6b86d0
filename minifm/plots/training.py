"""Pictures of a training run: the loss curves of a ``Trainer`` history, the axis naming the
loss each family trains on (``LOSS_LABELS``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

# What the training loss of each family is (the y axis of its loss curve).
LOSS_LABELS = {
    "gpt": "next-token cross-entropy (nats)",
    "bert": "masked-LM + next-sentence cross-entropy (nats)",
    "bert-classifier": "classification cross-entropy (nats)",
    "clip": "contrastive loss: image->text + text->image CE / 2 (nats)",
    "dalle": "image-token CE + weighted caption CE (nats)",
}


def plot_history(history: list[dict[str, Any]], title: str = "", ylabel: str = "loss") -> Figure:
    """The train loss of every history row and the validation loss where it was measured;
    ``ylabel`` says which loss it is (see ``LOSS_LABELS``)."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot([r["step"] for r in history], [r["train_loss"] for r in history], label="train")
    val = [(r["step"], r["val_loss"]) for r in history if r["val_loss"] is not None]
    if val:
        ax.plot(*zip(*val), "o-", label="validation")
    ax.set(xlabel="optimizer step", ylabel=ylabel, title=title or "training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def save_loss_curve(history: list[dict[str, Any]], out_dir: str | os.PathLike,
                    title: str = "", family: str | None = None) -> Path | None:
    """Write ``out_dir/loss.png`` from a history, its y axis naming the ``family``'s loss;
    returns its path (None for an empty history)."""
    if not history:
        return None
    path = Path(out_dir) / "loss.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_history(history, title, LOSS_LABELS.get(family, "loss")).savefig(path, dpi=100)
    return path
