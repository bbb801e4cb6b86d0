"""Tests for minifm.nn.Linear."""

import numpy as np
import pytest

from minifm.functional.linear import linear_backward, linear_forward
from minifm.gradcheck import check_module, worst
from minifm.nn import Linear

BOUND = 1e-7   # smooth op; float64, h = 1e-5


@pytest.mark.parametrize("bias", [True, False])
def test_linear_module_gradients_match_numerical(rng, bias):
    lin = Linear(4, 5, bias=bias, rng=rng, dtype=np.float64)
    if bias:
        lin.bias.data[:] = rng.standard_normal(5)
    result = check_module(lin, rng.standard_normal((2, 3, 4)), rng=rng)
    assert sorted(result) == (["bias", "weight", "x"] if bias else ["weight", "x"])
    assert worst(result) < BOUND


def test_linear_init_is_gpt2_style(rng):
    lin = Linear(200, 300, rng=rng)
    assert lin.weight.shape == (200, 300) and lin.bias.shape == (300,)
    assert abs(lin.weight.data.std() - 0.02) < 0.001 and abs(lin.weight.data.mean()) < 0.001
    assert np.array_equal(lin.bias.data, np.zeros(300))


def test_linear_float32_and_float64_from_one_seed_agree():
    a = Linear(3, 4, rng=np.random.default_rng(0), dtype=np.float32)
    b = Linear(3, 4, rng=np.random.default_rng(0), dtype=np.float64)
    assert np.array_equal(a.weight.data, b.weight.data.astype(np.float32))


def test_linear_keeps_float32(rng):
    lin = Linear(4, 5, rng=rng)
    y = lin(rng.standard_normal((2, 3, 4)).astype(np.float32))
    dx = lin.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == lin.weight.grad.dtype == lin.bias.grad.dtype == np.float32


def test_linear_module_adds_the_functional_gradients(rng):
    lin = Linear(4, 5, rng=rng, dtype=np.float64)
    x, dout = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 5))
    y = lin(x)
    dx = lin.backward(dout)
    y_ref, cache = linear_forward(x, lin.weight.data, lin.bias.data)
    dx_ref, dw_ref, db_ref = linear_backward(dout, cache)
    assert np.array_equal(y, y_ref) and np.array_equal(dx, dx_ref)
    assert np.array_equal(lin.weight.grad, dw_ref) and np.array_equal(lin.bias.grad, db_ref)


def test_linear_rejects_bad_input(rng):
    lin = Linear(4, 5, rng=rng)
    with pytest.raises(TypeError, match="Linear input x must be a floating-point numpy array, "
                                        "got an array of int64"):
        lin(np.ones((2, 4), dtype=np.int64))
    with pytest.raises(TypeError, match="must be float32 like the parameters, got float64"):
        lin(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., C_in=4\) with last dim 4, got shape "
                                         r"\(2, 3\)"):
        lin(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"empty \(shape \(0, 4\)\)"):
        lin(np.ones((0, 4), dtype=np.float32))


def test_linear_backward_rejects_a_dout_of_another_shape(rng):
    # y is (2, 3, 5); a (3, 2, 5) dout has the same size, and reshaping it to (N, C_out) would
    # pair each gradient row with the wrong input row: silently wrong dw
    lin = Linear(4, 5, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 3, 4))
    lin(x)
    with pytest.raises(ValueError, match=r"Linear dout must have the forward output's shape "
                                         r"\(2, 3, 5\), got \(3, 2, 5\)"):
        lin.backward(rng.standard_normal((3, 2, 5)))
    assert not lin.weight.grad.any() and not lin.bias.grad.any()     # nothing was added
    lin(x)
    with pytest.raises(ValueError, match=r"got \(6, 5\)"):
        lin.backward(rng.standard_normal((6, 5)))
