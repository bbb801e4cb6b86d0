"""Exercises that check themselves: write a forward/backward pair, and ``check`` grades it.

    from minifm.exercises import check
    result = check("layernorm", my_layernorm_forward, my_layernorm_backward)
    result = check("top_p", my_top_p)          # a function without a backward

Your pair has the same signature as the library's (``EXERCISES[name].signature`` shows it, and
the lesson's exercise text states it), e.g. ``y, cache = my_layernorm_forward(x, gamma, beta)``
and ``dx, dgamma, dbeta = my_layernorm_backward(dy, cache)``. ``check`` builds small float64
inputs from a fixed seed, gradient-checks your backward (bound 1e-7) and compares your forward
with the library's (bound 1e-8); ``minifm.exercises.grader`` explains both checks. It prints a
verdict naming the inputs, the worst relative error, the index where it happens and both values
there, and returns a ``CheckResult``.

Lessons 1 to 6 end with the pairs of a transformer (``minifm.exercises.basics``); lessons 8, 10
and 11 add the tied head, the contrastive loss, the straight-through estimator, top-p filtering
and one KV-cache step (``minifm.exercises.models``), and lesson 9 BERT's masking, judged by its
rules (``minifm.exercises.masking``). The notebooks of lessons 1-6 run theirs.
"""

from minifm.exercises.grader import (EXERCISES, FORWARD_TOLERANCE, GRADIENT_TOLERANCE,
                                     CheckResult, check, describe_inputs, verdict)
from minifm.exercises.kinds import Exercise, FunctionExercise

__all__ = ["EXERCISES", "FORWARD_TOLERANCE", "GRADIENT_TOLERANCE", "CheckResult", "Exercise",
           "FunctionExercise", "check", "describe_inputs", "verdict"]
