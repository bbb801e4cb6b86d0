"""Parity of the basic layers with PyTorch in float64: outputs and every gradient (input and
parameters, PyTorch's via autograd) agree to a max absolute difference of 1e-10 (rtol 0)."""

import numpy as np
import pytest

from minifm.nn import GELU, Dropout, Embedding, LayerNorm, Linear, ReLU, Softmax

torch = pytest.importorskip("torch")
F = torch.nn.functional

ATOL = 1e-10


def _t(a: np.ndarray, grad: bool = True):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _assert_close(ours: np.ndarray, theirs) -> None:
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) <= ATOL


def _run(module, x: np.ndarray, dout: np.ndarray):
    module.zero_grad()
    y = module(x)
    dx = module.backward(dout)
    return y, dx


def test_linear_matches_torch(rng):
    lin = Linear(4, 5, rng=rng, dtype=np.float64)
    lin.bias.data[:] = rng.standard_normal(5)
    x, dout = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 5))
    y, dx = _run(lin, x, dout)
    tx, tw, tb = _t(x), _t(lin.weight.data.T.copy()), _t(lin.bias.data)   # torch stores (out, in)
    ty = F.linear(tx, tw, tb)
    ty.backward(torch.tensor(dout))
    _assert_close(y, ty)
    _assert_close(dx, tx.grad)
    _assert_close(lin.weight.grad, tw.grad.T)
    _assert_close(lin.bias.grad, tb.grad)


def test_embedding_matches_torch(rng):
    emb = Embedding(6, 4, rng=rng, dtype=np.float64)
    idx = np.array([[1, 5, 1], [0, 1, 3]])
    dout = rng.standard_normal((2, 3, 4))
    y, _ = _run(emb, idx, dout)
    tw = _t(emb.weight.data)
    ty = F.embedding(torch.tensor(idx), tw)
    ty.backward(torch.tensor(dout))
    _assert_close(y, ty)
    _assert_close(emb.weight.grad, tw.grad)


def test_layernorm_matches_torch(rng):
    ln = LayerNorm(4, eps=1e-3, dtype=np.float64)
    ln.weight.data[:] = rng.standard_normal(4)
    ln.bias.data[:] = rng.standard_normal(4)
    x, dout = rng.standard_normal((2, 3, 4)) * 3 + 1, rng.standard_normal((2, 3, 4))
    y, dx = _run(ln, x, dout)
    tx, tg, tb = _t(x), _t(ln.weight.data), _t(ln.bias.data)
    ty = F.layer_norm(tx, (4,), tg, tb, eps=1e-3)
    ty.backward(torch.tensor(dout))
    _assert_close(y, ty)
    _assert_close(dx, tx.grad)
    _assert_close(ln.weight.grad, tg.grad)
    _assert_close(ln.bias.grad, tb.grad)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: GELU("tanh"), lambda x: F.gelu(x, approximate="tanh")),
    (lambda: GELU("none"), lambda x: F.gelu(x, approximate="none")),
    (ReLU, F.relu),
    (Softmax, lambda x: F.softmax(x, dim=-1)),
    (lambda: Softmax(axis=1), lambda x: F.softmax(x, dim=1)),
], ids=["gelu_tanh", "gelu_exact", "relu", "softmax", "softmax_axis1"])
def test_activation_matches_torch(rng, ours, theirs):
    x, dout = rng.standard_normal((2, 3, 8)) * 3, rng.standard_normal((2, 3, 8))
    y, dx = _run(ours(), x, dout)
    tx = _t(x)
    ty = theirs(tx)
    ty.backward(torch.tensor(dout))
    _assert_close(y, ty)
    _assert_close(dx, tx.grad)


def test_dropout_matches_torch_with_the_same_mask(rng):
    p = 0.3
    drop = Dropout(p, rng=rng)
    x, dout = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 3, 8))
    y, dx = _run(drop, x, dout)
    keep = torch.tensor(y != 0, dtype=torch.float64)    # the mask our layer drew (x has no zeros)
    tx = _t(x)
    ty = tx * keep / (1 - p)                             # what torch's dropout does with that mask
    ty.backward(torch.tensor(dout))
    _assert_close(y, ty)
    _assert_close(dx, tx.grad)
    drop.eval()
    _assert_close(drop(x), F.dropout(_t(x, grad=False), p, training=False))
