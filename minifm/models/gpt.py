"""GPT: a decoder-only transformer language model (Radford et al. 2018, 2019; Brown et al. 2020).

Dimensions: B batch, T time, C width (n_embd), H heads, V vocabulary, L layers (n_layer).

    x = wte[idx] + wpe[0..T-1]                        token + learned position embeddings (B, T, C)
    x = dropout(x)
    x = h.0(x), ..., h.{L-1}(x)                       pre-LN causal transformer blocks
    x = ln_f(x)
    logits = x @ wte^T                                the output head is tied to wte (B, T, V)
    loss = cross_entropy(logits, targets)             mean over the B*T positions

Because the head reuses ``wte.weight``, its gradient is *added* to the embedding's own: the
two uses of one matrix sum, which is all weight tying needs (Press & Wolf 2017).

Generation (``generate``) predicts one token at a time; with ``use_cache=True`` each block keeps
the keys and values of past positions (a KV cache) so a step costs one position, not T.

Lesson: lessons/08_gpt.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from minifm.functional.losses import cross_entropy_backward, cross_entropy_forward
from minifm.nn.attention import KVCache
from minifm.nn.dropout import Dropout
from minifm.nn.embedding import Embedding
from minifm.nn.layernorm import LayerNorm
from minifm.nn.module import Module
from minifm.nn.transformer import TransformerBlock
from minifm.sampling import check_sampling, sample
from minifm.validation import check_context_length, check_ids


@dataclass(frozen=True)
class GPTConfig:
    """GPT hyperparameters; the defaults are a classroom model (~0.1M parameters)."""

    vocab_size: int = 65          # V: 65 is the character set of tiny Shakespeare
    context_length: int = 32          # the longest context (T max): rows of wpe
    n_layer: int = 2              # L transformer blocks
    n_head: int = 2               # H attention heads per block
    n_embd: int = 64              # C model width; head size D = C / H, MLP width F = 4C
    dropout: float = 0.0          # on embeddings, attention probabilities and residual branches
    bias: bool = True             # biases in the Linear layers (LayerNorms always have one)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"GPTConfig: n_embd={self.n_embd} must be divisible by "
                             f"n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout}")


PRESETS: dict[str, GPTConfig] = {
    # GPT-2 small (Radford et al. 2019): 124M parameters, the GPT-2 byte-level BPE vocabulary
    "gpt2": GPTConfig(vocab_size=50257, context_length=1024, n_layer=12, n_head=12, n_embd=768,
                      dropout=0.1),
    # GPT-3 175B (Brown et al. 2020, Table 2.1): counted, never allocated (~700 GB in float32)
    "gpt3-175b": GPTConfig(vocab_size=50257, context_length=2048, n_layer=96, n_head=96,
                           n_embd=12288, dropout=0.1),
    # nanoGPT's "baby GPT" for a CPU, on tiny Shakespeare's 65 characters
    "baby": GPTConfig(vocab_size=65, context_length=64, n_layer=4, n_head=4, n_embd=128),
    # small enough to train in seconds in a classroom
    "classroom": GPTConfig(),
}


def count_params(config: GPTConfig) -> int:
    """The number of parameters of ``GPT(config)``, from the formula (nothing is allocated).

    Per block: ln_1 and ln_2 (2C each), attn.c_attn (C x 3C + 3C), attn.c_proj (C x C + C),
    mlp.c_fc (C x 4C + 4C), mlp.c_proj (4C x C + C): 12 C^2 + 13 C with biases, 12 C^2 + 4 C
    without. Plus wte (V x C, shared with the output head, so counted once), wpe (context_length x C)
    and ln_f (2C). GPT-2 small: 124,439,808.
    """
    C, L = config.n_embd, config.n_layer
    linear_biases = 3 * C + C + 4 * C + C if config.bias else 0
    per_block = 2 * C + (C * 3 * C) + (C * C) + 2 * C + (C * 4 * C) + (4 * C * C) + linear_biases
    return config.vocab_size * C + config.context_length * C + L * per_block + 2 * C


class GPT(Module):
    """Decoder-only transformer LM. Children: ``wte``, ``wpe``, ``drop``, ``h.{i}``, ``ln_f``.

    ``logits, loss = model(idx, targets)`` then ``model.backward()``.
    """

    def __init__(self, config: GPTConfig, *, rng: np.random.Generator, dtype: type = np.float32):
        self.config = config
        C, L = config.n_embd, config.n_layer
        self.wte = Embedding(config.vocab_size, C, rng=rng, dtype=dtype)
        self.wpe = Embedding(config.context_length, C, rng=rng, dtype=dtype)
        self.drop = Dropout(config.dropout, rng=rng)
        self.h = [TransformerBlock(C, config.n_head, 4 * C, causal=True, norm_first=True,
                                   dropout=config.dropout, bias=config.bias, rng=rng, dtype=dtype)
                  for _ in range(L)]
        self.ln_f = LayerNorm(C, dtype=dtype)
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2 initialisation (Radford et al. 2019, section 2.3). Linear and Embedding already
        start at N(0, 0.02^2) with zero biases, LayerNorm at gain 1 and shift 0. The residual
        projections (attn.c_proj, mlp.c_proj) are scaled by 1/sqrt(2L): the residual stream is a
        sum of 2L such branches, and this keeps its variance from growing with depth."""
        scale = 1.0 / math.sqrt(2 * self.config.n_layer)
        for block in self.h:
            block.attn.c_proj.weight.data *= scale
            block.mlp.c_proj.weight.data *= scale

    # ---- training forward and backward -----------------------------------------------------------
    def _check_ids(self, idx: np.ndarray, what: str) -> None:
        check_ids(idx, what, vocab_size=self.config.vocab_size, ndim=2, axes="(B, T)")

    def forward(self, idx: np.ndarray, targets: np.ndarray | None = None
                ) -> tuple[np.ndarray, float | None]:
        """idx: (B, T) int ids with T <= context_length; targets: optional (B, T) int next-token
        ids (or IGNORE_INDEX to skip a position). Returns logits (B, T, V) and the mean loss (None
        without targets)."""
        x = self.hidden(idx)                                  # (B, T) -> (B, T, C)
        B, T, C = x.shape
        # one 2-D product (see functional/linear.py): (BT, C) @ (C, V) -> (BT, V) -> (B, T, V)
        logits = (x.reshape(B * T, C) @ self.wte.weight.data.T).reshape(B, T, -1)
        loss, ce_cache = None, None
        if targets is not None:
            loss, ce_cache = cross_entropy_forward(logits, targets)
        self._cache = (x, ce_cache)
        return logits, loss

    def backward(self) -> None:
        """Gradient of the last forward's loss; ADDS into every parameter's .grad."""
        x, ce_cache = self._pop_cache()
        if ce_cache is None:
            raise RuntimeError("GPT.backward() needs a loss: call model(idx, targets) with targets")
        B, T, C = x.shape
        # fwd: loss = cross_entropy(logits, targets)  =>  dlogits = (softmax - onehot) / N
        dlogits = cross_entropy_backward(1.0, ce_cache).reshape(B * T, -1)   # (B, T, V) -> (BT, V)
        # fwd: logits = x @ wte^T  =>  dx = dlogits @ wte,  dwte += dlogits^T @ x (the tied head)
        wte = self.wte.weight
        wte.grad += dlogits.T @ x.reshape(B * T, C)           # (V, BT) @ (BT, C) -> (V, C)
        self.backward_hidden((dlogits @ wte.data).reshape(B, T, C))   # (BT, V) @ (V, C)

    # ---- the trunk: what every head on top of GPT shares -----------------------------------------
    def hidden(self, idx: np.ndarray) -> np.ndarray:
        """The trunk without a head: ids (B, T) -> final hidden states (B, T, C), after ln_f.

        Caches what ``backward_hidden`` needs. The LM head above, the text-to-image model's
        image head and any other head read these states; each hands its gradient with respect
        to them to ``backward_hidden``.
        """
        self._check_ids(idx, "idx")
        B, T = idx.shape
        check_context_length(T, self.config.context_length)
        tok = self.wte(idx)                                   # (B, T) -> (B, T, C)
        pos = self.wpe(np.arange(T))                          # (T,) -> (T, C)
        x = self.drop(tok + pos)                              # (B, T, C)
        for block in self.h:
            x = block(x)
        return self.ln_f(x)

    def backward_hidden(self, dx: np.ndarray) -> None:
        """dx: (B, T, C), the loss's gradient with respect to ``hidden``'s output. Runs the
        trunk backward in reverse order and ADDS into every trunk parameter's .grad (a head that
        reuses ``wte`` adds its own share to ``wte.grad`` separately)."""
        dx = self.ln_f.backward(dx)
        for block in reversed(self.h):
            dx = block.backward(dx)
        dx = self.drop.backward(dx)
        # fwd: x = tok + pos  =>  dtok = dx,  dpos = dx summed over the batch (broadcast)
        self.wpe.backward(dx.sum(axis=0))                     # (B, T, C) -> (T, C)
        self.wte.backward(dx)

    def hidden_cached(self, idx: np.ndarray, caches: list[KVCache]) -> np.ndarray:
        """Final hidden state (B, C) of the last of the new tokens idx (B, Tn), which follow the
        ``caches[0].length`` positions already in every block's KV cache (generation only)."""
        start, Tn = caches[0].length, idx.shape[1]
        x = self.wte(idx) + self.wpe(np.arange(start, start + Tn))   # (B, Tn, C)
        for block, cache in zip(self.h, caches):
            x = block.forward_cached(x, cache)
        return self.ln_f(x[:, -1])                            # (B, Tn, C) -> (B, C)

    # ---- generation ------------------------------------------------------------------------------
    def _logits_cached(self, idx: np.ndarray, caches: list[KVCache]) -> np.ndarray:
        """Last-position logits (B, V) after feeding the new tokens idx (B, Tn) through the
        KV caches (see ``hidden_cached``)."""
        return self.hidden_cached(idx, caches) @ self.wte.weight.data.T   # (B, C) @ (C, V)

    def generate(self, idx: np.ndarray, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None,
                 rng: np.random.Generator | None = None, use_cache: bool = True,
                 return_logits: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Append ``max_new_tokens`` sampled tokens to each prompt row; runs in eval mode.

        idx: (B, T0) int prompt ids, T0 >= 1. Sampling: see ``minifm.sampling.sample``
        (temperature 0 = greedy; ``rng`` defaults to a fresh unseeded generator).
        Returns (B, T0 + max_new_tokens) ids, prompt included; with ``return_logits`` also the
        raw logits that chose each new token, (B, max_new_tokens, V).

        Context window: the model sees at most context_length tokens, so a longer prompt is cropped
        to its last context_length tokens, and once the text outgrows the window it slides (the
        oldest token drops out). Without the cache every step runs ``forward`` on the window.
        With the cache, steps feed one token while the window still grows; once it is full, a
        sliding window changes every token's position, so the cached keys and values are stale:
        each such step empties the cache and refills it from the cropped window (the same work
        as the uncached step). Both paths give the same logits.
        """
        self._check_ids(idx, "the prompt")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) \
                or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        rng = rng if rng is not None else np.random.default_rng()
        check_sampling(rng, temperature, top_k, top_p)
        T_max = self.config.context_length
        B = idx.shape[0]
        seq = np.empty((B, idx.shape[1] + max_new_tokens), dtype=np.int64)
        seq[:, :idx.shape[1]] = idx
        caches = [block.attn.new_cache(B, T_max) for block in self.h] if use_cache else []
        all_logits = []
        with self.evaluating():
            for t in range(idx.shape[1], seq.shape[1]):
                window = seq[:, max(0, t - T_max):t]          # (B, <= context_length) context
                if not use_cache:
                    logits = self.forward(window)[0][:, -1]   # (B, T, V) -> (B, V)
                elif caches[0].length == t - 1 and t <= T_max:   # cache: all but the newest
                    logits = self._logits_cached(window[:, -1:], caches)
                else:                                         # first step, or the window slid
                    for cache in caches:
                        cache.reset()
                    logits = self._logits_cached(window, caches)
                seq[:, t] = sample(logits, rng, temperature, top_k, top_p)
                if return_logits:
                    all_logits.append(logits)
        if not return_logits:
            return seq
        V = self.config.vocab_size
        stacked = (np.stack(all_logits, axis=1) if all_logits
                   else np.empty((B, 0, V), dtype=self.wte.weight.data.dtype))
        return seq, stacked                                   # (B, T_new, V)
