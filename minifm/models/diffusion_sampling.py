"""Sampling from a trained denoiser: DDPM ancestral sampling, DDIM, classifier-free guidance.
Lesson: lessons/14_dalle2_diffusion.md.

Dimensions: B batch, H = W image side, Ch channels, E conditioning width, S diffusion steps,
N sampling steps (a sub-sequence of the S). Steps are t = 0 .. S-1 in code (1 .. S in the papers);
abar_{-1} = 1 stands for the clean image.

The reverse step (DDPM: Ho et al. 2020, §3.2 and Algorithm 2). The model of one step back is
p(x_{t-1} | x_t) = N(mu_theta, sigma_t^2 I) with the mean of the true posterior
q(x_{t-1} | x_t, x_0) once x_0 is written through the predicted noise (eq. 11; derived in
minifm.functional.noise_schedule):

    x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps_hat) / sqrt(alpha_t) + sigma_t z,  z ~ N(0, I)

with no noise added at the last step. Ho et al. found sigma_t^2 = beta_t and the posterior
variance beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t about equally good; this uses beta~_t,
the exact posterior variance, which also makes DDPM the eta = 1 case of DDIM below. Both samplers
here go through the predicted clean image x0_hat (below): written with it, the step above is the
posterior mean mu~_t(x0_hat, x_t) of eq. 7, and that form lets x0_hat be clipped to the data
range [-1, 1] first, which keeps the early, nearly pure-noise steps from amplifying errors.

DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12). A family of non-Markovian
forward processes has the same marginals q(x_t | x_0), hence the same training loss, but a
reverse step that may jump from t to any earlier t' and needs no fresh noise:

    x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)                    "predicted x_0"
    x_t'   = sqrt(abar_t') x0_hat + sqrt(1 - abar_t' - sigma^2) eps_hat + sigma z
             (the predicted x_0, the "direction pointing to x_t", and fresh noise)
    sigma  = eta sqrt((1 - abar_t') / (1 - abar_t)) sqrt(1 - abar_t / abar_t')      (eq. 16)

eta = 0 is deterministic given x_T (an ODE-like map from noise to image, which is what lets an
image be interpolated or inverted); eta = 1 on the full chain is DDPM with sigma_t^2 = beta~_t.
Running on N evenly spaced steps of the S trades a little quality for S / N times less work.

Classifier-free guidance (Ho & Salimans 2022, eq. 6). The denoiser was trained to predict noise
both with the conditioning and with the learned null one; extrapolating from the unconditional
prediction towards the conditional one sharpens samples towards the condition:

    eps = eps_uncond + w (eps_cond - eps_uncond)

w = 1 is the plain conditional model, w = 0 the unconditional one, w > 1 guides (Ho & Salimans
write (1 + w') eps_cond - w' eps_uncond, the same with w = 1 + w'). The two predictions are made in
one forward of a doubled batch.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from minifm.functional.noise_schedule import NoiseSchedule
from minifm.models.diffusion import DiffusionTransformer
from minifm.models.diffusion_prior import DiffusionPrior
from minifm.validation import check_floats

SAMPLERS = ("ddpm", "ddim")


def check_guidance(guidance: float) -> None:
    """The guidance scale must be a finite real number >= 0."""
    if isinstance(guidance, bool) or not isinstance(guidance, Real) \
            or not math.isfinite(guidance) or guidance < 0:
        raise ValueError(f"guidance must be a number >= 0 (1 = no guidance), got {guidance!r}")


def guided_noise(model: DiffusionTransformer, x_t: np.ndarray, t: int, cond: np.ndarray,
                 guidance: float) -> np.ndarray:
    """eps_uncond + guidance (eps_cond - eps_uncond) at step t for every image.

    x_t: (B, H, W, Ch); cond: (B, E). Returns (B, H, W, Ch). Guidance 1 (or 0) needs only the
    conditional (or unconditional) forward; otherwise one forward of 2B images computes both.
    """
    check_guidance(guidance)
    B = x_t.shape[0]
    steps = np.full(B, t)
    if guidance == 1:
        return model.predict_noise(x_t, steps, cond)
    if guidance == 0:
        return model.predict_noise(x_t, steps, cond, np.ones(B, dtype=bool))
    uncond = np.repeat([False, True], B)                                # (2B,): cond, then null
    both = model.predict_noise(np.concatenate([x_t, x_t]), np.concatenate([steps, steps]),
                               np.concatenate([cond, cond]), uncond)     # (2B, H, W, Ch)
    eps_cond, eps_uncond = both[:B], both[B:]
    return eps_uncond + guidance * (eps_cond - eps_uncond)


def ddim_timesteps(num_steps: int, steps: int) -> np.ndarray:
    """N = ``steps`` evenly spaced steps from S-1 down to 0 (from S-1 alone if N = 1): (N,) ints."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) \
            or not 1 <= steps <= num_steps:
        raise ValueError(f"steps must be an int in [1, {num_steps}] (the model's diffusion "
                         f"steps), got {steps!r}")
    return np.round(np.linspace(num_steps - 1, 0, steps)).astype(np.int64)


