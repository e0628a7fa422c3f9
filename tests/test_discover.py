from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import lakes
import pytest

from r2d2.lake.discover import discover


def _by_loc(d):
    return {t.location: t for t in d.tables}


def test_layouts(tmp_path: Path) -> None:
    lakes.parquet(tmp_path / "ns" / "flat", {"a": [1, 2]})
    (tmp_path / "ns" / "flat" / "_SUCCESS").write_text("")
    (tmp_path / "ns" / "flat" / ".part-0.parquet.crc").write_text("")
    (tmp_path / "ns" / "flat" / "_temporary").mkdir()
    lakes.partitioned(tmp_path / "ns" / "parts", {"a": [1, 2, 3], "p": ["x", "y", None]}, ["p"])
    lakes.csv(tmp_path / "c", "a,b\n1,2\n")
    lakes.parquet(tmp_path / "mixed", {"a": [1]})
    lakes.csv(tmp_path / "mixed", "a\n1\n")
    single = lakes.parquet(tmp_path / "single", {"a": [1]}, name="one.snappy.parquet") / "one.snappy.parquet"
    d = discover([str(tmp_path), str(single)])
    tables = _by_loc(d)
    flat = tables[str(tmp_path / "ns" / "flat")]
    assert flat.format == "parquet" and [f.path for f in flat.files] == ["part-0.parquet"]
    assert flat.fingerprint.startswith("files:")
    parts = tables[str(tmp_path / "ns" / "parts")]
    assert parts.partition_columns == ("p",)
    assert {f.partition for f in parts.files} == {(("p", None),), (("p", "x"),), (("p", "y"),)}
    assert tables[str(tmp_path / "c")].format == "csv"
    assert tables[str(single)].files[0].path == ""
    assert [e.location for e in d.errors] == [str(tmp_path / "mixed")]
    assert "mixes Parquet and CSV" in d.errors[0].message


def test_fingerprint_changes(tmp_path: Path) -> None:
    lakes.parquet(tmp_path / "t", {"a": [1]})
    before = discover([str(tmp_path / "t")]).tables[0].fingerprint
    lakes.parquet(tmp_path / "t", {"a": [1]}, name="part-1.parquet")
    assert discover([str(tmp_path / "t")]).tables[0].fingerprint != before


def test_delta_current_snapshot_only(tmp_path: Path) -> None:
    loc = tmp_path / "d"
    lakes.delta(loc, {"a": [1, 2], "p": ["a b", "c"]}, partition_by=["p"])
    lakes.delta(loc, {"a": [3], "p": ["a b"]}, mode="overwrite", partition_by=["p"])
    on_disk = [p for p in loc.rglob("*.parquet")]
    assert len(on_disk) == 3
    (t,) = discover([str(tmp_path)]).tables
    assert t.format == "delta" and t.delta_version == 1
    assert len(t.files) == 1 and t.files[0].partition == (("p", "a b"),)
    assert (loc / t.files[0].path).exists()
    assert t.fingerprint.startswith("delta:1:")


def test_empty_delta(tmp_path: Path) -> None:
    import pyarrow as pa

    lakes.delta(tmp_path / "e", pa.table({"a": pa.array([], pa.int32())}))
    (t,) = discover([str(tmp_path / "e")]).tables
    assert t.files == () and t.delta_version == 0


def test_non_existent_root(tmp_path: Path) -> None:
    d = discover([str(tmp_path / "nope")])
    assert d.tables == [] and d.errors[0].location == str(tmp_path / "nope")


def test_symlink_cycle(tmp_path: Path) -> None:
    lakes.parquet(tmp_path / "a" / "t", {"a": [1]})
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    d = discover([str(tmp_path)])
    assert [t.location for t in d.tables] == [str(tmp_path / "a" / "t")]


def test_symlinks_followed_once(tmp_path: Path) -> None:
    """A link to a folder already walked adds nothing; a link to a folder elsewhere in the root is walked
    once, even when reached by two links; a hive partition that is a link counts; a dangling link is
    ignored. (Links out of the root: tests/test_confine.py.)"""
    lake = tmp_path / "lake"
    elsewhere = lake / "_elsewhere"  # hidden from the walk itself, reached only through links
    lakes.parquet(lake / "a" / "t", {"a": [1]})
    lakes.parquet(elsewhere / "o", {"a": [1]})
    lakes.parquet(lake / "_parts" / "p=2", {"a": [2]})
    lakes.parquet(lake / "h" / "p=1", {"a": [1]})
    os.symlink(lake / "_parts" / "p=2", lake / "h" / "p=2")
    os.symlink(lake / "a", lake / "b")
    os.symlink(elsewhere, lake / "c1")
    os.symlink(elsewhere, lake / "c2")
    os.symlink(tmp_path / "missing", lake / "dangling")
    os.symlink(lake, elsewhere / "back")  # a cycle through the linked folder
    d = discover([str(lake)])
    assert not d.errors
    found = _by_loc(d)
    assert sorted(found) == [str(lake / "a" / "t"), str(lake / "c1" / "o"), str(lake / "h")]
    assert sorted(f.path for f in found[str(lake / "h")].files) == ["p=1/part-0.parquet", "p=2/part-0.parquet"]
    assert d.roots == {loc: str(lake) for loc in found}


