"""The priors of DALL-E 2 (Ramesh et al. 2022, "Hierarchical Text-Conditional Image Generation
with CLIP Latents", §2.2): from a caption's CLIP text embedding to a CLIP image embedding, which
the diffusion decoder (minifm.models.diffusion) then draws.
Lesson: lessons/14_dalle2_diffusion.md.

Dimensions: B batch, E CLIP embedding width, C width, F = 4 C feed-forward width, L blocks,
S diffusion steps.

Both priors are one residual MLP trunk over a vector (the embeddings are single vectors, so there
is no sequence to attend over):

    h = in_proj(x) + add                           (B, I) -> (B, C)   add: (B, C) or 0
    h = h + mlp_l(ln_l(h))  for l = 0 .. L-1       (B, C)             pre-LN residual blocks
    out = head(ln_f(h))                            (B, C) -> (B, E)

* ``RegressionPrior``, the baseline: x = the text embedding e, out = z_hat, trained with
  mean((z_hat - z)^2) against the image embedding z. It predicts the conditional *mean* of the
  image embeddings that fit the caption.
* ``DiffusionPrior``: a diffusion model over the image embedding itself (Ho et al. 2020),
  conditioned on the text embedding, x = concat(z_t, e) and add = t_embed(t), out = z0_hat: as
  in DALL-E 2 (§2.2) it predicts the clean embedding directly and trains with
  mean((z0_hat - z_0)^2); a learned ``null_cond`` replaces e for a ``p_uncond`` share of
  examples so the prior can be guided too (Ho & Salimans 2022). It *samples* an image embedding
  that fits the caption. For the samplers of minifm.models.diffusion_sampling (written for
  noise predictors) ``predict_noise`` turns z0_hat into the noise it implies,
  eps = (z_t - sqrt(abar_t) z0_hat) / sqrt(1 - abar_t). (The first version predicted eps, as
  the decoder does; its samples named the caption's colour only 70 % of the time under CLIP
  zero-shot, against 100 % for the regression baseline: at high noise an eps-predictor divides
  its error by sqrt(abar_t), and the caption never gets a say.)

Embeddings are unit vectors, so each component is about 1/sqrt(E); the tasks layer multiplies
them by sqrt(E) before the prior sees them (components of unit variance, the scale the noise
schedule assumes) and normalises what comes out.

    fwd: x = concat(z_t, e_or_null)  =>  de = dx[:, E:], dnull_cond = sum of de over dropped rows
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minifm.functional.noise_schedule import SCHEDULES, check_timesteps, make_schedule, q_sample
from minifm.functional.vector_quantize import mse_backward, mse_forward
from minifm.models.diffusion import NoiseDraw, resolve_noise
from minifm.nn.feedforward import FeedForward
from minifm.nn.layernorm import LayerNorm
from minifm.nn.linear import Linear
from minifm.nn.module import Module, Parameter
from minifm.nn.timestep_embedding import TimestepEmbedding
from minifm.validation import check_floats


def _check_positive_ints(config: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{type(config).__name__}.{name} must be a positive int, "
                             f"got {value!r}")


@dataclass(frozen=True)
class RegressionPriorConfig:
    """The regression baseline's sizes."""

    embed_dim: int = 32           # E: CLIPConfig's default embed_dim
    dim: int = 128                # C
    n_layers: int = 2             # L

    def __post_init__(self) -> None:
        _check_positive_ints(self, ("embed_dim", "dim", "n_layers"))


