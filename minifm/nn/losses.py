"""Loss modules: cross-entropy for language models, CLIP's contrastive loss with a learned scale.

Dimensions: N rows (tokens or image-text pairs), V classes, E embedding width.
A loss's forward returns a float; its backward starts the chain with ``dloss`` (default 1.0).
Lessons: lessons/02_linear_softmax_cross_entropy.md (cross-entropy), lessons/10_clip.md
(the contrastive loss).
"""

from __future__ import annotations

import numpy as np

from minifm.functional.losses import (IGNORE_INDEX, contrastive_loss_backward,
                                      contrastive_loss_forward, cross_entropy_backward,
                                      cross_entropy_forward)
from minifm.nn.module import Module, Parameter


class CrossEntropyLoss(Module):
    """Mean softmax cross-entropy over the targets that are not ``ignore_index``."""

    def __init__(self, ignore_index: int = IGNORE_INDEX):
        self.ignore_index = ignore_index

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> float:
        """logits: (..., V) float; targets: (...) int. Returns the mean loss."""
        loss, self._cache = cross_entropy_forward(logits, targets, self.ignore_index)
        return loss

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Returns dlogits (..., V)."""
        return cross_entropy_backward(dloss, self._pop_cache())


class ContrastiveLoss(Module):
    """CLIP's symmetric contrastive loss with a learned temperature (Radford et al. 2021).

    Owns ``logit_scale``, a scalar Parameter holding log(1 / temperature), initialised to
    log(1 / init_temperature). The paper clips the scale so logits are multiplied by at most
    ``max_scale`` = 100. The clamp happens here, at the start of every forward: the parameter is
    projected down to log(max_scale) in place before it is used. That is the same as clamping
    after each optimizer step (the value is only ever read here), and no optimizer needs to know.
    """

    def __init__(self, *, init_temperature: float = 0.07, max_scale: float = 100.0,
                 dtype: type = np.float32):
        if not (init_temperature > 0.0 and 1.0 / init_temperature <= max_scale):
            raise ValueError(f"init_temperature must be > 0 with 1 / init_temperature <= max_scale "
                             f"= {max_scale}, got {init_temperature}")
        self.max_scale = max_scale
        self.logit_scale = Parameter(np.array(np.log(1.0 / init_temperature), dtype=dtype))

    def forward(self, image_emb: np.ndarray, text_emb: np.ndarray) -> float:
        """image_emb, text_emb: (N, E), L2-normalised, row i of each a matching pair."""
        np.minimum(self.logit_scale.data, np.log(self.max_scale), out=self.logit_scale.data)
        loss, self._cache = contrastive_loss_forward(image_emb, text_emb, self.logit_scale.data)
        return loss

    def backward(self, dloss: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Returns (dimage_emb, dtext_emb), each (N, E); adds into ``logit_scale.grad``."""
        dimage, dtext, dscale = contrastive_loss_backward(dloss, self._pop_cache())
        self.logit_scale.grad += dscale
        return dimage, dtext