def test_cycle_through_a_linked_root(tmp_path: Path) -> None:
    """The root itself is reached through a link (its real path differs): cycles are still cut."""
    lakes.parquet(tmp_path / "real" / "x" / "t", {"a": [1]})
    os.symlink(tmp_path / "real", tmp_path / "alias")
    os.symlink(tmp_path / "real", tmp_path / "real" / "x" / "loop")
    os.symlink(tmp_path / "alias", tmp_path / "real" / "loop2")
    d = discover([str(tmp_path / "alias")])
    assert [t.location for t in d.tables] == [str(tmp_path / "alias" / "x" / "t")] and not d.errors


def test_real_paths_resolved_only_for_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(20):
        lakes.parquet(tmp_path / f"ns{i % 3}" / f"t{i}" / f"k={i}", {"a": [i]})
    os.symlink(tmp_path / "ns0", tmp_path / "link")
    calls: list[str] = []
    realpath = os.path.realpath

    def counting(path, *args, **kw):
        calls.append(path)
        return realpath(path, *args, **kw)

    monkeypatch.setattr(os.path, "realpath", counting)
    d = discover([str(tmp_path)])
    assert len(d.tables) == 20 and not d.errors
    assert sorted(calls) == sorted([str(tmp_path), str(tmp_path / "link")])  # the root and the one link


def test_unicode_and_non_utf8_names(tmp_path: Path) -> None:
    lakes.parquet(tmp_path / "héllo ✓", {"a": [1]}, name="dätä.parquet")
    lakes.parquet(tmp_path / "ok", {"a": [1]})
    bad = tmp_path / "bad"
    lakes.parquet(bad, {"a": [1]})
    os.rename(bad / "part-0.parquet", os.fsencode(bad) + b"/\xff\xfe.parquet")
    d = discover([str(tmp_path)])
    locs = sorted(t.location for t in d.tables)
    assert locs == [str(tmp_path / "héllo ✓"), str(tmp_path / "ok")]
    (err,) = d.errors
    assert err.location == str(bad) and "UTF-8" in err.message
    err.message.encode("utf-8")  # printable


def test_unreadable_folder(tmp_path: Path) -> None:
    """chmod 000 really denies listing for a non-root user; as root, drop the effective uid to test it."""
    base = Path(tempfile.mkdtemp(prefix="r2d2-perm-"))
    try:
        os.chmod(base, 0o755)
        lakes.parquet(base / "ok", {"a": [1]})
        lakes.parquet(base / "locked" / "t", {"a": [1]})
        for p in base.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        os.chmod(base / "locked", 0o000)
        if os.geteuid() == 0:
            os.seteuid(65534)  # nobody: permission checks apply again
            try:
                d = discover([str(base)])
            finally:
                os.seteuid(0)
        else:
            d = discover([str(base)])
        assert [t.location for t in d.tables] == [str(base / "ok")]
        (err,) = d.errors
        assert err.location == str(base / "locked") and "permission denied" in err.message
    finally:
        os.chmod(base / "locked", 0o755)
        import shutil

        shutil.rmtree(base)


def test_many_small_tables_are_each_one_table(tmp_path: Path) -> None:
    # discovery speed is measured by bench/scan_bench.py, not asserted on a shared machine
    for i in range(300):
        d = tmp_path / f"ns{i % 10}" / f"t{i}"
        d.mkdir(parents=True)
        (d / "part-0.parquet").write_bytes(b"x")
    d = discover([str(tmp_path)])
    assert len(d.tables) == 300


@pytest.mark.parametrize("uri", [True, False])
def test_location_forms(tmp_path: Path, uri: bool) -> None:
    lakes.parquet(tmp_path / "t", {"a": [1]})
    root = f"file://{tmp_path}/" if uri else f"{tmp_path}/"
    (t,) = discover([root]).tables
    assert t.location.endswith("/t") and not t.location.endswith("/")


