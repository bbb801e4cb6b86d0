"""A guided tour: train tiny foundation models on built-in data and watch them learn.

    python -m minifm tour                    every stop, a few minutes on a laptop CPU
    python -m minifm tour --only gpt         one family
    python -m minifm tour --quick            tiny sizes, seconds (what the tests run)

The tour is a list of stops, one per model family. A stop is a function
``run(out_dir, quick) -> dict`` that lives in its family's recipe module
(``minifm.recipes.<family>.tour_stop``); it prints what it does, writes its files (a loss curve
at least) into ``out_dir``, and returns its key numbers. To add a family, append a ``Stop`` to
``STOPS``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from minifm.recipes import bert, clip, dalle, gpt


@dataclass(frozen=True)
class Stop:
    """One stop of the tour: a model family and the function that shows it."""

    family: str                                          # the name --only selects
    title: str                                           # the heading printed before it runs
    run: Callable[[Path, bool], dict[str, Any]]          # (out_dir, quick) -> key numbers


STOPS: list[Stop] = [
    Stop("gpt", "GPT: a language model learns a toy grammar", gpt.tour_stop),
    Stop("bert", "BERT: fill in the blank, then transfer to a new task", bert.tour_stop),
    Stop("clip", "CLIP: images and captions meet in one space", clip.tour_stop),
    Stop("dalle", "DALL-E: draw a caption, one image token at a time", dalle.tour_stop),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minifm tour``."""
    parser.add_argument("--out", default="tour_out", metavar="DIR",
                        help="folder for the plots and checkpoints (default ./tour_out)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny models and few steps: seconds instead of minutes")
    parser.add_argument("--only", choices=[s.family for s in STOPS], action="append",
                        metavar="FAMILY",
                        help=f"run only this stop (repeatable); one of "
                             f"{', '.join(s.family for s in STOPS)}")


def main(args: argparse.Namespace) -> int:
    """Take the guided tour: tiny models trained on built-in data, before and after."""
    out = Path(args.out)
    stops = [s for s in STOPS if not args.only or s.family in args.only]
    results = {}
    for number, stop in enumerate(stops, 1):
        print(f"\n=== Stop {number}/{len(stops)}: {stop.title} ===\n", flush=True)
        started = time.perf_counter()
        stop_dir = out / stop.family
        stop_dir.mkdir(parents=True, exist_ok=True)
        results[stop.family] = stop.run(stop_dir, args.quick)
        print(f"\n({stop.family} stop: {time.perf_counter() - started:.0f} s; files in "
              f"{stop_dir}/)")
    print(f"\nEnd of the tour. Everything it wrote is in {out}/.")
    return 0
