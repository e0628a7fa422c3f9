"""detect's sweep of unreferenced hash sets spares what another running detect may still store, and
what a running lookup found referenced before the first sweep marked it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from r2d2.catalog import Catalog, open_catalog
from r2d2.config import Settings, load_settings
from r2d2.containment.pipeline import _collect_garbage

HOUR = 3600.0


def _dataset(root: Path, name: str, age_s: float) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "part-00000.parquet").write_bytes(b"PAR1")
    _age(path, age_s)
    return path


def _age(path: Path, age_s: float) -> None:
    """Make ``path`` look last changed ``age_s`` ago (time passing after a sweep marked it)."""
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))


def _marked(path: Path) -> bool:
    return (path / "_unreferenced").exists()


def _setup(catalog_url: str, tmp_path: Path) -> tuple[Catalog, Settings, Path, int]:
    settings = load_settings(home=tmp_path / "home", catalog_url=catalog_url)
    root = settings.work_dir / "hashsets"
    root.mkdir(parents=True)
    catalog = open_catalog(catalog_url)
    return catalog, settings, root, catalog.start_run("detect")


def _other_detect(catalog: Catalog, *, started_s_ago: float, host: str, pid: int, kind: str = "detect") -> None:
    run_id = catalog.start_run(kind)
    catalog._update(run_id, started_at=datetime.now(UTC) - timedelta(seconds=started_s_ago), host=host, pid=pid)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_alone_old_garbage_goes_and_new_sets_stay(catalog_url: str, tmp_path: Path) -> None:
    catalog, settings, root, run_id = _setup(catalog_url, tmp_path)
    old, old_raw = _dataset(root, "hs-old", 2 * HOUR), _dataset(root, "hs-old-raw", 2 * HOUR)
    new = _dataset(root, "hs-new", 0)  # written after this run began: maybe a failed batch's, maybe not
    other = _dataset(root, "notes", 2 * HOUR)  # not a hash set
    _collect_garbage(catalog, settings, run_id)  # the first sweep only marks them
    assert _marked(old) and _marked(old_raw) and not _marked(new) and not _marked(other)
    _collect_garbage(catalog, settings, run_id)  # marked after this run began: kept
    assert old.exists() and old_raw.exists()
    for path in (old, old_raw):
        _age(path, HOUR)  # marked long before this run began
    _collect_garbage(catalog, settings, run_id)
    assert not old.exists() and not old_raw.exists()
    assert new.exists() and other.exists()


@pytest.mark.parametrize("kind", ["detect", "lookup", "diff"])
def test_sets_younger_than_a_live_detect_are_kept(catalog_url: str, tmp_path: Path, kind: str) -> None:
    """Another detect may still store its sets; a lookup or a diff reads sets it never stores."""
    catalog, settings, root, run_id = _setup(catalog_url, tmp_path)
    _other_detect(catalog, started_s_ago=HOUR, host=socket.gethostname(), pid=os.getpid(), kind=kind)
    theirs = _dataset(root, "hs-theirs", HOUR / 2)  # written by the other detect, not stored yet
    stale = _dataset(root, "hs-stale", 3 * HOUR)
    _collect_garbage(catalog, settings, run_id)
    assert _marked(stale) and not _marked(theirs)
    _age(stale, 2 * HOUR)  # marked before the other run began
    _collect_garbage(catalog, settings, run_id)
    assert theirs.exists() and not stale.exists()


def test_a_detect_of_a_dead_process_here_does_not_hold_the_sweep(catalog_url: str, tmp_path: Path) -> None:
    catalog, settings, root, run_id = _setup(catalog_url, tmp_path)
    _other_detect(catalog, started_s_ago=HOUR, host=socket.gethostname(), pid=_dead_pid())
    orphan = _dataset(root, "hs-orphan", HOUR / 2)
    _collect_garbage(catalog, settings, run_id)
    _age(orphan, HOUR / 2)
    _collect_garbage(catalog, settings, run_id)
    assert not orphan.exists()


def test_a_detect_of_another_host_holds_the_sweep(catalog_url: str, tmp_path: Path) -> None:
    catalog, settings, root, run_id = _setup(catalog_url, tmp_path)
    _other_detect(catalog, started_s_ago=HOUR, host="another-host.invalid", pid=os.getpid())
    theirs = _dataset(root, "hs-theirs", HOUR / 2)
    _collect_garbage(catalog, settings, run_id)
    assert theirs.exists()


def test_a_set_a_running_lookup_found_referenced_outlives_it(catalog_url: str, tmp_path: Path) -> None:
    """A lookup loads a cached sketch referring to an old dataset; a detect then makes it unreferenced
    (the table re-hashed or forgotten). Sweeps mark it, but delete it only once every run still running
    began after the mark: not while that lookup runs."""
    catalog, settings, root, run_id = _setup(catalog_url, tmp_path)
    _other_detect(catalog, started_s_ago=HOUR, host=socket.gethostname(), pid=os.getpid(), kind="lookup")
    lookup = next(r.id for r in catalog.list_runs("lookup", status="running", limit=None))
    read = _dataset(root, "hs-read", 2 * HOUR)  # older than the lookup, referenced when it began
    _collect_garbage(catalog, settings, run_id)  # no longer referenced: marked, not deleted
    assert read.exists() and _marked(read)
    _age(read, HOUR / 2)  # marked after the lookup began
    _collect_garbage(catalog, settings, run_id)
    assert read.exists()
    catalog.finish_run(lookup, status="succeeded", summary={}, errors=[])
    _collect_garbage(catalog, settings, run_id)
    assert not read.exists()


def test_a_mark_that_cannot_be_written_is_no_failure(catalog_url: str, tmp_path: Path) -> None:
    """An old unreferenced entry the sweep cannot mark (here a file, not a folder: nothing can be written
    in it) is left as it is, and the sweep goes on to the others."""
    catalog, settings, root, run_id = _setup(catalog_url, tmp_path)
    odd = root / "hs-odd"
    odd.write_bytes(b"not a dataset")
    _age(odd, 2 * HOUR)
    other = _dataset(root, "hs-other", 2 * HOUR)
    _collect_garbage(catalog, settings, run_id)
    assert odd.read_bytes() == b"not a dataset" and _marked(other)


def test_an_object_store_sweep_marks_then_spares_a_set_a_running_lookup_found(
        s3_bucket: str, s3_options: dict[str, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two sweeps on S3, where a folder's time is that of its newest object (the mark's, once it is
    written). Object times cannot be set back: the runs' start times are set instead (no clock slack;
    S3 times are whole seconds, hence the waits)."""
    from r2d2.containment import pipeline
    from r2d2.lake import fs as lakefs

    monkeypatch.setattr(pipeline, "CLOCK_SLACK_S", 0.0)
    settings = load_settings(home=tmp_path / "home", storage_options=s3_options, work_folder=f"{s3_bucket}/work")
    lakefs.set_storage_options(s3_options)
    catalog = open_catalog(settings.resolved_catalog_url)
    run_id = catalog.start_run("detect")
    read = lakefs.join(settings.work_location, "hashsets/hs-read")
    part, mark = lakefs.join(read, "part-00000.parquet"), lakefs.join(read, "_unreferenced")
    lakefs.write_bytes(part, b"PAR1")
    time.sleep(1.1)
    # a lookup that began after the set was written (it found the set referenced), and this detect
    _other_detect(catalog, started_s_ago=0, host=socket.gethostname(), pid=os.getpid(), kind="lookup")
    lookup = next(r.id for r in catalog.list_runs("lookup", status="running", limit=None))
    catalog._update(run_id, started_at=datetime.now(UTC))
    time.sleep(2.1)  # the mark, dated in whole seconds, must be later than the lookup's start
    _collect_garbage(catalog, settings, run_id)  # unreferenced: marked, not deleted
    assert lakefs.exists(part) and lakefs.exists(mark)
    _collect_garbage(catalog, settings, run_id)  # marked after the lookup began: kept while it runs
    assert lakefs.exists(part)
    catalog.finish_run(lookup, status="succeeded", summary={}, errors=[])
    time.sleep(1.1)
    catalog._update(run_id, started_at=datetime.now(UTC))  # a later detect, begun after the mark
    _collect_garbage(catalog, settings, run_id)
    assert not lakefs.exists(part) and not lakefs.exists(mark)
