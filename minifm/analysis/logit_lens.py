"""The logit lens (nostalgebraist 2020, "interpreting GPT: the logit lens"): decode every layer's
residual stream with the model's own final LayerNorm and output head, as if the model stopped
there, to see at which depth the next-token prediction forms.

Dimensions: B batch, T time, C width, V vocabulary, L layers.

GPT is pre-LN: the residual stream x_0 = wte[idx] + wpe is only ever added to,
x_{l+1} = x_l + attn(ln_1(x_l)) + mlp(...), and the head reads ln_f(x_L) @ wte^T. The lens reads

    lens_l = ln_f(x_l) @ wte^T          l = 0 (the embeddings) .. L (the last block's output)

so lens_L is exactly the model's logits. Inspection only: it runs in eval mode and leaves the
modules' caches of its last pass (do not call backward after it).
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

import numpy as np

from minifm.analysis.states import residual_streams
from minifm.functional.softmax import softmax_forward
from minifm.models.gpt import GPT
from minifm.validation import check_ids


def logit_lens(model: GPT, idx: np.ndarray) -> np.ndarray:
    """Every layer's residual stream through ``ln_f`` and the tied head: idx (B, T) ->
    (L + 1, B, T, V) logits; the last entry equals ``model(idx)[0]``."""
    streams = residual_streams(model, idx)
    _, B, T, C = streams.shape
    wte = model.wte.weight.data
    # the same lines as GPT.forward's head, one layer at a time: (BT, C) @ (C, V) -> (B, T, V)
    return np.stack([(model.ln_f(x).reshape(B * T, C) @ wte.T).reshape(B, T, -1)
                     for x in streams])


def lens_probabilities(lens_logits: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The probability each layer's lens gives to the tokens ``ids`` (e.g. the true next
    tokens): lens_logits (L + 1, B, T, V), ids (B, T) -> (L + 1, B, T)."""
    if not isinstance(lens_logits, np.ndarray) or lens_logits.ndim != 4:
        raise ValueError(f"lens_logits must be an (L + 1, B, T, V) array, got "
                         f"{getattr(lens_logits, 'shape', type(lens_logits).__name__)}")
    check_ids(ids, "ids", vocab_size=lens_logits.shape[-1], shape=lens_logits.shape[1:3],
              axes="(B, T)")
    probs, _ = softmax_forward(lens_logits)                  # (L + 1, B, T, V)
    return np.take_along_axis(probs, ids[None, :, :, None], axis=-1)[..., 0]
