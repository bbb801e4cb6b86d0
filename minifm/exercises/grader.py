"""Grading: run a student's pair or function on fixed inputs and say, in words, what was found.

A pair gets two checks (the bounds are GRADIENT_TOLERANCE and FORWARD_TOLERANCE):

1. **Gradient check of your pair.** Your backward against central differences of *your* forward
   (``minifm.gradcheck``): for every input, the worst relative error must be below 1e-7, the bound
   for smooth ops in float64 (lesson 3 explains why). For the straight-through estimator the
   reference is the loss with every stop-gradient held fixed instead (lesson 11).
2. **Your forward against the library's**, on the same inputs: the worst relative error must be
   below 1e-8. A gradient check alone cannot catch a wrong forward: a backward that faithfully
   differentiates the wrong function passes it.

A function exercise is run on each of its named cases and must agree with the library on all.
The verdict names the inputs, the worst relative error, where it happens and both values there.
Errors raised by your code are reported, not re-raised, so an exercise you have not started yet
says so instead of crashing the notebook.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from minifm.exercises.basics import BASICS
from minifm.exercises.kinds import Exercise, FunctionExercise
from minifm.exercises.masking import MLM_MASKING
from minifm.exercises.models import MODELS
from minifm.gradcheck import (Discrepancy, numerical_gradient, numerical_gradient_of_scalar,
                              worst_discrepancy)

GRADIENT_TOLERANCE = 1e-7      # smooth ops in float64 with h = 1e-5 (minifm.gradcheck)
FORWARD_TOLERANCE = 1e-8       # the same function computed another way differs by ~1e-15

EXERCISES: dict[str, Exercise | FunctionExercise] = {**BASICS, **MODELS,
                                                      "mlm_masking": MLM_MASKING}


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found. ``passed`` is True only if every check ran and met its bound."""

    name: str
    passed: bool
    gradients: dict[str, Discrepancy] = field(default_factory=dict)  # "dx": vs central differences
    forward: Discrepancy | None = None                               # your output vs the library's
    problem: str | None = None            # why the checks could not run (an error, a wrong shape)
    cases: dict[str, str] = field(default_factory=dict)   # function exercises: case -> "ok" or why

    def __repr__(self) -> str:
        worst = max((d.rel_error for d in self.gradients.values()), default=float("nan"))
        return (f"CheckResult(name={self.name!r}, passed={self.passed}, "
                f"worst_gradient_error={worst:.1e})")

    def __str__(self) -> str:
        return verdict(self)


class _StudentError(Exception):
    """Your code raised, or returned something of the wrong kind; the message says which."""


def _index(name: str, index: tuple[int, ...]) -> str:
    return f"{name}[{', '.join(map(str, index))}]" if index else name


def _call(what: str, fn: Callable, arg_names: tuple[str, ...], *args: object) -> object:
    try:
        return fn(*args)
    except Exception as e:                          # the student's bug, reported in the verdict
        if isinstance(e, NotImplementedError):
            raise _StudentError(f"your {what} raises NotImplementedError: write it, then run "
                                "this check again") from None
        if isinstance(e, TypeError) and e.__traceback__.tb_next is None:   # the call itself
            raise _StudentError(
                f"your {what} cannot be called as {what}({', '.join(arg_names)}): {e}. Did you "
                "swap forward and backward? check(name, forward, backward) takes the forward "
                "first.") from None
        frames = traceback.format_exception(type(e), e, e.__traceback__.tb_next)
        raise _StudentError(f"your {what} raised {type(e).__name__}: {e}\n\n"
                            + "".join(frames).rstrip()) from None


def _unchanged(names: tuple[str, ...], inputs: tuple, saved: list, what: str) -> None:
    for name, a, before in zip(names, inputs, saved):
        if isinstance(a, np.ndarray) and not np.array_equal(a, before):
            raise _StudentError(f"your {what} changed its input {name!r} in place; compute into "
                                "new arrays instead (the check reuses the inputs and needs them "
                                "back unchanged)")


def _forward(fn: Callable, inputs: tuple, names: tuple[str, ...]) -> tuple[np.ndarray, object]:
    saved = [np.copy(a) for a in inputs]
    result = _call("forward", fn, names, *inputs)
    if not isinstance(result, tuple) or len(result) != 2:
        raise _StudentError(f"your forward must return a pair (output, cache), got "
                            f"{type(result).__name__}")
    _unchanged(names, inputs, saved, "forward")
    out = result[0]
    if isinstance(out, np.ndarray) and out.dtype != np.float64:
        raise _StudentError(f"your forward returns {out.dtype}; keep float64 (in float32 the "
                            "round-off swamps a gradient check)")
    return np.asarray(out, dtype=np.float64), result[1]


