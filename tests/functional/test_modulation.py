"""Tests for minifm.functional.modulation: adaLN's modulate and gate ops."""

import numpy as np
import pytest

from minifm.functional.modulation import (gate_backward, gate_forward, modulate_backward,
                                          modulate_forward)
from minifm.gradcheck import check_pair, worst

# Smooth (bilinear) ops: the library bound for functional pairs.
BOUND = 1e-7


def test_modulate_is_the_per_example_affine_map(rng):
    x, shift, scale = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4)), \
        rng.standard_normal((2, 4))
    y, _ = modulate_forward(x, shift, scale)
    for b in range(2):
        for t in range(3):
            np.testing.assert_allclose(y[b, t], x[b, t] * (1 + scale[b]) + shift[b], rtol=1e-14)
    same, _ = modulate_forward(x, np.zeros((2, 4)), np.zeros((2, 4)))
    np.testing.assert_array_equal(same, x)                 # zero shift and scale: the identity


def test_modulate_backward_matches_numerical(rng):
    inputs = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4)),
              rng.standard_normal((2, 4))]
    results = check_pair(modulate_forward, modulate_backward, inputs, rng=rng)
    assert set(results) == {0, 1, 2} and worst(results) < BOUND


def test_gate_backward_matches_numerical(rng):
    inputs = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4))]
    results = check_pair(gate_forward, gate_backward, inputs, rng=rng)
    assert set(results) == {0, 1} and worst(results) < BOUND


def test_a_zero_gate_closes_the_branch_but_still_gets_a_gradient(rng):
    h, dy = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    y, cache = gate_forward(h, np.zeros((2, 4)))
    dh, dgate = gate_backward(dy, cache)
    assert not y.any() and not dh.any()
    np.testing.assert_allclose(dgate, (dy * h).sum(axis=1), rtol=1e-14)
    assert np.abs(dgate).min() > 0


def test_modulation_keeps_float32(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    v = rng.standard_normal((2, 4)).astype(np.float32)
    y, cache = modulate_forward(x, v, v)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in modulate_backward(y, cache))


def test_bad_shapes_are_refused_naming_the_argument(rng):
    x = rng.standard_normal((2, 3, 4))
    with pytest.raises(ValueError, match=r"modulation scale must have shape \(B, C\) = \(2, 4\)"):
        modulate_forward(x, np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"modulation input x must have shape \(B, T, C\)"):
        gate_forward(x[0], np.zeros((2, 4)))
    with pytest.raises(TypeError, match="modulation gate must be float64"):
        gate_forward(x, np.zeros((2, 4), dtype=np.float32))
