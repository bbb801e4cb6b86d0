"""Where a minifm GPT training step spends its time: CPU time and page faults per functional op.

    python benchmarks/profile_gpt_step.py [--steps 40] [--preset baby]

Runs on one thread (steady, and the whole step is then on the calling thread, so CPU time is step
time). Every forward/backward function the layers call is wrapped to add up its thread CPU time
and the minor page faults it causes; "rest" is the step minus the wrapped calls (residual adds,
reshapes, Python). For a line-level view use cProfile or py-spy on ``harness.MinifmRunner.step``.
"""

from __future__ import annotations

import argparse
import collections
import resource
import time

import numpy as np

from harness import Recipe, baby_config, make_runner, pin_threads
import minifm.models.gpt
import minifm.nn.activations
import minifm.nn.attention
import minifm.nn.embedding
import minifm.nn.layernorm
import minifm.nn.linear
import minifm.training.optim

# (module whose global name the layers call, function names) to time
WRAPPED = [(minifm.nn.linear, ("linear_forward", "linear_backward")),
           (minifm.nn.attention, ("attention_forward", "attention_backward")),
           (minifm.nn.activations, ("gelu_forward", "gelu_backward")),
           (minifm.nn.layernorm, ("layernorm_forward", "layernorm_backward")),
           (minifm.nn.embedding, ("embedding_forward", "embedding_backward")),
           (minifm.models.gpt, ("cross_entropy_forward", "cross_entropy_backward"))]


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--preset", default="baby")
    parser.add_argument("--vocab", type=int, default=65)
    args = parser.parse_args()
    pin_threads(1)
    seconds, page_faults = collections.Counter(), collections.Counter()

    def timed(name: str, fn):
        def wrapper(*a, **k):
            f0, t0 = faults(), time.thread_time()
            out = fn(*a, **k)
            seconds[name] += time.thread_time() - t0
            page_faults[name] += faults() - f0
            return out
        return wrapper

    for module, names in WRAPPED:
        for name in names:
            setattr(module, name, timed(name, getattr(module, name)))
    config, recipe = baby_config(args.vocab, args.preset), Recipe()
    runner = make_runner("minifm", config, recipe)
    runner.opt.step = timed("adamw_step", runner.opt.step)
    rng = np.random.default_rng(0)
    batches = rng.integers(0, config.vocab_size, size=(args.steps + 5, 2, recipe.batch_size,
                                                       config.context_length))
    for x, y in batches[:5]:                                # warm up
        runner.step(x, y, recipe.lr)
    seconds.clear()
    page_faults.clear()
    f0, t0 = faults(), time.thread_time()
    for x, y in batches[5:]:
        runner.step(x, y, recipe.lr)
    total, total_faults = time.thread_time() - t0, faults() - f0
    n = args.steps
    print(f"minifm {args.preset} GPT step, 1 thread: {1e3 * total / n:.2f} ms CPU, "
          f"{total_faults / n:.0f} page faults")
    for name, s in seconds.most_common():
        print(f"  {name:24s} {1e3 * s / n:6.2f} ms  {page_faults[name] / n:6.0f} faults")
    rest = total - sum(seconds.values())
    print(f"  {'rest':24s} {1e3 * rest / n:6.2f} ms  "
          f"{(total_faults - sum(page_faults.values())) / n:6.0f} faults")


if __name__ == "__main__":
    main()
