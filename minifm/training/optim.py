"""Optimizers, parameter groups, the learning-rate schedule and gradient clipping.

Everything here works in place on ``Parameter.data`` using ``Parameter.grad``, in the parameters'
own dtype (float32 for training), with in-place ufuncs and one reusable scratch buffer instead of a
fresh temporary per operation.

    groups = param_groups(model, weight_decay=0.1)     # decay matrices, not biases/LN/embeddings
    opt = AdamW(groups, lr=1e-3, betas=(0.9, 0.99))
    for step in range(steps):
        model.zero_grad(); _, loss = model(x, y); model.backward()
        clip_grad_norm(model.parameters(), max_norm=1.0)
        opt.lr = cosine_with_warmup(step, 1e-3, 1e-4, warmup_steps=100, total_steps=steps)
        opt.step()

A *parameter group* is a dict ``{"params": [Parameter, ...], "weight_decay": float}`` that may also
carry its own ``"lr"`` (a fixed learning rate that ``opt.lr`` then does not change) and ``"names"``
(the parameters' dotted names, for reading only). The update rules and their results match
``torch.optim.SGD`` and ``torch.optim.AdamW`` (tests/parity/test_optim_parity.py).
"""

from __future__ import annotations

import math
from typing import Iterable, Iterator

import numpy as np

from minifm.nn.embedding import Embedding
from minifm.nn.layernorm import LayerNorm
from minifm.nn.module import Module, Parameter

_GROUP_KEYS = {"params", "lr", "weight_decay", "names"}


def _check_lr(lr: float) -> float:
    if not (lr >= 0 and math.isfinite(lr)):
        raise ValueError(f"learning rate must be a finite number >= 0, got {lr}")
    return float(lr)


def param_groups(model: Module, weight_decay: float) -> list[dict]:
    """Split a model's parameters into a decayed and a non-decayed group.

    Decayed: every parameter with two or more dimensions (the weight matrices of Linear layers and
    similar) that is not owned by an ``Embedding`` or ``LayerNorm``. Not decayed: biases (any
    parameter named ``bias``), LayerNorm scales and shifts, embedding tables and other 0-D/1-D
    parameters. Shrinking those towards zero does not regularise anything useful (a LayerNorm
    scale of 0 kills its output; an embedding row is only decayed on the steps it is not used).

    Returns ``[{"params", "names", "weight_decay": weight_decay},
    {"params", "names", "weight_decay": 0.0}]``; each parameter (tied ones too) appears once.
    """
    exempt = set()                  # ids of parameters owned by an Embedding or a LayerNorm
    for _, module in model.named_modules():
        if isinstance(module, (Embedding, LayerNorm)):
            exempt.update(id(p) for p in vars(module).values() if isinstance(p, Parameter))
    decay: dict = {"params": [], "names": [], "weight_decay": float(weight_decay)}
    no_decay: dict = {"params": [], "names": [], "weight_decay": 0.0}
    for name, p in model.named_parameters():
        is_matrix = p.data.ndim >= 2 and id(p) not in exempt and name.rsplit(".", 1)[-1] != "bias"
        group = decay if is_matrix else no_decay
        group["params"].append(p)
        group["names"].append(name)
    return [decay, no_decay]