def _run_pair(exercise: Exercise, forward: Callable, backward: Callable
              ) -> tuple[dict[str, Discrepancy], Discrepancy]:
    rng = np.random.default_rng(exercise.seed)
    inputs = exercise.make_inputs(rng)
    frozen = tuple(np.copy(a) for a in inputs)
    names = exercise.input_names
    out, cache = _forward(forward, inputs, names)
    expected, _ = exercise.forward(*(np.copy(a) for a in inputs))
    expected = np.asarray(expected, dtype=np.float64)
    if out.shape != expected.shape:
        raise _StudentError(f"your forward returns {exercise.output_name} of shape {out.shape}, "
                            f"the library's has shape {expected.shape}")
    dout = rng.standard_normal(out.shape)
    grads = _call("backward", backward, ("d" + exercise.output_name, "cache"), dout, cache)
    grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
    wanted = [names[i] for i in exercise.grads_for]
    if len(grads) != len(wanted):
        raise _StudentError(f"your backward returns {len(grads)} gradient(s); it should return "
                            f"{len(wanted)}: " + ", ".join("d" + n for n in wanted))
    gradients = {}
    for g, i in zip(grads, exercise.grads_for):
        g = np.asarray(g, dtype=np.float64)
        if g.shape != np.shape(inputs[i]):
            raise _StudentError(f"your d{names[i]} has shape {g.shape}, but {names[i]} has shape "
                                f"{np.shape(inputs[i])}")
        if exercise.held_fixed is not None:
            held = exercise.held_fixed
            numerical = numerical_gradient_of_scalar(lambda: held(inputs, frozen, dout), inputs[i])
        else:
            numerical = numerical_gradient(lambda: _forward(forward, inputs, names)[0], inputs[i],
                                           dout)
        gradients["d" + names[i]] = worst_discrepancy(g, numerical)
    return gradients, worst_discrepancy(out, expected)


def _same(yours: object, expected: object) -> bool:
    """Equal results: the same shapes and -inf pattern, finite values equal to rounding."""
    if isinstance(expected, tuple):
        return (isinstance(yours, tuple) and len(yours) == len(expected)
                and all(_same(a, b) for a, b in zip(yours, expected)))
    a, b = np.asarray(yours), np.asarray(expected)
    if a.shape != b.shape or not np.issubdtype(a.dtype, np.number):
        return False
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (np.array_equal(np.isfinite(a), np.isfinite(b)) and np.array_equal(a[~np.isfinite(a)],
                                                                                b[~np.isfinite(b)])
            and bool(np.allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-10, atol=1e-12)))


def _run_function(exercise: FunctionExercise, function: Callable) -> dict[str, str]:
    cases = {}
    for description, args in exercise.cases():
        saved = [np.copy(a) if isinstance(a, np.ndarray) else a for a in args]
        try:
            yours = _call("function", function, exercise.input_names, *args)
        except _StudentError as e:         # one case's error: report it, run the other cases
            if "NotImplementedError" in str(e) or "cannot be called" in str(e):
                raise
            cases[description] = str(e)
            continue
        _unchanged(exercise.input_names, args, saved, "function")
        if exercise.judge is not None:
            cases[description] = exercise.judge(args, yours)
            continue
        expected = exercise.function(*args)
        cases[description] = ("ok" if _same(yours, expected)
                              else exercise.explain(args, yours, expected))
    return cases


