"""Hidden states of every layer, read out of a model for the logit lens and for probes.

Dimensions: B batch, T time, C width, L layers.

GPT (pre-LN) has a residual stream that every block adds to; BERT (post-LN, as the original)
normalises after each block, so its "layer l" is the block's normalised output. Either way
entry 0 is the embeddings as the first block reads them and entry l the output of block l - 1:
L + 1 arrays. Both run in eval mode (no dropout) and keep no gradient.
Lessons: the scale, bias and interpretability lesson (issue 16); lesson 8 (GPT), lesson 9 (BERT).
"""

from __future__ import annotations

import numpy as np

from minifm.models.bert import Bert
from minifm.models.bert import _check_input as check_bert_input    # Bert.forward's own checks
from minifm.models.gpt import GPT
from minifm.validation import check_context_length, check_ids


def residual_streams(model: GPT, idx: np.ndarray) -> np.ndarray:
    """GPT's residual stream before the first block and after every block.

    idx: (B, T) token ids. Returns (L + 1, B, T, C); [0] is the embeddings wte[idx] + wpe,
    [l] the output of block l - 1 (before ln_f).
    """
    check_ids(idx, "idx", vocab_size=model.config.vocab_size, ndim=2, axes="(B, T)")
    check_context_length(idx.shape[1], model.config.context_length)
    with model.evaluating():
        x = model.drop(model.wte(idx) + model.wpe(np.arange(idx.shape[1])))   # (B, T, C)
        streams = [x]
        for block in model.h:
            x = block(x)
            streams.append(x)
    return np.stack(streams)                                  # (L + 1) x (B, T, C)


def bert_layer_states(model: Bert, idx: np.ndarray, token_type_ids: np.ndarray | None = None,
                      attention_mask: np.ndarray | None = None) -> np.ndarray:
    """BERT's states after the embedding LayerNorm and after every block, from (B, T) inputs
    as ``Bert.forward`` takes them. Returns (L + 1, B, T, C); for a post-LN BERT the last entry
    is ``model.encode``'s output (a pre-LN one applies ln_f after it)."""
    segments = check_bert_input(model.config, idx, token_type_ids, attention_mask)
    with model.evaluating():
        x = model.wte(idx) + model.wpe(np.arange(idx.shape[1])) + model.wse(segments)
        x = model.drop(model.ln_e(x))                         # (B, T, C)
        states = [x]
        for block in model.h:
            x = block(x, attention_mask)
            states.append(x)
    return np.stack(states)                                   # (L + 1) x (B, T, C)
