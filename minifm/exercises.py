"""Exercises that check themselves: write a forward/backward pair, and ``check`` grades it.

    from minifm.exercises import check
    result = check("layernorm", my_layernorm_forward, my_layernorm_backward)

Your pair has the same signature as the library's (``EXERCISES[name].signature`` shows it), e.g.
``y, cache = my_layernorm_forward(x, gamma, beta)`` and
``dx, dgamma, dbeta = my_layernorm_backward(dy, cache)``. ``check`` builds small float64 inputs from
a fixed seed and runs two checks:

1. **Gradient check of your pair.** Your backward against central differences of *your* forward
   (``minifm.gradcheck``): for every input, the worst relative error must be below 1e-7, the bound
   for smooth ops in float64 (lesson 3 explains why).
2. **Your forward against the library's**, on the same inputs: the worst relative error must be
   below 1e-8. A gradient check alone cannot catch a wrong forward: a backward that faithfully
   differentiates the wrong function passes it.

It prints a verdict naming the worst relative error, the index where it happens and both values
there, and returns a ``CheckResult``. Errors raised by your code are reported, not re-raised, so
an exercise you have not started yet says so instead of crashing the notebook.

Lessons 1 to 6 (lessons/01_tokens_and_embeddings.md ... lessons/06_feedforward_gelu_residuals.md)
end with these exercises; their notebooks run them.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from minifm.functional.activations import gelu_backward, gelu_forward
from minifm.functional.attention import attention_backward, attention_forward
from minifm.functional.embedding import embedding_backward, embedding_forward
from minifm.functional.layernorm import layernorm_backward, layernorm_forward
from minifm.functional.linear import linear_backward, linear_forward
from minifm.functional.losses import cross_entropy_backward, cross_entropy_forward
from minifm.functional.softmax import softmax_backward, softmax_forward
from minifm.gradcheck import Discrepancy, numerical_gradient, worst_discrepancy

GRADIENT_TOLERANCE = 1e-7      # smooth ops in float64 with h = 1e-5 (minifm.gradcheck)
FORWARD_TOLERANCE = 1e-8       # the same function computed another way differs by ~1e-15


@dataclass(frozen=True)
class Exercise:
    """One checkable pair: how to build its inputs and what the library computes."""

    signature: str                                   # what the student writes, for the verdict
    forward: Callable                                # the library's pair, called like the student's
    backward: Callable
    make_inputs: Callable[[np.random.Generator], tuple]   # float64 (and int) inputs, in call order
    seed: int                                        # fixes the inputs (see EXERCISES)
    input_names: tuple[str, ...]
    grads_for: tuple[int, ...]                       # which input each returned gradient belongs to
    lesson: str                                      # where the backward is derived
    output_name: str = "y"
    reference: str = ""                              # how the verdict names the library's forward

    def reference_name(self) -> str:
        return self.reference or f"{self.forward.__module__}.{self.forward.__name__}"


def _causal(T: int) -> np.ndarray:
    return np.tril(np.ones((T, T), dtype=bool))                  # (T, T), True = may attend


def _qkv(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    B, H, T, D = 2, 2, 3, 4
    return tuple(rng.standard_normal((B, H, T, D)) for _ in range(3))


def _gelu_input(rng: np.random.Generator) -> tuple[np.ndarray]:
    """x in [-2.5, -1.5] or [-0.3, 2.5]: away from x ~ -0.75, where GELU's slope crosses 0 and a
    relative error compares two numbers that are both almost nothing."""
    x = rng.uniform(-0.3, 2.5, size=(3, 4))
    left = rng.random((3, 4)) < 0.3
    x[left] = rng.uniform(-2.5, -1.5, size=int(left.sum()))
    return (x,)


# Each exercise's inputs come from a fixed seed, chosen so that the library's own pair passes with
# a margin of 50x or more below GRADIENT_TOLERANCE. A correct pair differs from the library's only
# by rounding, so it passes too; with other seeds a gradient entry can happen to be ~1e-4, where
# the round-off of central differences (~1e-11 absolute) alone is a relative error near 1e-7.
EXERCISES: dict[str, Exercise] = {
    "linear": Exercise(
        signature="y, cache = forward(x, w, b)   # x (N, C_in), w (C_in, C_out), b (C_out,)\n"
                  "dx, dw, db = backward(dy, cache)",
        forward=linear_forward, backward=linear_backward,
        make_inputs=lambda rng: (rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)),
                                 rng.standard_normal(5)),
        seed=11, input_names=("x", "w", "b"), grads_for=(0, 1, 2),
        lesson="lessons/02_linear_softmax_cross_entropy.md"),
    "softmax": Exercise(
        signature="y, cache = forward(x)   # x (N, V); softmax over the last axis\n"
                  "dx = backward(dy, cache)",
        forward=softmax_forward, backward=softmax_backward,
        make_inputs=lambda rng: (rng.standard_normal((4, 5)),),
        seed=10, input_names=("x",), grads_for=(0,),
        lesson="lessons/02_linear_softmax_cross_entropy.md"),
    "cross_entropy": Exercise(
        signature="loss, cache = forward(logits, targets)   # logits (N, V), targets (N,) int\n"
                  "dlogits = backward(dloss, cache)         # loss = mean over the N rows",
        forward=cross_entropy_forward, backward=cross_entropy_backward,
        make_inputs=lambda rng: (rng.standard_normal((6, 5)), rng.integers(0, 5, size=6)),
        seed=12, input_names=("logits", "targets"), grads_for=(0,), output_name="loss",
        lesson="lessons/02_linear_softmax_cross_entropy.md"),
    "layernorm": Exercise(
        signature="y, cache = forward(x, gamma, beta)   # x (B, T, C), gamma, beta (C,); eps 1e-5\n"
                  "dx, dgamma, dbeta = backward(dy, cache)",
        forward=layernorm_forward, backward=layernorm_backward,
        make_inputs=lambda rng: (rng.standard_normal((2, 3, 4)),
                                 1.0 + 0.1 * rng.standard_normal(4), 0.1 * rng.standard_normal(4)),
        seed=14, input_names=("x", "gamma", "beta"), grads_for=(0, 1, 2),
        lesson="lessons/04_layer_norm.md"),
    "gelu": Exercise(
        signature="y, cache = forward(x)   # the tanh approximation (GPT-2)\n"
                  "dx = backward(dy, cache)",
        forward=gelu_forward, backward=gelu_backward, make_inputs=_gelu_input,
        seed=2, input_names=("x",), grads_for=(0,),
        lesson="lessons/06_feedforward_gelu_residuals.md"),
    "gelu_exact": Exercise(
        signature="y, cache = forward(x)   # the exact form x * Phi(x), Phi with erf (BERT)\n"
                  "dx = backward(dy, cache)",
        forward=lambda x: gelu_forward(x, approximate="none"), backward=gelu_backward,
        make_inputs=_gelu_input, seed=1, input_names=("x",), grads_for=(0,),
        lesson="lessons/06_feedforward_gelu_residuals.md",
        reference='minifm.functional.activations.gelu_forward(x, approximate="none")'),
    "attention": Exercise(
        signature="y, cache = forward(q, k, v)   # each (B, H, T, D); softmax(q k^T / sqrt(D)) v\n"
                  "dq, dk, dv = backward(dy, cache)",
        forward=attention_forward, backward=attention_backward, make_inputs=_qkv,
        seed=13, input_names=("q", "k", "v"), grads_for=(0, 1, 2),
        lesson="lessons/05_attention.md"),
    "causal_attention": Exercise(
        signature="y, cache = forward(q, k, v, allowed)   # allowed (T, T) bool: may attend\n"
                  "dq, dk, dv = backward(dy, cache)",
        forward=attention_forward, backward=attention_backward,
        make_inputs=lambda rng: _qkv(rng) + (_causal(3),),
        seed=34, input_names=("q", "k", "v", "allowed"), grads_for=(0, 1, 2),
        lesson="lessons/05_attention.md"),
    "embedding": Exercise(
        signature="out, cache = forward(idx, weight)   # idx (B, T) int, weight (V, C)\n"
                  "dweight = backward(dout, cache)      # an id used twice adds twice",
        forward=embedding_forward, backward=embedding_backward,
        make_inputs=lambda rng: (np.array([[1, 3, 1], [0, 3, 3]]), rng.standard_normal((5, 4))),
        seed=7, input_names=("idx", "weight"), grads_for=(1,), output_name="out",
        lesson="lessons/01_tokens_and_embeddings.md"),
}


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found. ``passed`` is True only if every check ran and met its bound."""

    name: str
    passed: bool
    gradients: dict[str, Discrepancy] = field(default_factory=dict)  # "dx": vs central differences
    forward: Discrepancy | None = None                               # your output vs the library's
    problem: str | None = None            # why the checks could not run (an error, a wrong shape)

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


