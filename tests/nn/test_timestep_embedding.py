"""Tests for minifm.nn.timestep_embedding."""

import numpy as np
import pytest

from minifm.functional.positional import sinusoidal_encoding
from minifm.gradcheck import check_module, worst
from minifm.nn.timestep_embedding import TimestepEmbedding

# Linear, GELU, Linear in float64: the library bound for smooth ops.
BOUND = 1e-7


def test_the_sinusoid_is_the_position_code_at_row_t(rng):
    emb = TimestepEmbedding(50, 8, rng=rng, dtype=np.float64)
    np.testing.assert_array_equal(emb.table, sinusoidal_encoding(50, 8, np.float64))
    assert not emb.table.flags.writeable
    t = np.array([0, 49, 7])
    out = emb(t)
    assert out.shape == (3, 8)
    expected = emb.c_proj(emb.gelu(emb.c_fc(emb.table[t])))
    np.testing.assert_array_equal(out, expected)


def test_timestep_embedding_parameter_gradients_match_numerical(rng):
    emb = TimestepEmbedding(20, 6, 10, rng=rng, dtype=np.float64)
    for _, p in emb.named_parameters():                   # biases off zero, weights well scaled
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    results = check_module(emb, np.array([3, 19, 0]), rng=rng)
    assert "x" not in results                             # t is an integer: no gradient
    assert set(results) == {"c_fc.weight", "c_fc.bias", "c_proj.weight", "c_proj.bias"}
    assert worst(results) < BOUND


def test_bad_timesteps_are_refused(rng):
    emb = TimestepEmbedding(10, 4, rng=rng)
    with pytest.raises(ValueError, match=r"must lie in \[0, 10\), got -1"):
        emb(np.array([0, -1]))
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([0.5]))
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        emb(np.array([[1]]))
