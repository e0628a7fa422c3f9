"""Scan end to end on small Parquet lakes (no Spark): counts, per-table errors, blind folders, batches."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import lakes
import pytest

import r2d2.scan as scan_mod
from r2d2.catalog import Catalog, open_catalog
from r2d2.scan import scan


def no_spark():
    raise AssertionError("a Parquet-only lake must not start Spark")


@pytest.fixture
def cat(tmp_path: Path):
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    yield catalog
    catalog.close()


def _counts(summary) -> tuple[int, ...]:
    return summary.found, summary.new, summary.changed, summary.unchanged, summary.gone, summary.failed


def _status(cat: Catalog) -> dict[str, str]:
    return {Path(t.location).name: t.status for t in cat.list_tables(with_profile=False)}


def test_new_changed_unchanged_gone(tmp_path: Path, cat: Catalog) -> None:
    lake = tmp_path / "lake"
    for name in ("a", "b", "c", "d"):
        lakes.parquet(lake / "ns" / name, {"x": [1, 2, 3]})
    progress: list[tuple[int, int]] = []
    first = scan(cat, [str(lake)], spark_factory=no_spark, progress=lambda d, t: progress.append((d, t)))
    assert _counts(first) == (4, 4, 0, 0, 0, 0)
    assert progress == [(i, 4) for i in range(1, 5)]
    assert first.bytes == first.bytes_read > 0 and first.data_bytes_read == 0  # small files: read whole
    assert cat.get_run(first.run_id).status == "succeeded"

    again = scan(cat, [str(lake)], spark_factory=no_spark)
    assert _counts(again) == (4, 0, 0, 4, 0, 0) and again.bytes_read == 0

    lakes.parquet(lake / "ns" / "a", {"x": [4]}, name="part-1.parquet")  # changed: one more file
    os.utime(lake / "ns" / "b" / "part-0.parquet", ns=(1, 1))  # changed: mtime only
    shutil.rmtree(lake / "ns" / "c")  # gone
    lakes.parquet(lake / "ns" / "e", {"x": [5]})  # new
    third = scan(cat, [str(lake)], spark_factory=no_spark)
    assert _counts(third) == (4, 1, 2, 1, 1, 0)
    assert _status(cat) == {"a": "active", "b": "active", "c": "gone", "d": "active", "e": "active"}
    assert cat.get_table(str(lake / "ns" / "a")).num_rows == 4

    lakes.parquet(lake / "ns" / "c", {"x": [1]})  # comes back: new to this scan
    fourth = scan(cat, [str(lake)], spark_factory=no_spark)
    assert _counts(fourth) == (5, 1, 0, 4, 0, 0)
    assert set(_status(cat).values()) == {"active"}


def test_per_table_errors_do_not_stop_the_scan(tmp_path: Path, cat: Catalog) -> None:
    lake = tmp_path / "lake"
    for i in range(6):
        lakes.parquet(lake / f"t{i}", {"x": list(range(i + 1))})
    (lake / "t2" / "part-0.parquet").write_bytes(b"not parquet at all")
    (lake / "t4" / "part-0.parquet").write_bytes(b"")
    lakes.parquet(lake / "t5", {"x": ["a string"]}, name="part-1.parquet")  # schema mismatch
    summary = scan(cat, [str(lake)], spark_factory=no_spark)
    assert _counts(summary) == (6, 3, 0, 0, 0, 3)
    assert [e["location"] for e in summary.errors] == [str(lake / n) for n in ("t2", "t4", "t5")]
    assert "part-0.parquet" in summary.errors[0]["error"] and "schema mismatch" in summary.errors[2]["error"]
    assert _status(cat) == {"t0": "active", "t1": "active", "t2": "error", "t3": "active", "t4": "error",
                            "t5": "error"}
    assert cat.get_table(str(lake / "t2")).error == summary.errors[0]["error"]
    # unchanged broken tables are not retried; a fixed one is profiled again (changed)
    lakes.parquet(lake / "t2", {"x": [1]})
    again = scan(cat, [str(lake)], spark_factory=no_spark)
    assert _counts(again) == (6, 0, 1, 5, 0, 0)
    assert _status(cat)["t2"] == "active" and cat.get_table(str(lake / "t2")).error is None


def test_retry_errors_profiles_failed_tables_again_though_unchanged(tmp_path: Path, cat: Catalog) -> None:
    """A table that failed for a passing reason is back, with the same fingerprint: a scan leaves it an
    error (it only retries what changed); one with ``retry_errors`` profiles it again, and every other
    failed table too (a broken one fails again, with its error)."""
    lake = tmp_path / "lake"
    lakes.parquet(lake / "fine", {"x": [1]})
    fixed = lakes.flaky(lake / "flaky", {"x": [1, 2, 3]})
    lakes.parquet(lake / "broken", {"x": [1]})
    (lake / "broken" / "part-0.parquet").write_bytes(b"not parquet at all")
    first = scan(cat, [str(lake)], spark_factory=no_spark)
    assert _counts(first) == (3, 1, 0, 0, 0, 2)
    broken_error = cat.get_table(str(lake / "broken")).error
    fixed()
    plain = scan(cat, [str(lake)], spark_factory=no_spark)
    assert _counts(plain) == (3, 0, 0, 3, 0, 0) and _status(cat)["flaky"] == "error"
    retried = scan(cat, [str(lake)], spark_factory=no_spark, retry_errors=True)
    assert _counts(retried) == (3, 0, 1, 1, 0, 1)
    assert _status(cat) == {"fine": "active", "flaky": "active", "broken": "error"}
    assert cat.get_table(str(lake / "flaky")).num_rows == 3
    assert cat.get_table(str(lake / "broken")).error == broken_error
    assert cat.get_run(retried.run_id).params == {"roots": [str(lake)], "retry_errors": True}


def test_unreadable_folder_hides_nothing(cat: Catalog) -> None:
    """Tables known under a folder that cannot be listed are neither re-read nor marked gone."""
    base = Path(tempfile.mkdtemp(prefix="r2d2-scan-perm-"))
    try:
        os.chmod(base, 0o755)
        lakes.parquet(base / "ok", {"a": [1]})
        lakes.parquet(base / "locked" / "t1", {"a": [1]})
        lakes.parquet(base / "locked" / "t2", {"a": [2]})
        for p in base.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        assert _counts(scan(cat, [str(base)], spark_factory=no_spark)) == (3, 3, 0, 0, 0, 0)

        os.chmod(base / "locked", 0o000)
        if os.geteuid() == 0:
            os.seteuid(65534)  # nobody: permission checks apply again
            try:
                summary = scan(cat, [str(base)], spark_factory=no_spark)
            finally:
                os.seteuid(0)
        else:
            summary = scan(cat, [str(base)], spark_factory=no_spark)
        assert _counts(summary) == (1, 0, 0, 1, 0, 1)
        (err,) = summary.errors
        assert err["location"] == str(base / "locked") and "permission denied" in err["error"]
        assert _status(cat) == {"ok": "active", "t1": "active", "t2": "active"}
        assert "locked" not in _status(cat)  # the folder is not a table: no error row for it
    finally:
        os.chmod(base / "locked", 0o755)
        shutil.rmtree(base)


def test_saved_in_batches_while_profiling(tmp_path: Path, cat: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = tmp_path / "lake"
    for i in range(7):
        lakes.parquet(lake / f"t{i}", {"x": [i]})
    (lake / "t3" / "part-0.parquet").write_bytes(b"broken")
    batches: list[int] = []
    save = Catalog.save_profiles

    def spy(self, profiles, **kw):
        batches.append(len(profiles))
        return save(self, profiles, **kw)

    monkeypatch.setattr(Catalog, "save_profiles", spy)
    monkeypatch.setattr(scan_mod, "SAVE_BATCH", 2)
    monkeypatch.setattr(scan_mod, "SAVE_EVERY_S", 1e9)
    summary = scan(cat, [str(lake)], spark_factory=no_spark)
    assert _counts(summary) == (7, 6, 0, 0, 0, 1)
    assert batches == [2, 2, 2]
    assert cat.count_tables(status="active") == 6 and cat.count_tables(status="error") == 1


def test_roots_widen_never_narrow_and_an_unchanged_rescan_writes_only_last_seen(tmp_path: Path,
                                                                                 cat: Catalog) -> None:
    """A table's scan root is the broadest it was found under (its confinement boundary), whichever
    scans run in between; a re-scan that finds everything as it was moves last_seen and nothing else."""
    lake = tmp_path / "lake"
    lakes.parquet(lake / "ns" / "t", {"x": [1]})
    lakes.parquet(lake / "u", {"x": [2]})
    t, u = str(lake / "ns" / "t"), str(lake / "u")
    scan(cat, [str(lake / "ns")], spark_factory=no_spark)
    assert cat.get_table(t).root == str(lake / "ns")
    scan(cat, [str(lake)], spark_factory=no_spark)
    assert (cat.get_table(t).root, cat.get_table(u).root) == (str(lake), str(lake))
    scan(cat, [str(lake / "ns")], spark_factory=no_spark)
    assert cat.get_table(t).root == str(lake)
    v = str(lake / "ns2" / "v")
    lakes.parquet(lake / "ns2" / "v", {"x": [3]})
    scan(cat, [str(lake / "ns2")], spark_factory=no_spark)
    shutil.rmtree(lake / "ns2" / "v")
    assert scan(cat, [str(lake / "ns2")], spark_factory=no_spark).gone == 1
    lakes.parquet(lake / "ns2" / "v", {"x": [3]})  # back, found under a broader root: it widens
    assert _counts(scan(cat, [str(lake)], spark_factory=no_spark)) == (3, 1, 0, 2, 0, 0)
    assert (cat.get_table(v).root, cat.get_table(v).status) == (str(lake), "active")

    before = {r.location: r for r in cat.list_tables()}
    again = scan(cat, [str(lake)], spark_factory=no_spark)
    assert _counts(again) == (3, 0, 0, 3, 0, 0)
    after = {r.location: r for r in cat.list_tables()}
    for loc, rec in before.items():
        assert after[loc].last_seen > rec.last_seen
        assert replace(after[loc], last_seen=rec.last_seen) == rec


def test_missing_root(tmp_path: Path, cat: Catalog) -> None:
    """A root that does not exist is the caller's error: refused before any run or table row is made (it
    once made a junk error row, and the CLI exited 1 as if a table had failed)."""
    from r2d2.errors import NotFoundError

    lakes.parquet(tmp_path / "lake" / "t", {"x": [1]})
    with pytest.raises(NotFoundError, match=f"scan root {tmp_path / 'nope'}: no such file or folder"):
        scan(cat, [str(tmp_path / "lake"), str(tmp_path / "nope")], spark_factory=no_spark)
    assert cat.list_runs() == [] and cat.list_tables() == []
