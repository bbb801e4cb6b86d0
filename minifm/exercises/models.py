"""The exercises of lessons 8-11: what is new when the pieces become models.

Pairs, gradient-checked like lessons 1-6:

- ``tied_head`` (lesson 8): one matrix used twice, as GPT's wte is (embedding and output head);
- ``contrastive`` (lesson 10): CLIP's symmetric loss and its backward, the temperature included;
- ``straight_through`` (lesson 11): the VQ-VAE's quantiser with its codebook and commitment
  losses, checked against the derivative with every stop-gradient held fixed.

Functions, compared with the library on named cases:

- ``top_p`` (lesson 8): nucleus filtering of logits;
- ``kv_cache_step`` (lesson 8): one generation step of attention over cached keys and values.

BERT's masking (lesson 9) is random, so it is judged by its rules instead: see ``masking``.

Dimension letters: B batch, T time, C width, V vocabulary, H heads, D head size, N pairs,
E embedding width, P image tokens, K codebook size.
"""

from __future__ import annotations

import numpy as np

from minifm.exercises.kinds import Exercise, FunctionExercise
from minifm.functional.attention import attention_forward
from minifm.functional.embedding import embedding_backward, embedding_forward
from minifm.functional.linear import linear_backward, linear_forward
from minifm.functional.losses import contrastive_loss_backward, contrastive_loss_forward
from minifm.functional.vector_quantize import mse_backward, mse_forward, nearest_code
from minifm.sampling import softmax, top_p_filter

BETA = 0.25                     # the commitment weight of the VQ-VAE (van den Oord et al. 2017)


# ---- tied_head: logits = wte[idx] @ wte^T ------------------------------------------------------

def tied_head_forward(idx: np.ndarray, wte: np.ndarray) -> tuple[np.ndarray, tuple]:
    """idx (B, T) ints, wte (V, C) -> logits (B, T, V): embed with wte, score against wte."""
    x, embedding_cache = embedding_forward(idx, wte)             # (B, T) -> (B, T, C)
    logits, head_cache = linear_forward(x, wte.T)                # (B, T, C) @ (C, V) -> (B, T, V)
    return logits, (embedding_cache, head_cache)


def tied_head_backward(dlogits: np.ndarray, cache: tuple) -> np.ndarray:
    """dlogits (B, T, V) -> dwte (V, C): the head's share plus the embedding's share."""
    embedding_cache, head_cache = cache
    # fwd: logits = x @ wte^T  =>  dx = dlogits @ wte,  (dwte^T from the head) = x^T @ dlogits
    dx, dwte_t, _ = linear_backward(dlogits, head_cache)
    # fwd: x = wte[idx]  =>  each use of id v adds its row of dx into dwte[v]
    return dwte_t.T + embedding_backward(dx, embedding_cache)


# ---- straight_through: the VQ-VAE quantiser with its two losses --------------------------------

def straight_through_forward(z_e: np.ndarray, codebook: np.ndarray) -> tuple[np.ndarray, tuple]:
    """z_e (B, P, E), codebook (K, E) -> z_q = codebook[nearest code] (B, P, E), and the cache
    for the losses mse(e[c], sg[z_e]) + BETA * mse(z_e, sg[e[c]]) that the backward adds."""
    codes = nearest_code(z_e, codebook)                          # (B, P) ints in [0, K)
    z_q, lookup_cache = embedding_forward(codes, codebook)       # (B, P) -> (B, P, E)
    _, codebook_cache = mse_forward(z_q, z_e)                    # codebook loss: z_e is sg[z_e]
    _, commitment_cache = mse_forward(z_e, z_q)                  # commitment: z_q is sg[e[c]]
    return z_q, (lookup_cache, codebook_cache, commitment_cache)


