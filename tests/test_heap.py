"""A batch process keeps the memory it frees: allocating again reuses it without new page faults."""

from __future__ import annotations

import subprocess
import sys

# Frees arrays of a few MB and allocates them again, counting the page faults of the second allocation.
_CHILD = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from r2d2.heap import keep_freed_memory
    assert keep_freed_memory()
faults = 0
for size in (3 << 20, 5 << 20, 7 << 20, 9 << 20):
    a = np.ones(size // 8)
    del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    b = np.ones(size // 8)
    faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del b
print(faults)
"""
PAGES = (3 + 5 + 7 + 9) * 256  # 4 KiB pages the second allocations touch


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_freed_memory_is_reused_without_new_pages() -> None:
    kept, default = _faults("keep"), _faults("default")
    assert kept < PAGES * 0.02  # the freed blocks came back: no zeroed pages from the kernel
    assert default > PAGES * 0.2  # malloc's defaults hand them back and fault fresh pages in


_COLLECTIONS = """
import gc, sys
if sys.argv[1] == "less":
    from r2d2.heap import collect_less_often
    collect_less_often()
runs = []
gc.callbacks.append(lambda phase, info: runs.append(info["generation"]) if phase == "start" else None)
kept = [[i] for i in range(300_000)]  # long-lived containers, as a lake's profiles are
print(len(runs), sum(1 for g in runs if g == 2))
"""


def test_the_collector_runs_less_often_and_never_walks_the_whole_heap_for_a_batch() -> None:
    def runs(mode: str) -> tuple[int, int]:
        out = subprocess.run([sys.executable, "-c", _COLLECTIONS, mode], capture_output=True, text=True, check=True)
        young, full = out.stdout.split()
        return int(young), int(full)

    (less, less_full), (default, default_full) = runs("less"), runs("default")
    assert less <= 10 and less_full == 0
    assert default >= 100 and default_full >= 1


def test_a_run_in_a_long_lived_process_gives_the_thresholds_back_when_the_last_run_ends() -> None:
    import gc

    from r2d2.heap import GC_THRESHOLDS, collecting_less_often

    before = gc.get_threshold()
    gc.set_threshold(701, 11, 12)
    try:
        first, second = collecting_less_often(), collecting_less_often()
        first.__enter__()
        second.__enter__()  # a second run starts (another request's thread)
        first.__exit__(None, None, None)  # the first ends while the second still runs
        assert gc.get_threshold() == GC_THRESHOLDS
        second.__exit__(None, None, None)
        assert gc.get_threshold() == (701, 11, 12)
    finally:
        gc.set_threshold(*before)
