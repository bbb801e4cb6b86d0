"""Losses: softmax cross-entropy (GPT, BERT) and the symmetric contrastive loss of CLIP.

Dimensions: N rows (tokens or image-text pairs), V classes (vocabulary), E embedding width.

Cross-entropy of row n with target t_n:

    loss_n = -log softmax(x_n)[t_n] = logsumexp(x_n) - x_n[t_n]

The mean is taken over the rows whose target is not ``ignore_index`` (padding, unmasked BERT
tokens). Its gradient is the fused ``(softmax(x_n) - onehot(t_n)) / N_valid``.
Lessons: lessons/02_linear_softmax_cross_entropy.md (cross-entropy), lessons/10_clip.md
(the contrastive loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minifm.validation import check_real

IGNORE_INDEX = -100   # a target that the cross-entropy skips (padding, unmasked BERT tokens)


@dataclass
class CrossEntropyCache:
    probs: np.ndarray         # (N, V) softmax of the logits
    targets: np.ndarray       # (N,) target ids, ignored rows replaced by 0
    valid: np.ndarray         # (N,) bool, False where the target was ignore_index
    n_valid: int
    shape: tuple[int, ...]    # the logits' original shape (..., V)


def _kind(a: object) -> str:
    return str(a.dtype) if isinstance(a, np.ndarray) else type(a).__name__


def _check_cross_entropy(logits: np.ndarray, targets: np.ndarray, ignore_index: int) -> None:
    if not isinstance(logits, np.ndarray) or not np.issubdtype(logits.dtype, np.floating):
        raise TypeError(f"cross_entropy expects floating-point logits, got {_kind(logits)}")
    if logits.ndim < 1:
        raise ValueError("cross_entropy expects logits of shape (..., V), got a scalar")
    if logits.size == 0:
        raise ValueError(f"cross_entropy logits are empty (shape {logits.shape}); expected at "
                         "least one row of V >= 1 classes")
    if not isinstance(targets, np.ndarray) or not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"cross_entropy expects integer class ids as targets, got {_kind(targets)}")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"cross_entropy: logits {logits.shape} are (..., V), so targets must have "
                         f"shape {logits.shape[:-1]}, got {targets.shape}")
    V = logits.shape[-1]
    bad = (targets != ignore_index) & ((targets < 0) | (targets >= V))
    if bad.any():
        raise ValueError(f"cross_entropy targets must be in [0, {V}) or "
                         f"ignore_index={ignore_index}, got {targets[bad].flat[0]}")


def cross_entropy_forward(logits: np.ndarray, targets: np.ndarray, ignore_index: int = IGNORE_INDEX
                          ) -> tuple[float, CrossEntropyCache]:
    """Mean softmax cross-entropy over the non-ignored targets.

    logits: (N, V) or (..., V) float; targets: (N,) or (...) int, each in [0, V) or ignore_index.
    Returns the loss (a float; 0.0 if every target is ignored) and the cache.
    """
    _check_cross_entropy(logits, targets, ignore_index)
    V = logits.shape[-1]
    x = logits.reshape(-1, V)                                     # (..., V) -> (N, V)
    t = targets.reshape(-1)                                       # (...) -> (N,)
    valid = t != ignore_index
    n_valid = int(valid.sum())
    t = np.where(valid, t, 0)
    rows = np.arange(x.shape[0])

    probs = x - x.max(axis=1, keepdims=True)                      # shifted logits, max 0 per row
    target_logit = probs[rows, t]                                 # (N,)
    np.exp(probs, out=probs)
    sums = probs.sum(axis=1)                                      # (N,)
    nll = np.log(sums) - target_logit                             # logsumexp(x) - x[t], per row
    loss = float(nll[valid].sum()) / n_valid if n_valid > 0 else 0.0
    probs /= sums[:, None]
    return loss, CrossEntropyCache(probs, t, valid, n_valid, logits.shape)


def cross_entropy_backward(dloss: float, cache: CrossEntropyCache) -> np.ndarray:
    """dlogits (..., V) = dloss * (softmax(logits) - onehot(targets)) / N_valid, 0 where ignored."""
    probs, t, valid, n_valid, shape = (cache.probs, cache.targets, cache.valid, cache.n_valid,
                                       cache.shape)
    # fwd: loss = mean_n (logsumexp(x_n) - x_n[t_n])
    #  =>  dx_n = (softmax(x_n) - onehot(t_n)) / N_valid
    dlogits = probs.copy()                                        # (N, V)
    dlogits[np.arange(len(t)), t] -= 1.0
    dlogits[~valid] = 0.0
    dlogits *= check_real(dloss, "dloss") / max(n_valid, 1)
    return dlogits.reshape(shape)                                 # (N, V) -> (..., V)


@dataclass
class ContrastiveCache:
    image_emb: np.ndarray                  # (N, E)
    text_emb: np.ndarray                   # (N, E)
    logits: np.ndarray                     # (N, N) = scale * image_emb @ text_emb^T
    scale: float                           # exp(logit_scale)
    image_to_text: CrossEntropyCache       # rows of logits: image i should pick text i
    text_to_image: CrossEntropyCache       # rows of logits^T: text i should pick image i
    scale_shape: tuple[int, ...]


def contrastive_loss_forward(image_emb: np.ndarray, text_emb: np.ndarray,
                             logit_scale: np.ndarray | float) -> tuple[float, ContrastiveCache]:
    """CLIP's symmetric InfoNCE loss (Radford et al. 2021, "Learning Transferable Visual Models
    From Natural Language Supervision", Figure 3).

    image_emb, text_emb: (N, E), row i of each is a matching pair, already L2-normalised.
    logit_scale: a scalar, the log of the inverse temperature (scale = exp(logit_scale)).

        logits = exp(logit_scale) * image_emb @ text_emb^T                 (N, N)
        loss   = (CE(logits, arange N) + CE(logits^T, arange N)) / 2

    The caller keeps exp(logit_scale) <= 100 (see ``minifm.nn.losses.ContrastiveLoss``).
    """
    for name, a in (("image_emb", image_emb), ("text_emb", text_emb)):
        if not isinstance(a, np.ndarray) or a.ndim != 2 or not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"contrastive loss expects {name} as a float (N, E) array, got "
                             f"{_kind(a)} of shape {np.shape(a)}")
    if image_emb.shape != text_emb.shape:
        raise ValueError(f"contrastive loss needs one text per image: image_emb {image_emb.shape} "
                         f"and text_emb {text_emb.shape} must have the same (N, E) shape")
    if image_emb.size == 0:
        raise ValueError(f"contrastive loss embeddings are empty (shape {image_emb.shape}); "
                         "expected at least one pair (N >= 1) of width E >= 1")
    if np.size(logit_scale) != 1:
        raise ValueError(f"logit_scale must be a scalar, got shape {np.shape(logit_scale)}")
    N = image_emb.shape[0]
    scale = float(np.exp(logit_scale))
    logits = image_emb @ text_emb.T                               # (N, E) @ (E, N) -> (N, N)
    logits *= scale
    labels = np.arange(N)
    loss_i, cache_i = cross_entropy_forward(logits, labels)
    loss_t, cache_t = cross_entropy_forward(logits.T, labels)
    loss = (loss_i + loss_t) / 2
    return loss, ContrastiveCache(image_emb, text_emb, logits, scale, cache_i, cache_t,
                                  np.shape(logit_scale))


def contrastive_loss_backward(dloss: float, cache: ContrastiveCache
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns dimage_emb (N, E), dtext_emb (N, E) and dlogit_scale (the shape of logit_scale)."""
    img, txt, logits, scale, cache_i, cache_t, scale_shape = (
        cache.image_emb, cache.text_emb, cache.logits, cache.scale, cache.image_to_text,
        cache.text_to_image, cache.scale_shape)
    # fwd: loss = (CE(logits) + CE(logits^T)) / 2  =>  dlogits = (dCE(logits) + dCE(logits^T)^T) / 2
    half = check_real(dloss, "dloss") / 2
    dlogits = cross_entropy_backward(half, cache_i)
    dlogits += cross_entropy_backward(half, cache_t).T
    # fwd: logits = exp(s) * img @ txt^T  =>  ds = sum(dlogits * logits)   (d exp(s)/ds = exp(s)),
    #      dimg = scale * dlogits @ txt,  dtxt = scale * dlogits^T @ img
    dlogit_scale = np.full(scale_shape, np.sum(dlogits * logits), dtype=img.dtype)
    dlogits *= scale
    dimg = dlogits @ txt                                          # (N, N) @ (N, E) -> (N, E)
    dtxt = dlogits.T @ img                                        # (N, N) @ (N, E) -> (N, E)
    return dimg, dtxt, dlogit_scale