class Optimizer:
    """What SGD and AdamW share: parameter groups, a step counter, a settable ``lr``, scratch space.

    ``params`` is either an iterable of ``Parameter`` (one group) or a list of group dicts.
    ``lr`` is the learning rate of every group that does not fix its own; set it before each
    ``step()`` to follow a schedule.
    """

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], lr: float,
                 weight_decay: float):
        params = list(params)
        if not params:
            raise ValueError("the optimizer got no parameters")
        if all(isinstance(p, Parameter) for p in params):
            params = [{"params": params}]
        self.param_groups: list[dict] = []
        seen: set[int] = set()
        for i, group in enumerate(params):
            if not isinstance(group, dict):
                raise TypeError(f"expected Parameters or parameter-group dicts, got "
                                f"{type(group).__name__} at position {i}")
            unknown = set(group) - _GROUP_KEYS
            if unknown:
                raise ValueError(f"parameter group {i} has unknown keys {sorted(unknown)}; "
                                 f"allowed keys are {sorted(_GROUP_KEYS)}")
            group = {**group, "params": list(group["params"]),
                     "weight_decay": float(group.get("weight_decay", weight_decay))}
            if "lr" in group:
                group["lr"] = _check_lr(group["lr"])
            for p in group["params"]:
                if not isinstance(p, Parameter):
                    raise TypeError(f"parameter group {i} holds a {type(p).__name__}, "
                                    "expected Parameter")
                if id(p) in seen:
                    raise ValueError(f"a parameter of shape {p.shape} appears twice in the "
                                     "parameter groups")
                seen.add(id(p))
            self.param_groups.append(group)
        self.lr = lr
        self.step_count = 0             # number of step() calls so far
        sizes: dict[np.dtype, int] = {}     # largest parameter per dtype, for the scratch buffers
        for p in self.parameters():
            sizes[p.data.dtype] = max(sizes.get(p.data.dtype, 0), p.data.size)
        self._scratch = {dtype: np.empty(size, dtype=dtype) for dtype, size in sizes.items()}

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _check_lr(value)

    def parameters(self) -> list[Parameter]:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0 (a flat loop: no walk over the module tree)."""
        for p in self.parameters():
            p.grad[...] = 0

    def _each(self) -> Iterator[tuple[Parameter, float, float]]:
        """Yield ``(param, lr, weight_decay)`` for every parameter, in group order."""
        for group in self.param_groups:
            for p in group["params"]:
                yield p, group.get("lr", self.lr), group["weight_decay"]

    def _tmp(self, p: Parameter) -> np.ndarray:
        """A scratch array shaped like ``p`` (a view into one buffer reused across steps)."""
        return self._scratch[p.data.dtype][:p.data.size].reshape(p.data.shape)

    # ---- checkpoints ------------------------------------------------------------------------
    def _buffers(self) -> dict[str, list[np.ndarray]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray | int]:
        """``{"step": int, "<buffer>/<i>": array, ...}`` with ``i`` the parameter's position
        across the groups (the optimizer must be rebuilt with the same groups to load it)."""
        state: dict[str, np.ndarray | int] = {"step": self.step_count}
        for name, arrays in self._buffers().items():
            for i, a in enumerate(arrays):
                state[f"{name}/{i}"] = a.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray | int]) -> None:
        """Restore what ``state_dict`` returned (arrays are copied in, keeping their dtype)."""
        expected = {"step"} | {f"{name}/{i}" for name, arrays in self._buffers().items()
                               for i in range(len(arrays))}
        if set(state) != expected:
            missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
            raise ValueError(f"optimizer state does not match {type(self).__name__} with "
                             f"{len(self.parameters())} parameters: missing "
                             f"{missing or 'nothing'}, unexpected {unexpected or 'nothing'}")
        pairs = [(a, np.asarray(state[f"{name}/{i}"]), f"{name}/{i}")
                 for name, arrays in self._buffers().items() for i, a in enumerate(arrays)]
        for a, value, key in pairs:                 # check everything before changing anything
            if value.shape != a.shape:
                raise ValueError(f"optimizer state {key}: expected shape {a.shape}, "
                                 f"got {value.shape}")
        for a, value, _ in pairs:
            a[...] = value
        self.step_count = int(state["step"])


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``.

        g = grad + weight_decay * p          (L2 penalty added to the gradient, *not* decoupled)
        buf = momentum * buf + g             (buf starts at 0, so the first buf is g)
        p = p - lr * buf                     (without momentum: p = p - lr * g)
    """

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], lr: float,
                 momentum: float = 0.0, weight_decay: float = 0.0):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        super().__init__(params, lr, weight_decay)
        self.momentum = float(momentum)
        self.velocity = [np.zeros_like(p.data) for p in self.parameters()] if momentum else []

    def _buffers(self) -> dict[str, list[np.ndarray]]:
        return {"velocity": self.velocity}

    def step(self) -> None:
        """Update every parameter in place from its ``.grad``."""
        for i, (p, lr, wd) in enumerate(self._each()):
            g, tmp = p.grad, self._tmp(p)
            if wd:
                np.multiply(p.data, wd, out=tmp)
                tmp += g
                g = tmp                                 # g = grad + wd * p
            if self.momentum:
                buf = self.velocity[i]
                buf *= self.momentum
                buf += g
                g = buf                                 # buf = momentum * buf + g
            np.multiply(g, lr, out=tmp)
            p.data -= tmp                               # p = p - lr * g
        self.step_count += 1


