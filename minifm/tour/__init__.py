"""A guided tour: train tiny foundation models on built-in data and watch them learn.

    python -m minifm tour                    every stop, each showing a measured before -> after
    python -m minifm tour --only gpt         one family (repeatable)

The tour is a list of stops, one per model family. A stop is a function ``stop(out_dir) -> dict``
in ``minifm/tour/<family>.py``; it prints what it does, writes its files (a loss curve at least)
into ``out_dir``, and returns its key numbers. It calls ``minifm.tasks`` for the work and
``minifm.plots`` for the pictures, never the command line. A stop has one size, the one that
shows its family learning: its test (tests/tour/) runs it at that size and checks the claim.
To add a family, write its module and append a ``Stop`` to ``STOPS``, with the time it took.
Before each stop the tour prints what it will take; after it, what it took; at the end, the total.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from minifm.tour import assistant, bert, clip, dalle, gpt
from minifm.training.trainer import HEARTBEAT_SECONDS, format_seconds


@dataclass(frozen=True)
class Stop:
    """One stop of the tour: a model family and the function that shows it."""

    family: str                                   # the name --only selects
    title: str                                    # the heading printed before it runs
    run: Callable[[Path], dict[str, Any]]         # out_dir -> key numbers
    seconds: float                                # what it took, measured (wall seconds)


# Wall seconds per stop of `python benchmarks/time_tour.py --one-process` (two BLAS threads) on the
# idle 2-core machine of the lessons (benchmarks/out/tour.json): 1 min 50 s in all.
STOPS: list[Stop] = [
    Stop("gpt", "GPT: a language model learns a toy grammar", gpt.stop, 8),
    Stop("bert", "BERT: fill in the blank, then transfer to a new task", bert.stop, 22),
    Stop("clip", "CLIP: images and captions meet in one space", clip.stop, 16),
    Stop("dalle", "Text to image: DALL-E's image tokens and DALL-E 2's diffusion, side by side",
         dalle.stop, 40),
    Stop("assistant", "Assistant: a GPT learns to answer requests (pre-training, then SFT)",
         assistant.stop, 23),
]


def take_tour(out: Path, only: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Run the stops (all, or those named in ``only``) into ``out/<family>/``; returns each
    stop's key numbers by family."""
    unknown = sorted(set(only or ()) - {s.family for s in STOPS})
    if unknown:
        raise ValueError(f"no tour stop {', '.join(unknown)}; the stops are "
                         f"{', '.join(s.family for s in STOPS)}")
    stops = [s for s in STOPS if not only or s.family in only]
    print(f"The tour: {len(stops)} stop(s), about {format_seconds(sum(s.seconds for s in stops))}"
          f" on a 2-core CPU. Without a terminal, training prints a progress line at least every "
          f"{HEARTBEAT_SECONDS:.0f} s.", flush=True)
    results = {}
    tour_started = time.perf_counter()
    for number, stop in enumerate(stops, 1):
        print(f"\n=== Stop {number}/{len(stops)}: {stop.title} ===\n(about "
              f"{format_seconds(stop.seconds)} on a 2-core CPU)\n", flush=True)
        started = time.perf_counter()
        stop_dir = out / stop.family
        stop_dir.mkdir(parents=True, exist_ok=True)
        results[stop.family] = stop.run(stop_dir)
        print(f"\n({stop.family} stop took {format_seconds(time.perf_counter() - started)}; "
              f"files in {stop_dir}/)", flush=True)
    print(f"\nEnd of the tour ({format_seconds(time.perf_counter() - tour_started)} in all). "
          f"Everything it wrote is in {out}/.")
    return results
