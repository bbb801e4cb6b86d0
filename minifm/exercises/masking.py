"""The exercise of lesson 9: BERT's masking, judged by the rules it must follow.

Masking is random, so a student's ``mask`` cannot be compared with the library's draw for draw:
the two consume the generator differently. Instead it is run on one large batch and its result
is judged against the rules of Devlin et al. 2019 (section 3.1) as ``minifm.data.bert_data.
mask_tokens`` implements them: which positions may be chosen, how many per row, what their labels
are, and the 80/10/10 split of what a chosen token becomes (within 4 standard deviations).

Dimension letters: B rows, T positions, V vocabulary.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from minifm.data.bert_data import mask_tokens
from minifm.exercises.kinds import FunctionExercise
from minifm.functional.losses import IGNORE_INDEX

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4      # the special ids of the exercise's vocabulary
SPECIAL = [PAD, UNK, CLS, SEP, MASK]
V = 1000                                      # large, so a random replacement rarely repeats


def library_mask(input_ids: np.ndarray, rng: np.random.Generator, special_ids: Sequence[int],
                 mask_id: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``mask_tokens`` called with the exercise's positional signature (mask_prob 0.15)."""
    return mask_tokens(input_ids, rng, special_ids=special_ids, mask_id=mask_id,
                       vocab_size=vocab_size)


def _batch(B: int = 2000, T: int = 22) -> np.ndarray:
    """(B, T): [CLS], 3 to 20 real ids in [5, V), [SEP], then [PAD] to the end of the row."""
    rng = np.random.default_rng(17)
    ids = np.full((B, T), PAD, dtype=np.int64)
    n_real = rng.integers(3, 21, size=B)                         # (B,)
    pos = np.arange(T)                                           # (T,)
    real = (pos >= 1) & (pos <= n_real[:, None])                 # (T,) & (B, 1) -> (B, T)
    ids[real] = rng.integers(5, V, size=int(real.sum()))
    ids[:, 0] = CLS
    ids[np.arange(B), n_real + 1] = SEP
    return ids


def _cases() -> list[tuple[str, tuple]]:
    return [("2,000 rows of [CLS], 3 to 20 real tokens, [SEP] and padding",
             (_batch(), np.random.default_rng(3), SPECIAL, MASK, V))]


def _share(count: int, total: int, p: float, what: str) -> str | None:
    """None if count/total is within 4 standard deviations of p, else why not."""
    sd = np.sqrt(p * (1 - p) / total)
    if abs(count / total - p) <= 4 * sd:
        return None
    return (f"of the {total:,} chosen tokens {count / total:.1%} {what}; the rule says "
            f"{p:.0%} (give or take {4 * sd:.1%})")


def judge_mask(args: tuple, yours: object) -> str:
    """'ok', or the first rule your (masked, labels) breaks."""
    ids = args[0]
    if not isinstance(yours, tuple) or len(yours) != 2:
        return "return two arrays: masked, labels"
    masked, labels = (np.asarray(a) for a in yours)
    for name, a in (("masked", masked), ("labels", labels)):
        if a.shape != ids.shape or not np.issubdtype(a.dtype, np.integer):
            return f"your {name} is {a.dtype} {a.shape}; it must be ints of shape {ids.shape}"
    chosen = labels != IGNORE_INDEX                                     # (B, T)
    special = np.isin(ids, SPECIAL)
    if (chosen & special).any():
        b, t = np.argwhere(chosen & special)[0]
        return f"position ({b}, {t}) holds the special id {ids[b, t]} but was chosen"
    if not np.array_equal(labels[chosen], ids[chosen]):
        b, t = np.argwhere(chosen & (labels != ids))[0]
        return (f"labels[{b}, {t}] is {labels[b, t]}; a chosen position's label is its original "
                f"id, {ids[b, t]}")
    n_real = (~special).sum(axis=1)
    wanted = np.maximum(1, np.rint(0.15 * n_real)).astype(int)
    wrong = np.flatnonzero(chosen.sum(axis=1) != wanted)
    if len(wrong):
        b = wrong[0]
        return (f"row {b} has {n_real[b]} real tokens, so max(1, round(0.15 * {n_real[b]})) = "
                f"{wanted[b]} must be chosen; you chose {chosen[b].sum()}")
    if not np.array_equal(masked[~chosen], ids[~chosen]):
        b, t = np.argwhere(~chosen & (masked != ids))[0]
        return f"position ({b}, {t}) was not chosen but you changed it to {masked[b, t]}"
    became = masked[chosen]
    replaced = (became != MASK) & (became != ids[chosen])
    if np.isin(became[replaced], SPECIAL).any() or (became < 0).any() or (became >= V).any():
        return "a random replacement must be a non-special id in [0, V)"
    total = int(chosen.sum())
    for count, p, what in ((int((became == MASK).sum()), 0.8, "became [MASK]"),
                           (int(replaced.sum()), 0.1, "became a random token"),
                           (int((became == ids[chosen]).sum()), 0.1, "stayed as they were")):
        problem = _share(count, total, p, what)
        if problem:
            return problem
    return "ok"


MLM_MASKING = FunctionExercise(
    signature="masked, labels = mask(input_ids, rng, special_ids, mask_id, vocab_size)\n"
              "    # input_ids (B, T) int; rng a np.random.Generator; returns two (B, T) int arrays.\n"
              "    # In each row choose max(1, round(0.15 n)) of its n non-special tokens at\n"
              "    # random; a chosen token becomes mask_id (80%), a random non-special id in\n"
              "    # [0, vocab_size) (10%) or stays (10%); labels: its original id where chosen,\n"
              "    # -100 elsewhere",
    function=library_mask, cases=_cases,
    input_names=("input_ids", "rng", "special_ids", "mask_id", "vocab_size"),
    lesson="lessons/09_bert.md",
    reference="the masking rules of minifm.data.bert_data.mask_tokens",
    judge=judge_mask)
