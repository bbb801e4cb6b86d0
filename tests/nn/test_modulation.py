"""Tests for minifm.nn.modulation: Modulate, Gate and AdaLayerNorm."""

import numpy as np
import pytest

from minifm.functional.layernorm import layernorm_forward
from minifm.gradcheck import numerical_gradient, rel_error
from minifm.nn.modulation import AdaLayerNorm, Gate, Modulate

# Smooth ops in float64: the library bound for smooth ops.
BOUND = 1e-7


def _input_errors(module, inputs, rng):
    """Relative error of every input's gradient (a module of several inputs)."""
    y = module(*inputs)
    dy = rng.standard_normal(y.shape)
    grads = module.backward(dy)
    return [rel_error(g, numerical_gradient(lambda: module(*inputs), x, dy))
            for g, x in zip(grads, inputs)]


@pytest.mark.parametrize("make", [Modulate, lambda: AdaLayerNorm(4, dtype=np.float64)])
def test_modulating_modules_backward_matches_numerical(make, rng):
    inputs = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4)),
              rng.standard_normal((2, 4))]
    errors = _input_errors(make(), inputs, rng)
    assert len(errors) == 3 and max(errors) < BOUND


def test_gate_module_backward_matches_numerical(rng):
    errors = _input_errors(Gate(), [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4))],
                           rng)
    assert max(errors) < BOUND


def test_ada_layernorm_with_zero_conditioning_is_a_plain_layernorm(rng):
    x = rng.standard_normal((2, 3, 4))
    y = AdaLayerNorm(4, dtype=np.float64)(x, np.zeros((2, 4)), np.zeros((2, 4)))
    expected, _ = layernorm_forward(x, np.ones(4), np.zeros(4), 1e-6)
    np.testing.assert_array_equal(y, expected)
    assert list(AdaLayerNorm(4).named_parameters()) == []   # no affine parameters of its own


def test_backward_before_forward_is_an_error(rng):
    for m in (Modulate(), Gate(), AdaLayerNorm(4)):
        with pytest.raises(RuntimeError, match="before forward"):
            m.backward(rng.standard_normal((2, 3, 4)))


def test_a_gradient_of_the_wrong_shape_is_refused(rng):
    m = Modulate()
    m(rng.standard_normal((2, 3, 4)), np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"Modulate dy must have the forward output's shape"):
        m.backward(rng.standard_normal((2, 4, 3)))
