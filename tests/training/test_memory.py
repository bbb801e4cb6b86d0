"""training.memory.keep_freed_memory: after it, memory freed between steps is reused without
page faults (glibc only; the setting is process-wide, so each check runs in a fresh process)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Ten 4 MB arrays made and freed per round, as a training step makes and frees its activations.
# Prints the minor page faults of 5 rounds before and after keep_freed_memory() (each time after
# one untimed round), and what keep_freed_memory returned.
SCRIPT = """
import resource
import numpy as np
from minifm.training.memory import keep_freed_memory

def faults_of_rounds(rounds):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        arrays = [np.ones(1 << 20, dtype=np.float32) for _ in range(10)]
        del arrays
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0

faults_of_rounds(1)
before = faults_of_rounds(5)
applied = keep_freed_memory()
faults_of_rounds(1)
print(before, faults_of_rounds(5), applied)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt's options are glibc's")
def test_keep_freed_memory_stops_page_faults_on_reused_memory():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    before, after, applied = int(out[0]), int(out[1]), out[2]
    assert applied == "True"
    # 5 rounds x 40 MB = 51,200 pages of 4 kB: by default glibc returns the freed top of the heap
    # and most of them fault again; once the memory is kept, a handful at most.
    assert before > 10_000, before
    assert after < 100, after


def test_keep_freed_memory_is_not_applied_by_importing_the_library():
    script = ("import minifm.functional, minifm.nn, minifm.training.trainer, "
              "minifm.training.memory as m; print(m.keep_freed_memory.cache_info().currsize)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "0"
