"""GPT: parameter counts, GPT-2 naming and init, a whole-model gradient check, overfitting one
batch, and generation with and without the KV cache."""

import math

import numpy as np
import pytest

from helpers import well_scaled
from minifm.gradcheck import (check_model, numerical_gradient_of_scalar, worst,
                              worst_discrepancy)
from minifm.models.gpt import GPT, PRESETS, GPTConfig, count_params
from minifm.training.optim import AdamW

TINY = GPTConfig(vocab_size=7, context_length=5, n_layer=2, n_head=2, n_embd=8)


def tiny_model(rng, dtype=np.float64, **changes):
    return GPT(GPTConfig(**{**TINY.__dict__, **changes}), rng=rng, dtype=dtype)


def batch(rng, config, B=2, T=4):
    idx = rng.integers(0, config.vocab_size, size=(B, T))
    return idx, rng.integers(0, config.vocab_size, size=(B, T))


# ---- sizes and names ------------------------------------------------------------------------
def test_count_params_of_gpt2_small_is_the_published_124_439_808():
    assert count_params(PRESETS["gpt2"]) == 124_439_808


def test_count_params_of_gpt3_is_175_billion_within_one_percent():
    assert abs(count_params(PRESETS["gpt3-175b"]) - 175e9) / 175e9 < 0.01


@pytest.mark.parametrize("config", [TINY, GPTConfig(bias=False), PRESETS["classroom"],
                                    PRESETS["baby"], GPTConfig(n_layer=3, n_head=4, n_embd=16,
                                                               vocab_size=11, context_length=9)])
def test_count_params_equals_the_allocated_model(rng, config):
    assert count_params(config) == GPT(config, rng=rng).num_parameters()


def test_parameter_names_follow_gpt2(rng):
    names = [n for n, _ in tiny_model(rng, n_layer=1).named_parameters()]
    block = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
             "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
             "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]
    assert sorted(names) == sorted(["wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"]
                                   + [f"h.0.{n}" for n in block])


def test_initialisation_follows_gpt2(rng):
    model = GPT(GPTConfig(n_layer=8, n_embd=64, n_head=2, vocab_size=500), rng=rng)
    params = dict(model.named_parameters())
    residual = np.concatenate([p.data.ravel() for n, p in params.items()
                               if n.endswith("c_proj.weight")])
    others = np.concatenate([p.data.ravel() for n, p in params.items()
                             if n.endswith("weight") and p.data.ndim == 2
                             and not n.endswith("c_proj.weight")])
    assert abs(residual.std() - 0.02 / math.sqrt(16)) < 0.0002      # 0.02 / sqrt(2 L)
    assert abs(others.std() - 0.02) < 0.0002
    assert abs(others.mean()) < 0.0002
    for n, p in params.items():
        if n.endswith("bias"):
            assert not p.data.any(), n
        elif p.data.ndim == 1:
            assert (p.data == 1).all(), n                          # LayerNorm gains


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=10, n_head=3)
    with pytest.raises(ValueError, match="n_layer"):
        GPTConfig(n_layer=0)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(dropout=1.0)


# ---- forward -----------------------------------------------------------------------------------
def test_forward_shapes_dtype_and_initial_loss(rng):
    model = GPT(GPTConfig(vocab_size=50, context_length=8), rng=rng)
    idx, targets = batch(rng, model.config, B=3, T=8)
    logits, loss = model(idx)
    assert logits.shape == (3, 8, 50) and logits.dtype == np.float32 and loss is None
    _, loss = model(idx, targets)
    # small init gives near-uniform predictions: loss ~ ln V
    assert abs(loss - math.log(50)) < 0.05


def test_logits_are_causal(rng):
    model = tiny_model(rng)
    idx, _ = batch(rng, model.config, B=1, T=5)
    changed = idx.copy()
    changed[0, 3] = (idx[0, 3] + 1) % model.config.vocab_size
    a, b = model(idx)[0], model(changed)[0]
    np.testing.assert_array_equal(a[:, :3], b[:, :3])        # positions before 3 never see it
    assert not np.allclose(a[:, 3:], b[:, 3:])


def test_forward_rejects_bad_input(rng):
    model = tiny_model(rng)
    with pytest.raises(TypeError, match="integer"):
        model(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"\(B, T\).*batch axis"):
        model(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="T=6 exceeds context_length=5"):
        model(np.zeros((1, 6), dtype=np.int64))
    with pytest.raises(ValueError, match=r"id 7, outside the vocabulary \[0, 7\)"):
        model(np.array([[1, 7]]))
    with pytest.raises(ValueError, match="id -1, outside the vocabulary"):
        model(np.array([[-1, 2]]))
    with pytest.raises(ValueError, match="targets must have shape"):
        model(np.array([[1, 2]]), np.array([[1, 2, 3]]))


