"""Stage 3's driver tasks in worker processes forked from the driver (:func:`r2d2.engine.items.map_forked`):
results in order, one item's failure its own, a dying worker's items failed and not lost, nothing forked
while an unmarked thread runs; and the hash sets, sketches and kept sets exactly those of the threads.

A test run holds a Spark session, whose Python threads forbid forking: the forked paths run in fresh
interpreters, as the CLI runs them.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow.dataset as ds
import test_hashset_local

from r2d2.containment.sketches import SketchRequest
from r2d2.containment.tablework import part_name
from r2d2.forking import can_fork, fork_safe

REPO = Path(__file__).resolve().parent.parent
requests = test_hashset_local.requests  # the fixture: that module's lake (every format, empty table), profiled


def _python(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_unmarked_thread_prevents_forking() -> None:
    stop = threading.Event()
    plain = threading.Thread(target=stop.wait, daemon=True)
    plain.start()
    try:
        assert not can_fork()
    finally:
        stop.set()
        plain.join()
    got = _python("""
        import json, threading
        from r2d2.forking import can_fork, fork_safe
        alone = can_fork()
        stop = threading.Event()
        beat = fork_safe(threading.Thread(target=stop.wait, daemon=True))
        beat.start()
        marked = can_fork()
        other = threading.Thread(target=stop.wait, daemon=True)
        other.start()
        unmarked = can_fork()
        stop.set()
        print(json.dumps({"alone": alone, "marked": marked, "unmarked": unmarked}))
    """)
    assert got == {"alone": True, "marked": True, "unmarked": False}
    assert fork_safe(threading.Thread(target=print)).r2d2_fork_safe  # type: ignore[attr-defined]


def test_forked_items_come_back_in_order_and_fail_alone() -> None:
    got = _python("""
        import json, os
        from r2d2.engine.items import ItemFailure, map_forked

        parent = os.getpid()

        def square(i):
            if i == 3:
                raise ValueError("three is refused")
            return (i * i, os.getpid() != parent)

        def dying(i):
            if i == 5:
                os._exit(9)  # a worker killed mid-item (out of memory, a crashing reader)
            return i

        def show(results):
            return [["fail", r.item, r.message] if isinstance(r, ItemFailure) else ["ok", r] for r in results]

        print(json.dumps({"square": show(map_forked(list(range(8)), square, processes=2)),
                          "dying": show(map_forked(list(range(8)), dying, processes=2)),
                          "alone": show(map_forked(list(range(8)), dying, processes=2, alone=True)),
                          "after": show(map_forked([1, 2], square, processes=2))}))
    """)
    square = got["square"]
    assert square[3] == ["fail", 3, "ValueError: three is refused"]
    assert [r for i, r in enumerate(square) if i != 3] == [["ok", [i * i, True]] for i in range(8) if i != 3]
    dying = got["dying"]
    assert len(dying) == 8 and dying[5][0] == "fail" and "worker process died" in dying[5][2]
    # every item has its answer or a failure naming the death: nothing dropped, nothing made up
    assert all(r == ["ok", i] or (r[0] == "fail" and r[1] == i and "died" in r[2]) for i, r in enumerate(dying))
    assert got["after"] == [["ok", [1, True]], ["ok", [4, True]]]  # a later map forks anew
    # each item in a pool of its own: the death fails only its item
    assert [r[0] for r in got["alone"]] == ["ok"] * 5 + ["fail"] + ["ok"] * 2 and "died" in got["alone"][5][2]


def test_a_forked_child_leaves_the_parents_catalog_connections_alone(tmp_path: Path) -> None:
    """The child forgets the parent's engines (it would otherwise share their sockets); the parent's pooled
    connections keep working after children used their own."""
    got = _python("""
        import json, sys
        from sqlalchemy import text
        from r2d2.catalog import open_catalog
        from r2d2.catalog.db import get_engine
        from r2d2.engine.items import map_forked

        url = f"sqlite:///{sys.argv[1]}/c.sqlite"
        cat = open_catalog(url)
        parent_engine = get_engine(url)

        def child(i):
            engine = get_engine(url)
            with engine.connect() as conn:
                value = conn.execute(text("SELECT 40 + :i"), {"i": i}).scalar()
            return [engine is parent_engine, value]

        results = map_forked([1, 2], child, processes=2)
        with parent_engine.connect() as conn:
            still = conn.execute(text("SELECT 7")).scalar()
        print(json.dumps({"children": results, "parent": still, "same": get_engine(url) is parent_engine}))
    """, str(tmp_path))
    assert got == {"children": [[False, 41], [False, 42]], "parent": 7, "same": True}


# The start of every stage-3 test's child interpreter: the fixture's requests (pickled by _stage3), and the
# driver path's compute_sketches (Spark must not start) with the sets it kept.
_STAGE3 = """
import json, os, pickle, sys
from pathlib import Path
import numpy as np
from r2d2.containment import hashset_memo, sketch_job
from r2d2.containment.sketch_job import compute_sketches

