"""Response-only targets and the log-probability a language model gives each response token.

Dimensions: B batch, T time (positions), V vocabulary.

A chat example is one token row, prompt then response, with a response mask that is 1 on the
assistant's tokens. A GPT reads ``idx = tokens[:, :-1]`` and its logits at position t predict
``tokens[:, t + 1]``, so the response mask moves one step left with the targets:

    idx[b, t]     = tokens[b, t]
    targets[b, t] = tokens[b, t + 1]   if response_mask[b, t + 1] else IGNORE_INDEX

With these targets the existing mean cross-entropy (``minifm.functional.losses``) *is* the masked
SFT loss. With R the set of response positions (b, t) and y their targets,

    L = 1/|R| sum_{(b,t) in R} (logsumexp(x[b, t]) - x[b, t, y])
    dL/dx[b, t] = (softmax(x[b, t]) - onehot(y)) / |R|   for (b, t) in R,   0 otherwise

A prompt position is not in the sum at all, so its logits' gradient is exactly 0 (the backward
writes 0.0, not a small number). The prompt still matters: the response positions attend to its
tokens, so their embeddings and the trunk's weights get gradient through attention; the model
is only never asked to *predict* the prompt.

    token log-prob      logp[b, t] = log softmax(x[b, t])[targets[b, t]]   (0 where ignored)
                                   = x[b, t, target] - logsumexp(x[b, t])
    sequence log-prob   s[b]       = sum_t logp[b, t]                      log pi(response | prompt)

Backward (d logsumexp(x)/dx = softmax(x)):

    d logp[b, t] / d x[b, t, :] = onehot(target) - softmax(x[b, t])        (0 where ignored)

so ``ds[b] / dx[b, t, :]`` is the same row for every response position t of sequence b. DPO
(``minifm.functional.preference``) and the policy gradient (``minifm.functional.policy_gradient``)
are built on these two pairs.
Lesson: "From GPT to assistant" (issue 12; the masked loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minifm.functional.losses import IGNORE_INDEX
from minifm.validation import check_floats, check_ids, check_mask, check_same_shape


def _check_integer_array(a: object, what: str) -> None:
    """Token ids and targets are integer arrays (IGNORE_INDEX is negative, so ``check_ids``,
    which wants ids in [0, V), cannot check a target row as a whole)."""
    if not isinstance(a, np.ndarray) or not np.issubdtype(a.dtype, np.integer) \
            or a.dtype == np.bool_:
        kind = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        raise TypeError(f"{what} must be an integer numpy array of ids, got {kind}")


def response_targets(tokens: np.ndarray, response_mask: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The GPT input and the response-only next-token targets of prompt + response rows.

    tokens: (B, T + 1) int ids; response_mask: (B, T + 1) bool or 0/1, 1 on the response tokens
    (never on padding). Returns idx (B, T) = tokens[:, :-1] and targets (B, T) =
    tokens[:, 1:] where the target is a response token, IGNORE_INDEX elsewhere.
    """
    _check_integer_array(tokens, "response_targets tokens")
    if tokens.ndim != 2 or tokens.shape[1] < 2:
        raise ValueError(f"response_targets: tokens must have shape (B, T + 1) with T + 1 >= 2, "
                         f"got {tokens.shape}")
    check_mask(response_mask, "response_targets response_mask", shape=tokens.shape,
               axes="(B, T + 1)")
    if response_mask[:, 0].any():
        raise ValueError("response_targets: the first token of a row cannot be a response token "
                         "(nothing before it predicts it); start each row with its prompt")
    keep = response_mask[:, 1:].astype(bool)                         # (B, T)
    targets = np.where(keep, tokens[:, 1:], IGNORE_INDEX)            # (B, T + 1) -> (B, T)
    return tokens[:, :-1], targets


@dataclass
class TokenLogprobCache:
    probs: np.ndarray        # (B, T, V) softmax of the logits
    targets: np.ndarray      # (B, T) target ids, ignored positions replaced by 0
    valid: np.ndarray        # (B, T) bool, False where the target is IGNORE_INDEX


def _check_logits_and_targets(logits: np.ndarray, targets: np.ndarray, what: str) -> None:
    check_floats(logits, f"{what} logits", ndim=3, axes="(B, T, V)")
    B, T, V = logits.shape
    _check_integer_array(targets, f"{what} targets")
    if targets.shape != (B, T):
        raise ValueError(f"{what}: logits are (B, T, V) = {logits.shape}, so targets must have "
                         f"shape (B, T) = {(B, T)}, got {targets.shape}")
    kept = targets[targets != IGNORE_INDEX]
    if kept.size:
        check_ids(kept, f"{what} targets (other than IGNORE_INDEX={IGNORE_INDEX})",
                  vocab_size=V)


def token_logprob_forward(logits: np.ndarray, targets: np.ndarray
                          ) -> tuple[np.ndarray, TokenLogprobCache]:
    """logits: (B, T, V) float; targets: (B, T) int in [0, V) or IGNORE_INDEX.

    Returns logp (B, T): log softmax(logits[b, t])[targets[b, t]], exactly 0 where ignored.
    """
    _check_logits_and_targets(logits, targets, "token_logprob")
    valid = targets != IGNORE_INDEX                                  # (B, T)
    t = np.where(valid, targets, 0)
    shifted = logits - logits.max(axis=-1, keepdims=True)            # max 0 per row: no overflow
    target_logit = np.take_along_axis(shifted, t[..., None], axis=-1)[..., 0]   # (B, T)
    probs = np.exp(shifted)
    sums = probs.sum(axis=-1)                                        # (B, T)
    probs /= sums[..., None]
    logp = np.where(valid, target_logit - np.log(sums), 0.0).astype(logits.dtype)
    return logp, TokenLogprobCache(probs, t, valid)


def token_logprob_backward(dlogp: np.ndarray, cache: TokenLogprobCache) -> np.ndarray:
    """dlogp: (B, T) -> dlogits: (B, T, V), exactly 0 at ignored positions."""
    probs, t, valid = cache.probs, cache.targets, cache.valid
    check_same_shape(dlogp, valid.shape, "token_logprob dlogp")
    # fwd: logp = x[target] - logsumexp(x)  =>  dx = dlogp * (onehot(target) - softmax(x))
    dlogits = -probs                                                 # (B, T, V), a new array
    b, pos = np.indices(t.shape)                                     # (B, T) row and position
    dlogits[b, pos, t] += 1.0
    dlogits *= np.where(valid, dlogp, 0.0)[..., None]                # (B, T) -> (B, T, 1)
    return dlogits.astype(probs.dtype, copy=False)


def sequence_logprob_forward(logits: np.ndarray, targets: np.ndarray
                             ) -> tuple[np.ndarray, TokenLogprobCache]:
    """log pi(response | prompt) per row: the sum of the response tokens' log-probabilities.

    logits: (B, T, V) float; targets: (B, T) int, IGNORE_INDEX off the response
    (see ``response_targets``). Returns s (B,) and the cache.
    """
    logp, cache = token_logprob_forward(logits, targets)
    return logp.sum(axis=1), cache                                   # (B, T) -> (B,)


def sequence_logprob_backward(ds: np.ndarray, cache: TokenLogprobCache) -> np.ndarray:
    """ds: (B,) -> dlogits: (B, T, V)."""
    B, T = cache.valid.shape
    check_same_shape(ds, (B,), "sequence_logprob ds")
    # fwd: s[b] = sum_t logp[b, t]  =>  dlogp[b, t] = ds[b] for every t
    return token_logprob_backward(np.repeat(ds[:, None], T, axis=1), cache)   # (B,) -> (B, T)