def test_parallel_walk_finds_what_one_thread_finds_every_time(tmp_path: Path) -> None:
    """Folders are listed by a pool of threads; the tables, their locations (which alias of a folder
    reached twice wins) and the errors do not depend on the threads' timing."""
    lake = tmp_path / "lake"
    for i in range(60):
        lakes.parquet(lake / f"ns{i % 4}" / f"sub{i % 3}" / f"t{i:02d}", {"a": [i]})
    lakes.delta(lake / "ns1" / "dl", {"a": [1, 2]})
    lakes.parquet(lake / "ns2" / "h" / "k=1", {"a": [1]})
    os.symlink(lake / "ns3", lake / "aa_alias")  # sorts before its target: the real folder must still win
    os.symlink(lake / "ns0" / "sub1", lake / "ns2" / "zz_alias")
    (lake / "locked").mkdir()
    os.chmod(lake / "locked", 0)
    try:
        one = discover([str(lake)], threads=1)
        runs = [discover([str(lake)], threads=8) for _ in range(5)]
    finally:
        os.chmod(lake / "locked", 0o755)
    expected = [(t.location, t.fingerprint) for t in one.tables]
    assert len(expected) == 62 and expected == sorted(expected)
    assert not any("alias" in loc for loc, _ in expected)
    for d in runs:
        assert [(t.location, t.fingerprint) for t in d.tables] == expected
        assert [(e.location, e.message) for e in d.errors] == [(e.location, e.message) for e in one.errors]


def test_a_broken_delta_log_among_many_is_an_error_of_its_table_only(tmp_path: Path) -> None:
    """Delta logs are opened in a pool after the walk: one that cannot be read is reported for its
    table, and the others are found as before, in order of location."""
    import pyarrow as pa

    for name in ("a", "b", "c"):
        lakes.delta(tmp_path / name, pa.table({"x": [1, 2]}))
    (tmp_path / "b" / "_delta_log" / "00000000000000000000.json").write_text('{"add": {"path": broken')
    found = discover([str(tmp_path)])
    assert [t.location for t in found.tables] == [str(tmp_path / "a"), str(tmp_path / "c")]
    assert [t.format for t in found.tables] == ["delta", "delta"]
    (error,) = found.errors
    assert error.location == str(tmp_path / "b") and "cannot read the Delta log" in error.message


# The walks run in a fresh interpreter: forked workers are refused in a process with other threads
# running (a Spark session's, earlier tests'), as the scan's are (r2d2.forking.can_fork).
_BOTH_WAYS = """
import json, os, sys
from r2d2.engine.items import forked_workers
from r2d2.lake.discover import discover

def plain(d):
    return {"tables": [[t.location, t.format, t.fingerprint, list(t.partition_columns), t.delta_version,
                        [[f.path, f.size, f.mtime_ns, [list(p) for p in f.partition]] for f in t.files]]
                       for t in d.tables],
            "errors": [[e.location, e.message, e.escaped] for e in d.errors], "roots": d.roots, "shared": d.shared}

roots, broken = sys.argv[2:], sys.argv[1] == "broken"
with forked_workers(2) as pool:  # forked first, as the scan does: before anything starts a thread
    assert pool is not None, "could not fork"
    if broken:  # a worker that dies: the pool is broken for every later submit
        try:
            pool.submit(os._exit, 1).result()
        except Exception as exc:
            assert type(exc).__name__ == "BrokenProcessPool", exc
    one, forked = plain(discover(roots)), plain(discover(roots, workers=pool))
print(json.dumps({"one": one, "forked": forked}))
"""


