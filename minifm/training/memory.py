"""A process-level speed setting: keep freed array memory in the process instead of returning it.

A training step allocates the same activations and gradients every time (on the baby GPT about
fifty arrays of 0.4-1.6 MB) and frees them at the end of the step. glibc's ``malloc`` hands the
freed top of the heap back to the operating system once it exceeds a trim threshold, so the next
step asks for it again and the kernel zero-fills it one 4 kB page at a time: about 3,000 page
faults per baby-GPT step, several milliseconds of single-threaded work (benchmarks/README.md).

``keep_freed_memory()`` tells glibc, through ``mallopt`` (``man 3 mallopt``), to stop doing that:

    M_TRIM_THRESHOLD  256 MB   free memory at the top of the heap is kept up to this size
    M_MMAP_THRESHOLD   32 MB   arrays below this come from the heap (not a fresh mmap each time)
    M_TOP_PAD          16 MB   the heap grows in steps this large (fewer brk calls)

The peak memory is unchanged (the same arrays are alive at the busiest moment); the memory simply
stays with the process between steps, as it would in a framework's caching allocator. Nothing in
the results changes: only where the bytes come from. The trainer applies it when a run starts
(``Trainer.run``); it acts on the whole process and is a no-op where there is no glibc (macOS,
Windows, musl), so importing the library never changes the allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# The option numbers of glibc's <malloc.h>.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {M_TRIM_THRESHOLD: 256 << 20, M_MMAP_THRESHOLD: 32 << 20, M_TOP_PAD: 16 << 20}


@functools.cache
def keep_freed_memory() -> bool:
    """Apply ``SETTINGS`` to this process's glibc allocator (once). Returns True if glibc
    accepted every setting, False where there is no glibc ``mallopt``."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(option, value) == 1 for option, value in SETTINGS.items())
