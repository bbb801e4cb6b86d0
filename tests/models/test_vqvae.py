"""VQ-VAE: the per-patch MLPs' gradients, the straight-through update against the derivative of
the loss with every stop-gradient held fixed, inference, codebook restarts, overfitting, checks."""

import numpy as np
import pytest

from minifm.functional.patches import patchify
from minifm.functional.vector_quantize import nearest_code
from minifm.gradcheck import (check_model, check_module, numerical_gradient_of_scalar, worst,
                              worst_discrepancy)
from minifm.models.vqvae import VQVAE, PatchMLP, VQVAEConfig
from minifm.training.optim import AdamW

TINY = VQVAEConfig(image_size=4, patch_size=2, channels=3, hidden=6, latent_dim=3,
                   codebook_size=5, beta=0.25)


def tiny_model(rng, dtype=np.float64, images=None):
    """A tiny VQ-VAE whose codebook starts at latents of ``images``, so several codes are used."""
    model = VQVAE(TINY, rng=rng, dtype=dtype)
    if images is not None:
        z = model.encode_latents(images).reshape(-1, TINY.latent_dim)
        model.set_codebook(z[:TINY.codebook_size] + 0.1 * rng.standard_normal((5, 3)))
    return model


def test_patch_mlp_backward_matches_numerical(rng):
    mlp = PatchMLP(4, 6, 3, rng=rng, dtype=np.float64)
    results = check_module(mlp, rng.standard_normal((2, 3, 4)), rng=rng)
    assert worst(results) < 1e-7          # smooth layers: the library bound


def test_update_is_the_gradient_of_the_loss_with_stop_gradients_held_fixed(rng):
    """The VQ-VAE update (paper, eq. 3) differentiates

        mse(decoder(z_e + sg[e - z_e]), x) + mse(sg[z_e], e) + beta * mse(z_e, sg[e])

    treating each sg[.] as a constant. Freeze those constants at the current parameters, and the
    expression becomes an ordinary function whose central differences must match backward."""
    images = rng.uniform(0, 1, (2, 4, 4, 3))
    model = tiny_model(rng, images=images)
    model.zero_grad()
    model(images)
    model.backward()
    patches = patchify(images, TINY.patch_size)
    z_e0 = model.encoder(patches).copy()                        # sg[z_e]
    codes = nearest_code(z_e0, model.codebook.data)
    e0 = model.codebook.data[codes].copy()                      # sg[e[codes]]
    assert len(np.unique(codes)) >= 3                           # several codes take part

    def held_fixed() -> float:
        z_e = model.encoder(patches)
        e = model.codebook.data[codes]
        recon = model.decoder(z_e + (e0 - z_e0))                # value e0, slope 1 in z_e
        return (np.mean((recon - patches) ** 2) + np.mean((e - z_e0) ** 2)
                + TINY.beta * np.mean((z_e - e0) ** 2))

    results = {name: worst_discrepancy(p.grad.copy(),
                                       numerical_gradient_of_scalar(held_fixed, p.data))
               for name, p in model.named_parameters()}
    assert set(results) == {"encoder.c_fc.weight", "encoder.c_fc.bias", "encoder.c_proj.weight",
                            "encoder.c_proj.bias", "decoder.c_fc.weight", "decoder.c_fc.bias",
                            "decoder.c_proj.weight", "decoder.c_proj.bias", "codebook"}
    assert worst(results) < 1e-5, {n: d.rel_error for n, d in results.items()}   # whole model


def test_decoder_gradient_is_the_true_gradient_of_the_loss(rng):
    # No stop-gradient lies between the loss and the decoder, so check_model agrees there; the
    # encoder and codebook follow the straight-through rule instead (test above).
    images = rng.uniform(0, 1, (2, 4, 4, 3))
    results = check_model(tiny_model(rng, images=images), images)
    decoder = {n: d for n, d in results.items() if n.startswith("decoder.")}
    assert len(decoder) == 4 and worst(decoder) < 1e-5


def test_loss_is_reconstruction_plus_codebook_plus_beta_commitment(rng):
    images = rng.uniform(0, 1, (2, 4, 4, 3))
    model = tiny_model(rng, images=images)
    recon, loss = model(images)
    parts = model.losses
    assert recon.shape == images.shape
    assert parts["reconstruction"] == pytest.approx(np.mean((recon - images) ** 2), rel=1e-12)
    assert parts["codebook"] == pytest.approx(parts["commitment"], rel=1e-12)   # same value
    assert loss == pytest.approx(parts["reconstruction"] + parts["codebook"]
                                 + TINY.beta * parts["commitment"], rel=1e-12)


def test_encode_then_decode_gives_the_forward_reconstruction_clipped(rng):
    images = rng.uniform(0, 1, (3, 4, 4, 3))
    model = tiny_model(rng, images=images)
    recon, _ = model(images)
    codes = model.encode(images)
    assert codes.shape == (3, 4) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < TINY.codebook_size
    np.testing.assert_allclose(model.decode(codes), np.clip(recon, 0, 1), rtol=0, atol=1e-12)


def test_restart_moves_unused_codes_onto_encoder_outputs(rng):
    images = rng.uniform(0, 1, (4, 4, 4, 3))
    model = tiny_model(rng, images=images)
    model.codebook.data[1:] = 1e3                               # codes 1..4 can never win
    assert set(model.encode(images).ravel()) == {0}
    moved = model.restart_unused_codes(images, rng)
    z = model.encode_latents(images).reshape(-1, TINY.latent_dim)
    assert moved == 4
    for row in model.codebook.data[1:]:                        # each now sits on some z_e
        assert np.min(np.abs(z - row).sum(axis=1)) == 0
    assert set(model.encode(images).ravel()) >= {1, 2, 3, 4}    # each wins its own latent


def test_vqvae_overfits_a_few_images(rng):
    # four kinds of patch (empty, red, green, blue), eight codes: measured < 0.002 for 11 seeds
    config = VQVAEConfig(image_size=8, patch_size=4, hidden=16, latent_dim=4, codebook_size=8)
    model = VQVAE(config, rng=rng)
    images = np.zeros((3, 8, 8, 3), dtype=np.float32)
    for i in range(3):                                  # one coloured patch per image
        images[i, :4, 4 * (i % 2):4 * (i % 2) + 4, i] = 1.0
    opt = AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    _, first = model(images)
    for _ in range(300):
        model.zero_grad()
        model(images)
        model.backward()
        opt.step()
    assert first > 0.05
    assert np.mean((model.decode(model.encode(images)) - images) ** 2) < 0.005
    assert len(np.unique(model.encode(images))) >= 4


def test_backward_before_forward_is_an_error(rng):
    with pytest.raises(RuntimeError, match="before forward"):
        tiny_model(rng).backward()


def test_vqvae_rejects_bad_input(rng):
    model = tiny_model(rng)
    with pytest.raises(ValueError, match=r"\(B, 4, 4, 3\)"):
        model(np.zeros((2, 5, 5, 3)))
    with pytest.raises(TypeError, match="images must be float64 like the parameters"):
        model(np.zeros((2, 4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(B, P=4\)"):
        model.decode(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"codes \(image tokens\) holds id 5, outside the "
                                         r"vocabulary \[0, 5\)"):
        model.decode(np.full((2, 4), 5))
    with pytest.raises(TypeError, match="integer"):
        model.decode(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="divisible"):
        VQVAEConfig(image_size=10, patch_size=4)
    with pytest.raises(ValueError, match="beta"):
        VQVAEConfig(beta=-1.0)
    with pytest.raises(ValueError, match="shape"):
        model.set_codebook(np.zeros((4, 3)))
