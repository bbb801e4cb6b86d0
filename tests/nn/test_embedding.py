"""Tests for minifm.nn.Embedding and minifm.nn.SinusoidalPositionalEncoding."""

import numpy as np
import pytest

from minifm.functional.positional import sinusoidal_encoding
from minifm.gradcheck import check_module, worst
from minifm.nn import Embedding, SinusoidalPositionalEncoding

BOUND = 1e-7   # linear in the table; float64, h = 1e-5


def test_embedding_module_gradient_matches_numerical(rng):
    emb = Embedding(5, 4, rng=rng, dtype=np.float64)
    idx = np.array([[1, 3, 1], [0, 1, 4]])
    result = check_module(emb, idx, rng=rng)
    assert list(result) == ["weight"]                # integer ids: no input gradient
    assert worst(result) < BOUND


def test_embedding_for_learned_positions(rng):
    wpe = Embedding(8, 4, rng=rng)
    pos = wpe(np.arange(3))
    assert pos.shape == (3, 4) and np.array_equal(pos, wpe.weight.data[:3])
    assert wpe.backward(np.ones((3, 4), np.float32)) is None
    assert np.array_equal(wpe.weight.grad[:3], np.ones((3, 4))) and not wpe.weight.grad[3:].any()


def test_embedding_keeps_float32_and_inits_gpt2_style(rng):
    emb = Embedding(300, 200, rng=rng)
    out = emb(np.array([[0, 299]]))
    emb.backward(np.ones_like(out))
    assert out.dtype == emb.weight.grad.dtype == np.float32
    assert abs(emb.weight.data.std() - 0.02) < 0.001


def test_embedding_rejects_bad_ids(rng):
    emb = Embedding(5, 4, rng=rng)
    with pytest.raises(TypeError, match="Embedding ids must be an integer numpy array of ids, got "
                                        "an array of float64"):
        emb(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="got list"):
        emb([0, 1])
    with pytest.raises(ValueError, match=r"holds id 5, outside the vocabulary \[0, 5\)"):
        emb(np.array([[0, 5], [1, 2]]))
    with pytest.raises(ValueError, match=r"holds id -1, outside the vocabulary \[0, 5\)"):
        emb(np.array([-1, 2]))


def test_embedding_backward_rejects_a_dout_of_another_shape(rng):
    # the output is (2, 3, 4); a (3, 2, 4) dout has the same size, and flattening it would add
    # each gradient row into the row of another id: a silently wrong table gradient
    emb = Embedding(5, 4, rng=rng, dtype=np.float64)
    idx = np.array([[1, 3, 1], [0, 1, 4]])
    emb(idx)
    with pytest.raises(ValueError, match=r"Embedding dout must have the forward output's shape "
                                         r"\(2, 3, 4\), got \(3, 2, 4\)"):
        emb.backward(rng.standard_normal((3, 2, 4)))
    assert not emb.weight.grad.any()                                   # nothing was added
    emb(idx)
    with pytest.raises(ValueError, match=r"got \(6, 4\)"):
        emb.backward(rng.standard_normal((6, 4)))


def test_sinusoidal_module_returns_the_table_and_refuses_long_sequences():
    pe = SinusoidalPositionalEncoding(10, 6)
    assert pe.num_parameters() == 0
    out = pe(4)
    assert out.shape == (4, 6) and out.dtype == np.float32
    assert np.array_equal(out, sinusoidal_encoding(4, 6, np.float32))
    with pytest.raises(ValueError, match="T=11"):
        pe(11)
    with pytest.raises(TypeError, match="integer T"):
        pe(4.0)
    with pytest.raises(ValueError):
        out[0, 0] = 1.0                               # read-only: the table cannot be corrupted
