"""The exercises of lessons 1-6: the pairs every transformer is made of.

Each exercise's inputs come from a fixed seed, chosen so that the library's own pair passes with
a margin of 50x or more below the gradient bound (1e-7). A correct pair differs from the library's
only by rounding, so it passes too; with other seeds a gradient entry can happen to be ~1e-4,
where the round-off of central differences (~1e-11 absolute) alone is a relative error near 1e-7.
Dimension letters as in the library: B batch, H heads, T time, D head size, C width, V rows.
"""

from __future__ import annotations

import numpy as np

from minifm.exercises.kinds import Exercise
from minifm.functional.activations import gelu_backward, gelu_forward
from minifm.functional.attention import attention_backward, attention_forward
from minifm.functional.embedding import embedding_backward, embedding_forward
from minifm.functional.layernorm import layernorm_backward, layernorm_forward
from minifm.functional.linear import linear_backward, linear_forward
from minifm.functional.losses import cross_entropy_backward, cross_entropy_forward
from minifm.functional.softmax import softmax_backward, softmax_forward


def _causal_with_padding(T: int) -> np.ndarray:
    """(T, T) bool, True = may attend: causal, and key 0 is padding (a left-padded sequence).

    Query 0 may attend only to key 0, which is padding, so row 0 has no allowed key at all: a
    forward without the fully-masked-row guard, or one that ignores ``allowed`` and builds its
    own causal mask, computes a different row 0 and fails the forward comparison."""
    real_key = np.arange(T) > 0                                   # (T,): key 0 is padding
    return np.tril(np.ones((T, T), dtype=bool)) & real_key        # (T, T) & (T,) -> (T, T)


def _qkv(rng: np.random.Generator, T: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    B, H, D = 2, 2, 4
    return tuple(rng.standard_normal((B, H, T, D)) for _ in range(3))


def _gelu_input(rng: np.random.Generator) -> tuple[np.ndarray]:
    """x in [-2.5, -1.5] or [-0.3, 2.5]: away from x ~ -0.75, where GELU's slope crosses 0 and a
    relative error compares two numbers that are both almost nothing."""
    x = rng.uniform(-0.3, 2.5, size=(3, 4))
    left = rng.random((3, 4)) < 0.3
    x[left] = rng.uniform(-2.5, -1.5, size=int(left.sum()))
    return (x,)


BASICS: dict[str, Exercise] = {
    "linear": Exercise(
        signature="y, cache = forward(x, w, b)   # x (N, C_in), w (C_in, C_out), b (C_out,)\n"
                  "dx, dw, db = backward(dy, cache)",
        forward=linear_forward, backward=linear_backward,
        make_inputs=lambda rng: (rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)),
                                 rng.standard_normal(5)),
        seed=11, input_names=("x", "w", "b"), grads_for=(0, 1, 2),
        lesson="lessons/02_linear_softmax_cross_entropy.md",
        note="x has two leading axes (2, 3): w and b see N = 6 rows"),
    "softmax": Exercise(
        signature="y, cache = forward(x)   # x (N, V); softmax over the last axis\n"
                  "dx = backward(dy, cache)",
        forward=softmax_forward, backward=softmax_backward,
        make_inputs=lambda rng: (rng.standard_normal((4, 5)),),
        seed=10, input_names=("x",), grads_for=(0,),
        lesson="lessons/02_linear_softmax_cross_entropy.md"),
    "cross_entropy": Exercise(
        signature="loss, cache = forward(logits, targets)   # logits (N, V), targets (N,) int\n"
                  "dlogits = backward(dloss, cache)         # loss = mean over the N rows",
        forward=cross_entropy_forward, backward=cross_entropy_backward,
        make_inputs=lambda rng: (rng.standard_normal((6, 5)), rng.integers(0, 5, size=6)),
        seed=12, input_names=("logits", "targets"), grads_for=(0,), output_name="loss",
        lesson="lessons/02_linear_softmax_cross_entropy.md",
        note="N = 6 rows: the loss is their mean, so each row's gradient carries 1/6"),
    "layernorm": Exercise(
        signature="y, cache = forward(x, gamma, beta)   # x (B, T, C), gamma, beta (C,); eps 1e-5\n"
                  "dx, dgamma, dbeta = backward(dy, cache)",
        forward=layernorm_forward, backward=layernorm_backward,
        make_inputs=lambda rng: (rng.standard_normal((2, 3, 4)),
                                 1.0 + 0.1 * rng.standard_normal(4), 0.1 * rng.standard_normal(4)),
        seed=14, input_names=("x", "gamma", "beta"), grads_for=(0, 1, 2),
        lesson="lessons/04_layer_norm.md",
        note="C = 4: each row of x is normalised over its 4 entries"),
    "gelu": Exercise(
        signature="y, cache = forward(x)   # the tanh approximation (GPT-2)\n"
                  "dx = backward(dy, cache)",
        forward=gelu_forward, backward=gelu_backward, make_inputs=_gelu_input,
        seed=2, input_names=("x",), grads_for=(0,),
        lesson="lessons/06_feedforward_gelu_residuals.md"),
    "gelu_exact": Exercise(
        signature="y, cache = forward(x)   # the exact form x * Phi(x), Phi with erf (BERT)\n"
                  "dx = backward(dy, cache)",
        forward=lambda x: gelu_forward(x, approximate="none"), backward=gelu_backward,
        make_inputs=_gelu_input, seed=1, input_names=("x",), grads_for=(0,),
        lesson="lessons/06_feedforward_gelu_residuals.md",
        reference='minifm.functional.activations.gelu_forward(x, approximate="none")'),
    "attention": Exercise(
        signature="y, cache = forward(q, k, v)   # each (B, H, T, D); softmax(q k^T / sqrt(D)) v\n"
                  "dq, dk, dv = backward(dy, cache)",
        forward=attention_forward, backward=attention_backward, make_inputs=_qkv,
        seed=13, input_names=("q", "k", "v"), grads_for=(0, 1, 2),
        lesson="lessons/05_attention.md",
        note="D = 4, so the scores are scaled by 1/sqrt(D) = 0.5"),
    "causal_attention": Exercise(
        signature="y, cache = forward(q, k, v, allowed)   # q, k, v (B, H, T, D); allowed (T, T)\n"
                  "    # bool, True = query t may attend to key s; a query with no allowed key\n"
                  "    # (a row of allowed all False) gets output 0\n"
                  "dq, dk, dv = backward(dy, cache)",
        forward=attention_forward, backward=attention_backward,
        make_inputs=lambda rng: _qkv(rng, T=4) + (_causal_with_padding(4),),
        seed=42, input_names=("q", "k", "v", "allowed"), grads_for=(0, 1, 2),
        lesson="lessons/05_attention.md",
        note="D = 4 (scale 0.5); allowed is causal with key 0 padded, so query 0 has no allowed "
             "key and its output row must be 0"),
    "embedding": Exercise(
        signature="out, cache = forward(idx, weight)   # idx (B, T) int, weight (V, C)\n"
                  "dweight = backward(dout, cache)      # an id used twice adds twice",
        forward=embedding_forward, backward=embedding_backward,
        make_inputs=lambda rng: (np.array([[1, 3, 1], [0, 3, 3]]), rng.standard_normal((5, 4))),
        seed=7, input_names=("idx", "weight"), grads_for=(1,), output_name="out",
        lesson="lessons/01_tokens_and_embeddings.md",
        note="ids 1 and 3 occur more than once (and id 2 not at all): their rows of dweight "
             "must add up every use"),
}
