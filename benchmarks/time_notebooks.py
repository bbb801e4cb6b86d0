"""Time every notebook at its classroom size, one at a time, each in a fresh kernel.

    python benchmarks/time_notebooks.py                      # every notebook, one BLAS thread
    python benchmarks/time_notebooks.py 12 13 --threads 2    # notebooks 12 and 13, two threads
    python benchmarks/time_notebooks.py 05 --cells           # and the time of each code cell

Each notebook runs with nbclient in a new ``python3`` kernel whose working folder is the
repository root, ``MINIFM_NOTEBOOK_SIZE`` set (classroom unless ``--size``), the repository on
``PYTHONPATH``, inline plots, and ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` /
``MKL_NUM_THREADS`` set to ``--threads``. Recorded per notebook: the wall time from kernel start
to the last cell's reply, kernel start-up included (what a student waits for); the kernel
process's CPU time (user + system, from ``/proc/PID/stat``, its children's included, read
just before the kernel shuts down); and the 1-minute load average before and after. On a machine
shared with other work the wall time is inflated and the CPU time is the steadier figure; the
load says how shared it was. The table goes to stdout and every figure to ``--out`` (JSON);
``--executed DIR`` also keeps each executed notebook, outputs included, to read what it printed.
A notebook that fails is reported with its error and the script exits with status 1.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minifm.cli.flags import HelpFormatter, Parser, integer  # noqa: E402
from minifm.cli.outputs import check_output_dir, check_output_file  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
SIZES = ("classroom", "tiny")


def resolve(names: list[str], folder: Path = NOTEBOOKS) -> list[Path]:
    """Notebook paths from command-line names: a path to an .ipynb file, or the start of a
    notebook's file name in ``folder`` ("12", "5", "13_scale"); no names: every notebook."""
    every = sorted(folder.glob("*.ipynb"))
    if not names:
        return every
    paths = []
    for name in names:
        if name.endswith(".ipynb"):
            path = Path(name)
            if not path.is_file():
                raise ValueError(f"notebook {name} does not exist")
            paths.append(path.resolve())
            continue
        prefix = name.zfill(2) if name.isdigit() else name
        matches = [p for p in every if p.stem == prefix or p.stem.startswith(prefix + "_")
                   or (not name.isdigit() and p.stem.startswith(prefix))]
        if len(matches) != 1:
            known = ", ".join(p.stem for p in every) or "none"
            raise ValueError(f"notebook {name!r} matches {len(matches)} notebooks in {folder}; "
                             f"give a number or the start of one name (notebooks: {known})")
        paths.append(matches[0])
    return paths


def kernel_env(size: str, threads: int) -> dict[str, str]:
    """The kernel's environment: this one, with the size, the threads and the repository."""
    env = dict(os.environ, MINIFM_NOTEBOOK_SIZE=size)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.pop("MPLBACKEND", None)                 # plots drawn inline, as in class
    return env


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and its waited-for children (/proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()      # after "pid (comm) "; field 3 is fields[0]
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])   # stat fields 14-17
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def time_notebook(path: Path, size: str, threads: int, timeout: int,
                  executed: Path | None = None) -> dict:
    """Execute ``path`` in a fresh kernel; its wall and kernel CPU seconds, loads and cell times.
    With ``executed``, the executed notebook is written into that folder."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    record = {"notebook": path.stem, "path": str(path), "load_before": os.getloadavg()[0],
              "ok": True, "error": None, "cells": []}
    start = time.perf_counter()
    cpu = None
    with client.setup_kernel(env=kernel_env(size, threads)):
        pid = client.km.provisioner.pid
        try:
            for index, cell in enumerate(nb.cells):
                began = time.perf_counter()
                client.execute_cell(cell, index)
                if cell.cell_type == "code":
                    record["cells"].append({"index": index,
                                            "seconds": time.perf_counter() - began})
        except CellExecutionError as e:
            record["ok"] = False
            record["error"] = str(e).strip().splitlines()[-1] if str(e).strip() else repr(e)
        if pid is not None and Path(f"/proc/{pid}/stat").exists():
            cpu = process_cpu_seconds(pid)
    record["wall_seconds"] = time.perf_counter() - start
    record["kernel_cpu_seconds"] = cpu
    record["load_after"] = os.getloadavg()[0]
    if executed is not None:
        nbformat.write(nb, executed / path.name)
    return record


def minutes(seconds: float | None) -> str:
    """"1 min 48 s" or "12 s", as the READMEs write times."""
    if seconds is None:
        return "-"
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def table(records: list[dict], cells: bool = False) -> str:
    """The results as a fixed-width text table (and each code cell's time, with ``cells``)."""
    lines = [f"{'notebook':34} {'wall':>12} {'kernel CPU':>12} {'load before/after':>18}  status"]
    for r in records:
        lines.append(f"{r['notebook']:34} {minutes(r['wall_seconds']):>12} "
                     f"{minutes(r['kernel_cpu_seconds']):>12} "
                     f"{r['load_before']:8.2f} / {r['load_after']:<7.2f}  "
                     f"{'ok' if r['ok'] else 'FAILED: ' + r['error']}")
        if cells:
            lines += [f"    cell {c['index']:3d} {c['seconds']:8.1f} s" for c in r["cells"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    parser.add_argument("notebooks", nargs="*",
                        help="numbers or name starts (e.g. 05 12_bert) or .ipynb paths; "
                        "default: every notebook in notebooks/")
    parser.add_argument("--threads", type=integer(least=1), default=1,
                        help="BLAS/OpenMP threads of the kernel")
    parser.add_argument("--size", choices=SIZES, default="classroom",
                        help="MINIFM_NOTEBOOK_SIZE for the kernel")
    parser.add_argument("--timeout", type=integer(least=1), default=1800,
                        help="seconds allowed per cell")
    parser.add_argument("--cells", action="store_true", help="also print each code cell's time")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "notebooks.json"),
                        help="JSON file for the figures")
    parser.add_argument("--executed", metavar="DIR",
                        help="also write each executed notebook (with its outputs) here")
    args = parser.parse_args(argv)
    try:
        paths = resolve(args.notebooks)
        out = check_output_file(args.out, "--out")
        executed = None if args.executed is None else check_output_dir(args.executed,
                                                                       "--executed")
    except ValueError as e:
        parser.error(str(e))
    if not paths:
        parser.error(f"no notebooks in {NOTEBOOKS}")

    records = []
    for path in paths:
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        records.append(time_notebook(path, args.size, args.threads, args.timeout, executed))
    print(f"{len(records)} notebook(s) at size {args.size}, {args.threads} BLAS thread(s), "
          f"{os.cpu_count()} CPUs; wall time includes kernel start-up")
    print(table(records, args.cells))
    result = {"size": args.size, "threads": args.threads, "cpus": os.cpu_count(),
              "machine": platform.machine(), "python": platform.python_version(),
              "finished": time.strftime("%Y-%m-%d %H:%M:%S %z"), "notebooks": records}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if all(r["ok"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
