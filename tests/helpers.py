"""Helpers shared by the gradient-check tests of attention, blocks and whole models."""

import numpy as np

from minifm.gradcheck import check_module, numerical_gradient, rel_error
from minifm.nn import Dropout, Module


class Reseeded(Module):
    """Runs ``inner`` with every Dropout generator reseeded, so each forward draws the same masks."""

    def __init__(self, inner: Module, seed: int = 0):
        self.inner, self.seed = inner, seed

    def forward(self, x, mask=None):
        for i, (_, m) in enumerate(self.inner.named_modules()):
            if isinstance(m, Dropout):
                m.rng = np.random.default_rng(self.seed + i)
        return self.inner(x, mask)

    def backward(self, dy):
        return self.inner.backward(dy)


def key_bias_gradcheck(module, x, mask, rng, bias):
    """Relative errors of x and every parameter, with the key third of the q|k|v bias apart.

    The exact gradient of the key bias b_k is 0: it adds the same q . b_k to every score of a
    query's row, which the softmax ignores. Its relative error would compare two round-off noises,
    so instead we check that both the analytic and the numerical gradient vanish.
    Returns ({name: rel_error}, largest |analytic| and |numerical| key-bias gradient).
    """
    res = check_module(module, x, mask, rng=rng)
    errors = {name: d.rel_error for name, d in res.items() if name != bias}
    y = module(x, mask)
    dy = rng.standard_normal(y.shape)
    module.zero_grad()
    module.backward(dy)
    p = dict(module.named_parameters())[bias]
    numerical = numerical_gradient(lambda: module(x, mask), p.data, dy)
    q, k, v = np.split(np.arange(p.data.size), 3)
    qv = np.concatenate([q, v])
    errors[bias + "[q|v]"] = rel_error(p.grad[qv], numerical[qv])
    return errors, (np.abs(p.grad[k]).max(), np.abs(numerical[k]).max())


def well_scaled(model, rng):
    """Give every parameter of a GPT-style model a random, well-scaled value for a gradient check.

    At GPT-2 initialisation attention is almost uniform and the q/k gradients are ~1e-8, while
    the central difference of a loss near 2 carries ~2e-11 of round-off (an ulp of the loss over
    2h): the relative error of such tiny entries measures round-off, not the backward pass. With
    unit-variance embeddings, fan-in-scaled matrices and LayerNorm gains near 1 every gradient
    entry is well above that noise (measured for GPT: worst < 3e-6 over 40 seeds).
    """
    for name, p in model.named_parameters():
        if name in ("wte.weight", "wpe.weight"):
            p.data[...] = rng.standard_normal(p.shape)
        elif name.endswith("bias"):
            p.data[...] = 0.2 * rng.standard_normal(p.shape)
        elif p.data.ndim == 1:                                  # LayerNorm gains
            p.data[...] = 1 + 0.2 * rng.standard_normal(p.shape)
        else:                                                   # (in, out) matrices
            p.data[...] = rng.standard_normal(p.shape) / np.sqrt(p.shape[0])
    return model
