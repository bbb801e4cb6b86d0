"""The diffusion denoiser: a small DiT (Peebles & Xie 2023, "Scalable Diffusion Models with
Transformers") over the 16 x 16 x 3 shapes-world images, predicting the noise eps in x_t
(DDPM: Ho et al. 2020), conditioned on a vector (the CLIP image embedding in DALL-E 2: Ramesh et
al. 2022, "Hierarchical Text-Conditional Image Generation with CLIP Latents", §2.1).
Lesson: lessons/14_dalle2_diffusion.md.

Dimensions: B batch, H = W image side, Ch channels, p patch side, P = (H/p)^2 patches,
K = p * p * Ch numbers per patch, C width, F feed-forward width, L blocks, E conditioning width,
S diffusion steps.

    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps        (B, H, W, Ch)   q_sample, eps ~ N(0, I)
    x = patch_embed(x_t) + wpe[0..P-1]                    (B, H, W, Ch) -> (B, P, C)
    e = cond, or null_cond where the example is dropped   (B, E)          classifier-free guidance
    c = gelu(t_embed(t) + cond_proj(e))                   (B, C)
    x = block_l(x, c)  for l = 0 .. L-1                   (B, P, C)       adaLN-Zero DiT blocks
    shift, scale = ada_f(c);  x = norm_f(x, shift, scale) (B, P, C)
    eps_hat = unpatchify(head(x))                         (B, P, C) -> (B, P, K) -> (B, H, W, Ch)
    loss = mean((eps_hat - eps)^2)                        Ho et al.'s L_simple (eq. 14)

With ``target="x0"`` the same network predicts the clean image instead, trained with
mean((x0_hat - x_0)^2), and ``predict_noise`` hands the samplers the noise that x0_hat implies,
eps = (x_t - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t). The two are the same model written two
ways, but not the same regression: near t = S-1 a noise predictor barely needs the condition
(eps ~ x_t there) and its x0 = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t) magnifies every
error, while an x0 predictor must say what the condition draws. On the shapes world that decides
the shape: minifm.tasks.diffusion measures it.

Images enter as x_0 in [-1, 1] (the shapes world's [0, 1] pixels times 2 minus 1), the scale the
noise schedule assumes: at the last step x_t is close to N(0, I).

Why adaLN rather than extra tokens. The conditioning here is one vector per image (a timestep
and an embedding that says "red triangle"), a property of the whole image. adaLN hands it to
every token of every block as a per-channel scale, shift and gate, at the cost of one Linear(C, 6C)
per block; extra ("in-context") tokens would lengthen the sequence and leave each patch to find
the condition through attention. DiT compared both (and cross-attention) and found adaLN-Zero
best at the lowest cost (§3.2, Figure 5); DALL-E 2's decoder also adds its projected CLIP
embedding to the timestep embedding (§2.1), which is exactly c above.

Classifier-free guidance (Ho & Salimans 2022, "Classifier-Free Diffusion Guidance", §3.2): one
network learns both eps(x_t, t, cond) and the unconditional eps(x_t, t, null) by replacing the
conditioning with a learned ``null_cond`` vector for a fraction ``p_uncond`` of the training
examples. The dropped rows' gradient with respect to the conditioning goes into ``null_cond``:

    fwd: e = where(uncond, null_cond, cond)  =>  dnull_cond = sum over dropped rows of de

adaLN-Zero initialisation: every block's ``ada``, ``ada_f`` and ``head`` weights start at zero, so
the untrained network is the identity through its blocks and predicts eps_hat = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from minifm.functional.noise_schedule import SCHEDULES, check_timesteps, make_schedule, q_sample
from minifm.functional.vector_quantize import mse_backward, mse_forward
from minifm.nn.activations import GELU
from minifm.nn.dit_block import DiTBlock
from minifm.nn.embedding import Embedding
from minifm.nn.linear import Linear
from minifm.nn.modulation import AdaLayerNorm
from minifm.nn.module import Module, Parameter
from minifm.nn.patch_embedding import PatchEmbedding
from minifm.nn.timestep_embedding import TimestepEmbedding
from minifm.nn.unpatchify import Unpatchify
from minifm.validation import check_floats


TARGETS = ("eps", "x0")


@dataclass(frozen=True)
class DiffusionConfig:
    """Denoiser hyperparameters, sized for a 2-core CPU and the 16 x 16 shapes world."""

    image_size: int = 16          # H = W
    patch_size: int = 4           # p: P = (16 / 4)^2 = 16 patches of K = 48 numbers
    channels: int = 3             # Ch
    dim: int = 64                 # C
    n_layers: int = 3             # L
    n_heads: int = 4              # H heads of D = C / H = 16
    hidden_dim: int = 256         # F = 4 C
    cond_dim: int = 32            # E: CLIPConfig's default embed_dim
    num_steps: int = 1000         # S, as in Ho et al.; DDIM samples a few of them
    schedule: str = "cosine"      # "cosine" (Nichol & Dhariwal 2021) or "linear" (Ho et al.)
    p_uncond: float = 0.1         # share of training examples with the null conditioning
    target: str = "eps"           # what the network predicts: the noise "eps" or the image "x0"

    def __post_init__(self) -> None:
        for name in ("image_size", "patch_size", "channels", "dim", "n_layers", "n_heads",
                     "hidden_dim", "cond_dim", "num_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DiffusionConfig.{name} must be a positive int, got {value!r}")
        if self.image_size % self.patch_size:
            raise ValueError(f"DiffusionConfig: image_size={self.image_size} must be divisible "
                             f"by patch_size={self.patch_size}")
        if self.dim % self.n_heads:
            raise ValueError(f"DiffusionConfig: dim={self.dim} must be divisible by "
                             f"n_heads={self.n_heads}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"DiffusionConfig.schedule must be one of {', '.join(SCHEDULES)}, "
                             f"got {self.schedule!r}")
        if not 0.0 <= self.p_uncond <= 1.0:
            raise ValueError(f"DiffusionConfig.p_uncond must be in [0, 1], got {self.p_uncond}")
        if self.target not in TARGETS:
            raise ValueError(f"DiffusionConfig.target must be one of {', '.join(TARGETS)}, "
                             f"got {self.target!r}")

    @property
    def num_patches(self) -> int:
        """P, the number of patch tokens."""
        return (self.image_size // self.patch_size) ** 2


@dataclass(frozen=True)
class NoiseDraw:
    """What one training step draws: steps t (B,), noise eps (B, H, W, Ch) and the examples
    whose conditioning is dropped, uncond (B,) bool."""

    t: np.ndarray
    eps: np.ndarray
    uncond: np.ndarray


def resolve_noise(noise: NoiseDraw | np.random.Generator, batch_size: int,
                  draw: Callable[[int, np.random.Generator], NoiseDraw]) -> NoiseDraw:
    """A training forward's noise: ``noise`` itself when it is a ``NoiseDraw`` (a fixed draw, as
    the gradient checks use), else ``draw(batch_size, noise)`` from the generator ``noise``."""
    if isinstance(noise, np.random.Generator):
        return draw(batch_size, noise)
    if not isinstance(noise, NoiseDraw):
        raise TypeError(f"noise must be a NoiseDraw or a np.random.Generator, got "
                        f"{type(noise).__name__}")
    return noise


class DiffusionTransformer(Module):
    """Children ``patch_embed``, ``wpe``, ``t_embed``, ``cond_proj``, ``act``, ``blocks.{l}``,
    ``ada_f``, ``norm_f``, ``head``, ``unpatch``; the parameter ``null_cond`` (E,).

    Training: ``eps_hat, loss = model(x0, cond, rng)`` (or a fixed ``NoiseDraw`` instead of the
    rng), then ``model.backward()``. Sampling (minifm.models.diffusion_sampling) calls
    ``predict_noise(x_t, t, cond, uncond)``.
    """

    def __init__(self, config: DiffusionConfig, *, rng: np.random.Generator,
                 dtype: type = np.float32):
        self.config = cfg = config
        C, K = cfg.dim, cfg.patch_size ** 2 * cfg.channels
        self.schedule = make_schedule(cfg.schedule, cfg.num_steps)
        # bias=False: the learned positions next already add one vector per position
        self.patch_embed = PatchEmbedding(cfg.image_size, cfg.patch_size, cfg.channels, C,
                                          bias=False, rng=rng, dtype=dtype)
        self.wpe = Embedding(cfg.num_patches, C, rng=rng, dtype=dtype)
        self.t_embed = TimestepEmbedding(cfg.num_steps, C, rng=rng, dtype=dtype)
        self.cond_proj = Linear(cfg.cond_dim, C, rng=rng, dtype=dtype)
        self.null_cond = Parameter(np.zeros(cfg.cond_dim, dtype=dtype))
        self.act = GELU()
        self.blocks = [DiTBlock(C, cfg.n_heads, cfg.hidden_dim, rng=rng, dtype=dtype)
                       for _ in range(cfg.n_layers)]
        self.ada_f = Linear(C, 2 * C, rng=rng, dtype=dtype)
        self.norm_f = AdaLayerNorm(C, dtype=dtype)
        self.head = Linear(C, K, rng=rng, dtype=dtype)
        for layer in (self.ada_f, self.head):                      # adaLN-Zero
            layer.weight.data[...] = 0
        self.unpatch = Unpatchify(cfg.image_size, cfg.patch_size, cfg.channels)

    @property
    def dtype(self) -> np.dtype:
        return self.null_cond.data.dtype

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """What one sample is: an image (H, W, Ch)."""
        S = self.config.image_size
        return (S, S, self.config.channels)

    # ---- input checks ----------------------------------------------------------------------------
    def _check_images(self, x: np.ndarray, what: str) -> int:
        S, Ch = self.config.image_size, self.config.channels
        check_floats(x, what, shape=(None, S, S, Ch), axes=f"(B, {S}, {S}, {Ch})",
                     dtype=self.dtype)
        return x.shape[0]

    def _check_cond(self, cond: np.ndarray, uncond: np.ndarray | None, B: int) -> None:
        E = self.config.cond_dim
        check_floats(cond, "cond", shape=(B, E), axes=f"(B, E) = ({B}, {E})", dtype=self.dtype)
        if uncond is not None and (not isinstance(uncond, np.ndarray)
                                   or uncond.dtype != np.bool_ or uncond.shape != (B,)):
            raise ValueError(f"uncond must be a bool array of shape (B,) = ({B},), got "
                             f"{getattr(uncond, 'dtype', type(uncond).__name__)} "
                             f"{getattr(uncond, 'shape', '')}")

    # ---- the network: x_t, t, cond -> eps_hat (or x0_hat) ---------------------------------------
    def predict_noise(self, x_t: np.ndarray, t: np.ndarray, cond: np.ndarray,
                      uncond: np.ndarray | None = None) -> np.ndarray:
        """eps_hat (B, H, W, Ch) for the samplers: the network's output, or with target "x0"
        the noise its x0_hat implies, (x_t - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t)."""
        out = self.predict(x_t, t, cond, uncond)
        if self.config.target == "eps":
            return out
        abar = self.schedule.alpha_bar[t].reshape(-1, 1, 1, 1)                # (B, 1, 1, 1)
        return ((x_t - np.sqrt(abar) * out) / np.sqrt(1 - abar)).astype(self.dtype)

    def predict(self, x_t: np.ndarray, t: np.ndarray, cond: np.ndarray,
                uncond: np.ndarray | None = None) -> np.ndarray:
        """x_t: (B, H, W, Ch); t: (B,) ints in [0, S); cond: (B, E); uncond: (B,) bool, True
        where the null conditioning replaces cond (None: nowhere). Returns the network's output
        (B, H, W, Ch): eps_hat, or x0_hat with target "x0". Keeps the caches for
        ``backward_noise``."""
        B = self._check_images(x_t, "x_t")
        check_timesteps(t, self.config.num_steps, B)
        self._check_cond(cond, uncond, B)
        self._uncond = np.zeros(B, dtype=bool) if uncond is None else uncond
        e = np.where(self._uncond[:, None], self.null_cond.data, cond)       # (B, E)
        x = self.patch_embed(x_t) + self.wpe(np.arange(self.config.num_patches))   # (B, P, C)
        c = self.act(self.t_embed(t) + self.cond_proj(e))                     # (B, C)
        for block in self.blocks:
            x = block(x, c)
        shift, scale = np.split(self.ada_f(c), 2, axis=1)               # (B, 2C) -> 2 x (B, C)
        x = self.norm_f(x, shift, scale)
        return self.unpatch(self.head(x))                         # (B, P, C) -> (B, P, K) -> image

    def backward_noise(self, deps_hat: np.ndarray) -> None:
        """deps_hat: (B, H, W, Ch); adds into every parameter's gradient (none flows to x_t or
        cond: the data and the frozen CLIP embedding are not trained)."""
        # fwd: eps_hat = unpatch(head(x))
        dx = self.head.backward(self.unpatch.backward(deps_hat))              # (B, P, C)
        # fwd: x = norm_f(x, shift, scale); shift, scale = split(ada_f(c))
        dx, dshift, dscale = self.norm_f.backward(dx)
        dc = self.ada_f.backward(np.concatenate([dshift, dscale], axis=1))     # (B, 2C) -> (B, C)
        # fwd: x = block(x, c) for each block  =>  in reverse; c is used by every block: dc sums
        for block in reversed(self.blocks):
            dx, dc_block = block.backward(dx)
            dc += dc_block
        # fwd: c = act(t_embed(t) + cond_proj(e))
        dc = self.act.backward(dc)
        self.t_embed.backward(dc)
        de = self.cond_proj.backward(dc)                                       # (B, E)
        # fwd: e = where(uncond, null_cond, cond)  =>  dnull_cond = sum of de over dropped rows
        self.null_cond.grad += de[self._uncond].sum(axis=0)
        # fwd: x = patch_embed(x_t) + wpe[0..P-1]  =>  dwpe = dx summed over the batch
        self.wpe.backward(dx.sum(axis=0))                                      # (B, P, C) -> (P, C)
        self.patch_embed.backward(dx)

    # ---- training forward and backward -----------------------------------------------------------
    def draw_noise(self, batch_size: int, rng: np.random.Generator) -> NoiseDraw:
        """A uniform step per example, Gaussian noise, and the p_uncond share of dropped
        conditionings (Ho et al. 2020, Algorithm 1; Ho & Salimans 2022, Algorithm 1)."""
        cfg, S = self.config, self.config.image_size
        t = rng.integers(0, cfg.num_steps, size=batch_size)
        eps = rng.standard_normal((batch_size, S, S, cfg.channels)).astype(self.dtype)
        uncond = rng.random(batch_size) < cfg.p_uncond
        return NoiseDraw(t, eps, uncond)

    def forward(self, x0: np.ndarray, cond: np.ndarray,
                noise: NoiseDraw | np.random.Generator) -> tuple[np.ndarray, float]:
        """x0: (B, H, W, Ch) clean images in [-1, 1]; cond: (B, E); noise: a ``NoiseDraw`` or a
        generator to draw one from. Returns eps_hat (B, H, W, Ch) and L_simple."""
        B = self._check_images(x0, "x0")
        noise = resolve_noise(noise, B, self.draw_noise)
        self._check_images(noise.eps, "noise eps")
        x_t = q_sample(x0, noise.t, noise.eps, self.schedule)                 # (B, H, W, Ch)
        out = self.predict(x_t, noise.t, cond, noise.uncond)
        loss, self._cache = mse_forward(out, noise.eps if self.config.target == "eps" else x0)
        return out, loss

    def backward(self) -> None:
        """Backward of the last forward, seeded with dLoss = 1."""
        cache = self._pop_cache()
        # fwd: loss = mean((eps_hat - eps)^2); eps is a draw, its gradient is dropped
        deps_hat, _ = mse_backward(1.0, cache)
        self.backward_noise(deps_hat)