def straight_through_backward(dz_q: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
    """dz_q (B, P, E) -> dz_e (B, P, E), dcodebook (K, E), as ``VQVAE.backward`` computes them."""
    lookup_cache, codebook_cache, commitment_cache = cache
    # fwd: z_q = z_e + sg[e[c] - z_e]  =>  dz_e = dz_q;  commitment  =>  += BETA * 2 (z_e - e[c]) / n
    dz_e = dz_q + mse_backward(BETA, commitment_cache)[0]
    # fwd: codebook loss = mse(e[c], sg[z_e])  =>  de[c] = 2 (e[c] - z_e) / n, added per use of c
    de_codes, _ = mse_backward(1.0, codebook_cache)
    return dz_e, embedding_backward(de_codes, lookup_cache)


def straight_through_held_fixed(live: tuple, frozen: tuple, dz_q: np.ndarray) -> float:
    """The scalar the straight-through backward differentiates, every sg[.] frozen at ``frozen``:
    sum(dz_q * (z_e + sg[e[c] - z_e])) + mean((e[c] - sg[z_e])^2) + BETA mean((z_e - sg[e[c]])^2),
    with the codes c chosen once, from the frozen inputs."""
    z_e, codebook = live
    z_e0, codebook0 = frozen
    codes = nearest_code(z_e0, codebook0)                        # fixed: the argmin has no slope
    e0 = codebook0[codes]                                        # sg[e[c]]
    z_q = z_e + (e0 - z_e0)                                      # value e0, slope 1 in z_e
    return float(np.sum(dz_q * z_q) + np.mean((codebook[codes] - z_e0) ** 2)
                 + BETA * np.mean((z_e - e0) ** 2))


def _latents(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """z_e (B=2, P=3, E=2) and a codebook (K=4, E=2) drawn near them, so that several codes are
    used and every latent is clearly nearer one code than any other."""
    codebook = 2.0 * rng.standard_normal((4, 2))
    z_e = codebook[rng.integers(0, 4, size=(2, 3))] + 0.3 * rng.standard_normal((2, 3, 2))
    return z_e, codebook


# ---- top_p and one KV-cache step: functions without a gradient ---------------------------------

def _top_p_cases() -> list[tuple[str, tuple]]:
    logits = 2.0 * np.random.default_rng(8).standard_normal((4, 6))   # (B, V) = (4, 6)
    ties = np.array([[1.0, 1.0, 1.0, 0.0]])
    return [("four random rows, p = 0.9", (logits, 0.9)),
            ("the same rows, p = 0.5 (keep the token that crosses p)", (logits, 0.5)),
            ("p = 1 keeps every token", (logits, 1.0)),
            ("a tiny p keeps only the most likely token", (logits, 1e-3)),
            ("three equal logits, p = 0.5 (ties: the lower id first)", (ties, 0.5))]


def _explain_top_p(args: tuple, yours: object, expected: np.ndarray) -> str:
    logits, p = args
    yours = np.asarray(yours)
    if yours.shape != expected.shape:
        return f"you return shape {yours.shape}, minifm {expected.shape}"
    for row in range(len(logits)):
        kept_yours = np.flatnonzero(np.isfinite(yours[row])).tolist()
        kept_ours = np.flatnonzero(np.isfinite(expected[row])).tolist()
        if kept_yours != kept_ours or not np.allclose(yours[row][kept_yours],
                                                      expected[row][kept_ours]):
            order = np.argsort(-logits[row], kind="stable")
            probs = ", ".join(f"{i}: {softmax(logits[row:row + 1])[0, i]:.3f}" for i in order)
            return (f"row {row}: you keep ids {kept_yours}, minifm keeps {kept_ours} (id: "
                    f"probability, most likely first: {probs}; p = {p})")
    return "the kept ids agree, but a kept logit was changed: return them as they came"


def kv_cache_step(q: np.ndarray, k: np.ndarray, v: np.ndarray, past_k: np.ndarray,
                  past_v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One decoding step: the new position's q, k, v (B, H, 1, D) and the cached past_k, past_v
    (B, H, t, D). Returns y (B, H, 1, D) and the grown cache keys, values (B, H, t + 1, D)."""
    keys = np.concatenate([past_k, k], axis=2)                  # (B, H, t, D) -> (B, H, t+1, D)
    values = np.concatenate([past_v, v], axis=2)
    y, _ = attention_forward(q, keys, values)    # the newest position may see every key: no mask
    return y, keys, values


def _kv_cases() -> list[tuple[str, tuple]]:
    rng = np.random.default_rng(9)
    B, H, D = 2, 2, 4

    def step(t: int) -> tuple:
        return tuple(rng.standard_normal((B, H, n, D)) for n in (1, 1, 1, t, t))

    return [("three positions already cached", step(3)),
            ("the first step: an empty cache (t = 0)", step(0))]


def _explain_kv(args: tuple, yours: object, expected: tuple) -> str:
    names = ("y", "keys", "values")
    if not isinstance(yours, tuple) or len(yours) != 3:
        return "return three arrays: y, keys, values"
    for name, a, b in zip(names, yours, expected):
        a = np.asarray(a)
        if a.shape != b.shape:
            return f"your {name} has shape {a.shape}, minifm's {b.shape}"
        if not np.allclose(a, b, rtol=1e-10, atol=1e-12):
            i = np.unravel_index(np.argmax(np.abs(a - b)), a.shape)
            return (f"your {name}[{', '.join(map(str, i))}] is {a[i]:.6g}, minifm's "
                    f"{b[i]:.6g}")
    return "the results agree"


MODELS: dict[str, Exercise | FunctionExercise] = {
    "tied_head": Exercise(
        signature="logits, cache = forward(idx, wte)   # idx (B, T) int, wte (V, C):\n"
                  "    # logits = wte[idx] @ wte^T, (B, T, V)\n"
                  "dwte = backward(dlogits, cache)      # both uses of wte add into one gradient",
        forward=tied_head_forward, backward=tied_head_backward,
        make_inputs=lambda rng: (np.array([[0, 2, 2], [4, 1, 2]]), rng.standard_normal((5, 4))),
        seed=5, input_names=("idx", "wte"), grads_for=(1,), output_name="logits",
        lesson="lessons/08_gpt.md",
        reference="minifm.exercises.models.tied_head_forward (embedding_forward, then "
                  "linear_forward(x, wte.T))",
        note="V = 5, C = 4; id 2 occurs three times and id 3 never, so row 3 of dwte gets only "
             "the head's share"),
    "contrastive": Exercise(
        signature="loss, cache = forward(image_emb, text_emb, logit_scale)   # (N, E), (N, E),\n"
                  "    # logit_scale a 0-d array; scale = exp(logit_scale);\n"
                  "    # loss = (CE(logits, arange N) + CE(logits^T, arange N)) / 2\n"
                  "dimage_emb, dtext_emb, dlogit_scale = backward(dloss, cache)",
        forward=contrastive_loss_forward, backward=contrastive_loss_backward,
        make_inputs=lambda rng: tuple(
            a / np.linalg.norm(a, axis=1, keepdims=True)
            for a in (rng.standard_normal((4, 3)), rng.standard_normal((4, 3)))
        ) + (np.array(np.log(3.0)),),
        seed=3, input_names=("image_emb", "text_emb", "logit_scale"), grads_for=(0, 1, 2),
        output_name="loss", lesson="lessons/10_clip.md",
        note="N = 4 pairs of unit rows (E = 3); logit_scale = ln 3, so the scale is 3"),
    "straight_through": Exercise(
        signature="z_q, cache = forward(z_e, codebook)   # z_e (B, P, E), codebook (K, E):\n"
                  "    # z_q = codebook[c], c the nearest code of each latent\n"
                  "dz_e, dcodebook = backward(dz_q, cache)   # straight-through, plus the\n"
                  "    # gradients of mse(e[c], sg[z_e]) + 0.25 * mse(z_e, sg[e[c]])",
        forward=straight_through_forward, backward=straight_through_backward,
        make_inputs=_latents, seed=0, input_names=("z_e", "codebook"), grads_for=(0, 1),
        output_name="z_q", lesson="lessons/11_images_as_tokens.md",
        reference="minifm.exercises.models.straight_through_forward (nearest_code, then the "
                  "codebook lookup)",
        note="B = 2, P = 3, E = 2, K = 4; beta = 0.25; the codes the argmin picks are held "
             "fixed while the check nudges the inputs",
        held_fixed=straight_through_held_fixed,
        checked_against="central differences of the loss with every sg[.] held fixed (the "
                        "straight-through gradient is not the derivative of your forward)"),
    "top_p": FunctionExercise(
        signature="filtered = top_p(logits, p)   # logits (B, V), p in (0, 1]; returns a new\n"
                  "    # (B, V) array: the shortest most-likely-first prefix of each row whose\n"
                  "    # probability reaches p keeps its logits, the rest become -inf;\n"
                  "    # ties: the lower id ranks first",
        function=top_p_filter, cases=_top_p_cases, input_names=("logits", "p"),
        lesson="lessons/08_gpt.md", reference="minifm.sampling.top_p_filter",
        explain=_explain_top_p),
    "kv_cache_step": FunctionExercise(
        signature="y, keys, values = step(q, k, v, past_k, past_v)   # q, k, v (B, H, 1, D): the\n"
                  "    # new position; past_k, past_v (B, H, t, D): the cache, t >= 0;\n"
                  "    # y (B, H, 1, D); keys, values (B, H, t + 1, D), the grown cache",
        function=kv_cache_step, cases=_kv_cases, input_names=("q", "k", "v", "past_k", "past_v"),
        lesson="lessons/08_gpt.md", reference="minifm.exercises.models.kv_cache_step "
                                              "(attention_forward over the grown cache)",
        explain=_explain_kv),
}
