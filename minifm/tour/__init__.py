"""A guided tour: train tiny foundation models on built-in data and watch them learn.

    python -m minifm tour                    every stop, a few minutes on a laptop CPU
    python -m minifm tour --only gpt         one family
    python -m minifm tour --quick            tiny sizes, seconds (what the tests run)

The tour is a list of stops, one per model family. A stop is a function
``stop(out_dir, quick) -> dict`` in ``minifm/tour/<family>.py``; it prints what it does, writes
its files (a loss curve at least) into ``out_dir``, and returns its key numbers. It calls
``minifm.tasks`` for the work and ``minifm.plots`` for the pictures, never the command line.
To add a family, write its module and append a ``Stop`` to ``STOPS``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from minifm.tour import bert, clip, dalle, gpt


@dataclass(frozen=True)
class Stop:
    """One stop of the tour: a model family and the function that shows it."""

    family: str                                          # the name --only selects
    title: str                                           # the heading printed before it runs
    run: Callable[[Path, bool], dict[str, Any]]          # (out_dir, quick) -> key numbers


STOPS: list[Stop] = [
    Stop("gpt", "GPT: a language model learns a toy grammar", gpt.stop),
    Stop("bert", "BERT: fill in the blank, then transfer to a new task", bert.stop),
    Stop("clip", "CLIP: images and captions meet in one space", clip.stop),
    Stop("dalle", "DALL-E: draw a caption, one image token at a time", dalle.stop),
]


def take_tour(out: Path, quick: bool = False,
              only: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Run the stops (all, or those named in ``only``) into ``out/<family>/``; returns each
    stop's key numbers by family."""
    unknown = sorted(set(only or ()) - {s.family for s in STOPS})
    if unknown:
        raise ValueError(f"no tour stop {', '.join(unknown)}; the stops are "
                         f"{', '.join(s.family for s in STOPS)}")
    stops = [s for s in STOPS if not only or s.family in only]
    results = {}
    for number, stop in enumerate(stops, 1):
        print(f"\n=== Stop {number}/{len(stops)}: {stop.title} ===\n", flush=True)
        started = time.perf_counter()
        stop_dir = out / stop.family
        stop_dir.mkdir(parents=True, exist_ok=True)
        results[stop.family] = stop.run(stop_dir, quick)
        print(f"\n({stop.family} stop: {time.perf_counter() - started:.0f} s; files in "
              f"{stop_dir}/)")
    print(f"\nEnd of the tour. Everything it wrote is in {out}/.")
    return results