@dataclass(frozen=True)
class DiffusionPriorConfig:
    """The diffusion prior's sizes and noise schedule."""

    embed_dim: int = 32           # E
    dim: int = 128                # C
    n_layers: int = 2             # L
    num_steps: int = 1000         # S
    schedule: str = "cosine"
    p_uncond: float = 0.1         # share of training examples with the null conditioning

    def __post_init__(self) -> None:
        _check_positive_ints(self, ("embed_dim", "dim", "n_layers", "num_steps"))
        if self.schedule not in SCHEDULES:
            raise ValueError(f"DiffusionPriorConfig.schedule must be one of "
                             f"{', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0.0 <= self.p_uncond <= 1.0:
            raise ValueError(f"DiffusionPriorConfig.p_uncond must be in [0, 1], "
                             f"got {self.p_uncond}")


class ResidualMLP(Module):
    """h + mlp(ln_1(h)) on (B, C) vectors; children ``ln_1``, ``mlp``."""

    def __init__(self, dim: int, *, rng: np.random.Generator, dtype: type = np.float32):
        self.ln_1 = LayerNorm(dim, dtype=dtype)
        self.mlp = FeedForward(dim, 4 * dim, rng=rng, dtype=dtype)

    def forward(self, h: np.ndarray) -> np.ndarray:
        """h: (B, C) -> (B, C)."""
        return h + self.mlp(self.ln_1(h))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        # fwd: y = h + mlp(ln_1(h))  =>  dh = dy + ln_1'(mlp'(dy))
        return dy + self.ln_1.backward(self.mlp.backward(dy))


class PriorTrunk(Module):
    """``in_proj`` (I -> C), ``blocks.{l}`` (ResidualMLP), ``ln_f``, ``head`` (C -> E)."""

    def __init__(self, in_dim: int, dim: int, out_dim: int, n_layers: int, *,
                 rng: np.random.Generator, dtype: type = np.float32):
        self.in_proj = Linear(in_dim, dim, rng=rng, dtype=dtype)
        self.blocks = [ResidualMLP(dim, rng=rng, dtype=dtype) for _ in range(n_layers)]
        self.ln_f = LayerNorm(dim, dtype=dtype)
        self.head = Linear(dim, out_dim, rng=rng, dtype=dtype)

    def forward(self, x: np.ndarray, add: np.ndarray | None = None) -> np.ndarray:
        """x: (B, I); add: (B, C) or None -> (B, E)."""
        h = self.in_proj(x)                                              # (B, I) -> (B, C)
        if add is not None:
            h = h + add
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln_f(h))                                   # (B, C) -> (B, E)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dout: (B, E) -> (dx (B, I), dadd (B, C)); adds into every parameter's gradient."""
        dh = self.ln_f.backward(self.head.backward(dout))
        for block in reversed(self.blocks):
            dh = block.backward(dh)
        # fwd: h = in_proj(x) + add  =>  dadd = dh
        return self.in_proj.backward(dh), dh


class RegressionPrior(Module):
    """``z_hat, loss = prior(text, image)``: text and image embeddings (B, E), both scaled by
    sqrt(E); loss = mean((z_hat - image)^2). ``predict(text)`` for use."""

    def __init__(self, config: RegressionPriorConfig, *, rng: np.random.Generator,
                 dtype: type = np.float32):
        self.config = cfg = config
        self.trunk = PriorTrunk(cfg.embed_dim, cfg.dim, cfg.embed_dim, cfg.n_layers, rng=rng,
                                dtype=dtype)

    @property
    def dtype(self) -> np.dtype:
        return self.trunk.head.weight.data.dtype

    def _check(self, x: np.ndarray, what: str, B: int | None = None) -> int:
        E = self.config.embed_dim
        check_floats(x, what, shape=(B, E), axes=f"(B, E={E})", dtype=self.dtype)
        return x.shape[0]

    def predict(self, text: np.ndarray) -> np.ndarray:
        """text: (B, E) -> z_hat (B, E)."""
        self._check(text, "text embedding")
        return self.trunk(text)

    def forward(self, text: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, float]:
        z_hat = self.predict(text)
        self._check(image, "image embedding", text.shape[0])
        loss, self._cache = mse_forward(z_hat, image)
        return z_hat, loss

    def backward(self) -> None:
        """Backward of the last forward, seeded with dLoss = 1 (no gradient to the embeddings)."""
        dz_hat, _ = mse_backward(1.0, self._pop_cache())
        self.trunk.backward(dz_hat)


