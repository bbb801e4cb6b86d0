"""The two kinds of self-checking exercise: a forward/backward pair, and a plain function.

A **pair** (lessons 1-6, 8, 10, 11) is graded by a gradient check of the student's backward and a
comparison of the student's forward with the library's, on fixed float64 inputs. A **function**
(top-p filtering, one KV-cache step: lesson 8; BERT's masking: lesson 9) has no gradient: it is
run on a few named cases, edge cases included, and its result compared with the library's or
judged by the rules it must follow. ``minifm.exercises.grader``
does the grading; the catalogues (``basics``, ``models``) say what each exercise is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Exercise:
    """One checkable forward/backward pair: how to build its inputs and what the library computes.

    ``held_fixed``, when given, replaces "central differences of your forward" as what backward
    is checked against: ``held_fixed(live_inputs, frozen_inputs, dout)`` is a scalar whose
    gradient with respect to the live inputs the backward must return. The straight-through
    estimator needs it: its backward is by design not the derivative of its forward.
    """

    signature: str                                   # what the student writes, for the verdict
    forward: Callable                                # the library's pair, called like the student's
    backward: Callable
    make_inputs: Callable[[np.random.Generator], tuple]   # float64 (and int) inputs, in call order
    seed: int                                        # fixes the inputs (see the catalogues)
    input_names: tuple[str, ...]
    grads_for: tuple[int, ...]                       # which input each returned gradient belongs to
    lesson: str                                      # where the backward is derived
    output_name: str = "y"
    reference: str = ""                              # how the verdict names the library's forward
    note: str = ""                                   # what about the inputs matters, for the verdict
    held_fixed: Callable[[tuple, tuple, np.ndarray], float] | None = None
    checked_against: str = "central differences of your forward"

    def reference_name(self) -> str:
        return self.reference or f"{self.forward.__module__}.{self.forward.__name__}"

    def inputs(self) -> tuple:
        """The exercise's inputs, the same on every call (they come from ``seed``)."""
        return self.make_inputs(np.random.default_rng(self.seed))


@dataclass(frozen=True)
class FunctionExercise:
    """One checkable function without a gradient: named cases, compared with the library.

    ``explain(args, yours, expected)`` says in one line where a case's results differ. A random
    function (BERT's masking) cannot be compared draw for draw: ``judge(args, yours)`` then
    returns "ok" or the first rule the result breaks, and the library is not called.
    """

    signature: str
    function: Callable                               # the library's, called like the student's
    cases: Callable[[], list[tuple[str, tuple]]]     # (what the case tests, the arguments)
    input_names: tuple[str, ...]
    lesson: str
    reference: str
    explain: Callable[[tuple, object, object], str] | None = None
    judge: Callable[[tuple, object], str] | None = None