# ---- backward ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_gpt_backward_matches_numerical_gradient_for_every_parameter(rng, bias):
    config = GPTConfig(vocab_size=5, context_length=5, n_layer=2, n_head=2, n_embd=4, bias=bias)
    model = well_scaled(GPT(config, rng=rng, dtype=np.float64), rng)
    idx, targets = batch(rng, config, B=2, T=4)
    targets[0, 1] = -100                                      # an ignored position too
    results = check_model(model, idx, targets)
    assert set(results) == {n for n, _ in model.named_parameters()}
    # The key bias (middle third of each c_attn.bias) adds the same q.b_k to every score of a
    # query's row, and softmax ignores such a shift: its gradient is exactly 0, so its central
    # difference is pure round-off (~1e-11), which the 1e-8 floor of the relative error turns
    # into ~1e-3. Those entries are checked against 0 instead, the rest as usual.
    C = config.n_embd
    for name in [n for n in results if n.endswith("c_attn.bias")]:
        p = dict(model.named_parameters())[name]
        model.zero_grad()
        model(idx, targets)
        model.backward()
        analytic = p.grad.copy()
        numerical = numerical_gradient_of_scalar(lambda: model(idx, targets)[1], p.data)
        key = np.zeros(3 * C, dtype=bool)
        key[C:2 * C] = True
        assert np.abs(analytic[key]).max() < 1e-15 and np.abs(numerical[key]).max() < 1e-9
        results[name] = worst_discrepancy(analytic[~key], numerical[~key])
    assert worst(results) < 1e-5, {n: d.rel_error for n, d in results.items()}  # whole model


def test_tied_head_adds_its_gradient_to_the_embedding(rng):
    model = tiny_model(rng)
    idx = np.array([[0, 1, 2]])                               # tokens 3..6 never looked up
    model(idx, np.array([[1, 2, 0]]))
    model.backward()
    grad = model.wte.weight.grad
    assert np.abs(grad[3:]).min() > 0                         # only the output head reaches them
    assert not model.wpe.weight.grad[3:].any()                # positions 3, 4 unused


def test_backward_needs_a_forward_with_targets(rng):
    model = tiny_model(rng)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward()
    idx, targets = batch(rng, model.config)
    model(idx)
    with pytest.raises(RuntimeError, match="needs a loss"):
        model.backward()
    model(idx, targets)
    model.backward()
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward()


def test_gradients_keep_float32(rng):
    model = tiny_model(rng, dtype=np.float32)
    model(*batch(rng, model.config))
    model.backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_gpt_overfits_one_batch(rng):
    config = GPTConfig(vocab_size=20, context_length=16, n_layer=2, n_head=2, n_embd=32)
    model = GPT(config, rng=rng)
    idx, targets = batch(rng, config, B=4, T=16)
    opt = AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    first = None
    for _ in range(150):
        model.zero_grad()
        _, loss = model(idx, targets)
        first = loss if first is None else first
        model.backward()
        opt.step()
    assert first > 2.5 and loss < 0.05        # from ~ln 20 = 3.0 to memorised


# ---- generation --------------------------------------------------------------------------------
@pytest.mark.parametrize("prompt_len, new", [(1, 3), (2, 9), (5, 4), (8, 3)])
def test_cached_and_uncached_decoding_agree_at_every_step(rng, prompt_len, new):
    # context_length 5: (2, 9) and (5, 4) slide the window, (8, 3) crops the prompt
    model = tiny_model(rng)
    prompt = rng.integers(0, 7, size=(2, prompt_len))
    ids_c, logits_c = model.generate(prompt, new, rng=np.random.default_rng(3), use_cache=True,
                                     return_logits=True)
    ids_u, logits_u = model.generate(prompt, new, rng=np.random.default_rng(3), use_cache=False,
                                     return_logits=True)
    np.testing.assert_array_equal(ids_c, ids_u)
    assert logits_c.shape == (2, new, 7)
    np.testing.assert_allclose(logits_c, logits_u, rtol=0, atol=1e-12)


def test_greedy_generation_takes_the_argmax_of_forward_on_the_window(rng):
    model = tiny_model(rng)
    prompt = rng.integers(0, 7, size=(3, 2))
    ids = model.generate(prompt, 6, temperature=0)            # runs past context_length 5
    np.testing.assert_array_equal(ids[:, :2], prompt)
    for t in range(2, 8):
        window = ids[:, max(0, t - 5):t]
        np.testing.assert_array_equal(ids[:, t], np.argmax(model(window)[0][:, -1], axis=-1))


def test_a_prompt_longer_than_context_length_is_cropped_to_its_last_block(rng):
    model = tiny_model(rng)
    prompt = rng.integers(0, 7, size=(2, 9))
    _, logits = model.generate(prompt, 1, temperature=0, return_logits=True)
    np.testing.assert_allclose(logits[:, 0], model(prompt[:, -5:])[0][:, -1], rtol=0, atol=1e-12)
    a = model.generate(prompt, 4, rng=np.random.default_rng(1))
    b = model.generate(prompt[:, -5:], 4, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a[:, 9:], b[:, 5:])


def test_generation_is_reproducible_and_restores_training_mode(rng):
    model = tiny_model(rng, dtype=np.float32, dropout=0.5)
    prompt = np.array([[1, 2]])
    a = model.generate(prompt, 5, rng=np.random.default_rng(0), top_k=3, top_p=0.9)
    b = model.generate(prompt, 5, rng=np.random.default_rng(0), top_k=3, top_p=0.9)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (1, 7) and model.training
    np.testing.assert_array_equal(model.generate(prompt, 0), prompt)


def test_generate_rejects_bad_prompts(rng):
    model = tiny_model(rng)
    with pytest.raises(ValueError, match="the prompt is empty"):
        model.generate(np.zeros((1, 0), dtype=np.int64), 3)
    with pytest.raises(ValueError, match="id 9, outside the vocabulary"):
        model.generate(np.array([[1, 9]]), 3)
    with pytest.raises(TypeError, match="integer"):
        model.generate(np.array([[1.0, 2.0]]), 3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(np.array([[1, 2]]), -1)