def _call(what: str, fn: Callable, *args: object) -> object:
    try:
        return fn(*args)
    except Exception as e:                          # the student's bug, reported in the verdict
        if isinstance(e, NotImplementedError):
            raise _StudentError(f"your {what} raises NotImplementedError: write it, then run "
                                "this check again") from None
        frames = traceback.format_exception(type(e), e, e.__traceback__.tb_next)
        raise _StudentError(f"your {what} raised {type(e).__name__}: {e}\n\n"
                            + "".join(frames).rstrip()) from None


def _forward(fn: Callable, inputs: tuple, names: tuple[str, ...]) -> tuple[np.ndarray, object]:
    saved = [np.copy(a) for a in inputs]
    result = _call("forward", fn, *inputs)
    if not isinstance(result, tuple) or len(result) != 2:
        raise _StudentError(f"your forward must return a pair (output, cache), got "
                            f"{type(result).__name__}")
    for name, a, before in zip(names, inputs, saved):
        if not np.array_equal(a, before):
            raise _StudentError(f"your forward changed its input {name!r} in place; compute into "
                                "new arrays instead (the gradient check nudges the inputs and "
                                "needs them back unchanged)")
    out = result[0]
    if isinstance(out, np.ndarray) and out.dtype != np.float64:
        raise _StudentError(f"your forward returns {out.dtype}; keep float64 (in float32 the "
                            "round-off swamps a gradient check)")
    return np.asarray(out, dtype=np.float64), result[1]


