"""Noise schedules and the closed-form forward process of a diffusion model (DDPM: Ho et al. 2020,
"Denoising Diffusion Probabilistic Models"). Lesson: lessons/14_dalle2_diffusion.md
(the derivations it needs are below).

Dimensions: S diffusion steps, B batch; an image x has any shape (B, ...), here (B, H, W, Ch).
Steps are indexed t = 0 .. S-1 in code, t = 1 .. S in the paper.

The forward process adds Gaussian noise in S small steps with variances beta_t (§2, eq. 2):

    q(x_t | x_{t-1}) = N(x_t; sqrt(1 - beta_t) x_{t-1}, beta_t I)

With alpha_t = 1 - beta_t and alpha_bar_t = prod_{s <= t} alpha_s, a sum of Gaussians is a Gaussian,
so any x_t can be drawn from x_0 in one go (§2, eq. 4):

    q(x_t | x_0) = N(x_t; sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)
    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,   eps ~ N(0, I)          (q_sample)

(by induction: sqrt(alpha_t) (sqrt(abar_{t-1}) x_0 + sqrt(1 - abar_{t-1}) e1) + sqrt(1 - alpha_t) e2
has mean sqrt(abar_t) x_0 and variance alpha_t (1 - abar_{t-1}) + 1 - alpha_t = 1 - abar_t.)

From the ELBO to the simple loss (§3.2-3.4). The negative ELBO is a sum of KL terms
KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)). The posterior of one step back is Gaussian (eq. 6-7):

    q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I),
    mu~_t   = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x_0
            + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t
    beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t

With p(x_{t-1} | x_t) = N(mu_theta, sigma_t^2 I) of fixed variance, each KL is
||mu~_t - mu_theta||^2 / (2 sigma_t^2) + const. Substituting x_0 = (x_t - sqrt(1 - abar_t) eps) /
sqrt(abar_t) gives mu~_t = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t), so the model
predicts eps instead (eq. 11):

    mu_theta(x_t, t) = (x_t - beta_t / sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(alpha_t)

and the KL becomes a weighted ||eps - eps_theta||^2. Dropping the weights gives the simple loss
(eq. 14), the mean squared error of the predicted noise at a uniformly drawn step:

    L_simple = E_{t, x_0, eps} || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2

There is nothing to differentiate here: the schedule is fixed, and x_t is linear in x_0 and eps,
which are data and a draw, not parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCHEDULES = ("linear", "cosine")


@dataclass(frozen=True)
class NoiseSchedule:
    """betas, alphas = 1 - betas and alpha_bar = cumprod(alphas), each (S,) float64."""

    betas: np.ndarray
    alphas: np.ndarray
    alpha_bar: np.ndarray

    @property
    def num_steps(self) -> int:
        """S, the number of diffusion steps."""
        return int(self.betas.shape[0])


def _check_steps(num_steps: int) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) \
            or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")


def from_betas(betas: np.ndarray) -> NoiseSchedule:
    """The schedule of the variances ``betas`` (S,), each in (0, 1)."""
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or betas.size == 0 or not ((betas > 0) & (betas < 1)).all():
        raise ValueError(f"betas must be a non-empty 1-D array of values in (0, 1), got "
                         f"shape {betas.shape}")
    alphas = 1.0 - betas
    for a in (betas, alphas):
        a.flags.writeable = False
    alpha_bar = np.cumprod(alphas)
    alpha_bar.flags.writeable = False
    return NoiseSchedule(betas, alphas, alpha_bar)


def linear_schedule(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02
                    ) -> NoiseSchedule:
    """Ho et al. 2020, §4: betas rising linearly from 1e-4 to 0.02 over 1000 steps.

    For S steps both ends are scaled by 1000 / S, so the sum of the betas, and with it
    alpha_bar at the last step (about exp(-sum) = 4e-5), stays what it is at S = 1000: the last
    x_t is pure noise for any S.
    """
    _check_steps(num_steps)
    scale = 1000.0 / num_steps
    return from_betas(np.linspace(scale * beta_start, min(scale * beta_end, 0.999), num_steps))


def cosine_schedule(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
    """Nichol & Dhariwal 2021, "Improved DDPM", §3.2, eq. 17:

        alpha_bar(t) = f(t) / f(0),   f(t) = cos((t / S + s) / (1 + s) * pi / 2)^2

    for t = 0 .. S, and beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1), clipped at 0.999 to avoid
    the singularity at t = S. alpha_bar falls almost linearly in the middle and flattens at both
    ends, so fewer steps are wasted on nearly clean or nearly pure-noise images than with the
    linear schedule (their Figure 5). The offset s keeps beta_1 from being vanishingly small.
    """
    _check_steps(num_steps)
    t = np.arange(num_steps + 1, dtype=np.float64) / num_steps        # (S + 1,) in [0, 1]
    f = np.cos((t + s) / (1 + s) * np.pi / 2) ** 2
    abar = f / f[0]
    return from_betas(np.clip(1.0 - abar[1:] / abar[:-1], 0.0, max_beta))


def make_schedule(name: str, num_steps: int) -> NoiseSchedule:
    """The ``"linear"`` or ``"cosine"`` schedule of ``num_steps`` steps."""
    if name == "linear":
        return linear_schedule(num_steps)
    if name == "cosine":
        return cosine_schedule(num_steps)
    raise ValueError(f"unknown noise schedule {name!r}; choose one of {', '.join(SCHEDULES)}")


def check_timesteps(t: np.ndarray, num_steps: int, batch_size: int | None = None) -> None:
    """``t`` must be a (B,) integer array of steps in [0, num_steps); B = batch_size if given."""
    if not isinstance(t, np.ndarray) or not np.issubdtype(t.dtype, np.integer) \
            or t.dtype == np.bool_:
        kind = t.dtype if isinstance(t, np.ndarray) else type(t).__name__
        raise TypeError(f"timesteps t must be an integer numpy array, got {kind}")
    if t.ndim != 1 or t.size == 0 or (batch_size is not None and t.shape != (batch_size,)):
        expected = "(B,)" if batch_size is None else f"(B,) = ({batch_size},)"
        raise ValueError(f"timesteps t must have shape {expected}, got {t.shape}")
    if ((t < 0) | (t >= num_steps)).any():
        bad = t[(t < 0) | (t >= num_steps)][0]
        raise ValueError(f"timesteps t must lie in [0, {num_steps}), got {bad}")


def _per_example(values: np.ndarray, ndim: int, dtype: np.dtype) -> np.ndarray:
    """(B,) -> (B, 1, ..., 1) of rank ``ndim``, to broadcast over an example's entries."""
    return values.astype(dtype).reshape(-1, *([1] * (ndim - 1)))


def q_sample(x0: np.ndarray, t: np.ndarray, eps: np.ndarray, schedule: NoiseSchedule
             ) -> np.ndarray:
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, each example at its own step.

    x0, eps: (B, ...) float of one shape; t: (B,) ints in [0, S). Returns x_t (B, ...) in x0's
    dtype.
    """
    if not isinstance(x0, np.ndarray) or not isinstance(eps, np.ndarray) \
            or x0.shape != eps.shape or x0.ndim < 1:
        raise ValueError("q_sample needs x0 and eps as arrays of one shape (B, ...), got "
                         f"{getattr(x0, 'shape', type(x0).__name__)} and "
                         f"{getattr(eps, 'shape', type(eps).__name__)}")
    check_timesteps(t, schedule.num_steps, x0.shape[0])
    abar = schedule.alpha_bar[t]                                          # (B,)
    a = _per_example(np.sqrt(abar), x0.ndim, x0.dtype)                    # (B,) -> (B, 1, ...)
    b = _per_example(np.sqrt(1.0 - abar), x0.ndim, x0.dtype)
    return a * x0 + b * eps
