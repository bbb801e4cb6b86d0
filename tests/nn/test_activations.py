"""Tests for minifm.nn.GELU, ReLU and Softmax."""

import numpy as np
import pytest

from minifm.gradcheck import check_module, worst
from minifm.nn import GELU, ReLU, Softmax

BOUND = 1e-7   # smooth ops (ReLU away from its kink); float64, h = 1e-5


@pytest.mark.parametrize("make", [lambda: GELU("tanh"), lambda: GELU("none"), ReLU,
                                  Softmax, lambda: Softmax(axis=1)])
def test_activation_module_gradients_match_numerical(rng, make):
    x = np.linspace(-3, 3, 24).reshape(2, 3, 4)     # no entry at ReLU's kink; GELU grads > 0.01
    x = x[:, :, rng.permutation(4)]
    result = check_module(make(), x, rng=rng)
    assert list(result) == ["x"]
    assert worst(result) < BOUND


@pytest.mark.parametrize("make", [lambda: GELU("tanh"), lambda: GELU("none"), ReLU, Softmax])
def test_activation_modules_keep_float32(rng, make):
    m = make()
    y = m(rng.standard_normal((2, 3, 4)).astype(np.float32))
    dx = m.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32 and m.num_parameters() == 0


def test_gelu_rejects_unknown_form():
    with pytest.raises(ValueError, match="'exact'"):
        GELU("exact")
