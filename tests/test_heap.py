"""A batch process keeps the memory it frees: allocating again reuses it without new page faults."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

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


def _huge_pages_always() -> bool:
    """Transparent huge pages for every allocation: then few faults either way (a page is 2 MB)."""
    try:
        return "[always]" in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
                    reason="mallopt is glibc's: elsewhere keep_freed_memory changes nothing (and says so)")
def test_freed_memory_is_reused_without_new_pages() -> None:
    kept, default = _faults("keep"), _faults("default")
    assert kept < PAGES * 0.02  # the freed blocks came back: no zeroed pages from the kernel
    if not _huge_pages_always():
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


def test_only_a_process_that_ends_with_its_command_takes_the_settings(tmp_path: Path) -> None:
    """The console script (main) takes them; a command run in passing (CliRunner, a notebook) leaves the
    process as it was."""
    import gc

    from click.testing import CliRunner

    from r2d2.cli.main import cli
    from r2d2.heap import GC_THRESHOLDS

    base = ["--home", str(tmp_path / "h"), "--catalog", f"sqlite:///{tmp_path / 'c.db'}"]
    before = gc.get_threshold()
    result = CliRunner().invoke(cli, [*base, "runs", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert gc.get_threshold() == before != GC_THRESHOLDS

    script = ("import atexit, gc, sys\n"
              "atexit.register(lambda: print('THRESHOLDS', *gc.get_threshold()))\n"
              "from r2d2.cli.main import main\n"
              f"main({[*base, 'runs', '--format', 'json']!r})\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert tuple(int(x) for x in done.stdout.split("THRESHOLDS")[1].split()) == GC_THRESHOLDS