def _both_ways(*roots: Path, broken: bool = False) -> tuple[dict, dict]:
    """(the walk of ``roots`` in one process, the walk shared with two forked workers); ``broken``: one
    of the workers died before the walk."""
    done = subprocess.run([sys.executable, "-c", _BOTH_WAYS, "broken" if broken else "-", *map(str, roots)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    return got["one"], got["forked"]


def _same(a: dict, b: dict) -> None:
    assert (a["tables"], a["errors"], a["roots"]) == (b["tables"], b["errors"], b["roots"])


def test_forked_walk_finds_what_one_process_finds(tmp_path: Path) -> None:
    """A large tree shared by forked workers gives the tables (files, fingerprints, partitions, Delta
    versions), errors and roots of the walk in one process: links to folders are still walked after the
    tree (the real folder wins over its alias), links out of the root are still refused."""
    lake, outside = tmp_path / "lake", tmp_path / "outside"
    for i in range(60):
        lakes.parquet(lake / f"ns{i % 20:02d}" / f"t{i:02d}", {"a": [i]})
    lakes.partitioned(lake / "ns03" / "hive", {"a": [1, 2, 3], "k": ["x", "y", "y"]}, ["k"])
    lakes.delta(lake / "ns05" / "dl", {"a": [1, 2]})
    lakes.csv(lake / "ns07" / "c", "a\n1\n")
    lakes.parquet(lake / "ns09" / "mixed", {"a": [1]})
    lakes.csv(lake / "ns09" / "mixed", "a\n1\n")
    lakes.parquet(outside / "secret", {"a": [9]})
    (lake / "ns11" / "escape").symlink_to(outside, target_is_directory=True)
    (lake / "ns12" / "t12" / "part-1.parquet").symlink_to(outside / "secret" / "part-0.parquet")
    (lake / "aa_alias").symlink_to(lake / "ns13", target_is_directory=True)
    (lake / "ns14" / "dangling").symlink_to(tmp_path / "missing")
    one, forked = _both_ways(lake)
    assert (one["shared"], forked["shared"]) == (0, 1)
    _same(forked, one)
    assert len(one["tables"]) == 62 and {e[0] for e in one["errors"]} == {
        str(lake / "ns09" / "mixed"), str(lake / "ns11" / "escape"), str(lake / "ns12" / "t12")}
    assert not any("alias" in t[0] for t in one["tables"])
    assert [t[3:5] for t in one["tables"] if t[0].endswith("hive")] == [[["k"], None]]
    assert [t[4] for t in one["tables"] if t[0].endswith("dl")] == [0]


def test_forked_walk_meeting_a_folder_twice_is_the_one_process_walk(tmp_path: Path) -> None:
    """A partition that is a link to another table's partition (in another share) is met twice: the
    table that meets it second is an error (what it holds is not what Spark reads), which table that is
    depends on the order of the walk, so the shared walk is undone and the tree walked in the usual order."""
    lake = tmp_path / "lake"
    for i in range(40):
        lakes.parquet(lake / f"ns{i % 20:02d}" / f"t{i:02d}" / "k=1", {"a": [i]})
    lakes.parquet(lake / "ns19" / "t39" / "k=2", {"a": [2]})
    (lake / "ns00" / "t00" / "k=2").symlink_to(lake / "ns19" / "t39" / "k=2", target_is_directory=True)
    one, forked = _both_ways(lake)
    assert forked["shared"] == 0
    _same(forked, one)
    files = {t[0]: [f[0] for f in t[5]] for t in one["tables"]}
    assert files[str(lake / "ns00" / "t00")] == ["k=1/part-0.parquet", "k=2/part-0.parquet"]  # as Spark reads it
    assert str(lake / "ns19" / "t39") not in files and len(files) == 39
    [err] = one["errors"]
    assert err[0] == str(lake / "ns19" / "t39") and "reached twice" in err[1]


def test_a_folder_of_two_tables_through_a_partition_link_is_an_error_not_gone(tmp_path: Path) -> None:
    """A partition that is a link to another table's folder: the table holding the link reads that folder's
    files (as Spark does), and the table met second is an error, whichever order the walk meets them in;
    it is never silently left out (a scan would then mark it gone)."""
    lake = tmp_path / "lake"
    lakes.parquet(lake / "a" / "k=1", {"x": [1]})
    lakes.parquet(lake / "z", {"x": [2]})
    (lake / "a" / "k=2").symlink_to(lake / "z", target_is_directory=True)  # met before its target
    lakes.parquet(lake / "b", {"x": [3]})
    lakes.parquet(lake / "y" / "k=1", {"x": [4]})
    (lake / "y" / "k=2").symlink_to(lake / "b", target_is_directory=True)  # met after its target
    for i in range(20):  # enough folders to share
        lakes.parquet(lake / f"ns{i:02d}" / "t", {"x": [i]})
    one, forked = _both_ways(lake)
    _same(forked, one)
    files = {t[0]: [f[0] for f in t[5]] for t in one["tables"]}
    assert files[str(lake / "a")] == ["k=1/part-0.parquet", "k=2/part-0.parquet"]
    assert str(lake / "z") not in files and str(lake / "b") in files and str(lake / "y") not in files
    errors = {e[0]: e[1] for e in one["errors"]}
    assert set(errors) == {str(lake / "z"), str(lake / "y")}
    assert f"as a partition of {lake / 'a'}" in errors[str(lake / "z")]
    assert "reached twice" in errors[str(lake / "y")]


def test_forked_walk_of_nested_roots_and_with_a_dead_worker_is_the_one_process_walk(tmp_path: Path) -> None:
    """Several roots, one inside another (its folders met again from the outer one), and a pool whose
    worker died before the walk (the walk goes on in this process): the one-process walk each time."""
    lake = tmp_path / "lake"
    for i in range(60):
        lakes.parquet(lake / f"ns{i % 20:02d}" / f"t{i:02d}", {"a": [i]})
    for i in range(20):
        lakes.parquet(lake / "ns05" / f"sub{i:02d}" / "t", {"a": [i]})
    (lake / "ns07" / "alias").symlink_to(lake / "ns05", target_is_directory=True)
    for roots in ([lake, lake / "ns05"], [lake / "ns05", lake]):
        one, forked = _both_ways(*roots)
        _same(forked, one)
        assert len(one["tables"]) == 80 and not one["errors"]
        assert forked["shared"] >= 1
    one, forked = _both_ways(lake, broken=True)
    _same(forked, one)
    assert forked["shared"] == 0 and len(one["tables"]) == 80
