"""The machine's float32 matrix-multiply peak: the yardstick for "fraction of peak" figures.

    python benchmarks/matmul_peak.py [--threads N]

Times a square float32 2-D matmul (n = 2048 by default, large enough that packing and threading
overheads vanish) with NumPy (OpenBLAS) and with PyTorch (oneMKL / oneDNN) if it is installed,
and reports the faster one's median rate in GFLOP/s (2 n^3 flops per product).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _median_seconds(fn, repeats: int, clock) -> float:
    fn()                                                   # warm up: threads, page faults, packing
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return float(np.median(times))


def matmul_peak(n: int = 2048, repeats: int = 9, clock=time.perf_counter) -> dict[str, float]:
    """float32 GFLOP/s of an (n, n) @ (n, n) product: {"numpy": ..., "torch": ..., "peak": max}.

    ``clock``: wall time by default; ``time.process_time`` measures CPU time instead (steadier on
    a busy machine, and the same as wall time for one thread on an idle one)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    flops = 2.0 * n ** 3
    seconds = _median_seconds(lambda: np.matmul(a, b, out=out), repeats, clock)
    rates = {"numpy": flops / seconds / 1e9}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
        seconds = _median_seconds(lambda: torch.mm(ta, tb, out=tout), repeats, clock)
        rates["torch"] = flops / seconds / 1e9
    rates["peak"] = max(rates.values())
    return rates


def main() -> None:
    from harness import pin_threads
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="BLAS/torch threads "
                        "(default: all cores)")
    parser.add_argument("--n", type=int, default=2048)
    args = parser.parse_args()
    threads = pin_threads(args.threads)
    rates = matmul_peak(args.n)
    print(f"float32 {args.n}^3 matmul, {threads} thread(s): "
          + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in rates.items()))


if __name__ == "__main__":
    main()
