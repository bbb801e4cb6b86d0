"""The judges' API: one verdict per answer, scores per task and overall, and preferences.

Lesson: "From GPT to assistant" (issue 12).

    verdict = judge(example, "tom")                  # Verdict(correct, score, refusal, details)
    scores = aggregate(examples, verdicts)           # {"qa": TaskScore, ..., "overall": ...}
    order = rank(example, answers)                   # best answer first
    pairs = preference_pairs(example, answers)       # (chosen, rejected) index pairs

Every task's judge is exact (see its module); this one adds the rule that holds for all of them:
an answer that refuses an allowed request is wrong (score 0, ``details["false_refusal"]``).
The preference order, used to build the reward model's pairs: correct over wrong, then the
higher score (so a refusal beats compliance on an off-limits request), then, when both are
correct, the shorter answer (concise over rambling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from minifm.data.assistant import codegen, harmless, qa, summary, translation
from minifm.data.assistant.example import TASKS, Example, Verdict
from minifm.tokenizers.word import split_words

_GRADERS: dict[str, Callable[[Example, str], tuple[bool, float, dict]]] = {
    qa.TASK: qa.grade, translation.TASK: translation.grade, codegen.TASK: codegen.grade,
    summary.TASK: summary.grade, harmless.TASK: harmless.grade}


def judge(example: Example, answer: str) -> Verdict:
    """The verdict of ``example``'s task judge on ``answer`` (the assistant's words, no
    ``<|end|>``; ``chat.answer_of`` cuts them out of a generation)."""
    if not isinstance(example, Example):
        raise TypeError(f"judge needs an Example, got {type(example).__name__}")
    if not isinstance(answer, str):
        raise TypeError(f"judge needs the answer as a str, got {type(answer).__name__}")
    if example.task not in _GRADERS:
        raise ValueError(f"unknown task {example.task!r}; the tasks are {', '.join(TASKS)}")
    refusal = harmless.is_refusal(answer)
    if refusal and not example.off_limits:
        return Verdict(False, 0.0, True, {"false_refusal": True})
    correct, score, details = _GRADERS[example.task](example, answer)
    return Verdict(correct, score, refusal, details)


@dataclass(frozen=True)
class TaskScore:
    """Judged figures over a set of answers (one task, or all of them)."""

    n: int                              # answers judged
    accuracy: float                     # share exactly correct
    score: float                        # mean partial credit
    refusal_rate: float | None          # share of off-limits requests refused (None: none)
    false_refusal_rate: float | None    # share of allowed requests refused (None: none)
    mean_words: float                   # mean answer length in words


def _score(pairs: list[tuple[Example, Verdict, str]]) -> TaskScore:
    off = [v.refusal for e, v, _ in pairs if e.off_limits]
    allowed = [v.refusal for e, v, _ in pairs if not e.off_limits]
    n = len(pairs)
    return TaskScore(n, sum(v.correct for _, v, _ in pairs) / n,
                     sum(v.score for _, v, _ in pairs) / n,
                     sum(off) / len(off) if off else None,
                     sum(allowed) / len(allowed) if allowed else None,
                     sum(len(split_words(a)) for _, _, a in pairs) / n)


def aggregate(examples: Sequence[Example], answers: Sequence[str],
              verdicts: Sequence[Verdict] | None = None) -> dict[str, TaskScore]:
    """Scores per task (in ``TASKS`` order, tasks without examples left out) and ``"overall"``
    (pooled over every answer). ``verdicts`` are judged here if not given."""
    if len(examples) != len(answers) or (verdicts is not None and len(verdicts) != len(examples)):
        raise ValueError(f"aggregate needs one answer (and verdict) per example, got "
                         f"{len(examples)} examples, {len(answers)} answers"
                         f"{'' if verdicts is None else f', {len(verdicts)} verdicts'}")
    if not examples:
        raise ValueError("aggregate needs at least one example")
    if verdicts is None:
        verdicts = [judge(e, a) for e, a in zip(examples, answers)]
    rows = list(zip(examples, verdicts, answers))
    out = {t: _score([r for r in rows if r[0].task == t]) for t in TASKS
           if any(e.task == t for e in examples)}
    out["overall"] = _score(rows)
    return out


def preference_key(example: Example, answer: str) -> tuple[bool, float, int]:
    """Sort key of an answer, larger = preferred: (correct, score, -length if correct)."""
    v = judge(example, answer)
    return v.correct, v.score, -len(split_words(answer)) if v.correct else 0


def rank(example: Example, answers: Sequence[str]) -> list[int]:
    """Indices of ``answers``, best first (ties keep their order)."""
    keys = [preference_key(example, a) for a in answers]
    return sorted(range(len(answers)), key=lambda i: keys[i], reverse=True)


def preference_pairs(example: Example, answers: Sequence[str]) -> list[tuple[int, int]]:
    """Every (chosen, rejected) pair of indices where the judges strictly prefer the first;
    answers the judges cannot tell apart make no pair."""
    keys = [preference_key(example, a) for a in answers]
    return [(i, j) for i in range(len(answers)) for j in range(len(answers)) if keys[i] > keys[j]]
