"""Code generation: a request in words -> a Sum program, judged by running it.

Lesson: "From GPT to assistant" (issue 12).

A request has a first step and, most of the time, a second one:

    add 12 and 35 , then double it           ->  ( 12 + 35 ) * 2
    subtract 4 from 9 , then subtract 2      ->  9 - 4 - 2
    multiply 3 by 4                          ->  3 * 4

Judge (``minifm.data.assistant.programs`` parses and runs the answer): correct = the program
parses, its value is the request's, and it is written with the request's numbers (2 for
"double", 3 for "triple"): ``2 * ( 35 + 12 )`` is right, ``94`` (the value, not a program) and
``12 + 35 * 2`` (the right numbers, the wrong expression) are wrong. A malformed program is wrong
and scores 0; otherwise the score is half for the value and half for the numbers.
Held out: the (first step, second step) pairs of ``HELD_OUT_STEPS``, never in a training request.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from minifm.data.assistant.example import Example, pick
from minifm.data.assistant.programs import ProgramError, literals, run

TASK = "code"
MAX_OPERAND = 20
FIRST = ("add", "subtract", "multiply")
SECOND = ("none", "double", "triple", "add", "subtract", "multiply")
HELD_OUT_STEPS = (("add", "triple"), ("subtract", "double"), ("multiply", "add"))
P_SECOND = 0.75
WORDS = frozenset(FIRST + SECOND + ("and", "from", "by", "then", "it", ",", "(", ")", "+", "-",
                                    "*") + tuple(str(n) for n in range(MAX_OPERAND + 1)))


def _first(step: str, a: int, b: int) -> tuple[str, str]:
    """(words, program) of the first step."""
    return {"add": (f"add {a} and {b}", f"{a} + {b}"),
            "subtract": (f"subtract {a} from {b}", f"{b} - {a}"),
            "multiply": (f"multiply {a} by {b}", f"{a} * {b}")}[step]


def _second(step: str, c: int, first: str, program: str) -> tuple[str, str]:
    """(words, program) of the whole request once the second step is added."""
    wrapped = f"( {program} )" if first != "multiply" else program   # "*" binds tighter
    return {"none": ("", program),
            "double": (" , then double it", f"{wrapped} * 2"),
            "triple": (" , then triple it", f"{wrapped} * 3"),
            "add": (f" , then add {c}", f"{program} + {c}"),
            "subtract": (f" , then subtract {c}", f"{program} - {c}"),
            "multiply": (f" , then multiply it by {c}", f"{wrapped} * {c}")}[step]


def generate(rng: np.random.Generator) -> Example:
    """A one- or two-step arithmetic request and its reference program."""
    first = pick(rng, FIRST)
    second = pick(rng, SECOND[1:]) if rng.random() < P_SECOND else "none"
    a, b, c = (int(n) for n in rng.integers(1, MAX_OPERAND + 1, size=3))
    said, program = _first(first, a, b)
    more, program = _second(second, c, first, program)
    held = (f"steps:{first} {second}",) if (first, second) in HELD_OUT_STEPS else ()
    return Example(TASK, f"{said}{more}", program,
                   {"value": run(program), "literals": sorted(literals(program))}, held_out=held)


def grade(example: Example, answer: str) -> tuple[bool, float, dict]:
    """Run the answer; compare its value and its numbers with the request's."""
    try:
        value, numbers = run(answer), literals(answer)
    except ProgramError as e:
        return False, 0.0, {"parses": False, "error": str(e), "value": False, "numbers": False}
    value_ok = value == example.facts["value"]
    numbers_ok = Counter(numbers) == Counter(example.facts["literals"])
    return value_ok and numbers_ok, (value_ok + numbers_ok) / 2, {
        "parses": True, "error": "", "value": value_ok, "numbers": numbers_ok}