work = Path(sys.argv[1])
requests = pickle.loads((work / "requests.pkl").read_bytes())

def no_spark():
    raise AssertionError("the driver path must not start Spark")

def sketch(name):
    return compute_sketches(requests, spark_factory=no_spark, work_dir=work / name, num_perm=16, seed=1,
                            sample_k=20, batch_size=100, local_bytes=1 << 30, local_read_bytes=1 << 30, threads=2)

def kept_sets(res):
    path = res.sketches[1].rowset_path
    kept, _ = hashset_memo.take(path, {(tid, col) for tid in res.sketches for col in (-1, -2, -3)})
    return sorted([t, c, sorted(zip(*(x.tolist() for x in s)))] for (t, c), s in kept.items())
"""


def _stage3(tmp_path: Path, requests: list[SketchRequest], code: str) -> dict:
    """What ``code`` prints, run after :data:`_STAGE3` in a child interpreter."""
    (tmp_path / "requests.pkl").write_bytes(pickle.dumps(requests))
    return _python(_STAGE3 + textwrap.dedent(code), str(tmp_path))


def _content(paths: set[str]) -> list[tuple]:
    rows: list[tuple] = []
    for path in sorted(paths):
        t = ds.dataset(path, format="parquet").to_table(columns=["tid", "col", "a", "b", "cnt"])
        rows += zip(*(t.column(n).to_pylist() for n in t.column_names), strict=True)
    return sorted(rows)


def test_forked_stage_three_equals_threads(tmp_path: Path, requests: list[SketchRequest]) -> None:
    """The same tables hashed by forked workers, by this one thread (a process that cannot fork, before
    it has loaded numba: few bytes) and by threads: the same hash-set rows, sketches and sets kept for
    verification (handed back by the workers), bit for bit."""
    got = _stage3(tmp_path, requests, """
        out = {}
        for mode in ("forked", "serial", "threads"):
            if mode != "forked":
                sketch_job.can_fork = lambda: False
            if mode == "threads":  # as when more bytes than SERIAL_BYTES are to be read
                sketch_job.SERIAL_BYTES = 0
            with hashset_memo.keeping(1 << 30):
                res = sketch(mode)
                kept = kept_sets(res)
            out[mode] = {
                "failures": res.failures, "local": res.local, "path": res.sketches[1].rowset_path, "kept": kept,
                "sketches": sorted([tid, sk.rows, sk.distinct_rows, sorted(map(str, sk.sample)),
                                    {str(k): np.asarray(v).tolist() for k, v in sk.minhash.items()}]
                                   for tid, sk in res.sketches.items()),
                "numba": "numba" in sys.modules, "numba_threads": sketch_job.compiled._threads["on"]}
        print(json.dumps(out))
    """)
    forked, serial, threads = got["forked"], got["serial"], got["threads"]
    assert forked["failures"] == serial["failures"] == threads["failures"] == {}
    assert forked["local"] and serial["local"] and threads["local"]
    assert not forked["numba"]  # the workers used the ahead-of-time kernels; the driver imported no numba
    assert not serial["numba"]  # few bytes: hashed here with them rather than loading numba for threads
    assert threads["numba"] and threads["numba_threads"]
    assert _content({forked["path"]}) == _content({serial["path"]}) == _content({threads["path"]}) != []
    assert forked["sketches"] == serial["sketches"] == threads["sketches"]
    assert forked["kept"] == serial["kept"] == threads["kept"] and len(forked["kept"]) >= 5  # every set


def test_a_table_that_fails_on_the_one_thread_path_fails_alone(tmp_path: Path,
                                                               requests: list[SketchRequest]) -> None:
    """Few bytes, a process that cannot fork: a table whose hashing raises is reported failed, with the
    reason; its group's other tables are redone alone and sketched; numba is still not loaded."""
    got = _stage3(tmp_path, requests, """
        sketch_job.can_fork = lambda: False
        hashed = sketch_job.run_group

        def table_one_is_unreadable(group, path, part, **kw):
            if any(t.table.tid == 1 for t in group):
                raise OSError("table 1: cannot read its file")
            return hashed(group, path, part, **kw)

        sketch_job.run_group = table_one_is_unreadable
        res = sketch("serial")
        print(json.dumps({"failures": {str(k): v for k, v in res.failures.items()}, "tables": sorted(res.sketches),
                          "asked": sorted(r.table_id for r in requests), "numba": "numba" in sys.modules}))
    """)
    assert list(got["failures"]) == ["1"] and "cannot read its file" in got["failures"]["1"]
    assert got["tables"] == [t for t in got["asked"] if t != 1]
    assert not got["numba"]


