"""``tqgd detect --lean-memory``: large arrays are mapped and unmapped, not kept in glibc's heap, so a folder run's
peak memory grows less with every scan, at some cost in time (each large tensor is a fresh, zeroed mapping).

glibc serves allocations under its mmap threshold from the heap and raises that threshold (up to 32 MiB) after
each large free, so after the first scan every slice stack, crop and tensor came from the heap, whose freed pages
are kept and fragmented: a folder run's peak memory grew with every scan. Fixing the threshold at 128 KiB
(``mallopt(M_MMAP_THRESHOLD)``, which also stops glibc moving it) returns each large array to the OS when freed;
the trim threshold goes back to its 128 KiB default too (glibc may have raised it with the other). Set both before
torch is imported. ``malloc_trim`` after each scan was measured too and did not help. Other C libraries: nothing
is done. Opt-in because it costs time: measured in the README ("CPU backends"); pipeline_speed measures it too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

#: glibc's ``mallopt`` parameter numbers (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: Allocations of at least this many bytes are mapped, and free heap tops above it are trimmed: glibc's own starting
#: values, kept fixed.
MMAP_THRESHOLD_BYTES = TRIM_THRESHOLD_BYTES = 128 * 1024


@functools.cache
def _mallopt():
    """glibc's ``mallopt`` or None (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    function = getattr(ctypes.CDLL(name), "mallopt", None)
    if function is not None:
        function.argtypes, function.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return function


def user_chose_threshold() -> bool:
    """True when the environment already sets glibc's mmap threshold: the user's choice stands."""
    return bool(os.environ.get("MALLOC_MMAP_THRESHOLD_")
                or "malloc.mmap_threshold" in os.environ.get("GLIBC_TUNABLES", ""))


def map_large_allocations() -> bool:
    """Fix glibc's mmap and trim thresholds at 128 KiB for this process; True when both were set."""
    if user_chose_threshold():
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) & bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
