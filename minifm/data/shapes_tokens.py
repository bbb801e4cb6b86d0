"""Captions and image codes from the shapes world, batched for the text-to-image model:
``(text, codes)``.

Dimensions: B batch, Tt caption tokens (``context_length``), P image tokens per image.

    data = ShapesTokenData(image_tokenizer)
    text, codes = data.get_batch("train", 64, rng)    # (B, Tt) int64, (B, P) int64

Every batch is drawn fresh from the world (an endless supply) and its images are turned into codes
by the image tokenizer it is given (any ``minifm.tokenizers.image.ImageTokenizer``, fitted by
``minifm.tasks.image_tokens``: the data layer imports no model); captions are word ids padded to
the longest caption, exactly as CLIP reads them (``minifm.data.shapes_captions``), so both models
share one caption tokenizer. Splits: "train" draws the training (colour, shape) combinations, "val"
(= "seen") new samples of the same combinations, "unseen" the six held-out combinations, "all"
every combination.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from minifm.data.shapes import ShapesWorld
from minifm.data.shapes_captions import ShapesCaptionData
from minifm.tokenizers.image import ImageTokenizer
from minifm.tokenizers.word import WordTokenizer
from minifm.validation import check_batch_request

SPLITS = {"train": "train", "val": "seen", "seen": "seen", "unseen": "unseen", "all": "all"}


class ShapesTokenData:
    """``get_batch(split, batch_size, rng) -> (text, codes)``: caption i describes image i.

    ``tokenizer`` (captions) defaults to the one ``ShapesCaptionData`` trains on every training
    caption; ``image_tokenizer`` must match the world's image size. ``tokenizers`` names both,
    as a checkpoint stores them.
    """

    def __init__(self, image_tokenizer: ImageTokenizer, world: ShapesWorld | None = None,
                 tokenizer: WordTokenizer | None = None):
        self.captions = ShapesCaptionData(world, tokenizer)
        self.world, self.tokenizer = self.captions.world, self.captions.tokenizer
        S = self.world.config.image_size
        if image_tokenizer.image_size != S:
            raise ValueError(f"the image tokenizer reads {image_tokenizer.image_size} x "
                             f"{image_tokenizer.image_size} images, the world draws {S} x {S}")
        self.image_tokenizer = image_tokenizer

    @property
    def tokenizers(self) -> dict[str, WordTokenizer | ImageTokenizer]:
        """{"caption": the word tokenizer, "image": the image tokenizer}."""
        return {"caption": self.tokenizer, "image": self.image_tokenizer}

    @property
    def context_length(self) -> int:
        """Tt: the longest caption in tokens, [BOS] and [EOS] included."""
        return self.captions.context_length

    def encode(self, captions: Sequence[str]) -> np.ndarray:
        """Captions -> (B, Tt) int64 ids, padded with [PAD]."""
        return self.captions.encode(captions)

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        """text (B, Tt) int64 and codes (B, P) int64 of B fresh captioned images of a split."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
        check_batch_request(batch_size, rng)
        sample = self.world.sample(batch_size, rng, SPLITS[split])
        return self.encode(sample.captions), self.image_tokenizer.encode(sample.images)