def test_files_on_an_object_store_are_read_in_threads_however_few(tmp_path: Path,
                                                                 requests: list[SketchRequest]) -> None:
    """Threads hide an object store's latency: the one-thread path for few bytes is for local files only."""
    got = _stage3(tmp_path, requests, """
        sketch_job.can_fork = lambda: False
        sketch_job._all_local = lambda path, tasks: False  # as if the files were on an object store
        res = sketch("remote")
        print(json.dumps({"failures": res.failures, "local": res.local, "tables": len(res.sketches),
                          "numba_threads": sketch_job.compiled._threads["on"]}))
    """)
    assert got["failures"] == {} and got["local"] and got["tables"] >= 5
    assert got["numba_threads"]


def test_forked_workers_hand_their_sets_over_through_shared_memory() -> None:
    """A worker forked while ``hashset_memo.shared()`` runs copies its sets into memory the driver
    mapped before the fork and sends back only where they are; the driver keeps read-only views that
    equal what the worker kept. Sets that no longer fit are not kept, and the driver reads them back."""
    got = _python("""
        import json, pickle
        import numpy as np
        from r2d2.containment import hashset_memo
        from r2d2.engine.items import map_forked

        rows = 100_000
        def sets(part):
            rng = np.random.default_rng(part)
            return {(part, -1): tuple(rng.integers(-2**63, 2**63 - 1, rows) for _ in range(3)),
                    (part, -2): (np.empty(0, np.int64),) * 3}

        def work(part):
            hashset_memo.handover("ds")
            fits = hashset_memo.keep("ds", sets(part))
            placed = hashset_memo.handover("ds")
            return fits, len(pickle.dumps(placed)), placed

        def run():
            out = {}
            with hashset_memo.keeping(2 * 24 * rows + 1000):  # room for two parts of three
                with hashset_memo.shared():
                    results = map_forked([0, 1, 2], work, processes=2)
                    for fits, _, placed in results:
                        if placed:
                            hashset_memo.keep("ds", placed)
                every = {(p, c) for p in range(3) for c in (-1, -2)}
                kept, unread = hashset_memo.take("ds", every)
                out["fits"] = [fits for fits, _, _ in results]
                out["pickled"] = max(size for _, size, _ in results)
                out["unread"] = sorted(unread)
                out["equal"] = all(all(np.array_equal(x, y) for x, y in zip(kept[key], sets(key[0])[key]))
                                   for key in kept)
                out["read_only"] = not any(x.flags.writeable for s in kept.values() for x in s if len(x))
                out["kept_parts"] = sorted({p for p, _ in kept})
            return out

        shared = run()
        def no_memory(*args, **kwargs):
            raise OSError(12, "Cannot allocate memory")
        hashset_memo.mmap.mmap = no_memory  # the mapping refused: sets come back through the pipe
        print(json.dumps({"shared": shared, "pickled": run()}))
    """)
    shared, pickled = got["shared"], got["pickled"]
    assert sorted(shared["fits"]) == [False, True, True]  # whichever came last found no room left
    assert shared["pickled"] < 1000  # where the sets are, not 4.8 MB of them
    assert shared["equal"] and shared["read_only"]
    assert len(shared["kept_parts"]) == 2
    missing = ({0, 1, 2} - set(shared["kept_parts"])).pop()
    assert shared["unread"] == [[missing, -2], [missing, -1]]
    # without the mapping: every worker keeps its sets and pickles them back; the driver keeps what fits
    assert pickled["fits"] == [True, True, True] and pickled["pickled"] > 2_400_000 and pickled["equal"]
    assert len(pickled["kept_parts"]) == 2 and len(pickled["unread"]) == 2