class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
    Regularization", ICLR 2019, Algorithm 2), in the form ``torch.optim.AdamW`` computes:

        p = p * (1 - lr * weight_decay)                  (decay acts on p, not on the gradient)
        m = beta1 * m + (1 - beta1) * g                  (first moment)
        v = beta2 * v + (1 - beta2) * g^2                (second moment)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    with t = 1, 2, ... the step number; the two ``1 - beta^t`` factors undo the bias of starting
    m and v at zero (Kingma & Ba, "Adam", ICLR 2015, Sec. 3).
    """

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01):
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps = float(eps)
        self.exp_avg = [np.zeros_like(p.data) for p in self.parameters()]        # m
        self.exp_avg_sq = [np.zeros_like(p.data) for p in self.parameters()]     # v

    def _buffers(self) -> dict[str, list[np.ndarray]]:
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def step(self) -> None:
        """Update every parameter in place from its ``.grad``."""
        self.step_count += 1
        t, beta1, beta2 = self.step_count, self.beta1, self.beta2
        bias_correction1 = 1 - beta1 ** t
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** t)
        for i, (p, lr, wd) in enumerate(self._each()):
            m, v, g, tmp = self.exp_avg[i], self.exp_avg_sq[i], p.grad, self._tmp(p)
            if wd:
                p.data *= 1 - lr * wd                   # decoupled weight decay
            m *= beta1
            np.multiply(g, 1 - beta1, out=tmp)
            m += tmp                                    # m = beta1 m + (1 - beta1) g
            v *= beta2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - beta2
            v += tmp                                    # v = beta2 v + (1 - beta2) g^2
            np.sqrt(v, out=tmp)
            tmp /= bias_correction2_sqrt
            tmp += self.eps                             # denom = sqrt(v_hat) + eps
            np.divide(m, tmp, out=tmp)
            tmp *= lr / bias_correction1
            p.data -= tmp                               # p -= lr m_hat / denom


def cosine_with_warmup(step: int, max_lr: float, min_lr: float, warmup_steps: int,
                       total_steps: int) -> float:
    """The learning rate for 0-based ``step``: linear warmup, cosine decay, then a floor.

    The same schedule as nanoGPT's ``get_lr`` (cosine decay from SGDR, Loshchilov & Hutter 2017):

        step <  warmup_steps:               max_lr * (step + 1) / (warmup_steps + 1)
        warmup_steps <= step < total_steps: min_lr + (max_lr - min_lr) * (1 + cos(pi * r)) / 2,
                                            r = (step - warmup_steps) / (total_steps - warmup_steps)
        step >= total_steps:                min_lr

    Warmup never returns 0 (the first step already moves) and ends just below ``max_lr``; the
    cosine starts at exactly ``max_lr`` on step ``warmup_steps`` and would reach ``min_lr`` on step
    ``total_steps``.
    """
    if step < 0 or warmup_steps < 0 or total_steps < 0:
        raise ValueError(f"step, warmup_steps and total_steps must be >= 0, got {step}, "
                         f"{warmup_steps}, {total_steps}")
    if step < warmup_steps:
        return max_lr * (step + 1) / (warmup_steps + 1)
    if step >= total_steps:
        return min_lr
    r = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * r))


def global_grad_norm(params: Iterable[Parameter]) -> float:
    """The L2 norm of all gradients taken together, ``sqrt(sum over p of sum(p.grad ** 2))``."""
    return math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params))


def clip_grad_norm(params: Iterable[Parameter], max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: with ``norm = global_grad_norm(params)`` every gradient
    is multiplied by ``max_norm / (norm + 1e-6)`` when that factor is below 1 (the 1e-6 guards a
    zero norm). The direction of the update is kept; only its length is capped. Returns the norm
    *before* clipping (inf or nan if a gradient is not finite; then nothing is scaled).
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    params = list(params)
    norm = global_grad_norm(params)
    scale = max_norm / (norm + 1e-6)
    if scale < 1.0:
        for p in params:
            p.grad *= scale
    return norm
