"""A guided tour: train tiny foundation models on built-in data and watch them learn.

    python -m minifm tour                    every stop: about 10 min on a 2-core CPU
    python -m minifm tour --only gpt         one family
    python -m minifm tour --quick            a smoke test at toy sizes, seconds (the tests run
                                             it): every stop runs, but nothing has time to learn

The tour is a list of stops, one per model family. A stop is a function
``stop(out_dir, quick) -> dict`` in ``minifm/tour/<family>.py``; it prints what it does, writes
its files (a loss curve at least) into ``out_dir``, and returns its key numbers. It calls
``minifm.tasks`` for the work and ``minifm.plots`` for the pictures, never the command line.
To add a family, write its module and append a ``Stop`` to ``STOPS``, with the time it took.
Before each stop the tour prints what it will take; after it, what it took.
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

    family: str                                          # the name --only selects
    title: str                                           # the heading printed before it runs
    run: Callable[[Path, bool], dict[str, Any]]          # (out_dir, quick) -> key numbers
    seconds: tuple[float, float]                         # what it took (quick, full), measured


# Seconds per stop, measured on the shared 2-vCPU machine of the lessons (OPENBLAS_NUM_THREADS=1):
# quick with `minifm tour --quick`, full with `minifm tour --only FAMILY` (GPT: lesson 8; CLIP:
# lesson 10; DALL-E: with the CLIP of the CLIP stop, lesson 11's 439 s less that stop's 45 s).
# The assistant stop has one size (it ignores quick): 40 s of one core's CPU time, measured on
# a loaded machine (tests/tour/test_assistant.py).
STOPS: list[Stop] = [
    Stop("gpt", "GPT: a language model learns a toy grammar", gpt.stop, (1, 85)),
    Stop("bert", "BERT: fill in the blank, then transfer to a new task", bert.stop, (2, 70)),
    Stop("clip", "CLIP: images and captions meet in one space", clip.stop, (2, 65)),
    Stop("dalle", "DALL-E: draw a caption, one image token at a time", dalle.stop, (5, 394)),
    Stop("assistant", "Assistant: a GPT learns to answer requests (pre-training, then SFT)",
         assistant.stop, (40, 40)),
]
QUICK_NOTICE = ("--quick is a smoke test: toy sizes and a few dozen steps check that every stop "
                "runs, in seconds. The models have no time to learn, so 'after training' looks "
                "much like 'before'; run `python -m minifm tour` to watch them learn.")


def take_tour(out: Path, quick: bool = False,
              only: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Run the stops (all, or those named in ``only``) into ``out/<family>/``; returns each
    stop's key numbers by family."""
    unknown = sorted(set(only or ()) - {s.family for s in STOPS})
    if unknown:
        raise ValueError(f"no tour stop {', '.join(unknown)}; the stops are "
                         f"{', '.join(s.family for s in STOPS)}")
    stops = [s for s in STOPS if not only or s.family in only]
    expected = [s.seconds[0 if quick else 1] for s in stops]
    print(QUICK_NOTICE if quick else
          f"The tour: {len(stops)} stop(s), about {format_seconds(sum(expected))} on a 2-core "
          f"CPU. Without a terminal, training prints a progress line at least every "
          f"{HEARTBEAT_SECONDS:.0f} s.", flush=True)
    results = {}
    tour_started = time.perf_counter()
    for number, (stop, seconds) in enumerate(zip(stops, expected), 1):
        print(f"\n=== Stop {number}/{len(stops)}: {stop.title} ===\n(about "
              f"{format_seconds(seconds)} on a 2-core CPU)\n", flush=True)
        started = time.perf_counter()
        stop_dir = out / stop.family
        stop_dir.mkdir(parents=True, exist_ok=True)
        results[stop.family] = stop.run(stop_dir, quick)
        print(f"\n({stop.family} stop took {format_seconds(time.perf_counter() - started)}; "
              f"files in {stop_dir}/)", flush=True)
    print(f"\nEnd of the tour ({format_seconds(time.perf_counter() - tour_started)}). "
          f"Everything it wrote is in {out}/.")
    if quick:
        print(QUICK_NOTICE)
    return results