def test_a_group_whose_worker_dies_after_writing_is_redone_once(tmp_path: Path, requests: list[SketchRequest]) -> None:
    """A worker that dies after its group's part file is written (killed before it could answer): that
    part is deleted before the group's tables are redone alone, so no hash set is there twice and no
    table is reported failed; the rows equal those of threads."""
    got = _stage3(tmp_path, requests, """
        from r2d2.containment.tablework import part_name

        marker = work / "died"
        written = sketch_job.run_group

        def dies_once_after_writing(group, path, part, **kw):
            out = written(group, path, part, **kw)
            if any(t.table.tid == 1 for t in group) and not marker.exists():
                marker.write_text(json.dumps([part, os.path.exists(os.path.join(path, part_name(part)))]))
                os._exit(9)
            return out

        out = {}
        for mode in ("forked", "threads"):
            if mode == "threads":
                sketch_job.can_fork = lambda: False
            sketch_job.run_group = dies_once_after_writing if mode == "forked" else written
            res = sketch(mode)
            path = res.sketches[1].rowset_path
            out[mode] = {"failures": res.failures, "path": path, "tables": sorted(res.sketches),
                         "parts": sorted(os.listdir(path))}
        out["died"] = json.loads(marker.read_text())
        print(json.dumps(out))
    """)
    forked, threads = got["forked"], got["threads"]
    part, was_written = got["died"]
    assert was_written  # the worker died with its part on disk...
    assert part_name(part) not in forked["parts"]  # ...which was deleted before its tables were redone
    assert forked["failures"] == threads["failures"] == {} and forked["tables"] == threads["tables"]
    assert _content({forked["path"]}) == _content({threads["path"]}) != []  # every set once


def test_sets_a_dying_worker_placed_in_shared_memory_are_not_kept(tmp_path: Path,
                                                                   requests: list[SketchRequest]) -> None:
    """A worker that dies after copying its group's sets into the shared memory never hands them over:
    the driver keeps the sets of the group's tables redone alone, and they equal what threads keep."""
    got = _stage3(tmp_path, requests, """
        marker = work / "died"
        written = sketch_job.run_group

        def dies_once_after_keeping(group, path, part, **kw):
            out = written(group, path, part, **kw)  # (its sets are in the shared memory now)
            if any(t.table.tid == 1 for t in group) and not marker.exists():
                marker.write_text("1")
                os._exit(9)
            return out

        out = {}
        for mode in ("forked", "threads"):
            if mode == "threads":
                sketch_job.can_fork = lambda: False
            sketch_job.run_group = dies_once_after_keeping if mode == "forked" else written
            with hashset_memo.keeping(1 << 30):
                res = sketch(mode)
                out[mode] = {"failures": res.failures, "kept": kept_sets(res)}
        out["died"] = marker.exists()
        print(json.dumps(out))
    """)
    forked, threads = got["forked"], got["threads"]
    assert got["died"] and forked["failures"] == threads["failures"] == {}
    assert forked["kept"] == threads["kept"] and any(t == 1 for t, _, _ in forked["kept"])


