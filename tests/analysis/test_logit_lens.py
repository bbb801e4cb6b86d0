"""The logit lens on a tiny GPT: its last layer is the model's own logits, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from minifm.analysis.logit_lens import lens_probabilities, logit_lens
from minifm.models.gpt import GPT, GPTConfig

CONFIG = GPTConfig(vocab_size=13, context_length=8, n_layer=3, n_head=2, n_embd=8, dropout=0.1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_last_layer_lens_is_the_models_logits(rng, dtype):
    model = GPT(CONFIG, rng=rng, dtype=dtype)
    idx = rng.integers(0, CONFIG.vocab_size, (2, 6))
    lens = logit_lens(model, idx)
    assert lens.shape == (4, 2, 6, 13)                        # (L + 1, B, T, V)
    assert lens.dtype == dtype
    assert model.training                                     # the mode the model had
    with model.evaluating():
        assert np.array_equal(lens[-1], model(idx)[0])


def test_a_block_that_writes_nothing_leaves_the_lens_unchanged(rng):
    """Block 1 with zero output projections adds nothing to the residual stream."""
    model = GPT(CONFIG, rng=rng, dtype=np.float64)
    for proj in (model.h[1].attn.c_proj, model.h[1].mlp.c_proj):
        proj.weight.data[...] = 0.0
        proj.bias.data[...] = 0.0
    lens = logit_lens(model, rng.integers(0, CONFIG.vocab_size, (2, 4)))
    assert np.array_equal(lens[1], lens[2])
    assert not np.allclose(lens[0], lens[1])


def test_lens_probabilities_pick_the_tokens(rng):
    model = GPT(CONFIG, rng=rng, dtype=np.float64)
    idx = rng.integers(0, CONFIG.vocab_size, (2, 4))
    lens = logit_lens(model, idx)
    top = lens.argmax(axis=-1)                                # (L + 1, B, T)
    e = np.exp(lens - lens.max(axis=-1, keepdims=True))
    probs = e / e.sum(axis=-1, keepdims=True)
    assert np.allclose(lens_probabilities(lens, idx),
                       np.take_along_axis(probs, idx[None, ..., None], -1)[..., 0], atol=1e-15)
    assert np.allclose(lens_probabilities(lens[:1], top[0]), probs[0].max(axis=-1), atol=1e-15)
    with pytest.raises(ValueError, match=r"\(L \+ 1, B, T, V\)"):
        lens_probabilities(lens[0], idx)
    with pytest.raises(ValueError, match="ids"):
        lens_probabilities(lens, idx[:, :2])