def predict_x0(schedule: NoiseSchedule, x_t: np.ndarray, t: int, eps_hat: np.ndarray,
               clip: bool) -> tuple[np.ndarray, np.ndarray]:
    """x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t), and the noise that goes with it.

    With ``clip``, x0_hat is clipped to the data range [-1, 1] and the noise recomputed from it,
    eps = (x_t - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t), so the pair still adds up to x_t. Near
    t = S-1 abar_t is tiny and dividing by sqrt(abar_t) magnifies any error in eps_hat; the clip
    keeps that from blowing up the next steps (as in Ho et al.'s released sampler).
    """
    abar = schedule.alpha_bar[t]
    x0_hat = (x_t - math.sqrt(1 - abar) * eps_hat) / math.sqrt(abar)
    if not clip:
        return x0_hat, eps_hat
    x0_hat = np.clip(x0_hat, -1.0, 1.0)
    return x0_hat, (x_t - math.sqrt(abar) * x0_hat) / math.sqrt(1 - abar)


def ddpm_step(schedule: NoiseSchedule, x_t: np.ndarray, t: int, x0_hat: np.ndarray,
              z: np.ndarray | None) -> np.ndarray:
    """One ancestral step x_t -> x_{t-1}: the posterior mean mu~_t(x0_hat, x_t) (Ho et al. eq. 7)
    plus sigma_t z with sigma_t^2 = beta~_t; z (like x_t) is the fresh noise, None at t = 0.

    With the unclipped x0_hat this is Algorithm 2's line 4, (x_t - beta_t / sqrt(1 - abar_t)
    eps_hat) / sqrt(alpha_t) + sigma_t z: substitute x0_hat and collect the x_t terms.
    """
    beta, alpha, abar = schedule.betas[t], schedule.alphas[t], schedule.alpha_bar[t]
    abar_prev = schedule.alpha_bar[t - 1] if t > 0 else 1.0
    mean = (math.sqrt(abar_prev) * beta / (1 - abar) * x0_hat
            + math.sqrt(alpha) * (1 - abar_prev) / (1 - abar) * x_t)
    if t == 0:
        return mean
    return mean + math.sqrt((1 - abar_prev) / (1 - abar) * beta) * z


