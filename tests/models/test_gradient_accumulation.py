"""Every model ADDS into its gradients (the module contract), tied and shared weights included.

A backward into pre-filled ``.grad`` arrays must leave ``prefill + g``, and two backwards without
``zero_grad`` must leave ``2 g``, where g is the gradient of one batch from zero. A model that
writes (``=``) instead of adding (``+=``) anywhere, for example into the token embedding that
GPT's, BERT's and DALL-E's output heads share, loses the prefill or the first pass and fails.

The sums are not bitwise: the model adds a tied weight's contributions one by one into the
prefill, the reference adds them first. In float64 that reorders a few roundings, so the bound is
1e-12 of the largest value involved: a lost contribution is many orders of magnitude above it.
"""

import numpy as np
import pytest

from minifm.functional.losses import IGNORE_INDEX
from minifm.models import build_model
from minifm.models.vqvae import VQVAE, VQVAEConfig

REL = 1e-12


def gpt(rng):
    model = build_model("gpt", dict(vocab_size=7, context_length=5, n_layer=2, n_head=2,
                                    n_embd=8), rng=rng, dtype=np.float64)
    idx = rng.integers(0, 7, size=(2, 5))
    return model, (idx, rng.integers(0, 7, size=(2, 5)))


BERT = dict(vocab_size=13, context_length=8, n_layer=2, n_head=2, n_embd=8, n_inner=16,
            dropout=0.0, n_classes=3)


def bert_inputs(rng):
    idx = rng.integers(5, 13, size=(2, 6))
    segments = np.array([[0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]])
    attention = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    return idx, segments, attention


def bert(rng):
    """Pre-training: the masked-LM head's decoder is wte itself."""
    model = build_model("bert", BERT, rng=rng, dtype=np.float64)
    idx, segments, attention = bert_inputs(rng)
    labels = np.full_like(idx, IGNORE_INDEX)
    labels[0, [1, 4]], labels[1, 2] = idx[0, [1, 4]], idx[1, 2]
    return model, (idx, segments, attention, labels, np.array([0, 1]))


def bert_classifier(rng):
    model = build_model("bert-classifier", BERT, rng=rng, dtype=np.float64)
    return model, (*bert_inputs(rng), np.array([2, 0]))


def clip(rng):
    model = build_model("clip", dict(image_size=4, patch_size=2, vision_width=4, vision_layers=1,
                                     vision_heads=2, vocab_size=7, context_length=5, text_width=4,
                                     text_layers=1, text_heads=2, embed_dim=3),
                        rng=rng, dtype=np.float64)
    images = rng.random((3, 4, 4, 3))
    tokens = np.array([[1, 4, 5, 2, 0], [1, 6, 2, 0, 0], [1, 4, 4, 6, 2]])
    return model, (images, tokens)


def dalle(rng):
    """Both heads (image codes and caption words) read rows of the trunk's wte."""
    model = build_model("dalle", dict(text_vocab_size=6, text_length=4, image_vocab_size=5,
                                      image_tokens=3, n_layer=2, n_head=2, n_embd=8,
                                      text_loss_weight=0.5), rng=rng, dtype=np.float64)
    text = rng.integers(1, 6, size=(2, 4))
    text[0, -1] = 0                                                    # a padded caption
    return model, (text, rng.integers(0, 5, size=(2, 3)))


def vqvae(rng):
    """The codebook is read twice: by the lookup z_q = e[codes] and by the codebook loss."""
    # VQ-VAE is not a build_model family (it is the image tokenizer's model), so built directly
    model = VQVAE(VQVAEConfig(image_size=4, patch_size=2, channels=3, hidden=6, latent_dim=3,
                              codebook_size=5), rng=rng, dtype=np.float64)
    images = rng.random((2, 4, 4, 3))
    z = model.encode_latents(images).reshape(-1, 3)
    model.set_codebook(z[:5] + 0.1 * rng.standard_normal((5, 3)))     # several codes in use
    return model, (images,)


MODELS = {"gpt": gpt, "bert": bert, "bert-classifier": bert_classifier, "clip": clip,
          "dalle": dalle, "vqvae": vqvae}


def one_step_gradients(model, batch):
    """The gradient of one batch, starting from zero: {name: array}."""
    model.zero_grad()
    model(*batch)
    model.backward()
    grads = {name: p.grad.copy() for name, p in model.named_parameters()}
    assert sum(np.abs(g).sum() for g in grads.values()) > 0
    return grads


def assert_sums(model, expected):
    for name, p in model.named_parameters():
        scale = max(np.abs(expected[name]).max(), 1.0)
        np.testing.assert_allclose(p.grad, expected[name], rtol=0, atol=REL * scale,
                                   err_msg=f"{name}: the backward did not add into .grad")


@pytest.mark.parametrize("family", MODELS)
def test_backward_adds_into_prefilled_gradients(rng, family):
    model, batch = MODELS[family](rng)
    g = one_step_gradients(model, batch)
    prefill = {name: rng.standard_normal(p.shape) for name, p in model.named_parameters()}
    for name, p in model.named_parameters():
        p.grad[...] = prefill[name]
    model(*batch)
    model.backward()
    assert_sums(model, {name: prefill[name] + g[name] for name in g})


@pytest.mark.parametrize("family", MODELS)
def test_two_backwards_without_zero_grad_give_twice_the_gradient(rng, family):
    model, batch = MODELS[family](rng)
    g = one_step_gradients(model, batch)
    model(*batch)                       # the grads still hold g: no zero_grad in between
    model.backward()
    assert_sums(model, {name: 2 * g[name] for name in g})
