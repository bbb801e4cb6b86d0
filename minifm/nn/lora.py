"""LoRA: low-rank adaptation of a frozen linear layer (Hu et al. 2021, "LoRA: Low-Rank
Adaptation of Large Language Models", section 4.1).

Dimensions: x (..., C_in) -> y (..., C_out); R the rank; A (C_in, R), B (R, C_out).

A pre-trained weight W stays frozen; what fine-tuning learns is a low-rank update:

    y = x @ W + b + s * (x @ A) @ B          s = alpha / R
    A ~ N(0, 1 / C_in), B = 0                so at the start y is exactly the frozen layer's

and the backward pass (derived in the lesson) computes no gradient for W or b at all:

    dh = s * dy @ B^T                        h = x @ A, (..., R)
    dB += s * h^T @ dy      dA += x^T @ dh   (summed over every leading axis)
    dx = dy @ W^T + dh @ A^T

``merge()`` folds the update into the weight, W <- W + s * A @ B, so inference costs nothing
extra; ``unmerge()`` takes it out again (exact up to float32 round-off). ``columns`` restricts the
update to some output columns, e.g. the query and value thirds of a fused ``c_attn``: B is then
(R, len(columns)) and one A is shared by them.

    names = apply_lora(model, "*.attn.c_attn", rank=4, alpha=8, rng=rng, parts="qv")
    lora_state_dict(model)           # only lora_A / lora_B: what a fine-tuning run must save
    remove_lora(model)               # merged back: a plain model with plain Linear layers

Lesson: lessons/12_bert_at_work.md.
"""

from __future__ import annotations

import fnmatch

import numpy as np

from minifm.nn.linear import Linear
from minifm.nn.module import Module, Parameter
from minifm.validation import check_floats, check_same_shape

ADAPTER_NAMES = ("lora_A", "lora_B")


class LoRALinear(Module):
    """A ``Linear`` whose ``weight`` and ``bias`` (the very Parameter objects of the wrapped
    layer, same names) are frozen, plus trainable ``lora_A`` (C_in, R) and ``lora_B`` (R, K),
    K = C_out or the number of adapted ``columns``."""

    def __init__(self, base: Linear, rank: int, alpha: float, *, rng: np.random.Generator,
                 columns: np.ndarray | None = None):
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
            raise ValueError(f"LoRA rank must be an integer >= 1, got {rank!r}")
        if not alpha > 0:
            raise ValueError(f"LoRA alpha must be > 0, got {alpha!r}")
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        dtype = base.weight.data.dtype
        self.columns = np.arange(self.out_features) if columns is None else np.asarray(columns)
        self.rank, self.alpha, self.scale = int(rank), float(alpha), float(alpha) / int(rank)
        self.lora_A = Parameter((rng.standard_normal((self.in_features, self.rank))
                                 / np.sqrt(self.in_features)).astype(dtype))
        self.lora_B = Parameter(np.zeros((self.rank, len(self.columns)), dtype=dtype))
        self.merged = False

    def delta(self) -> np.ndarray:
        """The update s * A @ B spread over the adapted columns: (C_in, C_out)."""
        full = np.zeros_like(self.weight.data)
        full[:, self.columns] = self.scale * (self.lora_A.data @ self.lora_B.data)
        return full

    def merge(self) -> None:
        """W <- W + s * A @ B; the forward then is the plain linear layer."""
        if self.merged:
            raise RuntimeError("this LoRA layer is already merged")
        self.weight.data += self.delta()
        self.merged = True

    def unmerge(self) -> None:
        """W <- W - s * A @ B, undoing ``merge`` (up to float round-off)."""
        if not self.merged:
            raise RuntimeError("this LoRA layer is not merged")
        self.weight.data -= self.delta()
        self.merged = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (..., C_in) in the layer's dtype -> (..., C_out)."""
        check_floats(x, "LoRALinear input x", dtype=self.weight.data.dtype,
                     last_dim=self.in_features, axes=f"(..., C_in={self.in_features})")
        y = x @ self.weight.data                        # (..., C_in) @ (C_in, C_out)
        if self.bias is not None:
            y += self.bias.data
        if self.merged:                                 # W already holds the update
            self._cache = (x, None)
            return y
        h = x @ self.lora_A.data                        # (..., C_in) @ (C_in, R) -> (..., R)
        y[..., self.columns] += self.scale * (h @ self.lora_B.data)   # (..., R) @ (R, K)
        self._cache = (x, h)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout (..., C_out) -> dx (..., C_in); adds into lora_A.grad and lora_B.grad only."""
        x, h = self._pop_cache()
        if h is None:
            raise RuntimeError("a merged LoRA layer is for inference: unmerge() before training")
        check_same_shape(dout, (*x.shape[:-1], self.out_features), "LoRALinear dout")
        R = self.rank
        dy = dout[..., self.columns]                    # (..., K)
        # fwd: y[..., cols] += s * h @ B  =>  dh = s * dy @ B^T,  dB += s * h^T @ dy
        dh = self.scale * (dy @ self.lora_B.data.T)     # (..., K) @ (K, R) -> (..., R)
        self.lora_B.grad += self.scale * (h.reshape(-1, R).T @ dy.reshape(-1, len(self.columns)))
        # fwd: h = x @ A  =>  dA += x^T @ dh,  dx gets dh @ A^T;  fwd: y = x @ W  =>  dx = dy @ W^T
        self.lora_A.grad += x.reshape(-1, self.in_features).T @ dh.reshape(-1, R)
        return dout @ self.weight.data.T + dh @ self.lora_A.data.T

    def as_linear(self) -> Linear:
        """A plain ``Linear`` holding this layer's (merged) weight and bias Parameters."""
        if not self.merged:
            raise RuntimeError("merge() before turning a LoRA layer into a plain Linear")
        plain = Linear(self.in_features, self.out_features, self.bias is not None,
                       rng=np.random.default_rng(0), dtype=self.weight.data.dtype)
        plain.weight, plain.bias = self.weight, self.bias      # the random init is discarded
        return plain

    def __repr__(self) -> str:
        return (f"LoRALinear({self.in_features}, {self.out_features}, rank={self.rank}, "
                f"alpha={self.alpha}, columns={len(self.columns)}, merged={self.merged})")