def check(name: str, forward: Callable, backward: Callable | None = None, *,
          verbose: bool = True) -> CheckResult:
    """Grade exercise ``name``: a pair ``check(name, forward, backward)`` is gradient-checked and
    its forward compared with the library's; a function ``check(name, function)`` is compared with
    the library's on named cases. Prints the verdict (unless ``verbose=False``) and returns it."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; the exercises are: {', '.join(EXERCISES)}")
    exercise = EXERCISES[name]
    try:
        if isinstance(exercise, FunctionExercise):
            if backward is not None:
                raise _StudentError(f"{name!r} is a function without a backward: call "
                                    f"check({name!r}, your_function)")
            cases = _run_function(exercise, forward)
            result = CheckResult(name, all(v == "ok" for v in cases.values()), cases=cases)
        else:
            if backward is None:
                raise _StudentError(f"{name!r} is a forward/backward pair: call "
                                    f"check({name!r}, your_forward, your_backward)")
            gradients, fwd = _run_pair(exercise, forward, backward)
            passed = (all(d.rel_error < GRADIENT_TOLERANCE for d in gradients.values())
                      and fwd.rel_error < FORWARD_TOLERANCE)
            result = CheckResult(name, passed, gradients, fwd)
    except _StudentError as e:
        result = CheckResult(name, False, problem=str(e))
    if verbose:
        print(verdict(result))
    return result


def describe_inputs(exercise: Exercise) -> list[str]:
    """The inputs a pair is checked on, one line each: floats by shape, ids and masks in full."""
    lines = []
    for name, a in zip(exercise.input_names, exercise.inputs()):
        a = np.asarray(a)
        if np.issubdtype(a.dtype, np.floating):
            lines.append(f"{name}: float64 {a.shape}" + (f" = {a.item():.6g}" if a.ndim == 0
                                                        else ""))
        else:
            shown = np.array2string(a.astype(int) if a.dtype == bool else a, separator=", ")
            lines.append(f"{name}: {a.dtype} {a.shape} = " + " ".join(shown.split()))
    if exercise.note:
        lines.append(exercise.note)
    return lines


def verdict(result: CheckResult) -> str:
    """The friendly text ``check`` prints."""
    exercise = EXERCISES[result.name]
    lines = [f"{result.name}: {'PASS' if result.passed else 'FAIL'}"]
    if isinstance(exercise, Exercise):
        lines.append(f"  inputs (seed {exercise.seed}):")
        lines += ["    " + line for line in describe_inputs(exercise)]
    if result.problem is not None:
        lines += ["  " + line for line in result.problem.splitlines()]
        lines += ["", f"  The {'function' if isinstance(exercise, FunctionExercise) else 'pair'}"
                      " to write:"]
        lines += ["    " + s for s in exercise.signature.splitlines()]
        lines.append(f"  It is explained in {exercise.lesson}.")
        return "\n".join(lines)
    if isinstance(exercise, FunctionExercise):
        lines.append(f"  your function against {exercise.reference}, case by case:")
        for case, outcome in result.cases.items():
            first, *rest = outcome.splitlines()
            lines += [f"    {case}: {first}"] + ["      " + line for line in rest]
        if not result.passed:
            lines.append(f"  It is explained in {exercise.lesson}.")
        return "\n".join(lines)
    return "\n".join(lines + _pair_lines(exercise, result))


def _pair_lines(exercise: Exercise, result: CheckResult) -> list[str]:
    lines = [f"  gradient check of your backward against {exercise.checked_against} "
             f"(float64; needs < {GRADIENT_TOLERANCE:.0e}):"]
    width = max(len(n) for n in result.gradients)
    bad_grads = []
    for grad_name, d in result.gradients.items():
        line = (f"    {grad_name:<{width}}  worst relative error {d.rel_error:.1e} "
                f"at {_index(grad_name, d.index)}")
        if not d.rel_error < GRADIENT_TOLERANCE:
            line += f"  <- yours {d.analytic:.6g}, numerical {d.numerical:.6g}"
            bad_grads.append((grad_name, d))
        lines.append(line)
    fwd = result.forward
    out_name = exercise.output_name
    fwd_ok = fwd.rel_error < FORWARD_TOLERANCE
    lines.append(f"  your forward against {exercise.reference_name()} "
                 f"(needs < {FORWARD_TOLERANCE:.0e}):")
    line = (f"    {out_name:<{width}}  worst relative error {fwd.rel_error:.1e} "
            f"at {_index(out_name, fwd.index)}")
    if not fwd_ok:
        line += f"  <- yours {fwd.analytic:.6g}, minifm's {fwd.numerical:.6g}"
    lines.append(line)

    if result.passed:
        lines.append("  Your backward is the gradient it should be, and your forward computes "
                     "what minifm's does.")
    for grad_name, d in bad_grads:
        x = grad_name[1:]
        lines.append(f"  Your backward is not the gradient it should be: at "
                     f"{_index(grad_name, d.index)} it says {d.analytic:.6g}, but nudging "
                     f"{_index(x, d.index)} changes the checked quantity as if it were "
                     f"{d.numerical:.6g}.")
    if not fwd_ok:
        lines.append(f"  Your forward computes something other than minifm's: compare "
                     f"{_index(out_name, fwd.index)}. (A gradient check cannot see this: it only "
                     "asks whether backward matches forward.)")
    if not result.passed:
        lines.append(f"  The derivation is in {exercise.lesson}.")
    return lines