def ddim_step(schedule: NoiseSchedule, t: int, t_prev: int, x0_hat: np.ndarray,
              eps_hat: np.ndarray, eta: float, z: np.ndarray | None) -> np.ndarray:
    """One DDIM step (eq. 12) from t to t_prev < t (t_prev = -1: to the clean image), given the
    predicted x_0 and noise at t; z (like x0_hat) is needed only when sigma > 0."""
    abar = schedule.alpha_bar[t]
    abar_prev = schedule.alpha_bar[t_prev] if t_prev >= 0 else 1.0
    sigma = eta * math.sqrt((1 - abar_prev) / (1 - abar)) * math.sqrt(1 - abar / abar_prev)
    x_prev = math.sqrt(abar_prev) * x0_hat + math.sqrt(max(1 - abar_prev - sigma ** 2, 0.0)) \
        * eps_hat
    return x_prev + sigma * z if sigma > 0 else x_prev


def sample(model: DiffusionTransformer | DiffusionPrior, cond: np.ndarray, rng: np.random.Generator, *,
           sampler: str = "ddim", steps: int | None = None, guidance: float = 1.0,
           eta: float = 0.0, clip: bool = True, x_T: np.ndarray | None = None,
           trajectory: list[np.ndarray] | None = None) -> np.ndarray:
    """Draw one image per conditioning row: cond (B, E) -> x_0 (B, H, W, Ch), about in [-1, 1]
    (a ``DiffusionPrior`` draws an embedding (B, E) per row the same way; give it clip=False).

    sampler: "ddpm" (all S steps; ``steps`` must be None or S) or "ddim" (``steps`` evenly spaced
    steps, default 50 or S if fewer; ``eta`` >= 0, 0 = deterministic given x_T). ``clip`` keeps
    each predicted x_0 in [-1, 1] (see ``predict_x0``). x_T: the starting noise (B, H, W, Ch),
    drawn from ``rng`` if None. ``trajectory``, if a list, receives x_T and every x_t after it
    (for a denoising strip).
    """
    S = model.config.num_steps
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    check_guidance(guidance)
    if isinstance(eta, bool) or not isinstance(eta, Real) or not eta >= 0:
        raise ValueError(f"eta must be a number >= 0, got {eta!r}")
    if sampler == "ddpm" and steps not in (None, S):
        raise ValueError(f"the ddpm sampler runs all {S} steps, got steps={steps!r}; use "
                         "sampler='ddim' for fewer (ddim with eta=1 is ancestral sampling on "
                         "the sub-sequence)")
    if sampler == "ddpm" or steps is None:
        steps = S if sampler == "ddpm" else min(50, S)
    timesteps = ddim_timesteps(S, steps)
    if not isinstance(cond, np.ndarray) or cond.ndim != 2:
        raise ValueError(f"cond must be an array of shape (B, E), got "
                         f"{getattr(cond, 'shape', type(cond).__name__)}")
    shape = (cond.shape[0], *model.sample_shape)            # (B, H, W, Ch), or (B, E): a prior
    if x_T is None:
        x_T = rng.standard_normal(shape).astype(model.dtype)
    letters = "(B, H, W, Ch)" if len(shape) == 4 else "(B, E)"
    check_floats(x_T, "x_T", shape=shape, axes=f"{letters} = {shape}", dtype=model.dtype)
    x = x_T
    if trajectory is not None:
        trajectory.append(x)
    with model.evaluating():
        for i, t in enumerate(timesteps):
            t_prev = int(timesteps[i + 1]) if i + 1 < len(timesteps) else -1
            eps_hat = guided_noise(model, x, int(t), cond, guidance)   # checks x, t and cond
            x0_hat, eps_hat = predict_x0(model.schedule, x, int(t), eps_hat, clip)
            if sampler == "ddpm":
                z = rng.standard_normal(x.shape).astype(x.dtype) if t > 0 else None
                x = ddpm_step(model.schedule, x, int(t), x0_hat, z)
            else:
                z = rng.standard_normal(x.shape).astype(x.dtype) if eta > 0 and t_prev >= 0 \
                    else None
                x = ddim_step(model.schedule, int(t), t_prev, x0_hat, eps_hat, eta, z)
            x = x.astype(model.dtype, copy=False)
            if trajectory is not None:
                trajectory.append(x)
    return x
