"""A PyTorch twin of ``minifm.models.gpt.GPT``: the same architecture, names and weights, so the
benchmarks compare equal work. torch is used here and in tests/parity only, never in minifm.

Dimensions: B batch, T time, C width, H heads, D head size (C = H * D), V vocabulary.

    x = wte[idx] + wpe[0..T-1]  -> dropout -> L pre-LN blocks -> ln_f -> logits = x @ wte^T
    block: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)),  GELU in its tanh form (GPT-2)

Written the way nanoGPT's ``model.py`` runs on a CPU: ``F.scaled_dot_product_attention`` with
``is_causal=True`` and ``F.cross_entropy``, in eager mode. Two layout differences from minifm:
``nn.Linear`` stores its weight (out, in), the transpose of minifm's (in, out), and the LayerNorm
uses PyTorch's kernel. ``from_minifm`` copies a minifm model's weights in, so both start from the
same initialisation; ``twin_param_groups`` splits the parameters as ``minifm.training.optim.param_groups``.
tests/parity/test_gpt_torch_twin.py checks loss and every gradient against minifm in float64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TwinAttention(nn.Module):
    """Causal multi-head self-attention with a fused q|k|v projection, as minifm's."""

    def __init__(self, C: int, n_head: int, dropout: float, bias: bool):
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.c_attn = nn.Linear(C, 3 * C, bias=bias)
        self.c_proj = nn.Linear(C, C, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        H = self.n_head
        qkv = self.c_attn(x).view(B, T, 3, H, C // H)                # (B, T, 3C) -> (B, T, 3, H, D)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)                         # -> 3 x (B, H, T, D)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(B, T, C)                       # (B, H, T, D) -> (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class TwinBlock(nn.Module):
    """Pre-LN transformer block with GPT-2's child names."""

    def __init__(self, C: int, n_head: int, dropout: float, bias: bool):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.attn = TwinAttention(C, n_head, dropout, bias)
        self.ln_2 = nn.LayerNorm(C)
        self.mlp = nn.Sequential()                                   # named c_fc, gelu, c_proj
        self.mlp.add_module("c_fc", nn.Linear(C, 4 * C, bias=bias))
        self.mlp.add_module("gelu", nn.GELU(approximate="tanh"))
        self.mlp.add_module("c_proj", nn.Linear(4 * C, C, bias=bias))
        self.mlp.add_module("dropout", nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TwinGPT(nn.Module):
    """The twin of ``minifm.models.gpt.GPT(config)``; ``logits, loss = twin(idx, targets)``."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        C = config.n_embd
        self.wte = nn.Embedding(config.vocab_size, C)
        self.wpe = nn.Embedding(config.context_length, C)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList(TwinBlock(C, config.n_head, config.dropout, config.bias)
                               for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(C)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx, targets: (B, T) int64. Returns logits (B, T, V) and the mean loss (or None)."""
        T = idx.shape[1]
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(T)))     # (B, T, C)
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)             # tied head: (B, T, V)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, generator: torch.Generator
                 ) -> torch.Tensor:
        """Sample ``max_new_tokens`` tokens after idx (B, T0), as nanoGPT's ``generate``: no
        key/value cache, the context cropped to the last ``context_length`` tokens, temperature
        1. Returns (B, T0 + max_new_tokens)."""
        T_max = self.config.context_length
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -T_max:])                         # (B, <= T_max, V)
            probs = F.softmax(logits[:, -1], dim=-1)                  # (B, V)
            idx = torch.cat([idx, torch.multinomial(probs, 1, generator=generator)], dim=1)
        return idx

    @classmethod
    def from_minifm(cls, model) -> "TwinGPT":
        """A twin holding a copy of ``model``'s weights, in ``model``'s dtype."""
        twin = cls(model.config)
        state = {name: _to_layout(name, torch.from_numpy(p.data.copy()))
                 for name, p in model.named_parameters()}
        twin.to(state["wte.weight"].dtype).load_state_dict(state)
        return twin

    def minifm_grads(self) -> dict[str, torch.Tensor]:
        """Every parameter's gradient under minifm's name and layout (Linear weights (in, out))."""
        return {name: _to_layout(name, p.grad) for name, p in self.named_parameters()}


def _to_layout(name: str, t: torch.Tensor) -> torch.Tensor:
    """Swap a Linear weight between minifm's (in, out) and torch's (out, in); others as they are.
    Every 2-D parameter but the two embedding tables is a Linear weight."""
    return t.T if t.ndim == 2 and name not in ("wte.weight", "wpe.weight") else t


def twin_param_groups(twin: TwinGPT, weight_decay: float) -> list[dict]:
    """``minifm.training.optim.param_groups`` for the twin: decay Linear weights only, not biases,
    LayerNorms or the (tied) embedding tables."""
    decay = [m.weight for m in twin.modules() if isinstance(m, nn.Linear)]
    ids = {id(p) for p in decay}
    rest = [p for p in twin.parameters() if id(p) not in ids]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