def _run(exercise: Exercise, forward: Callable, backward: Callable
         ) -> tuple[dict[str, Discrepancy], Discrepancy]:
    rng = np.random.default_rng(exercise.seed)
    inputs = exercise.make_inputs(rng)
    names = exercise.input_names
    out, cache = _forward(forward, inputs, names)
    expected, _ = exercise.forward(*(np.copy(a) for a in inputs))
    expected = np.asarray(expected, dtype=np.float64)
    if out.shape != expected.shape:
        raise _StudentError(f"your forward returns {exercise.output_name} of shape {out.shape}, "
                            f"the library's has shape {expected.shape}")
    dout = rng.standard_normal(out.shape)
    grads = _call("backward", backward, dout, cache)
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
        numerical = numerical_gradient(lambda: _forward(forward, inputs, names)[0], inputs[i],
                                       dout)
        gradients["d" + names[i]] = worst_discrepancy(g, numerical)
    return gradients, worst_discrepancy(out, expected)


def check(name: str, forward: Callable, backward: Callable, *, verbose: bool = True
          ) -> CheckResult:
    """Gradient-check your ``forward``/``backward`` pair for exercise ``name`` and compare your
    forward with the library's. Prints the verdict (unless ``verbose=False``) and returns it."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; the exercises are: {', '.join(EXERCISES)}")
    try:
        gradients, fwd = _run(EXERCISES[name], forward, backward)
        passed = (all(d.rel_error < GRADIENT_TOLERANCE for d in gradients.values())
                  and fwd.rel_error < FORWARD_TOLERANCE)
        result = CheckResult(name, passed, gradients, fwd)
    except _StudentError as e:
        result = CheckResult(name, False, problem=str(e))
    if verbose:
        print(verdict(result))
    return result


def verdict(result: CheckResult) -> str:
    """The friendly text ``check`` prints."""
    exercise = EXERCISES[result.name]
    lines = [f"{result.name}: {'PASS' if result.passed else 'FAIL'}"]
    if result.problem is not None:
        lines += ["  " + line for line in result.problem.splitlines()]
        lines += ["", "  The pair to write:"]
        lines += ["    " + s for s in exercise.signature.splitlines()]
        lines.append(f"  The derivation is in {exercise.lesson}.")
        return "\n".join(lines)

    lines.append(f"  gradient check of your backward (float64, central differences; "
                 f"needs < {GRADIENT_TOLERANCE:.0e}):")
    width = max(len(n) for n in result.gradients)
    bad_grads = []
    for grad_name, d in result.gradients.items():
        ok = d.rel_error < GRADIENT_TOLERANCE
        line = (f"    {grad_name:<{width}}  worst relative error {d.rel_error:.1e} "
                f"at {_index(grad_name, d.index)}")
        if not ok:
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
        lines.append("  Your backward is the derivative of your forward, and your forward "
                     "computes what minifm's does.")
    for grad_name, d in bad_grads:
        x = grad_name[1:]
        lines.append(f"  Your backward is not the derivative of your forward: at "
                     f"{_index(grad_name, d.index)} it says {d.analytic:.6g}, but nudging "
                     f"{_index(x, d.index)} changes the output as if it were {d.numerical:.6g}.")
    if not fwd_ok:
        lines.append(f"  Your forward computes something other than minifm's: compare "
                     f"{_index(out_name, fwd.index)}. (A gradient check cannot see this: it only "
                     "asks whether backward matches forward.)")
    if not result.passed:
        lines.append(f"  The derivation is in {exercise.lesson}.")
    return "\n".join(lines)
