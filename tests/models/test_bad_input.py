"""Bad input at the models' public calls: lists, 0-d and 1-D arrays, floats where ids belong,
empty batches and T = 0, too-long sequences, NaN images to encode, and sampling arguments that
generation checks before its first step (even when it makes no token at all)."""

from __future__ import annotations

import numpy as np
import pytest

from minifm.models.bert import BertConfig, BertForPreTraining
from minifm.models.clip import CLIP, CLIPConfig
from minifm.models.dalle import DALLE, DALLEConfig
from minifm.models.gpt import GPT, GPTConfig
from minifm.models.vqvae import VQVAE, VQVAEConfig


def _rng():
    return np.random.default_rng(0)


def gpt() -> GPT:
    return GPT(GPTConfig(vocab_size=11, context_length=8, n_layer=1, n_head=2, n_embd=8),
               rng=_rng(), dtype=np.float64)


def bert() -> BertForPreTraining:
    return BertForPreTraining(BertConfig(vocab_size=13, context_length=8, n_layer=1, n_head=2,
                                         n_embd=8, n_inner=16, dropout=0.0), rng=_rng())


def dalle() -> DALLE:
    return DALLE(DALLEConfig(text_vocab_size=6, text_length=4, image_vocab_size=5,
                             image_tokens=3, n_layer=1, n_head=2, n_embd=8), rng=_rng())


IDS = [([[1, 2]], TypeError, "must be an integer numpy array of ids, got list"),
       (np.array(1), ValueError, r"got shape \(\)"),
       (np.array([1, 2]), ValueError, r"add a batch axis"),
       (np.zeros((1, 2)), TypeError, "got an array of float64"),
       (np.zeros((1, 2), dtype=bool), TypeError, "got an array of bool"),
       (np.zeros((0, 2), int), ValueError, "is empty"),
       (np.zeros((1, 0), int), ValueError, "is empty"),
       (np.zeros((1, 9), int), ValueError, "exceeds context_length=8"),
       (np.full((1, 2), 13), ValueError, r"outside the vocabulary \[0, 1[13]\)")]


@pytest.mark.parametrize("make", [gpt, bert], ids=["gpt", "bert"])
@pytest.mark.parametrize("idx, error, words", IDS)
def test_gpt_and_bert_refuse_bad_token_ids(make, idx, error, words):
    with pytest.raises(error, match=words):
        make()(idx)


def test_gpt_refuses_targets_of_another_shape_or_kind():
    model, idx = gpt(), np.zeros((2, 3), int)
    with pytest.raises(ValueError, match=r"targets must have shape \(2, 3\), got \(3, 2\)"):
        model(idx, np.zeros((3, 2), int))
    with pytest.raises(TypeError, match="integer class ids as targets, got float64"):
        model(idx, np.zeros((2, 3)))


@pytest.mark.parametrize("kwargs, error, words", [
    ({"rng": 0}, TypeError, "rng must be a np.random.Generator"),
    ({"temperature": "1"}, TypeError, "temperature must be a number"),
    ({"temperature": float("inf"), "top_k": 1}, ValueError, "temperature must be a finite"),
    ({"temperature": 0, "top_k": -1}, ValueError, "top_k must be a positive int, got -1"),
    ({"temperature": 0, "top_p": 1.5}, ValueError, r"top_p must be in \(0.0, 1.0\]"),
])
@pytest.mark.parametrize("max_new_tokens", [0, 2])
def test_gpt_generate_checks_sampling_before_the_first_step(kwargs, error, words, max_new_tokens):
    with pytest.raises(error, match=words):
        gpt().generate(np.zeros((1, 2), int), max_new_tokens, **kwargs)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"rng": "seed"}, TypeError, "rng must be a np.random.Generator"),
    ({"temperature": 0, "top_k": 0}, ValueError, "top_k must be a positive int, got 0"),
    ({"top_p": "0.9"}, TypeError, "top_p must be a number"),
])
def test_dalle_generate_checks_sampling_before_the_first_step(kwargs, error, words):
    with pytest.raises(error, match=words):
        dalle().generate(np.array([[1, 2, 3, 0]]), **kwargs)


def test_clip_refuses_images_and_tokens_of_the_wrong_kind():
    config = CLIPConfig()
    model, S = CLIP(config, rng=_rng()), config.image_size
    tokens = np.array([[1, 4, 2, 0]])
    with pytest.raises(TypeError, match="floating-point"):
        model(np.zeros((1, S, S, 3), dtype=np.uint8), tokens)
    with pytest.raises(ValueError, match="is empty"):
        model(np.zeros((0, S, S, 3), np.float32), tokens[:0])
    with pytest.raises(TypeError, match="integer numpy array of ids, got list"):
        model(np.zeros((1, S, S, 3), np.float32), tokens.tolist())


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_vqvae_encode_refuses_nan_or_inf_images(bad):
    model = VQVAE(VQVAEConfig(image_size=4, patch_size=2, hidden=6, latent_dim=3,
                              codebook_size=5), rng=_rng())
    images = _rng().uniform(0, 1, (2, 4, 4, 3)).astype(np.float32)
    images[0, 1, 1, 2] = bad
    with pytest.raises(ValueError, match=r"images holds .* at index \(0, 1, 1, 2\)"):
        model.encode(images)
    assert model.encode(images[1:]).shape == (1, 4)
