"""VQ-VAE: an autoencoder whose bottleneck is a grid of discrete codes (van den Oord et al. 2017,
"Neural Discrete Representation Learning"). It is the learned image tokenizer of minifm's
text-to-image model: encode an image into P codes, a transformer models the codes, decode back.

Lesson: lessons/11_images_as_tokens.md.

Dimensions: B batch, H = W image side, Ch channels, p patch side, P = (H/p)^2 patches (= image
tokens), Q = p * p * Ch numbers per patch, F hidden width, E latent width, K codebook size.

To stay small the encoder and decoder are per-patch MLPs (the paper uses convolutions): each
p x p patch is encoded on its own into one latent vector, and each code is decoded on its own into
one patch.

    patches = patchify(images)                  (B, H, W, Ch) -> (B, P, Q)
    z_e = encoder(patches)                      (B, P, Q) -> (B, P, E)     Linear, GELU, Linear
    codes = argmin_k ||z_e - e_k||^2            (B, P) ints in [0, K)      the image tokens
    z_q = e[codes]                              (B, P, E)                  codebook lookup
    recon = decoder(z_q)                        (B, P, E) -> (B, P, Q)     Linear, GELU, Linear

    loss = mse(recon, patches)                  reconstruction
         + mse(e[codes], sg[z_e])               codebook loss: moves the codes towards the encoder
         + beta * mse(z_e, sg[e[codes]])        commitment loss: keeps the encoder near its codes

sg[.] (stop-gradient) makes its argument a constant. The argmin has no gradient, so the paper
copies the decoder's input gradient straight to the encoder's output (the straight-through
estimator, Bengio et al. 2013): z_q = z_e + sg[e[codes] - z_e] has the value e[codes] and the
gradient of z_e. The codebook therefore learns only from the codebook loss, the encoder from the
reconstruction (through the copy) and the commitment loss, the decoder from the reconstruction.
Because of the copy, the update is not the derivative of ``loss`` itself: it is the derivative of
the same expression with every sg[.] held fixed (tests/models/test_vqvae.py checks exactly that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minifm.functional.embedding import embedding_backward, embedding_forward
from minifm.functional.patches import patchify, unpatchify
from minifm.functional.vector_quantize import mse_backward, mse_forward, nearest_code
from minifm.nn.activations import GELU
from minifm.nn.linear import Linear
from minifm.nn.module import Module, Parameter
from minifm.validation import check_finite, check_floats, check_ids


@dataclass(frozen=True)
class VQVAEConfig:
    """VQ-VAE hyperparameters; the defaults turn a 16 x 16 shapes-world image into 8 x 8 codes."""

    image_size: int = 16          # H = W
    patch_size: int = 2           # p: P = (16 / 2)^2 = 64 codes per image
    channels: int = 3             # Ch
    hidden: int = 128             # F: hidden width of the encoder and decoder MLPs
    latent_dim: int = 8           # E: width of a latent vector and of a codebook entry
    codebook_size: int = 128      # K: the number of codes (the image vocabulary)
    beta: float = 0.25            # commitment weight (the paper uses 0.25)

    def __post_init__(self) -> None:
        for name in ("image_size", "patch_size", "channels", "hidden", "latent_dim",
                     "codebook_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"VQVAEConfig.{name} must be a positive int, got {value!r}")
        if self.image_size % self.patch_size:
            raise ValueError(f"VQVAEConfig: image_size={self.image_size} must be divisible by "
                             f"patch_size={self.patch_size}")
        if not self.beta >= 0:
            raise ValueError(f"VQVAEConfig.beta must be >= 0, got {self.beta}")

    @property
    def num_tokens(self) -> int:
        """P, the number of codes per image."""
        return (self.image_size // self.patch_size) ** 2


class PatchMLP(Module):
    """Linear(in, F) -> GELU -> Linear(F, out), applied to every patch on its own: (..., in) ->
    (..., out). Children ``c_fc``, ``gelu``, ``c_proj`` as in GPT-2's MLP.

    Weights start at Normal(0, 1 / fan_in) (LeCun et al. 1998) rather than GPT-2's 0.02: with no
    LayerNorm to rescale them, latents then start at unit scale and far apart compared with an
    Adam step (about lr), so codes do not swap patches at every step early in training.
    """

    def __init__(self, in_features: int, hidden: int, out_features: int, *,
                 rng: np.random.Generator, dtype: type = np.float32):
        self.c_fc = Linear(in_features, hidden, rng=rng, dtype=dtype)
        self.gelu = GELU()
        self.c_proj = Linear(hidden, out_features, rng=rng, dtype=dtype)
        for layer in (self.c_fc, self.c_proj):
            fan_in = layer.in_features
            layer.weight.data[...] = rng.standard_normal(layer.weight.shape) / np.sqrt(fan_in)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (..., in) -> (..., out)."""
        return self.c_proj(self.gelu(self.c_fc(x)))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy: (..., out) -> dx: (..., in); adds into c_fc's and c_proj's gradients."""
        return self.c_fc.backward(self.gelu.backward(self.c_proj.backward(dy)))


class VQVAE(Module):
    """Children ``encoder``, ``decoder`` (PatchMLPs) and the ``codebook`` parameter (K, E).

    ``recon, loss = model(images)`` then ``model.backward()``; ``encode(images) -> codes`` and
    ``decode(codes) -> images`` for inference. After a forward, ``losses`` holds the three terms.
    """

    def __init__(self, config: VQVAEConfig, *, rng: np.random.Generator,
                 dtype: type = np.float32):
        self.config = config
        Q = config.patch_size ** 2 * config.channels
        self.encoder = PatchMLP(Q, config.hidden, config.latent_dim, rng=rng, dtype=dtype)
        self.decoder = PatchMLP(config.latent_dim, config.hidden, Q, rng=rng, dtype=dtype)
        # Uniform in [-1/K, 1/K] as in the paper's code; ``set_codebook`` can start it from data.
        K = config.codebook_size
        self.codebook = Parameter(rng.uniform(-1 / K, 1 / K, (K, config.latent_dim)).astype(dtype))
        self.losses: dict[str, float] = {}

    @property
    def dtype(self) -> np.dtype:
        return self.codebook.data.dtype

    # ---- input checks ----------------------------------------------------------------------------
    def _check_images(self, images: np.ndarray) -> None:
        cfg, S = self.config, self.config.image_size
        check_floats(images, "images", shape=(None, S, S, cfg.channels),
                     axes=f"(B, {S}, {S}, {cfg.channels})", dtype=self.dtype)

    def _check_codes(self, codes: np.ndarray) -> None:
        P = self.config.num_tokens
        check_ids(codes, "codes (image tokens)", vocab_size=self.config.codebook_size,
                  shape=(None, P), axes=f"(B, P={P})")

    # ---- training forward and backward -----------------------------------------------------------
    def forward(self, images: np.ndarray) -> tuple[np.ndarray, float]:
        """images: (B, H, W, Ch) in [0, 1], the model's dtype. Returns the reconstructions
        (B, H, W, Ch) (not clipped) and the loss; ``self.losses`` gets its three terms."""
        self._check_images(images)
        cfg = self.config
        patches = patchify(images, cfg.patch_size)                      # (B, P, Q)
        z_e = self.encoder(patches)                                     # (B, P, Q) -> (B, P, E)
        codes = nearest_code(z_e, self.codebook.data)                   # (B, P)
        z_q, lookup_cache = embedding_forward(codes, self.codebook.data)   # (B, P, E)
        recon = self.decoder(z_q)                                       # (B, P, E) -> (B, P, Q)
        rec, rec_cache = mse_forward(recon, patches)
        codebook_loss, codebook_cache = mse_forward(z_q, z_e)           # z_e is sg[z_e] here
        commitment, commitment_cache = mse_forward(z_e, z_q)            # z_q is sg[e[codes]] here
        loss = rec + codebook_loss + cfg.beta * commitment
        self.losses = {"reconstruction": rec, "codebook": codebook_loss, "commitment": commitment}
        self._cache = (lookup_cache, rec_cache, codebook_cache, commitment_cache)
        images_out = unpatchify(recon, cfg.patch_size, (cfg.image_size, cfg.image_size))
        return images_out, loss

    def backward(self) -> None:
        """The VQ-VAE update for the last forward's loss; ADDS into every parameter's .grad."""
        lookup_cache, rec_cache, codebook_cache, commitment_cache = self._pop_cache()
        # fwd: rec = mse(recon, patches)  =>  drecon (the patches are data: no gradient)
        drecon, _ = mse_backward(1.0, rec_cache)
        dz_q = self.decoder.backward(drecon)                            # (B, P, Q) -> (B, P, E)
        # fwd: z_q = z_e + sg[e[codes] - z_e]  (straight-through)  =>  dz_e = dz_q
        dz_e = dz_q
        # fwd: commitment = mse(z_e, sg[e[codes]])  =>  dz_e += beta * 2 (z_e - e[codes]) / n
        dz_e = dz_e + mse_backward(self.config.beta, commitment_cache)[0]
        # fwd: codebook_loss = mse(e[codes], sg[z_e])  =>  de[codes] = 2 (e[codes] - z_e) / n
        de_codes, _ = mse_backward(1.0, codebook_cache)
        # fwd: e[codes] = codebook lookup  =>  each use of code k adds its row into dcodebook[k]
        self.codebook.grad += embedding_backward(de_codes, lookup_cache)
        self.encoder.backward(dz_e)                                     # (B, P, E) -> (B, P, Q)

    # ---- inference -------------------------------------------------------------------------------
    def encode_latents(self, images: np.ndarray) -> np.ndarray:
        """images (B, H, W, Ch) -> the encoder's outputs z_e (B, P, E), before quantisation."""
        self._check_images(images)
        return self.encoder(patchify(images, self.config.patch_size))

    def encode(self, images: np.ndarray) -> np.ndarray:
        """images (B, H, W, Ch) -> codes (B, P) int64, in reading order of the patch grid.
        NaN or inf pixels are refused: they have no nearest code (one pass over the images;
        the training forward does not pay it)."""
        self._check_images(images)
        check_finite(images, "images")
        return nearest_code(self.encode_latents(images), self.codebook.data)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """codes (B, P) -> images (B, H, W, Ch), clipped to [0, 1]."""
        self._check_codes(codes)
        cfg = self.config
        recon = self.decoder(self.codebook.data[codes])                 # (B, P, E) -> (B, P, Q)
        images = unpatchify(recon, cfg.patch_size, (cfg.image_size, cfg.image_size))
        return np.clip(images, 0.0, 1.0)

    def restart_unused_codes(self, images: np.ndarray, rng: np.random.Generator) -> int:
        """Move every code that no patch of ``images`` uses onto an encoder output of them.

        A code that never wins the argmin gets no gradient and stays dead for good. Like the
        random restarts of Jukebox (Dhariwal et al. 2020), each unused code jumps to a latent
        z_e of the batch, drawn with probability proportional to its squared distance from its
        nearest code (the k-means++ rule), so restarts go where the codebook fits worst.
        Returns the number of codes moved.
        """
        z = self.encode_latents(images).reshape(-1, self.config.latent_dim)   # (B*P, E)
        codes = nearest_code(z, self.codebook.data)
        unused = np.flatnonzero(np.bincount(codes, minlength=self.config.codebook_size) == 0)
        err = ((z - self.codebook.data[codes]) ** 2).sum(axis=1)              # (B*P,)
        n = min(len(unused), int((err > 0).sum()))
        if n:
            self.codebook.data[unused[:n]] = z[rng.choice(len(z), n, replace=False,
                                                          p=err / err.sum())]
        return n

    def set_codebook(self, vectors: np.ndarray) -> None:
        """Overwrite the codebook with ``vectors`` (K, E), e.g. k-means centroids of z_e."""
        check_floats(vectors, "set_codebook vectors", shape=self.codebook.data.shape)
        self.codebook.data[...] = vectors
