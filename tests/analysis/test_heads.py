"""Attention maps and head ablation on a tiny GPT with random weights."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from minifm.analysis.heads import ablate_heads, ablation_drops, attention_maps
from minifm.gradcheck import check_model, worst
from minifm.models.gpt import GPT, GPTConfig

CONFIG = GPTConfig(vocab_size=11, context_length=6, n_layer=2, n_head=2, n_embd=8)


def _model(rng, dtype=np.float64) -> GPT:
    model = GPT(CONFIG, rng=rng, dtype=dtype)
    for _, p in model.named_parameters():                     # well away from the init's scale
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    return model


def _ids(rng, B=2, T=5):
    return rng.integers(0, CONFIG.vocab_size, (B, T))


def test_attention_maps_are_causal_distributions(rng):
    model, idx = _model(rng), _ids(rng)
    maps = attention_maps(model, idx)
    assert maps.shape == (2, 2, 2, 5, 5)                      # (L, B, H, T, T)
    assert np.allclose(maps.sum(axis=-1), 1.0, atol=1e-12)
    assert np.all(np.triu(np.ones((5, 5), dtype=bool), k=1) <= (maps == 0))   # no future keys


def test_ablating_nothing_changes_nothing_and_leaving_restores_the_model(rng):
    model, idx = _model(rng), _ids(rng)
    before = model(idx)[0]
    with ablate_heads(model, []):
        assert np.array_equal(model(idx)[0], before)
    with ablate_heads(model, [(1, 0)]):
        assert not np.allclose(model(idx)[0], before)
    assert np.array_equal(model(idx)[0], before)
    assert "forward" not in vars(model.h[1].attn.c_proj)     # the class's method again


def test_each_head_ablation_changes_the_output(rng):
    model, idx = _model(rng), _ids(rng)
    before = model(idx)[0]
    for layer in range(2):
        for head in range(2):
            with ablate_heads(model, [(layer, head)]):
                assert np.abs(model(idx)[0] - before).max() > 1e-3


def test_ablating_every_head_leaves_only_the_c_proj_bias(rng):
    """All heads off: attention adds c_proj.bias alone, as if c_proj.weight were zero."""
    model, idx = _model(rng), _ids(rng)
    no_attention = copy.deepcopy(model)
    no_attention.h[0].attn.c_proj.weight.data[...] = 0.0
    with ablate_heads(model, [(0, 0), (0, 1)]):
        assert np.array_equal(model(idx)[0], no_attention(idx)[0])


def test_a_head_with_zero_output_weights_has_zero_ablation_drop(rng):
    model, idx = _model(rng), _ids(rng)
    D = CONFIG.n_embd // CONFIG.n_head
    model.h[1].attn.c_proj.weight.data[1 * D:2 * D] = 0.0    # head 1 of layer 1 writes nothing
    before = model(idx)[0]
    drops = ablation_drops(model, lambda: -float(np.abs(model(idx)[0] - before).sum()))
    assert drops.shape == (2, 2)
    assert drops[1, 1] == 0.0
    assert np.all(np.delete(drops.ravel(), 3) > 0)           # the others move the logits away


def test_nested_ablations_compose_and_unwind(rng):
    model, idx = _model(rng), _ids(rng)
    with ablate_heads(model, [(0, 0), (0, 1)]):
        both = model(idx)[0]
    with ablate_heads(model, [(0, 0)]):
        one = model(idx)[0]
        with ablate_heads(model, [(0, 1)]):
            assert np.array_equal(model(idx)[0], both)
        assert np.array_equal(model(idx)[0], one)


def test_ablated_model_gradient_is_exact_and_skips_the_head(rng):
    """Whole-model central differences in float64 (< 1e-5); the ablated head's q, k, v
    columns of c_attn get no gradient at all."""
    model, idx = _model(rng), _ids(rng, B=2, T=4)
    targets = _ids(rng, B=2, T=4)
    D, C = CONFIG.n_embd // CONFIG.n_head, CONFIG.n_embd
    with ablate_heads(model, [(0, 1)]):
        assert worst(check_model(model, idx, targets)) < 1e-5
        model.zero_grad()
        model(idx, targets)
        model.backward()
    head_1 = [part * C + D + i for part in range(3) for i in range(D)]   # q|k|v columns
    grad = model.h[0].attn.c_attn.weight.grad
    assert np.all(grad[:, head_1] == 0.0)
    assert np.abs(np.delete(grad, head_1, axis=1)).max() > 0


def test_ablation_applies_to_cached_generation(rng):
    model, idx = _model(rng), _ids(rng, B=1, T=2)
    with ablate_heads(model, [(0, 0), (1, 1)]):
        cached = model.generate(idx, 3, temperature=0.0, use_cache=True, return_logits=True)
        plain = model.generate(idx, 3, temperature=0.0, use_cache=False, return_logits=True)
    assert np.allclose(cached[1], plain[1], atol=1e-10)


def test_bad_heads_are_named(rng):
    model = _model(rng)
    with pytest.raises(ValueError, match="layer 2 does not exist"):
        with ablate_heads(model, [(2, 0)]):
            pass
    with pytest.raises(ValueError, match="head 5 does not exist"):
        with ablate_heads(model, [(0, 5)]):
            pass
    with pytest.raises(TypeError, match="pairs of ints"):
        with ablate_heads(model, [0]):
            pass
    with pytest.raises(TypeError, match="model.h"):
        attention_maps(object(), _ids(rng))


def test_an_error_inside_the_ablation_still_restores_the_model(rng):
    model, idx = _model(rng), _ids(rng)
    before = model(idx)[0]
    with pytest.raises(KeyError):
        with ablate_heads(model, [(0, 1), (1, 0)]):
            raise KeyError("boom")
    assert np.array_equal(model(idx)[0], before)
    assert not {"forward", "backward"} & set(vars(model.h[0].attn.c_proj))
