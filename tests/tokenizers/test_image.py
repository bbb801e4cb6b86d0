"""Image tokenizers: encoding a grid of codes and decoding it, the VQ-VAE tokenizer running its
model's weights exactly, storing through JSON bit for bit, the registry, and input checks. (Fitting
them, k-means and VQ-VAE training, is tested in tests/tasks/test_image_tokens.py.)"""

import json

import numpy as np
import pytest

from minifm.data.shapes import ShapesWorld
from minifm.models.vqvae import VQVAE, VQVAEConfig
from minifm.tasks.image_tokens import fit_kmeans_tokenizer, vqvae_tokenizer
from minifm.tokenizers import TOKENIZERS, load_tokenizer, tokenizer_from_dict
from minifm.tokenizers.image import (KMeansImageTokenizer, VQVAEImageTokenizer, array_from_json,
                                     array_to_json)


def kmeans_tokenizer(rng):
    images = ShapesWorld().sample(20, rng).images
    return fit_kmeans_tokenizer(images, 8, 4, rng), images


def vqvae_tokenizer_and_model(rng):
    """An untrained VQ-VAE (weights at their random start) and its tokenizer."""
    model = VQVAE(VQVAEConfig(patch_size=4, hidden=16, latent_dim=4, codebook_size=16), rng=rng)
    images = ShapesWorld().sample(20, rng).images
    z = model.encode_latents(images).reshape(-1, 4)
    model.set_codebook(z[rng.choice(len(z), 16, replace=False)])     # codes near real latents
    return vqvae_tokenizer(model), model, images


def tokenizer_and_images(kind, rng):
    if kind == "kmeans":
        return kmeans_tokenizer(rng)
    tok, _, images = vqvae_tokenizer_and_model(rng)
    return tok, images


# ---- encoding and decoding ----------------------------------------------------------------------
def test_kmeans_tokenizer_encodes_a_grid_of_codes_and_decodes_their_centroids(rng):
    codebook = rng.uniform(0, 1, (5, 2 * 2 * 3))
    tok = KMeansImageTokenizer(codebook, image_size=4, patch_size=2)
    codes = np.array([[0, 1, 2, 3], [4, 4, 0, 2]])
    images = tok.decode(codes)
    assert images.shape == (2, 4, 4, 3) and images.dtype == np.float32
    assert tok.grid == (2, 2) and tok.num_tokens == 4 and tok.vocab_size == 5
    np.testing.assert_array_equal(images[0, :2, 2:].reshape(-1), codebook[1].astype(np.float32))
    assert tok.encode(images).tolist() == codes.tolist()        # centroids encode to themselves


def test_vqvae_tokenizer_encodes_and_decodes_exactly_as_its_model(rng):
    tok, model, images = vqvae_tokenizer_and_model(rng)
    codes = tok.encode(images)
    assert codes.shape == (20, 16) and codes.dtype == np.int64 and tok.vocab_size == 16
    assert len(np.unique(codes)) >= 3                           # several codes take part
    np.testing.assert_array_equal(codes, model.encode(images))
    decoded = tok.decode(codes)
    assert decoded.dtype == np.float32 and decoded.min() >= 0 and decoded.max() <= 1
    np.testing.assert_array_equal(decoded, model.decode(codes))


def test_vqvae_tokenizer_keeps_its_own_copy_of_the_weights(rng):
    tok, model, images = vqvae_tokenizer_and_model(rng)
    codes = tok.encode(images)
    model.codebook.data[...] = 0.0                              # the model trains on
    np.testing.assert_array_equal(tok.encode(images), codes)


# ---- storing ------------------------------------------------------------------------------------
def test_arrays_survive_json_bit_for_bit(rng):
    for dtype in (np.float32, np.float64):
        a = rng.standard_normal((3, 4)).astype(dtype) / 7
        again = array_from_json(json.loads(json.dumps(array_to_json(a))))
        assert again.dtype == a.dtype and again.shape == a.shape
        assert again.tobytes() == a.tobytes()


@pytest.mark.parametrize("kind", ["kmeans", "vqvae"])
def test_image_tokenizers_round_trip_through_json_and_the_registry(rng, kind):
    tok, images = tokenizer_and_images(kind, rng)
    assert TOKENIZERS[kind] is type(tok)
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert type(again) is type(tok) and again.to_dict() == tok.to_dict()
    codes = tok.encode(images)
    np.testing.assert_array_equal(again.encode(images), codes)
    np.testing.assert_array_equal(again.decode(codes), tok.decode(codes))


@pytest.mark.parametrize("kind", ["kmeans", "vqvae"])
def test_image_tokenizers_save_and_load(tmp_path, rng, kind):
    tok, images = tokenizer_and_images(kind, rng)
    tok.save(tmp_path / "tok.json")
    for loaded in (type(tok).load(tmp_path / "tok.json"), load_tokenizer(tmp_path / "tok.json")):
        assert type(loaded) is type(tok)
        codes = tok.encode(images)
        assert np.array_equal(loaded.encode(images), codes)
        np.testing.assert_array_equal(loaded.decode(codes), tok.decode(codes))


def test_loading_refuses_other_files(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="not found"):
        KMeansImageTokenizer.load(tmp_path / "missing.json")
    tok, _ = kmeans_tokenizer(rng)
    tok.save(tmp_path / "kmeans.json")
    with pytest.raises(ValueError, match="type 'vqvae', got type 'kmeans'"):
        VQVAEImageTokenizer.load(tmp_path / "kmeans.json")
    d = tok.to_dict()
    del d["codebook"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['codebook'\]"):
        tokenizer_from_dict(d)
    params = vqvae_tokenizer_and_model(rng)[0].params
    with pytest.raises(ValueError, match="needs the VQ-VAE parameters"):
        VQVAEImageTokenizer({k: v for k, v in params.items() if k != "codebook"}, 16, 4)


# ---- checks -------------------------------------------------------------------------------------
def test_image_tokenizers_reject_bad_input(rng):
    tok = KMeansImageTokenizer(rng.uniform(0, 1, (5, 12)), image_size=4, patch_size=2)
    with pytest.raises(ValueError, match=r"\(N, 4, 4, 3\)"):
        tok.encode(np.zeros((2, 8, 8, 3)))
    with pytest.raises(TypeError, match="floating-point"):
        tok.encode(np.zeros((2, 4, 4, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\(N, P=4\)"):
        tok.decode(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"holds id 5, outside the vocabulary \[0, 5\)"):
        tok.decode(np.full((1, 4), 5))
    with pytest.raises(ValueError, match=r"\(V, K=12\)"):
        KMeansImageTokenizer(np.zeros((5, 10)), image_size=4, patch_size=2)
    with pytest.raises(ValueError, match="divisible"):
        KMeansImageTokenizer(np.zeros((5, 27)), image_size=4, patch_size=3)
