"""Time the guided tour as a user runs it: wall and CPU seconds and peak memory of every stop.

    python benchmarks/time_tour.py                    # every stop, each in its own process
    python benchmarks/time_tour.py --only gpt --only bert
    python benchmarks/time_tour.py --one-process      # `python -m minifm tour` exactly, once
    python benchmarks/time_tour.py --threads 1        # one BLAS thread (steadier when busy)

Each stop runs as ``python -m minifm tour --only FAMILY --out DIR`` in a child process, in the
tour's order and into the same DIR, so a later stop finds what an earlier one wrote (the
text-to-image stop reuses the CLIP stop's CLIP). For each child ``os.wait4`` gives its own CPU
time (user + system) and peak resident memory (``ru_maxrss``: the child's high-water mark, the
Python interpreter and NumPy included); wall time is measured around it, and the stop's own
"took" line (wall time inside the tour, without the interpreter's start) is read from its output.
``--one-process`` runs the whole tour in one child instead, as the README's command does: the
stops' printed times, and one CPU time and one peak for all of them.

The load average before and after says how busy the machine was: wall time on a shared machine
is inflated by other work; CPU time much less so. Results, with what each stop printed, go to
benchmarks/out/tour.json (or ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
TOOK = re.compile(r"\((\w+) stop took (.+?); files in ")


def run_tour(args: list[str], env: dict[str, str]) -> dict:
    """Run ``python -m minifm tour ARGS`` in a child; its wall, CPU and peak memory, its output."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "minifm", "tour", *args], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"`minifm tour {' '.join(args)}` failed ({child.returncode}):\n{output}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),       # Linux: kB
            "printed": dict(TOOK.findall(output)), "output": output}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="FAMILY",
                        help="time only this stop (repeatable); default every stop")
    parser.add_argument("--one-process", action="store_true",
                        help="run the chosen stops in one `minifm tour` process")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads of the tour (default: as the environment says)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "tour.json"))
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from minifm.tour import STOPS                                    # the stops, in order
    families = [s.family for s in STOPS if not args.only or s.family in args.only]
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    if args.threads:
        env.update({name: str(args.threads) for name in THREAD_VARIABLES})
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as out:
        if args.one_process:
            only = [a for f in families for a in ("--only", f)]
            whole = run_tour([*only, "--out", out], env)
            stops = [{"family": f, "printed": whole["printed"].get(f)} for f in families]
            stops[0]["output"] = whole["output"]
            total = {k: whole[k] for k in ("wall_seconds", "cpu_seconds", "peak_rss_mb")}
        else:
            stops = []
            for family in families:
                run = run_tour(["--only", family, "--out", out], env)
                stops.append({"family": family, "printed": run["printed"].get(family),
                              **{k: run[k] for k in ("wall_seconds", "cpu_seconds",
                                                     "peak_rss_mb", "output")}})
                print(f"{family:6s} wall {run['wall_seconds']:6.1f} s  cpu "
                      f"{run['cpu_seconds']:6.1f} s  peak {run['peak_rss_mb']:7.1f} MB  "
                      f"(the stop printed: took {stops[-1]['printed']})", flush=True)
            total = {"wall_seconds": round(sum(s["wall_seconds"] for s in stops), 1),
                     "cpu_seconds": round(sum(s["cpu_seconds"] for s in stops), 1),
                     "peak_rss_mb": max(s["peak_rss_mb"] for s in stops)}
    load_after = os.getloadavg()
    result = {"command": "python -m minifm tour" + "".join(f" --only {f}" for f in families),
              "one_process": args.one_process,
              "threads": env.get("OPENBLAS_NUM_THREADS", "default"),
              "cpu_count": os.cpu_count(), "load_before": load_before, "load_after": load_after,
              "stops": stops, "total": total}
    if args.one_process:
        for s in stops:
            print(f"{s['family']:6s} the stop printed: took {s['printed']}")
    print(f"total  wall {total['wall_seconds']:6.1f} s  cpu {total['cpu_seconds']:6.1f} s  "
          f"peak {total['peak_rss_mb']:7.1f} MB; load average (1, 5, 15 min) before "
          f"{', '.join(f'{x:.1f}' for x in load_before)}, after "
          f"{', '.join(f'{x:.1f}' for x in load_after)}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
