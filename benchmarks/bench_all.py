"""Every speed figure of issue 18 from one run: the GPT step ratios, the other families' steps,
generation and memory.

    python benchmarks/bench_all.py [--steps 60] [--steps-2 30] [--out benchmarks/out]

Runs, each in its own process (so thread counts and allocator state start fresh):

1. ``bench_gpt_step.py`` for the baby GPT (batch 12) and the classroom GPT (2 layers, 2 heads,
   width 64, block 32, batch 16) on 1 thread (CPU clock: the steady
   figure on a shared machine) and on 2 threads (wall clock), minifm and its PyTorch twin
   interleaved step by step, each run with its own float32 matmul peak; the baby 1-thread run also
   measures peak memory;
2. ``profile_step.py --family all``: GPT, BERT, CLIP and DALL-E (token model) steps on 1 thread,
   split into forward / backward / optimizer and per op;
3. ``bench_generate.py``: baby-GPT tokens/s at 256 new tokens, with and without the KV cache,
   and the PyTorch twin's.

Each writes its JSON into ``--out``; this script prints them together with the targets and the
load average at the start and end of each part (2-thread figures under load are not idle
figures: see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = {"baby": 0.8, "classroom": 0.6}       # minifm / PyTorch step time, at most
BATCH = {"baby": 12, "classroom": 16}            # the recipe's batch; the classroom size's
PEAK_TARGET = 0.65                               # fraction of the matmul peak, at least


def run(script: str, *args: str) -> tuple[float, float]:
    """Run one benchmark script, echoing its output; returns the load average before and after."""
    before = os.getloadavg()[0]
    print(f"\n$ python benchmarks/{script} {' '.join(args)}   (load average {before:.1f})",
          flush=True)
    subprocess.run([sys.executable, str(HERE / script), *args], check=True, cwd=HERE)
    return before, os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps, 1-thread runs")
    parser.add_argument("--steps-2", type=int, default=30, help="timed steps, 2-thread runs")
    parser.add_argument("--out", default=str(HERE / "out"))
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    steps, loads = {}, {}
    for threads, clock, n in ((1, "cpu", args.steps), (2, "wall", args.steps_2)):
        for preset in TARGETS:
            path = out / f"gpt_step_{preset}_{threads}thread.json"
            memory = [] if (preset, threads) == ("baby", 1) else ["--no-memory"]
            loads[preset, threads] = run("bench_gpt_step.py", "--preset", preset, "--batch",
                                         str(BATCH[preset]), "--threads", str(threads),
                                         "--clock", clock, "--steps", str(n), "--json",
                                         str(path), *memory)
            steps[preset, threads] = json.loads(path.read_text())
    run("profile_step.py", "--family", "all", "--json", str(out / "profile_steps.json"))
    run("bench_generate.py", "--json", str(out / "generate.json"))
    profiles = json.loads((out / "profile_steps.json").read_text())
    generation = json.loads((out / "generate.json").read_text())

    print("\n==== summary (minifm / PyTorch step time; lower is faster) ====")
    for (preset, threads), r in steps.items():
        before, after = loads[preset, threads]
        m = r["minifm"]
        print(f"{preset:9s} {threads} thread(s), {r['clock']} clock: median ratio "
              f"{r['ratio']:.3f}, fastest-decile ratio {r['ratio_p10']:.3f} (target <= "
              f"{TARGETS[preset]}); minifm {m['median_ms']:.1f} ms = {m['fraction_of_peak']:.0%} "
              f"of the {r['matmul_peak_gflops']:.0f} GFLOP/s peak (target >= {PEAK_TARGET:.0%}); "
              f"load {before:.1f} -> {after:.1f}")
    memory = steps["baby", 1].get("memory_mb", {})
    for name, mb in memory.items():
        print(f"baby step memory, {name}: {mb['train']:.1f} MB above imports "
              f"(target for minifm: <= 61 MB)")
    for p in profiles:
        print(f"{p['family']:6s} step {p['step_ms']:6.1f} ms CPU (forward {p['forward_ms']:.1f}, "
              f"backward {p['backward_ms']:.1f}, optimizer {p['optimizer_ms']:.1f}), "
              f"{p['examples_per_s']:.0f} examples/s")
    print("generation, 256 new tokens: " + ", ".join(
        f"{name} {generation[name]['tokens_per_s']:.0f} tok/s"
        for name in ("minifm_kv_cache", "minifm_no_cache", "pytorch")))
    summary = {"steps": {f"{p}_{t}thread": r for (p, t), r in steps.items()},
               "loads": {f"{p}_{t}thread": v for (p, t), v in loads.items()},
               "profiles": profiles, "generation": generation}
    (out / "bench_all.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
