"""Generation speed of the baby GPT: tokens per second with and without the key/value cache,
and of its PyTorch twin (nanoGPT's ``generate``, which has no cache).

    python benchmarks/bench_generate.py [--threads 1] [--new-tokens 256] [--batch 1] [--repeats 5]

Each implementation samples ``--new-tokens`` tokens after a one-token prompt, in eval mode, from
the same (untrained) weights; the three take turns (ABC, then CBA, ...) and the median time per
run is reported. The baby GPT's context is 64 tokens, so past token 64 the window slides and
every token's position changes: minifm's cached path then recomputes the window (the same work
as the uncached one), so the cache speeds up only the first 63 of 256 tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from harness import baby_config, pin_threads
from minifm.models.gpt import GPT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="cpu",
                        help="cpu: process CPU time (a step time only with --threads 1)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    threads = pin_threads(args.threads)
    import torch
    from gpt_torch_twin import TwinGPT
    clock = time.perf_counter if args.clock == "wall" else time.process_time

    model = GPT(baby_config(65), rng=np.random.default_rng(1337), dtype=np.float32)
    twin = TwinGPT.from_minifm(model).eval()
    prompt = np.zeros((args.batch, 1), dtype=np.int64)
    runs = {
        "minifm_kv_cache": lambda: model.generate(prompt, args.new_tokens,
                                                  rng=np.random.default_rng(0)),
        "minifm_no_cache": lambda: model.generate(prompt, args.new_tokens, use_cache=False,
                                                  rng=np.random.default_rng(0)),
        "pytorch": lambda: twin.generate(torch.from_numpy(prompt), args.new_tokens,
                                         torch.Generator().manual_seed(0)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    for i in range(args.repeats + 1):                    # the first round warms up, not counted
        for name in (order if i % 2 == 0 else order[::-1]):
            start = clock()
            runs[name]()
            if i:
                seconds[name].append(clock() - start)
    tokens = args.batch * args.new_tokens
    result = {"threads": threads, "clock": args.clock, "new_tokens": args.new_tokens,
              "batch": args.batch, "load_average": os.getloadavg()}
    print(f"baby GPT generation, {args.new_tokens} new tokens x batch {args.batch}, {threads} "
          f"thread(s), {args.clock} clock, load average {os.getloadavg()[0]:.1f}")
    for name, s in seconds.items():
        med = float(np.median(s))
        result[name] = {"median_s": med, "tokens_per_s": tokens / med}
        print(f"  {name:16s} {tokens / med:8.0f} tokens/s  ({1e3 * med:.0f} ms per run, median "
              f"of {args.repeats})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
