"""A DALL-E checkpoint in the layout minifm wrote before the image tokenizer moved inside it, for
the tests that check it is refused with a clear way forward (tests/cli, tests/tasks)."""

from pathlib import Path

import numpy as np

from minifm.data.shapes import ShapesWorld
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.models.dalle import DALLE
from minifm.tasks.dalle import model_config
from minifm.tasks.image_tokens import fit_kmeans_tokenizer
from minifm.training.checkpoint import save_checkpoint
from minifm.training.optim import AdamW
from minifm.training.trainer import TrainConfig


def write_old_layout_checkpoint(out: Path) -> Path:
    """``out/checkpoint.npz`` as the earlier minifm wrote it: DALLE was a subclass of GPT, so its
    parameters carry no ``transformer.`` prefix; the meta holds the caption tokenizer only; and
    the image tokenizer sits beside it in ``image_tokenizer.npz``. Returns ``out``."""
    rng = np.random.default_rng(0)
    world = ShapesWorld()
    tokenizer = fit_kmeans_tokenizer(world.sample(50, rng, "train").images, 8, 4, rng)
    data = ShapesTokenData(tokenizer, world)
    model = DALLE(model_config(data, n_layer=1, n_embd=16, n_head=2), rng=rng)
    trunk = model.transformer
    trunk.config = model.config            # the old DALLE: a GPT that carried a DALLE config
    out.mkdir(parents=True)
    save_checkpoint(out / "checkpoint.npz", model=trunk,
                    optimizer=AdamW(trunk.parameters(), lr=1e-3), step=1, rng=rng,
                    train_config=TrainConfig(steps=10), tokenizer=data.tokenizer, family="dalle")
    np.savez(out / "image_tokenizer.npz", codebook=tokenizer.codebook)
    return out
