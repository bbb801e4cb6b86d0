"""Question answering over a context given in the prompt, judged by exact match.

Lesson: "From GPT to assistant" (issue 12).

The context gives two or three characters one coloured thing each; the question asks who has a
thing, what colour it is, or what someone has:

    emma has a red ball . tom has a blue kite . who has the kite ?   ->  tom
    ... what colour is the ball ?                                    ->  red
    ... what does tom have ?                                         ->  a blue kite

Judge: correct = the answer's words are exactly the reference's; score = their token accuracy
(the share of positions with the reference's word), so "a red kite" for "a blue kite" earns 2/3
and "tom has the kite" for "tom" 1/4.
Held out: the held-out names, and the (colour, thing) pairs of ``HELD_OUT_PAIRS`` (one thing per
colour, one colour per thing, as in the shapes world), never in a training context.
"""

from __future__ import annotations

import numpy as np

from minifm.data.assistant.example import Example, NAMES, names_held_out, pick, token_accuracy
from minifm.tokenizers.word import split_words

TASK = "qa"
COLOURS = ("red", "blue", "green", "yellow", "pink", "black")
THINGS = ("ball", "kite", "hat", "book", "cup", "box")
HELD_OUT_PAIRS = tuple(zip(COLOURS, THINGS))          # red ball, blue kite, ... never trained
WORDS = frozenset(NAMES + COLOURS + THINGS + ("has", "a", "the", "who", "what", "colour", "is",
                                             "does", "have", ".", "?"))

Fact = tuple[str, str, str]                           # (name, colour, thing)


def draw_facts(rng: np.random.Generator, n: int) -> list[Fact]:
    """``n`` facts with distinct names and distinct things."""
    names = rng.choice(len(NAMES), size=n, replace=False)
    things = rng.choice(len(THINGS), size=n, replace=False)
    return [(NAMES[i], pick(rng, COLOURS), THINGS[j]) for i, j in zip(names, things)]


def context(facts: list[Fact]) -> str:
    """``"emma has a red ball . tom has a blue kite ."``"""
    return " ".join(f"{name} has a {colour} {thing} ." for name, colour, thing in facts)


def held_out_parts(facts: list[Fact]) -> tuple[str, ...]:
    """The held-out names and (colour, thing) pairs the facts use."""
    pairs = tuple(f"pair:{c} {t}" for _, c, t in facts if (c, t) in HELD_OUT_PAIRS)
    return names_held_out(*(n for n, _, _ in facts)) + pairs


def ask(rng: np.random.Generator, fact: Fact) -> tuple[str, str]:
    """A (question, answer) about one fact."""
    name, colour, thing = fact
    return pick(rng, [(f"who has the {thing} ?", name),
                      (f"what colour is the {thing} ?", colour),
                      (f"what does {name} have ?", f"a {colour} {thing}")])


def generate(rng: np.random.Generator) -> Example:
    """One question about a context of two or three facts."""
    facts = draw_facts(rng, int(rng.integers(2, 4)))
    question, answer = ask(rng, pick(rng, facts))
    return Example(TASK, f"{context(facts)} {question}", answer, {"answer": answer},
                   held_out=held_out_parts(facts))


def grade_exact(answer: str, gold: str) -> tuple[bool, float, dict]:
    """(correct, score, details) of an answer that must equal ``gold`` word for word."""
    got, want = split_words(answer), split_words(gold)
    accuracy = token_accuracy(got, want)
    return got == want, accuracy, {"exact": got == want, "token_accuracy": accuracy}


def grade(example: Example, answer: str) -> tuple[bool, float, dict]:
    """Exact match against the reference answer; token accuracy as partial credit."""
    return grade_exact(answer, example.facts["answer"])