class DiffusionPrior(Module):
    """``z0_hat, loss = prior(z0, text, rng_or_NoiseDraw)``; sampling calls
    ``predict_noise(z_t, t, cond, uncond)`` (the interface of ``DiffusionTransformer``, so
    ``minifm.models.diffusion_sampling.sample`` draws embeddings (B, E) with it).

    Children ``t_embed``, ``trunk``; the parameter ``null_cond`` (E,)."""

    def __init__(self, config: DiffusionPriorConfig, *, rng: np.random.Generator,
                 dtype: type = np.float32):
        self.config = cfg = config
        E = cfg.embed_dim
        self.schedule = make_schedule(cfg.schedule, cfg.num_steps)
        self.t_embed = TimestepEmbedding(cfg.num_steps, cfg.dim, rng=rng, dtype=dtype)
        self.trunk = PriorTrunk(2 * E, cfg.dim, E, cfg.n_layers, rng=rng, dtype=dtype)
        self.null_cond = Parameter(np.zeros(E, dtype=dtype))

    @property
    def dtype(self) -> np.dtype:
        return self.null_cond.data.dtype

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """What one sample is: an embedding (E,)."""
        return (self.config.embed_dim,)

    def _check(self, x: np.ndarray, what: str, B: int | None = None) -> int:
        E = self.config.embed_dim
        check_floats(x, what, shape=(B, E), axes=f"(B, E={E})", dtype=self.dtype)
        return x.shape[0]

    def predict_z0(self, z_t: np.ndarray, t: np.ndarray, cond: np.ndarray,
                   uncond: np.ndarray | None = None) -> np.ndarray:
        """z_t: (B, E) noisy scaled image embeddings; t: (B,) ints in [0, S); cond: (B, E)
        scaled text embeddings; uncond: (B,) bool, True where ``null_cond`` replaces cond.
        Returns the predicted clean embedding z0_hat (B, E). Keeps the caches for backward."""
        B = self._check(z_t, "z_t")
        check_timesteps(t, self.config.num_steps, B)
        self._check(cond, "cond", B)
        if uncond is not None and (not isinstance(uncond, np.ndarray)
                                   or uncond.dtype != np.bool_ or uncond.shape != (B,)):
            raise ValueError(f"uncond must be a bool array of shape (B,) = ({B},), got "
                             f"{getattr(uncond, 'dtype', type(uncond).__name__)} "
                             f"{getattr(uncond, 'shape', '')}")
        self._uncond = np.zeros(B, dtype=bool) if uncond is None else uncond
        e = np.where(self._uncond[:, None], self.null_cond.data, cond)        # (B, E)
        x = np.concatenate([z_t, e], axis=1)                                  # (B, 2E)
        return self.trunk(x, self.t_embed(t))

    def predict_noise(self, z_t: np.ndarray, t: np.ndarray, cond: np.ndarray,
                      uncond: np.ndarray | None = None) -> np.ndarray:
        """The noise (B, E) that z0_hat implies, for the samplers:
        eps = (z_t - sqrt(abar_t) z0_hat) / sqrt(1 - abar_t)."""
        z0_hat = self.predict_z0(z_t, t, cond, uncond)
        abar = self.schedule.alpha_bar[t][:, None]                            # (B, 1)
        return ((z_t - np.sqrt(abar) * z0_hat) / np.sqrt(1 - abar)).astype(self.dtype)

    def backward_z0(self, dz0_hat: np.ndarray) -> None:
        """dz0_hat: (B, E); adds into every parameter's gradient."""
        dx, dadd = self.trunk.backward(dz0_hat)                               # (B, 2E), (B, C)
        self.t_embed.backward(dadd)
        # fwd: x = concat(z_t, e); e = where(uncond, null_cond, cond)
        de = dx[:, self.config.embed_dim:]                                    # (B, 2E) -> (B, E)
        self.null_cond.grad += de[self._uncond].sum(axis=0)

    def draw_noise(self, batch_size: int, rng: np.random.Generator) -> NoiseDraw:
        """A uniform step per example, Gaussian noise (B, E), the p_uncond share dropped."""
        cfg = self.config
        t = rng.integers(0, cfg.num_steps, size=batch_size)
        eps = rng.standard_normal((batch_size, cfg.embed_dim)).astype(self.dtype)
        return NoiseDraw(t, eps, rng.random(batch_size) < cfg.p_uncond)

    def forward(self, z0: np.ndarray, cond: np.ndarray,
                noise: NoiseDraw | np.random.Generator) -> tuple[np.ndarray, float]:
        """z0: (B, E) scaled image embeddings; cond: (B, E) scaled text embeddings. Returns
        z0_hat (B, E) and mean((z0_hat - z0)^2)."""
        B = self._check(z0, "z0")
        noise = resolve_noise(noise, B, self.draw_noise)
        self._check(noise.eps, "noise eps", B)
        z_t = q_sample(z0, noise.t, noise.eps, self.schedule)                 # (B, E)
        z0_hat = self.predict_z0(z_t, noise.t, cond, noise.uncond)
        loss, self._cache = mse_forward(z0_hat, z0)
        return z0_hat, loss

    def backward(self) -> None:
        """Backward of the last forward, seeded with dLoss = 1."""
        dz0_hat, _ = mse_backward(1.0, self._pop_cache())
        self.backward_z0(dz0_hat)
