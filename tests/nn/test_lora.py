"""LoRA: the wrapped layer starts as the frozen one, the hand-written backward matches central
differences (and gives W no gradient), merge/unmerge are exact to round-off, adapters are
applied by name, saved alone, and a merged model is a plain model."""

import numpy as np
import pytest

from minifm.gradcheck import numerical_gradient, rel_error
from minifm.models.bert import Bert, BertConfig
from minifm.nn.linear import Linear
from minifm.nn.lora import (LoRALinear, apply_lora, load_lora_state_dict, lora_layers,
                            lora_state_dict, qkv_columns, remove_lora)

TINY = BertConfig(vocab_size=13, context_length=8, n_layer=2, n_head=2, n_embd=8, n_inner=16,
                  dropout=0.0, pooler=False)


def lora(rng, dtype=np.float64, columns=None, out=5):
    base = Linear(4, out, rng=rng, dtype=dtype)
    base.bias.data[:] = rng.standard_normal(out)
    layer = LoRALinear(base, 2, 6.0, rng=rng, columns=columns)
    layer.lora_B.data[...] = rng.standard_normal(layer.lora_B.shape)   # B = 0 hides dA
    return base, layer


def test_lora_starts_as_the_frozen_layer(rng):
    base = Linear(4, 5, rng=rng, dtype=np.float32)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    y0 = base(x)
    layer = LoRALinear(base, 3, 6.0, rng=rng)
    assert np.array_equal(layer(x), y0) and layer.scale == 2.0
    assert not layer.lora_B.data.any() and layer.lora_A.shape == (4, 3)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias", "lora_A", "lora_B"]


@pytest.mark.parametrize("columns", [None, np.array([0, 1, 4])])
def test_lora_backward_matches_numerical_gradient_and_leaves_w_alone(rng, columns):
    _, layer = lora(rng, columns=columns)
    x = rng.standard_normal((2, 3, 4))
    dout = rng.standard_normal((2, 3, 5))
    layer(x)
    dx = layer.backward(dout)
    f = lambda: layer(x)                                       # noqa: E731
    # a smooth (bilinear) op: the tight bound of STYLE.md
    assert rel_error(dx, numerical_gradient(f, x, dout)) < 1e-7
    for p in (layer.lora_A, layer.lora_B):
        assert rel_error(p.grad, numerical_gradient(f, p.data, dout)) < 1e-7
    assert not layer.weight.grad.any() and not layer.bias.grad.any()   # frozen: no gradient


def test_columns_adapt_only_those_outputs(rng):
    base, layer = lora(rng, columns=np.array([0, 1, 4]))
    x = rng.standard_normal((3, 4))
    change = layer(x) - (x @ base.weight.data + base.bias.data)
    assert np.abs(change[:, [2, 3]]).max() == 0 and np.abs(change[:, [0, 1, 4]]).min() > 0
    assert qkv_columns(2, "qv").tolist() == [0, 1, 4, 5]
    with pytest.raises(ValueError, match="letters of 'qkv'"):
        qkv_columns(2, "qx")


def test_merge_and_unmerge_are_exact_to_float32_round_off(rng):
    _, layer = lora(rng, dtype=np.float32)
    layer.lora_A.data[...] = rng.standard_normal(layer.lora_A.shape)
    w0 = layer.weight.data.copy()
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = layer(x)
    layer.merge()
    y_merged = layer(x)
    assert y_merged.dtype == np.float32
    eps = np.finfo(np.float32).eps
    # x @ W + s x A B and x @ (W + s A B) differ only by float32 rounding of the sums
    assert np.abs(y_merged - y).max() <= 16 * eps * np.abs(y).max()
    with pytest.raises(RuntimeError, match="unmerge"):
        layer.backward(np.ones_like(y))
    layer.unmerge()
    # W + D - D rounds each entry at most twice: within 2 ulps of the largest |W + D|
    bound = 2 * eps * np.abs(w0 + layer.delta()).max()
    assert np.abs(layer.weight.data - w0).max() <= bound
    with pytest.raises(RuntimeError, match="not merged"):
        layer.unmerge()


def test_bad_rank_or_alpha_is_refused(rng):
    base = Linear(4, 5, rng=rng)
    for rank in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="rank must be an integer >= 1"):
            LoRALinear(base, rank, 1.0, rng=rng)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        LoRALinear(base, 2, 0.0, rng=rng)


def test_apply_lora_by_name_pattern(rng):
    model = Bert(TINY, rng=rng, dtype=np.float64)
    names = apply_lora(model, "h.*.attn.c_attn", 2, 4.0, rng=rng, parts="qv")
    assert names == ["h.0.attn.c_attn", "h.1.attn.c_attn"]
    assert set(lora_layers(model)) == set(names)
    assert set(lora_state_dict(model)) == {f"h.{i}.attn.c_attn.lora_{m}" for i in (0, 1)
                                           for m in "AB"}
    assert lora_state_dict(model)["h.0.attn.c_attn.lora_B"].shape == (2, 16)   # q and v
    with pytest.raises(ValueError, match="no Linear layer of Bert matches 'h.*.nothing'"):
        apply_lora(model, "h.*.nothing", 2, 4.0, rng=rng)
    with pytest.raises(ValueError, match="fused"):
        apply_lora(model, "h.*.mlp.c_fc", 2, 4.0, rng=rng, parts="qv")


def _trained_lora_bert(rng):
    model = Bert(TINY, rng=rng, dtype=np.float32)
    plain_state = {k: v.copy() for k, v in model.state_dict().items()}
    apply_lora(model, "h.*", 2, 4.0, rng=rng)                 # every Linear of the blocks
    for name, layer in lora_layers(model).items():
        layer.lora_B.data[...] = 0.1 * rng.standard_normal(layer.lora_B.shape)
    return model.eval(), plain_state


def test_saved_adapters_restore_the_adapted_model(rng):
    model, plain_state = _trained_lora_bert(rng)
    idx = rng.integers(0, 13, size=(2, 5))
    other = Bert(TINY, rng=np.random.default_rng(9), dtype=np.float32)
    other.load_state_dict(plain_state)                        # the same frozen weights
    apply_lora(other, "h.*", 2, 4.0, rng=np.random.default_rng(9))
    load_lora_state_dict(other, lora_state_dict(model))
    assert np.array_equal(other.eval().encode(idx), model.encode(idx))
    with pytest.raises(KeyError, match="adapters do not match"):
        load_lora_state_dict(other, {})


def test_a_merged_model_loads_as_a_plain_model(rng):
    model, plain_state = _trained_lora_bert(rng)
    idx = rng.integers(0, 13, size=(2, 5))
    adapted = model.encode(idx)
    remove_lora(model)
    assert not lora_layers(model)
    assert set(model.state_dict()) == set(plain_state)
    plain = Bert(TINY, rng=np.random.default_rng(5), dtype=np.float32)
    plain.load_state_dict(model.state_dict())
    # the merged weights give the adapted outputs, up to float32 round-off through 2 blocks
    assert np.abs(plain.eval().encode(idx) - adapted).max() < 1e-5
    before = Bert(TINY, rng=np.random.default_rng(5), dtype=np.float32)
    before.load_state_dict(plain_state)
    assert np.abs(before.eval().encode(idx) - adapted).max() > 1e-3   # the adapters mattered
