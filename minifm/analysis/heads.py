"""Attention heads: their maps, and what the model loses when one is switched off (ablation).

Dimensions: B batch, T time, C width, H heads, D head size (C = H * D), L layers.

Works on any model whose transformer blocks are the list ``model.h`` (GPT, and Bert too). In a
block's attention the heads' outputs are concatenated before the output projection,

    y = [y_0 | y_1 | ... | y_{H-1}] @ c_proj.weight + c_proj.bias      y_h: (B, T, D)

so zeroing columns [h D, (h + 1) D) of c_proj's input removes head h's contribution and nothing
else (zero ablation; Michel et al. 2019, "Are Sixteen Heads Really Better than One?", mask heads
the same way). ``ablate_heads`` does this for the duration of a ``with`` block by wrapping the
c_proj layers' forward and backward on the instances: minifm.nn is not changed, and the
gradient of the ablated model stays exact (no gradient reaches an ablated head).
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from minifm.nn.module import Module


def _blocks(model: Module) -> list[Module]:
    blocks = getattr(model, "h", None)
    if not isinstance(blocks, list) or not blocks:
        raise TypeError(f"expected a model whose transformer blocks are the list model.h (GPT, "
                        f"Bert), got {type(model).__name__}")
    return blocks


def attention_maps(model: Module, *inputs: Any) -> np.ndarray:
    """Every layer's attention probabilities for one eval-mode forward ``model(*inputs)``
    (for GPT: ``attention_maps(gpt, idx)`` with idx (B, T)). Returns (L, B, H, T, T): entry
    [l, b, h, t, s] is how much position t attends to position s in head h of layer l."""
    blocks = _blocks(model)
    with model.evaluating():
        model(*inputs)
    return np.stack([block.attn.attn_probs for block in blocks])   # L x (B, H, T, T)


def _check_heads(blocks: list[Module], heads: Iterable[tuple[int, int]]
                 ) -> dict[int, list[int]]:
    """{layer: [head, ...]} from (layer, head) pairs, each checked against the model."""
    by_layer: dict[int, list[int]] = {}
    for pair in heads:
        if not (isinstance(pair, tuple) and len(pair) == 2
                and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                        for i in pair)):
            raise TypeError(f"heads must be (layer, head) pairs of ints, got {pair!r}")
        layer, head = int(pair[0]), int(pair[1])
        if not 0 <= layer < len(blocks):
            raise ValueError(f"layer {layer} does not exist: the model has layers "
                             f"0..{len(blocks) - 1}")
        n_heads = blocks[layer].attn.n_heads
        if not 0 <= head < n_heads:
            raise ValueError(f"head {head} does not exist: layer {layer} has heads "
                             f"0..{n_heads - 1}")
        by_layer.setdefault(layer, []).append(head)
    return by_layer


@contextmanager
def ablate_heads(model: Module, heads: Iterable[tuple[int, int]]) -> Iterator[Module]:
    """``with ablate_heads(model, [(layer, head), ...]):`` every forward (and backward) inside
    runs with those heads' outputs set to zero; on leaving, the model is as it was."""
    blocks = _blocks(model)
    by_layer = _check_heads(blocks, heads)
    wrapped = []
    for layer, layer_heads in by_layer.items():
        attn = blocks[layer].attn
        D = attn.head_dim
        keep = np.ones(attn.dim, dtype=bool)                 # (C,) False on the ablated columns
        for h in layer_heads:
            keep[h * D:(h + 1) * D] = False
        c_proj = attn.c_proj
        saved = {name: vars(c_proj).get(name) for name in ("forward", "backward")}
        c_proj.forward = _zeroing(c_proj.forward, keep, on_input=True)
        c_proj.backward = _zeroing(c_proj.backward, keep, on_input=False)
        wrapped.append((c_proj, saved))
    try:
        yield model
    finally:
        for c_proj, saved in reversed(wrapped):
            for name, previous in saved.items():
                if previous is None:
                    del c_proj.__dict__[name]                 # back to the class's method
                else:
                    setattr(c_proj, name, previous)           # an enclosing ablation's wrapper


def _zeroing(method: Callable[[np.ndarray], np.ndarray], keep: np.ndarray, *, on_input: bool
             ) -> Callable[[np.ndarray], np.ndarray]:
    """c_proj's forward with the ablated input columns zeroed first (on_input), or its backward
    with the same columns of the input gradient zeroed after (those inputs are constants)."""
    def run(a: np.ndarray) -> np.ndarray:
        if on_input:
            return method(a * keep)                           # (B, T, C) * (C,): heads out
        return method(a) * keep                               # fwd: x * keep  =>  dx * keep
    return run


def ablation_drops(model: Module, metric: Callable[[], float]) -> np.ndarray:
    """How much ``metric()`` (e.g. an accuracy that runs the model) falls when each head alone
    is ablated: (L, H) array of metric() - metric() under ``ablate_heads(model, [(l, h)])``."""
    blocks = _blocks(model)
    baseline = float(metric())
    drops = np.zeros((len(blocks), max(block.attn.n_heads for block in blocks)))
    for layer, block in enumerate(blocks):
        for head in range(block.attn.n_heads):
            with ablate_heads(model, [(layer, head)]):
                drops[layer, head] = baseline - float(metric())
    return drops
