"""Every layer's hidden states out of GPT and BERT; the last matches the model's own output."""

from __future__ import annotations

import numpy as np
import pytest

from minifm.analysis.heads import attention_maps
from minifm.analysis.states import bert_layer_states, residual_streams
from minifm.models.bert import Bert, BertConfig
from minifm.models.gpt import GPT, GPTConfig

BERT = BertConfig(vocab_size=20, context_length=8, n_layer=3, n_head=2, n_embd=8, n_inner=16)


def test_gpt_streams_start_at_the_embeddings_and_end_before_ln_f(rng):
    model = GPT(GPTConfig(vocab_size=13, context_length=8, n_layer=3, n_head=2, n_embd=8),
                rng=rng, dtype=np.float64)
    idx = rng.integers(0, 13, (1, 5))
    streams = residual_streams(model, idx)
    assert streams.shape == (4, 1, 5, 8)                      # (L + 1, B, T, C)
    expected = model.wte.weight.data[idx] + model.wpe.weight.data[:5]
    assert np.array_equal(streams[0], expected)
    assert np.array_equal(model.ln_f(streams[-1]), model.hidden(idx))


def test_bert_states_end_at_the_encoders_output(rng):
    model = Bert(BERT, rng=rng, dtype=np.float64)
    idx = rng.integers(0, 20, (2, 6))
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    segments = np.array([[0, 0, 0, 1, 1, 1]] * 2)
    states = bert_layer_states(model, idx, segments, mask)
    assert states.shape == (4, 2, 6, 8)
    assert model.training                                     # the mode it had
    with model.evaluating():
        assert np.array_equal(states[-1], model.encode(idx, segments, mask))
    # the embedding LayerNorm: every position's state has mean 0 and variance ~1
    assert np.allclose(states[0].mean(axis=-1), 0.0, atol=1e-12)
    assert not np.allclose(states[1], states[2])


def test_bert_states_check_their_input_like_bert(rng):
    model = Bert(BERT, rng=rng)
    with pytest.raises(ValueError, match="token_type_ids"):
        bert_layer_states(model, np.zeros((1, 4), dtype=np.int64), np.full((1, 4), 2))
    with pytest.raises(ValueError, match="context_length"):
        bert_layer_states(model, np.zeros((1, 9), dtype=np.int64))


def test_attention_maps_of_bert_respect_the_padding(rng):
    model = Bert(BERT, rng=rng, dtype=np.float64)
    idx = rng.integers(0, 20, (1, 5))
    mask = np.array([[1, 1, 1, 0, 0]])
    maps = attention_maps(model, idx, None, mask)
    assert maps.shape == (3, 1, 2, 5, 5)
    assert np.all(maps[..., 3:] == 0.0)                       # no query attends to padding