def _scan_lake(root: Path) -> None:
    """Every kind of table a footer worker meets: flat and nested Parquet, several files, hive folders, a
    corrupt footer; and the kinds the driver keeps (Delta, CSV)."""
    import datetime as dt

    import lakes
    import pyarrow as pa

    for i in range(6):
        lakes.parquet(root / f"p{i}", {"x": list(range(i * 10, i * 10 + 50)), "s": [f"v{j % 7}" for j in range(50)]})
    lakes.parquet(root / "p0", {"x": [1000, 1001], "s": ["a", None]}, name="part-1.parquet")
    lakes.parquet(root / "nested", pa.table({"k": [1, 2], "m": [{"a": 1, "b": "x"}, None],
                                             "l": [[1, 2], []], "d": [dt.date(2024, 1, 1), None]}))
    lakes.partitioned(root / "hive", pa.table({"x": [1, 2, 3, 4], "y": [7, 7, None, 8]}), ["y"])
    (root / "broken").mkdir()
    (root / "broken" / "part-0.parquet").write_bytes(b"PAR1 not a footer PAR1")
    lakes.delta(root / "d", pa.table({"x": [1, 2, 3]}))
    lakes.csv(root / "c", "x,y\n1,2\n3,\n")


_SCAN_BOTH_WAYS = """
    import json, logging, os, sqlite3, sys
    from r2d2.catalog import open_catalog
    from r2d2.profile import profiler
    from r2d2.scan import scan

    root, work, dying = sys.argv[1], sys.argv[2], sys.argv[3]
    logging.basicConfig(filename=os.path.join(work, "log.txt"), level=logging.WARNING)
    parent, real, forked = os.getpid(), profiler._metadata_profile, []

    def maybe_dying(table):
        if os.getpid() != parent and table.location.endswith("/" + dying):
            os._exit(9)  # this table kills every worker process that reads it
        return real(table)

    profiler._metadata_profile = maybe_dying
    counted = profiler.results_as_done
    profiler.results_as_done = lambda pool, items, fn, **kw: forked.append(len(items)) or counted(pool, items, fn, **kw)

    def profiles(name, minimum):
        profiler.FORK_MIN_TABLES = minimum
        url = f"sqlite:///{work}/{name}.sqlite"
        summary = scan(open_catalog(url), [root], spark_factory=lambda: None, threads=2)
        rows = sqlite3.connect(f"{work}/{name}.sqlite").execute(
            "select location, p.profile, error from tables left join table_profiles p on p.table_id = tables.id")
        return {"failed": summary.failed, "errors": sorted(e["location"] for e in summary.errors),
                "tables": {loc: [json.loads(p) if p else None, e] for loc, p, e in rows}}

    out = {"forked": profiles("forked", 1), "one": profiles("one", 10**9), "pools": forked}
    out["log"] = open(os.path.join(work, "log.txt")).read()
    print(json.dumps(out))
"""


def _without_times(tables: dict) -> dict:
    return {loc: [{k: v for k, v in (p or {}).items() if k != "profiled_at"}, e] for loc, (p, e) in tables.items()}


def test_scan_reads_footers_in_forked_workers_as_in_one_process(tmp_path: Path) -> None:
    """The same profiles and errors whether the footers were read in forked workers or in the scan's own
    process; the corrupt table is an error either way."""
    _scan_lake(tmp_path / "lake")
    got = _python(_SCAN_BOTH_WAYS, str(tmp_path / "lake"), str(tmp_path), "nothing-dies")
    forked, one = got["forked"], got["one"]
    assert got["pools"] == [9]  # the Parquet tables went to the workers (Delta and CSV stay here)
    assert forked["errors"] == one["errors"] == [str(tmp_path / "lake" / "broken")]
    assert _without_times(forked["tables"]) == _without_times(one["tables"]) and len(one["tables"]) == 11
    assert got["log"] == ""


