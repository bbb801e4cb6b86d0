"""Time one full GPT training step of minifm against its PyTorch twin, in one run.

    python benchmarks/bench_gpt_step.py [--threads N] [--steps 200] [--preset baby] [--batch 12]
                                        [--clock wall|cpu] [--no-memory] [--json F]

A step is zero_grad, forward, backward, clipping the gradient norm to 1 and an AdamW update, on
the baby-GPT recipe (batch 12, block 64, 4 layers, 4 heads, width 128). The two implementations
start from the same weights and take turns step by step (ABBA order, so neither always runs right
after the other), and each one's median step time is reported: these machines are shared and
their speed drifts over minutes, which interleaving cancels. Also reported: tokens per second,
minifm's matmul FLOP/s as a fraction of the float32 matmul peak measured in this same run, and
each implementation's peak resident memory in a separate fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from harness import (Recipe, baby_config, make_runners, peak_rss_child, pin_threads,
                     train_step_flops)
from matmul_peak import matmul_peak


def time_steps(runners: list, config, recipe: Recipe, steps: int, warmup: int, clock
               ) -> dict[str, np.ndarray]:
    """Seconds per step of each runner, ``steps`` timed steps each after ``warmup`` untimed ones,
    interleaved in ABBA order on the same random batches."""
    rng = np.random.default_rng(0)
    times: dict[str, list[float]] = {r.name: [] for r in runners}
    for i in range(warmup + steps):
        x, y = rng.integers(0, config.vocab_size, size=(2, recipe.batch_size, config.context_length))
        for runner in (runners if i % 2 == 0 else runners[::-1]):
            start = clock()
            runner.step(x, y, recipe.lr)
            if i >= warmup:
                times[runner.name].append(clock() - start)
    return {name: np.array(t) for name, t in times.items()}


def measure_memory(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Each implementation's memory, from a fresh process running this script's --child mode."""
    results = {}
    for name in ("minifm", "pytorch"):
        out = subprocess.run([sys.executable, __file__, "--child", name, "--threads",
                              str(args.threads), "--preset", args.preset,
                              "--vocab", str(args.vocab), "--batch", str(args.batch),
                              "--memory-steps", str(args.memory_steps)],
                             check=True, capture_output=True, text=True).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="default: every core")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per implementation")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--preset", default="baby", help="a minifm.models.gpt.PRESETS name")
    parser.add_argument("--vocab", type=int, default=65, help="V (65: tiny Shakespeare's chars)")
    parser.add_argument("--batch", type=int, default=Recipe.batch_size,
                        help="B (default the recipe's 12; the classroom size uses 16)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: the process's CPU time, steadier on a busy machine but only "
                        "a step time with --threads 1")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--memory-steps", type=int, default=20)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--child", choices=("minifm", "pytorch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.threads = pin_threads(args.threads)
    config, recipe = baby_config(args.vocab, args.preset), Recipe(batch_size=args.batch)
    if args.child:
        print(json.dumps(peak_rss_child(args.child, config, recipe, args.memory_steps)))
        return

    B, T = recipe.batch_size, config.context_length
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "MALLOC_TOP_PAD_") if k in os.environ}
    print(f"{args.preset} GPT: L={config.n_layer} H={config.n_head} C={config.n_embd} T={T} "
          f"V={config.vocab_size}, batch {B}, {args.threads} thread(s), {args.clock} clock, "
          f"numpy {np.__version__}, load average {os.getloadavg()[0]:.1f}, env {env or 'default'}")
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    peak_before = matmul_peak(clock=clock)
    times = time_steps(make_runners(config, recipe), config, recipe, args.steps, args.warmup, clock)
    peak_after = matmul_peak(clock=clock)
    peak = max(peak_before["peak"], peak_after["peak"])
    flops = train_step_flops(config, B, T)
    result = {"threads": args.threads, "preset": args.preset, "clock": args.clock, "env": env,
              "load_average": os.getloadavg(), "matmul_peak_gflops": peak,
              "matmul_peak_detail": {"before": peak_before, "after": peak_after},
              "flops_per_step": flops}
    for name, t in times.items():
        med = float(np.median(t))
        result[name] = {"median_ms": 1e3 * med, "p10_ms": 1e3 * float(np.percentile(t, 10)),
                        "p90_ms": 1e3 * float(np.percentile(t, 90)), "tokens_per_s": B * T / med,
                        "gflops": flops / med / 1e9, "fraction_of_peak": flops / med / 1e9 / peak}
        print(f"{name:8s} median {1e3 * med:7.2f} ms/step (p10 {result[name]['p10_ms']:.2f}, "
              f"p90 {result[name]['p90_ms']:.2f})  {B * T / med:8.0f} tokens/s  "
              f"{flops / med / 1e9:6.1f} GFLOP/s = {result[name]['fraction_of_peak']:.0%} of peak")
    result["ratio"] = result["minifm"]["median_ms"] / result["pytorch"]["median_ms"]
    result["ratio_p10"] = result["minifm"]["p10_ms"] / result["pytorch"]["p10_ms"]
    print(f"float32 matmul peak {peak:.1f} GFLOP/s (numpy {peak_before['numpy']:.0f}/"
          f"{peak_after['numpy']:.0f}, torch {peak_before.get('torch', 0):.0f}/"
          f"{peak_after.get('torch', 0):.0f} before/after); {flops / 1e9:.2f} GFLOP per step")
    print(f"step-time ratio minifm / pytorch = {result['ratio']:.3f} (median of {args.steps} "
          f"interleaved steps each); fastest-decile ratio {result['ratio_p10']:.3f} (p10 / p10: "
          "the steps least disturbed by other work on the machine)")
    if not args.no_memory:
        memory = result["memory_mb"] = measure_memory(args)
        for name, m in memory.items():
            print(f"{name:8s} memory: {m['train']:6.1f} MB above the {m['base']:.0f} MB after "
                  f"imports (peak RSS {m['peak']:.0f} MB), {args.memory_steps} steps")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
