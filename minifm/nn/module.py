"""The module contract every layer and model in minifm follows.

A ``Module`` owns ``Parameter`` objects (``.data`` and ``.grad`` arrays of equal shape and dtype)
and, usually, child modules. Its contract, shared by every layer:

    y = m(x)              # same as m.forward(x); keeps what backward needs in m._cache
    dx = m.backward(dy)   # returns dL/dx and ADDS dL/dparam into each parameter's .grad
    m.zero_grad()         # sets every .grad to zero
    m.train(); m.eval()   # switches dropout (and anything else mode-dependent)

Gradients accumulate (``+=``) rather than overwrite, so a parameter used twice (tied weights)
receives the sum of both uses without any special code.
Lessons: lessons/06_feedforward_gelu_residuals.md (the contract at work in a block),
lessons/08_gpt.md (the tied head).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np


class Parameter:
    """A trainable array and the gradient that backward passes add into."""

    def __init__(self, data: np.ndarray):
        if not isinstance(data, np.ndarray) or not np.issubdtype(data.dtype, np.floating):
            raise TypeError(f"Parameter needs a floating-point numpy array, got {type(data).__name__}"
                            f"{'' if not isinstance(data, np.ndarray) else ' of dtype ' + str(data.dtype)}")
        self.data = data
        self.grad = np.zeros_like(data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: parameter discovery, gradient reset, train/eval mode, state dicts."""

    training: bool = True
    _cache: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define backward()")

    # ---- the cache that links forward to backward -------------------------------------------
    def _pop_cache(self) -> Any:
        """Return the cache of the last forward, or raise if forward has not run.

        The cache is cleared so that a second backward without a new forward is an error too,
        rather than silently adding the same gradient twice.
        """
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() was called before forward(): "
                               "run the forward pass first (each forward allows one backward)")
        cache, self._cache = self._cache, None
        return cache

    # ---- children and parameters --------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """Yield ``(dotted_name, module)`` for this module and every descendant."""
        yield prefix.rstrip("."), self
        for name, child in self.named_children():
            yield from child.named_modules(prefix + name + ".")

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield ``(dotted_name, Parameter)`` for every parameter, each shared one only once."""
        seen: set[int] = set()
        for name, p in self._walk_parameters(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _walk_parameters(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child._walk_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.data.size for p in self.parameters())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad[...] = 0

    def train(self, mode: bool = True) -> "Module":
        self.training = mode
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    @contextmanager
    def evaluating(self) -> Iterator["Module"]:
        """``with model.evaluating(): ...`` runs the block in eval mode (no dropout) and puts
        back the mode the model had before, even if the block raises."""
        was_training = self.training
        self.eval()
        try:
            yield self
        finally:
            self.train(was_training)

    # ---- saving and loading -------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters; names, shapes must match exactly (dtype is cast)."""
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(f"state dict does not match {type(self).__name__}: "
                           f"missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}")
        for name, p in own.items():
            value = np.asarray(state[name])
            if value.shape != p.data.shape:
                raise ValueError(f"parameter {name!r}: expected shape {p.data.shape}, "
                                 f"got {value.shape}")
            p.data[...] = value