# ---- a model's LoRA layers -----------------------------------------------------------------------
def _set_child(model: Module, dotted: str, new: Module) -> None:
    """Replace the module at ``dotted`` ("bert.h.0.attn.c_attn") inside ``model``."""
    *path, last = dotted.split(".")
    parent: object = model
    for part in path:
        parent = parent[int(part)] if isinstance(parent, list) else getattr(parent, part)
    if isinstance(parent, list):
        parent[int(last)] = new
    else:
        setattr(parent, last, new)


def qkv_columns(n_embd: int, parts: str) -> np.ndarray:
    """The output columns of a fused (C, 3C) ``c_attn`` that belong to ``parts`` ("q", "k", "v",
    in any combination: "qv" is the paper's choice, section 7.1)."""
    if not parts or set(parts) - set("qkv"):
        raise ValueError(f"parts must be letters of 'qkv', got {parts!r}")
    order = sorted(set(parts), key="qkv".index)
    return np.concatenate([np.arange(n_embd) + "qkv".index(p) * n_embd for p in order])


def apply_lora(model: Module, pattern: str, rank: int, alpha: float, *, rng: np.random.Generator,
               parts: str | None = None) -> list[str]:
    """Wrap every ``Linear`` of ``model`` whose dotted name matches ``pattern`` (fnmatch, e.g.
    "*.attn.c_attn" or "*.h.*") in a ``LoRALinear``; with ``parts`` (see ``qkv_columns``) the
    wrapped layers must be fused (C, 3C) projections and only those columns are adapted.
    Returns the wrapped names; no match is an error."""
    names = [n for n, m in model.named_modules()
             if type(m) is Linear and fnmatch.fnmatchcase(n, pattern)]
    if not names:
        raise ValueError(f"no Linear layer of {type(model).__name__} matches {pattern!r}")
    modules = dict(model.named_modules())
    for name in names:
        base = modules[name]
        columns = None
        if parts is not None:
            if base.out_features != 3 * base.in_features:
                raise ValueError(f"parts={parts!r} needs a fused (C, 3C) projection, but {name} "
                                 f"is ({base.in_features}, {base.out_features})")
            columns = qkv_columns(base.in_features, parts)
        _set_child(model, name, LoRALinear(base, rank, alpha, rng=rng, columns=columns))
    return names


def lora_layers(model: Module) -> dict[str, LoRALinear]:
    """Every LoRA layer of ``model`` by dotted name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def is_adapter(name: str) -> bool:
    """Whether a parameter name is a LoRA adapter's (``...lora_A`` / ``...lora_B``)."""
    return name.rsplit(".", 1)[-1] in ADAPTER_NAMES


def lora_state_dict(model: Module) -> dict[str, np.ndarray]:
    """Only the adapters: {"<layer>.lora_A": (C_in, R), "<layer>.lora_B": (R, K), ...}."""
    return {n: p.data for n, p in model.named_parameters() if is_adapter(n)}


def load_lora_state_dict(model: Module, state: dict[str, np.ndarray]) -> None:
    """Copy saved adapters into a model with the same LoRA layers (names and shapes must match)."""
    own = {n: p for n, p in model.named_parameters() if is_adapter(n)}
    if set(own) != set(state):
        raise KeyError(f"adapters do not match: missing {sorted(set(own) - set(state)) or 'none'},"
                       f" unexpected {sorted(set(state) - set(own)) or 'none'}")
    for name, p in own.items():
        if np.shape(state[name]) != p.shape:
            raise ValueError(f"adapter {name!r}: expected shape {p.shape}, got "
                             f"{np.shape(state[name])}")
        p.data[...] = state[name]


def remove_lora(model: Module) -> None:
    """Merge every LoRA layer and put a plain ``Linear`` in its place: afterwards ``model`` has
    exactly the parameters (names and shapes) of the model before ``apply_lora``."""
    for name, layer in lora_layers(model).items():
        if not layer.merged:
            layer.merge()
        _set_child(model, name, layer.as_linear())
