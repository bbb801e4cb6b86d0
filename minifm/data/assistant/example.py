"""What every task of the assistant world shares: an example, a judge's verdict, the characters.

Lesson: "From GPT to assistant" (issue 12).

An ``Example`` is one request of one task with its reference answer and the facts its judge needs
(``facts``); ``held_out`` names the held-out parts it uses (empty for every training example).
A ``Verdict`` is what a judge says about one answer: ``correct`` (exact), ``score`` (partial
credit in [0, 1]), ``refusal`` (the answer declines) and per-field ``details``.

The characters are the stories' (``minifm.data.stories.CHARACTERS``); two of them,
``HELD_OUT_NAMES``, never appear in the training split of any task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from minifm.data.stories import CHARACTERS

TASKS = ("qa", "translation", "code", "summary", "harmless")
NAMES = tuple(name for name, _, _ in CHARACTERS)
HELD_OUT_NAMES = ("leo", "zoe")          # one "he", one "she"


@dataclass(frozen=True)
class Example:
    """One request: its task, the user's message, the reference answer and the judge's facts."""

    task: str
    message: str                              # the user's words (no chat markers)
    response: str                             # the reference answer (no <|end|>)
    facts: dict[str, Any]                     # what the task's judge checks against
    off_limits: bool = False                  # the world's rule says: refuse this request
    held_out: tuple[str, ...] = ()            # the held-out parts used, e.g. ("name:leo",)


@dataclass(frozen=True)
class Verdict:
    """A judge's verdict on one answer."""

    correct: bool                             # exactly right
    score: float                              # partial credit in [0, 1]; 1.0 when correct
    refusal: bool                             # the answer declines the request
    details: dict[str, Any] = field(default_factory=dict)   # per-field results


def pick(rng: np.random.Generator, items: Sequence) -> Any:
    """One item of ``items``, uniformly."""
    return items[int(rng.integers(len(items)))]


def character(rng: np.random.Generator) -> tuple[str, str, str]:
    """(name, pronoun, possessive) of a random character."""
    return CHARACTERS[int(rng.integers(len(CHARACTERS)))]


def names_held_out(*names: str) -> tuple[str, ...]:
    """The held-out parts ``("name:leo", ...)`` among ``names``, each once, in order."""
    return tuple(dict.fromkeys(f"name:{n}" for n in names if n in HELD_OUT_NAMES))


def token_accuracy(answer: Sequence[str], gold: Sequence[str]) -> float:
    """The share of positions, over the longer sequence, where the two have the same word: the
    partial credit of an answer that must match word for word (right words in the wrong order
    score low; 1.0 only for an exact match)."""
    same = sum(a == g for a, g in zip(answer, gold))
    return same / max(len(answer), len(gold), 1)
