"""Element-wise activations: GELU (exact, tanh and sigmoid forms) and ReLU, plus the error
function.

Dimensions: any shape, written (...); every op keeps its input's shape and dtype.

GELU (Hendrycks & Gimpel 2016, "Gaussian Error Linear Units") is ``y = x * Phi(x)`` with Phi the
standard normal CDF. BERT uses the exact form ``Phi(x) = (1 + erf(x / sqrt 2)) / 2``; GPT-2 uses
the tanh approximation ``Phi(x) ~ (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2``; OpenAI's
CLIP the sigmoid approximation ``Phi(x) ~ sigmoid(1.702 x)`` (the paper's section 2), which
Hugging Face calls "quick GELU" (``quick_gelu_forward``).
ReLU (Nair & Hinton 2010) is ``y = max(x, 0)``.
Lesson: lessons/06_feedforward_gelu_residuals.md.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.polynomial import Chebyshev, Polynomial

from minifm.validation import check_same_shape

# ---- the error function, vectorised, without SciPy ------------------------------------------------
# Two Chebyshev series, their coefficients computed once with mpmath at 50 digits:
#   |x| <= 1.5:  erf(x) = x * P(u),  u = x^2,  P ~ erf(sqrt u) / sqrt u  on u in [0, 2.25];
#   |x| >  1.5:  erf(|x|) = 1 - exp(-x^2) / |x| * Q(t),  t = 1 / |x|,  Q ~ x exp(x^2) erfc(x)
#                on t in [1/6, 2/3]. Past |x| = 6, erfc < 2e-17, so erf rounds to +-1 and |x| is
#                clipped to 6.
# Each series is sum_k c_k T_k(s), T_k the Chebyshev polynomials and s its interval mapped onto
# [-1, 1]. The coefficients fall off geometrically, so a series can be cut where they drop below the
# dtype's resolution: float64 keeps every term listed here, float32 about half of them.
_ERF_SPLIT, _ERF_CLIP = 1.5, 6.0
_ERF_INNER = np.array([                              # P on u in [0, 2.25]
    0.851089471310623, -0.2378512126782037, 0.03469122300310841, -0.004264102804485269,
    0.0004409197933299432, -3.901387128623381e-05, 3.005756784960929e-06, -2.0467950137813437e-07,
    1.247436826254426e-08, -6.875751819093192e-10, 3.45768610393445e-11, -1.598235818776436e-12,
    6.833570402307017e-14, -2.7176425140092373e-15, 1.0100781017991405e-16,
])
_ERFC_TAIL = np.array([                              # Q on t in [1/6, 2/3]
    0.5220098896720846, -0.03775119995378834, -0.0024402144632762694, 0.0006119285772198051,
    -5.203920606231107e-05, -1.183934177762398e-06, 1.116538678649715e-06, -1.8723162280695113e-07,
    1.3860331069728243e-08, 1.3653410551779338e-09, -6.491472810424283e-10, 1.168871362893184e-10,
    -1.0751510394402746e-11, -6.261296975962203e-13, 4.818431458182043e-13, -1.0946990825426147e-13,
    1.4694543126551355e-14, -5.42881434020014e-16,
])


@functools.cache
def _erf_series(dtype: np.dtype) -> tuple[tuple[float, ...], Chebyshev]:
    """P as plain powers of u (highest first, for Horner's rule) and Q, both cut to ``dtype``
    (terms below eps / 16 dropped)."""
    tol = np.finfo(dtype).eps / 16
    inner = _ERF_INNER[: np.flatnonzero(np.abs(_ERF_INNER) > tol)[-1] + 1]
    tail = _ERFC_TAIL[: np.flatnonzero(np.abs(_ERFC_TAIL) > tol)[-1] + 1]
    powers = Chebyshev(inner, domain=[0.0, 2.25]).convert(kind=Polynomial).coef
    return tuple(float(c) for c in powers[::-1]), Chebyshev(tail, domain=[1.0 / 6.0, 2.0 / 3.0])


def erf(x: np.ndarray) -> np.ndarray:
    """The error function ``2/sqrt(pi) * integral_0^x exp(-t^2) dt``, element-wise, in x's dtype.

    float64: within about 4e-16 relative of ``math.erf``; float32: within about 2e-7 (float32's own
    rounding). tests/functional/test_activations.py checks both. The inner series runs as in-place
    multiply-adds over the whole array; the tail formula touches only the entries with |x| > 1.5.
    """
    inner, tail = _erf_series(x.dtype)
    xs = np.clip(x, -_ERF_SPLIT, _ERF_SPLIT)
    u = xs * xs
    y = u * inner[0]
    for c in inner[1:-1]:                            # Horner: y = ((c_n u + c_n-1) u + ...) u + c_0
        y += c
        y *= u
    y += inner[-1]
    y *= xs
    far = np.flatnonzero(xs != x)                    # flat positions with |x| > 1.5 (or NaN)
    if far.size:
        xf = x.take(far)                             # (...) -> (n_far,)
        a = np.minimum(np.abs(xf), _ERF_CLIP)
        t = 1.0 / a
        erfc = np.exp(-a * a) * t * tail(t)
        y.put(far, np.copysign(1.0 - erfc, xf))
    return y


# ---- GELU ---------------------------------------------------------------------------------------
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# Below -40, GELU and its gradient are exactly 0 in every float dtype (the tanh form's 1 + t and
# the exact form's Phi(x) round to 0 from about -9 on, exp(-x^2 / 2) from about -39), so clamping x
# there changes no finite result and keeps x = -inf from giving -inf * 0 = NaN. Checking x.min()
# costs about a fifth of one element-wise op; the clamped copy is made only when it is needed.
_GELU_FLOOR = -40.0


def gelu_forward(x: np.ndarray, approximate: str = "tanh") -> tuple[np.ndarray, tuple]:
    """GELU. x: (...). approximate: "tanh" (GPT-2) or "none" (exact erf form, BERT).

    Returns y: (...) and the cache: (x, tanh value) or (x, Phi(x)); backward reuses either.
    GELU(-inf) = 0 with gradient 0 (x is clamped at -40, where both already are 0); GELU(+inf) =
    +inf, whose gradient is NaN (an overflowed activation; not worth a second pass to tidy).
    """
    if x.size and x.min() < _GELU_FLOOR:             # a read-only pass; the copy only if needed
        x = np.maximum(x, _GELU_FLOOR)               # -inf -> -40, no finite result moves
    if approximate == "tanh":
        # plain: t = np.tanh(sqrt(2 / pi) * (x + 0.044715 * x**3));  y = 0.5 * x * (1 + t)
        # u = sqrt(2/pi) * (x + 0.044715 x^3), computed as x * (k + k c x^2) in place
        t = x * x
        t *= _SQRT_2_OVER_PI * _TANH_CUBIC
        t += _SQRT_2_OVER_PI
        t *= x
        np.tanh(t, out=t)                            # t = tanh(u)
        y = t + 1.0
        y *= 0.5
        y *= x                                       # y = 0.5 x (1 + t)
        return y, ("tanh", x, t)
    if approximate == "none":
        # plain: cdf = (1 + erf(x / sqrt(2))) / 2;  y = x * cdf
        cdf = erf(x * _INV_SQRT_2)
        cdf += 1.0
        cdf *= 0.5                                   # Phi(x) = (1 + erf(x / sqrt 2)) / 2
        return x * cdf, ("none", x, cdf)
    raise ValueError(f'gelu approximate must be "tanh" or "none", got {approximate!r}')


def gelu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of GELU. dout: (...). Returns dx: (...)."""
    approximate, x, saved = cache
    check_same_shape(dout, x.shape, "gelu dout")
    if approximate == "tanh":
        t = saved
        # fwd: y = 0.5 x (1 + t), t = tanh(k (x + c x^3))
        #   =>  dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2)
        # plain: dx = dout * (0.5 * (1 + t) + 0.5 * x * (1 - t**2) * k * (1 + 3 * c * x**2))
        dx = x * x
        dx *= 3.0 * _TANH_CUBIC * _SQRT_2_OVER_PI
        dx += _SQRT_2_OVER_PI                        # k (1 + 3 c x^2)
        dx *= x
        sech2 = t * t
        np.subtract(1.0, sech2, out=sech2)           # 1 - t^2
        dx *= sech2
        dx += t
        dx += 1.0
        dx *= 0.5
    else:
        cdf = saved
        # fwd: y = x * Phi(x)  =>  dy/dx = Phi(x) + x * phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
        # plain: dx = dout * (cdf + x * np.exp(-x**2 / 2) / sqrt(2 * pi))
        dx = x * x
        dx *= -0.5
        np.exp(dx, out=dx)
        dx *= _INV_SQRT_2PI
        dx *= x
        dx += cdf
    dx *= dout
    return dx


# ---- GELU's sigmoid form ("quick GELU", CLIP) ----------------------------------------------------
_SIGMOID_SCALE = 1.702


def quick_gelu_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """GELU's sigmoid approximation ``y = x * sigmoid(1.702 x)`` (Hendrycks & Gimpel 2016,
    section 2), as in OpenAI's CLIP. x: (...). Returns y: (...) and the cache
    ("sigmoid", x, s) with s = sigmoid(1.702 x), laid out like ``gelu_forward``'s."""
    # plain: s = 1 / (1 + exp(-1.702 x)), written as (1 + tanh(0.851 x)) / 2, which cannot
    # overflow for large negative x
    s = x * (0.5 * _SIGMOID_SCALE)
    np.tanh(s, out=s)
    s += 1.0
    s *= 0.5                                         # s = sigmoid(1.702 x)
    return x * s, ("sigmoid", x, s)


def quick_gelu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of quick GELU. dout: (...). Returns dx: (...)."""
    _, x, s = cache
    # fwd: y = x s, s = sigmoid(a x)  =>  dy/dx = s + a x s (1 - s)
    # plain: dx = dout * (s + a * x * s * (1 - s))
    dx = 1.0 - s
    dx *= s
    dx *= x
    dx *= _SIGMOID_SCALE
    dx += s
    dx *= dout
    return dx


# ---- ReLU ---------------------------------------------------------------------------------------
def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ReLU. x: (...). Returns y = max(x, 0): (...) and y itself as the cache."""
    y = np.maximum(x, 0)
    return y, y


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Gradient of ReLU (0 at x = 0, as in PyTorch). dout: (...). Returns dx: (...)."""
    y = cache
    check_same_shape(dout, y.shape, "relu dout")
    # fwd: y = max(x, 0)  =>  dx = dy where x > 0 (equivalently y > 0), else 0
    return dout * (y > 0)
