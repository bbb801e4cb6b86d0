"""Tests for the Module contract in minifm.nn.module, exercised through the basic layers."""

import numpy as np
import pytest

from minifm.nn import (GELU, Dropout, FeedForward, LayerNorm, Linear, Module, MultiHeadAttention,
                       Parameter, ReLU, Softmax, TransformerBlock)
from minifm.nn.patch_embedding import PatchEmbedding


class TwoLayer(Module):
    """A small container: a list of children plus a nested module."""

    def __init__(self, rng):
        self.blocks = [Linear(3, 4, rng=rng), Dropout(0.1, rng=rng)]
        self.ln = LayerNorm(4)


def test_backward_before_forward_raises_a_clear_error(rng):
    lin = Linear(3, 4, rng=rng)
    with pytest.raises(RuntimeError, match=r"Linear.backward\(\) was called before forward\(\)"):
        lin.backward(np.ones((2, 4), np.float32))


def test_second_backward_without_forward_raises(rng):
    lin = Linear(3, 4, rng=rng)
    y = lin(np.ones((2, 3), np.float32))
    lin.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="before forward"):
        lin.backward(np.ones_like(y))


def test_module_used_twice_accumulates_gradients(rng):
    lin = Linear(3, 4, rng=rng, dtype=np.float64)
    x1, x2 = rng.standard_normal((2, 3)), rng.standard_normal((5, 3))
    d1, d2 = rng.standard_normal((2, 4)), rng.standard_normal((5, 4))
    separate = []
    for x, d in [(x1, d1), (x2, d2)]:
        lin.zero_grad()
        lin(x)
        lin.backward(d)
        separate.append((lin.weight.grad.copy(), lin.bias.grad.copy()))
    lin.zero_grad()
    lin(x1)
    lin.backward(d1)
    lin(x2)
    lin.backward(d2)
    np.testing.assert_allclose(lin.weight.grad, separate[0][0] + separate[1][0], rtol=1e-14)
    np.testing.assert_allclose(lin.bias.grad, separate[0][1] + separate[1][1], rtol=1e-14)
    assert np.abs(separate[1][0]).sum() > 0                     # the second use contributed


def test_shared_parameter_is_listed_once(rng):
    a, b = Linear(3, 3, rng=rng), Linear(3, 3, rng=rng)
    b.weight = a.weight                                         # tied weights

    class Pair(Module):
        def __init__(self):
            self.a, self.b = a, b

    names = [name for name, _ in Pair().named_parameters()]
    assert names == ["a.weight", "a.bias", "b.bias"]
    assert Pair().num_parameters() == 9 + 3 + 3


def test_train_and_eval_propagate_to_children(rng):
    net = TwoLayer(rng)
    modes = lambda: [m.training for _, m in net.named_modules()]
    assert len(modes()) == 4 and all(modes())
    net.eval()
    assert not any(modes())
    net.train()
    assert all(modes())
    x = np.ones((2, 3), np.float32)
    net.eval()
    assert np.array_equal(net.blocks[1](x), x)                   # the child dropout obeys


def test_named_parameters_follow_lists_and_nesting(rng):
    assert [n for n, _ in TwoLayer(rng).named_parameters()] == [
        "blocks.0.weight", "blocks.0.bias", "ln.weight", "ln.bias"]


def test_zero_grad_clears_every_gradient(rng):
    lin = Linear(3, 4, rng=rng)
    y = lin(np.ones((2, 3), np.float32))
    lin.backward(np.ones_like(y))
    assert lin.weight.grad.any()
    lin.zero_grad()
    assert not lin.weight.grad.any() and not lin.bias.grad.any()


def test_state_dict_round_trip(rng):
    src, dst = TwoLayer(rng), TwoLayer(np.random.default_rng(0))
    dst.load_state_dict(src.state_dict())
    for (_, p), (_, q) in zip(src.named_parameters(), dst.named_parameters()):
        assert np.array_equal(p.data, q.data) and p.data is not q.data


def test_load_state_dict_rejects_wrong_names_and_shapes(rng):
    net = TwoLayer(rng)
    state = {k: v.copy() for k, v in net.state_dict().items()}
    with pytest.raises(KeyError, match=r"missing \['ln.bias'\]"):
        net.load_state_dict({k: v for k, v in state.items() if k != "ln.bias"})
    with pytest.raises(KeyError, match=r"unexpected \['extra'\]"):
        net.load_state_dict({**state, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"'blocks.0.weight': expected shape \(3, 4\), got \(4, 3\)"):
        net.load_state_dict({**state, "blocks.0.weight": np.zeros((4, 3))})


def test_parameter_refuses_non_float_data():
    with pytest.raises(TypeError, match="int64"):
        Parameter(np.zeros(3, dtype=np.int64))


def test_evaluating_restores_the_previous_mode_even_after_an_error():
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    with layer.evaluating():
        assert not layer.training
    assert layer.training
    layer.eval()
    with layer.evaluating():
        pass
    assert not layer.training                       # it was in eval mode before: it stays there
    layer.train()
    with pytest.raises(RuntimeError):
        with layer.evaluating():
            raise RuntimeError("boom")
    assert layer.training


LAYERS = {
    "LayerNorm": (lambda rng: LayerNorm(4, dtype=np.float64), (2, 3, 4)),
    "Dropout": (lambda rng: Dropout(0.5, rng=rng), (2, 3, 4)),
    "Dropout.eval": (lambda rng: Dropout(0.5, rng=rng).eval(), (2, 3, 4)),
    "GELU": (lambda rng: GELU(), (2, 3, 4)),
    "ReLU": (lambda rng: ReLU(), (2, 3, 4)),
    "Softmax": (lambda rng: Softmax(), (2, 3, 4)),
    "FeedForward": (lambda rng: FeedForward(4, 8, rng=rng, dtype=np.float64), (2, 3, 4)),
    "MultiHeadAttention": (lambda rng: MultiHeadAttention(4, 2, rng=rng, dtype=np.float64),
                           (2, 3, 4)),
    "TransformerBlock.pre-LN": (lambda rng: TransformerBlock(4, 2, 8, rng=rng, dtype=np.float64),
                                (2, 3, 4)),
    "TransformerBlock.post-LN": (lambda rng: TransformerBlock(4, 2, 8, norm_first=False, rng=rng,
                                                              dtype=np.float64), (2, 3, 4)),
    "PatchEmbedding": (lambda rng: PatchEmbedding(4, 2, 3, 5, rng=rng, dtype=np.float64),
                       (2, 4, 4, 3)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_backward_rejects_a_gradient_of_the_right_size_but_another_shape(rng, name):
    make, shape = LAYERS[name]
    layer = make(rng)
    y = layer(rng.standard_normal(shape))
    transposed = rng.standard_normal(y.shape[::-1])            # same size, another shape
    assert transposed.size == y.size and transposed.shape != y.shape
    with pytest.raises(ValueError, match=rf"must have the forward output's shape "
                                         rf"\({y.shape[0]}, {y.shape[1]}, {y.shape[2]}\)"):
        layer.backward(transposed)
    assert all(not p.grad.any() for p in layer.parameters())   # nothing was added