def test_a_table_that_kills_its_footer_worker_is_profiled_by_the_scan_itself(tmp_path: Path) -> None:
    """A worker that dies fails the tables it had not finished; the scan profiles each of them itself, so
    none is lost or failed, and it says which table it had to take back."""
    _scan_lake(tmp_path / "lake")
    got = _python(_SCAN_BOTH_WAYS, str(tmp_path / "lake"), str(tmp_path), "nested")
    forked, one = got["forked"], got["one"]
    assert forked["errors"] == one["errors"] == [str(tmp_path / "lake" / "broken")]
    assert _without_times(forked["tables"]) == _without_times(one["tables"])
    assert f"{tmp_path / 'lake' / 'nested'}: profiled in the driver after its worker process failed" in got["log"]
    assert "died" in got["log"]


def test_a_scan_that_cannot_fork_profiles_every_table_itself(tmp_path: Path) -> None:
    """No memory or processes left to fork, from the first worker or part way: no worker is left behind
    (the interpreter would wait for it at exit), and the scan reads every footer in its own process."""
    _scan_lake(tmp_path / "lake")
    got = _python("""
        import json, multiprocessing, os, sys
        from r2d2.catalog import open_catalog
        from r2d2.engine.items import forked_workers
        from r2d2.profile import profiler
        from r2d2.scan import scan

        real, calls = os.fork, []

        def fork_failing_after(n):
            def fork():
                calls.append(1)
                if len(calls) > n:
                    raise OSError(12, "Cannot allocate memory")
                return real()
            return fork

        out = {}
        os.fork = fork_failing_after(1)  # the second of three workers cannot fork
        with forked_workers(3) as workers:
            out["part_way"] = [workers is None, len(multiprocessing.active_children())]
        calls.clear()
        os.fork = fork_failing_after(0)
        profiler.FORK_MIN_TABLES = 1
        summary = scan(open_catalog(f"sqlite:///{sys.argv[2]}/c.sqlite"), [sys.argv[1]], spark_factory=lambda: None,
                       threads=2)
        out["scan"] = {"tried": len(calls), "failed": summary.failed, "new": summary.new}
        print(json.dumps(out))
    """, str(tmp_path / "lake"), str(tmp_path))
    assert got["part_way"] == [True, 0]
    assert got["scan"] == {"tried": 1, "failed": 1, "new": 10}  # every table profiled; the corrupt footer fails


def test_footer_workers_die_with_the_scan(tmp_path: Path) -> None:
    """A scan killed outright (SIGKILL, out of memory) leaves no worker process behind."""
    script = textwrap.dedent("""
        import multiprocessing, time
        from r2d2.engine.items import forked_workers
        with forked_workers(2) as workers:
            print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
            time.sleep(300)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        children = [int(p) for p in proc.stdout.readline().split()]  # type: ignore[union-attr]
        assert len(children) == 2
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        alive = children
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in children if _running(pid)]
            time.sleep(0.05)
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not a zombie waiting for its new parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_stage_three_items_run_here_when_no_worker_can_fork() -> None:
    """A fork refused (no memory or processes left) does not fail a detect: the items run in the calling
    process, each with its own answer or failure, and no half-started worker is left behind."""
    got = _python("""
        import json, multiprocessing, os
        from r2d2.engine.items import ItemFailure, map_forked

        def no_fork():
            raise OSError(11, "Resource temporarily unavailable")

        def square(i):
            if i == 2:
                raise ValueError("two is refused")
            return [i * i, os.getpid()]

        os.fork = no_fork
        show = lambda rs: [["fail", r.message] if isinstance(r, ItemFailure) else r for r in rs]
        print(json.dumps({"pool": show(map_forked(list(range(4)), square, processes=2)),
                          "alone": show(map_forked([1, 3], square, processes=2, alone=True)),
                          "me": os.getpid(), "children": len(multiprocessing.active_children())}))
    """)
    me = got["me"]
    assert got["pool"] == [[0, me], [1, me], ["fail", "ValueError: two is refused"], [9, me]]
    assert got["alone"] == [[1, me], [9, me]] and got["children"] == 0
