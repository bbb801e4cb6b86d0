"""Pictures of the shapes world (``minifm.data.shapes``): a grid of images with their titles."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure


def show_images(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 8,
                suptitle: str | None = None) -> Figure:
    """A grid of images (N, H, W, 3) with optional titles per image and for the figure
    (``suptitle``: say what the per-image titles are); save with fig.savefig(path)."""
    n = len(images)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(1.8 * ncols, 1.9 * nrows))
    for i, ax in enumerate(fig.subplots(nrows, ncols, squeeze=False).flat):
        ax.axis("off")
        if i < n:
            ax.imshow(np.clip(images[i], 0, 1), interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=6)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return fig
