"""Scan benchmark: first scan, unchanged re-scan and incremental re-scan of generated Parquet lakes.

Two lakes are generated with pyarrow (in a thread pool) under ``--workdir``:

* ``tables``: ``--tables`` small Parquet tables (default 10,000) in namespace folders of 100 tables;
  3-6 columns (int64, string, float64, date32, bool), 200-500 rows per table; about 70 % one file,
  20 % two or three files, 10 % hive-partitioned (``region=...``, 2-3 partitions, one file each);
* ``files``: one flat Parquet table of ``--files`` files (default 1,000), 100-300 rows each.

Both lakes are Parquet only, so scanning them must never start Spark (the ``spark_factory`` given to
``scan`` raises) and ``data_bytes_read`` must be 0: profiles come from Parquet footers alone.

For each lake and each catalog (a fresh SQLite file; and a throwaway PostgreSQL cluster started with
``initdb``/``pg_ctl`` on a free loopback port when the server binaries are there) it measures

1. the first scan (empty catalog): wall seconds, tables/s, files/s, metadata bytes read
   (``summary.bytes_read``), data bytes read (``summary.data_bytes_read``), bytes the process really
   read from the OS (``/proc/self/io`` ``rchar``, which includes whatever pyarrow read around the
   footers and SQLite's own reads), CPU seconds and peak RSS;
2. the re-scan of the unchanged lake (``--rescans`` times, median reported): seconds, metadata and
   data bytes read, speed-up over the first scan; plus the discovery walk and the catalog's
   fingerprint query timed alone;
3. after changing about 1 % of the ``tables`` lake (a file appended to 0.5 % of the tables, the
   modification time of 0.3 % bumped, 0.2 % deleted) and appending 1 % more files to the ``files``
   table, an incremental re-scan whose new/changed/unchanged/gone counts are checked.

Every scan runs in a fresh child process (so peak RSS is per lake and per catalog, and import time is
not counted); first scan and re-scans of a lake run back to back in the same child, so the speed-up is
a ratio measured side by side. The page cache is warm (the lake was just written); nothing is dropped.

Writes ``<out>/scan.json`` and ``<out>/scan.md``.

Reproduce::

    .venv/bin/python bench/scan_bench.py                               # 10,000 tables; 1,000 files
    .venv/bin/python bench/scan_bench.py --tables 1000 --files 200 --catalogs sqlite   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
TARGET_SPEEDUP = 10.0
NAMESPACE_SIZE = 100
REGIONS = ("eu", "us", "apac")


# --------------------------------------------------------------------------- lake generation


def _batch(rng: np.random.Generator, n_cols: int, rows: int, offset: int) -> pa.Table:
    ids = pa.array(np.arange(offset, offset + rows, dtype=np.int64))
    cols: dict[str, pa.Array] = {"id": ids}
    if n_cols > 1:
        cols["name"] = pc.binary_join_element_wise("n", pc.cast(ids, pa.string()), "")
    if n_cols > 2:
        cols["value"] = pa.array(rng.normal(size=rows))
    if n_cols > 3:
        cols["day"] = pa.array(rng.integers(18_000, 20_000, size=rows).astype("int32")).cast(pa.date32())
    if n_cols > 4:
        cols["flag"] = pa.array(rng.random(rows) < 0.5)
    if n_cols > 5:
        qty = rng.integers(0, 1000, size=rows)
        cols["qty"] = pa.array(qty, mask=rng.random(rows) < 0.05)
    return pa.table(cols)


def _table_spec(i: int) -> dict[str, Any]:
    """Deterministic layout of table ``i``: columns, rows, files, partitions."""
    rng = np.random.default_rng(i)
    kind = rng.random()
    layout = "single" if kind < 0.7 else ("multi" if kind < 0.9 else "hive")
    return {
        "index": i,
        "n_cols": int(rng.integers(3, 7)),
        "rows": int(rng.integers(200, 501)),
        "layout": layout,
        "parts": 1 if layout == "single" else int(rng.integers(2, 4)),
    }


def table_dir(root: Path, i: int) -> Path:
    return root / f"ns_{i // NAMESPACE_SIZE:04d}" / f"t_{i:06d}"


def _write_table(root: Path, spec: dict[str, Any]) -> int:
    i = spec["index"]
    rng = np.random.default_rng(1_000_003 + i)
    base = table_dir(root, i)
    per = spec["rows"] // spec["parts"]
    files = 0
    for p in range(spec["parts"]):
        data = _batch(rng, spec["n_cols"], per, p * per)
        folder = base / f"region={REGIONS[p]}" if spec["layout"] == "hive" else base
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, folder / f"part-{p:05d}.parquet")
        files += 1
    return files


def append_file(root: Path, i: int) -> None:
    """Append one more file (same schema) to table ``i``."""
    spec = _table_spec(i)
    rng = np.random.default_rng(7_000_003 + i)
    base = table_dir(root, i)
    folder = base / f"region={REGIONS[0]}" if spec["layout"] == "hive" else base
    pq.write_table(_batch(rng, spec["n_cols"], 50, 10_000_000), folder / "part-appended.parquet")


def generate_tables_lake(root: Path, n: int, threads: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    specs = [_table_spec(i) for i in range(n)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        files = sum(pool.map(lambda s: _write_table(root, s), specs, chunksize=64))
    layouts = {k: sum(1 for s in specs if s["layout"] == k) for k in ("single", "multi", "hive")}
    return {"tables": n, "files": files, "layouts": layouts, "bytes": _du(root),
            "generate_s": time.perf_counter() - t0}


def generate_files_lake(root: Path, n_files: int, threads: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    table = root / "big_table"
    table.mkdir(parents=True, exist_ok=True)

    def write(k: int) -> None:
        rng = np.random.default_rng(2_000_003 + k)
        rows = int(rng.integers(100, 301))
        pq.write_table(_batch(rng, 5, rows, k * 1000), table / f"part-{k:05d}.parquet")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, range(n_files), chunksize=32))
    return {"tables": 1, "files": n_files, "bytes": _du(root), "generate_s": time.perf_counter() - t0}


def _du(root: Path) -> int:
    return sum(e.stat().st_size for e in root.rglob("*") if e.is_file())


def modify_tables_lake(root: Path, n: int) -> dict[str, Any]:
    """Change ~1 % of the tables: append a file to 0.5 %, touch 0.3 %, delete 0.2 % (disjoint)."""
    rng = np.random.default_rng(42)
    picked = rng.choice(n, size=max(3, n // 100), replace=False).tolist()
    n_append, n_touch = max(1, n * 5 // 1000), max(1, n * 3 // 1000)
    append, touch, delete = (picked[:n_append], picked[n_append:n_append + n_touch],
                             picked[n_append + n_touch:])
    for i in append:
        append_file(root, i)
    later = time.time_ns() + 5_000_000_000
    for i in touch:
        for f in table_dir(root, i).rglob("*.parquet"):
            os.utime(f, ns=(later, later))
    for i in delete:
        shutil.rmtree(table_dir(root, i))
    return {"appended": len(append), "touched": len(touch), "deleted": len(delete),
            "expect": {"new": 0, "changed": len(append) + len(touch), "gone": len(delete),
                       "unchanged": n - len(picked), "failed": 0}}


def modify_files_lake(root: Path, n_files: int) -> dict[str, Any]:
    table = root / "big_table"
    extra = max(1, n_files // 100)
    for k in range(extra):
        rng = np.random.default_rng(9_000_003 + k)
        pq.write_table(_batch(rng, 5, 100, 50_000_000 + k * 1000), table / f"part-new-{k:05d}.parquet")
    return {"appended_files": extra,
            "expect": {"new": 0, "changed": 1, "gone": 0, "unchanged": 0, "failed": 0}}


# --------------------------------------------------------------------------- measuring (child process)


def _io() -> dict[str, int]:
    try:
        with open("/proc/self/io") as fh:
            return {k: int(v) for k, v in (line.split(":") for line in fh)}
    except OSError:
        return {}


def _cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _maxrss_mb() -> float:
    """Peak RSS of this process since the last :func:`_reset_peak` (VmHWM, MiB).

    ``resource.getrusage().ru_maxrss`` is not used: Linux carries it over fork and exec, so a spawned
    child reports at least its parent's peak. VmHWM belongs to the process's own address space and
    can be reset through ``/proc/self/clear_refs``; falls back to ``ru_maxrss`` elsewhere.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _no_spark() -> Any:
    raise RuntimeError("Spark was asked for while scanning a Parquet-only lake")


def _measured_scan(catalog: Any, root: str) -> dict[str, Any]:
    from r2d2.scan import scan

    rss0 = _maxrss_mb()  # peak so far (imports, catalog open)
    _reset_peak()
    io0, cpu0, load0 = _io(), _cpu(), os.getloadavg()[0]
    t0 = time.perf_counter()
    s = scan(catalog, [root], spark_factory=_no_spark)
    wall = time.perf_counter() - t0
    io1, cpu1 = _io(), _cpu()
    return {
        "wall_s": wall,
        "summary_s": s.seconds,
        "cpu_s": cpu1 - cpu0,
        "found": s.found, "new": s.new, "changed": s.changed, "unchanged": s.unchanged,
        "gone": s.gone, "failed": s.failed,
        "lake_bytes": s.bytes,
        "bytes_read": s.bytes_read,
        "data_bytes_read": s.data_bytes_read,
        "os_rchar": io1.get("rchar", 0) - io0.get("rchar", 0),
        "os_read_syscalls": io1.get("syscr", 0) - io0.get("syscr", 0),
        "peak_rss_mb": _maxrss_mb(),
        "peak_rss_before_mb": rss0,
        "loadavg_1m_before": load0,
        "errors": s.errors[:5],
    }


def child_first_and_rescans(root: str, url: str, rescans: int, cprofile_out: str | None) -> dict[str, Any]:
    from r2d2.catalog import open_catalog
    from r2d2.lake.discover import discover

    catalog = open_catalog(url)
    out: dict[str, Any] = {"rss_before_mb": _maxrss_mb()}
    if cprofile_out:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        out["first"] = _measured_scan(catalog, root)
        prof.disable()
        prof.dump_stats(cprofile_out)
    else:
        out["first"] = _measured_scan(catalog, root)
    out["rescans"] = [_measured_scan(catalog, root) for _ in range(rescans)]
    t0 = time.perf_counter()
    found = discover([root])
    out["discover_s"] = time.perf_counter() - t0
    out["discover_tables"] = len(found.tables)
    t0 = time.perf_counter()
    catalog.fingerprints()
    out["fingerprints_query_s"] = time.perf_counter() - t0
    catalog.close()
    return out


def child_incremental(root: str, url: str) -> dict[str, Any]:
    from r2d2.catalog import open_catalog

    catalog = open_catalog(url)
    out = {"incremental": _measured_scan(catalog, root)}
    out["after"] = _measured_scan(catalog, root)  # back to an unchanged re-scan
    catalog.close()
    return out


def in_child(fn: Any, *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# --------------------------------------------------------------------------- PostgreSQL (optional)


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder on a free loopback port (as tests/conftest.py)."""

    def __init__(self) -> None:
        self.root: Path | None = None
        self.run_as: list[str] = []
        self.bindir: Path | None = None

    def start(self) -> str:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        self.bindir = Path(out.stdout.strip())
        self.root = Path(tempfile.mkdtemp(prefix="r2d2-bench-pg-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.root, user="postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        data = self.root / "data"
        subprocess.run([*self.run_as, str(self.bindir / "initdb"), "-D", str(data), "-U", "r2d2",
                        "--auth=trust", "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        # -F (fsync off) as in the tests: a throwaway cluster; commits are not made durable.
        subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(data), "-l",
                        str(self.root / "server.log"), "-w", "start",
                        "-o", f"-h 127.0.0.1 -p {port} -k {self.root} -F"], check=True, capture_output=True)
        subprocess.run([*self.run_as, str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", "r2d2", "r2d2"], check=True, capture_output=True)
        return f"postgresql+psycopg://r2d2@127.0.0.1:{port}/r2d2"

    def stop(self) -> None:
        if self.root is None or self.bindir is None:
            return
        subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"),
                        "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def reset_pg_database(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


# --------------------------------------------------------------------------- report


def _version(mod: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:
        return None


def machine() -> dict[str, Any]:
    mem_kb = 0
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                                    capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = "", False
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "sqlalchemy": _version("sqlalchemy"),
        "psycopg": _version("psycopg"),
        "numpy": np.__version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit + ("-dirty" if dirty else ""),
        "loadavg_start": os.getloadavg(),
    }


def _fmt_int(v: float) -> str:
    return f"{v:,.0f}"


def _mb(v: float) -> str:
    return f"{v / 1e6:,.2f} MB"


def _row(label: str, m: dict[str, Any], lake: dict[str, Any], speedup: float | None = None) -> str:
    secs = m["wall_s"]
    tps = m["found"] / secs if secs else 0
    fps = lake["files"] / secs if secs else 0
    counts = f"{m['found']}/{m['new']}/{m['changed']}/{m['unchanged']}/{m['gone']}/{m['failed']}"
    return (f"| {label} | {secs:,.2f} | {m['cpu_s']:,.2f} | {_fmt_int(tps)} | {_fmt_int(fps)} | {counts} | "
            f"{_mb(m['bytes_read'])} | {m['data_bytes_read']:,} | {_mb(m['os_rchar'])} | "
            f"{f'{speedup:.1f}×' if speedup else '—'} | {m['peak_rss_mb']:,.0f} | "
            f"{m['loadavg_1m_before']:.1f} |")


def render_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Scan benchmark: first scan, unchanged re-scan, incremental re-scan",
        "",
        f"Machine: {m['nproc']} CPUs (shared with other test runs; 1-min load average "
        f"{m['loadavg_start'][0]:.1f} at start), {m['ram_gb']} GB RAM, {m['platform']}, "
        f"Python {m['python']}, pyarrow {m['pyarrow']}, SQLAlchemy {m['sqlalchemy']}, "
        f"psycopg {m['psycopg']}. Date {m['date']}, commit {m['git_commit']}.",
        "",
        "Lakes are **Parquet only** (no CSV), so Spark is never started (the scan's `spark_factory` "
        "raises) and every profile comes from footers: data bytes read must be 0. "
        "Each (lake, catalog) runs in a fresh child process: first scan on an empty catalog, then "
        f"{report['args']['rescans']} re-scans of the unchanged lake (median shown) in the same process; "
        "the page cache is warm (lake just written). Seconds are wall-clock around `r2d2.scan.scan`; "
        "CPU s is user+system of the process (threads included; more than wall means parallelism, "
        "much less means waiting or a busy machine). *meta read* is `summary.bytes_read` (footer "
        "bytes, as the profiler accounts them); *OS read* is `/proc/self/io` rchar: everything the process "
        "read through system calls (pyarrow reads up to 64 KiB at the end of each file, so a small file "
        "is read whole; SQLite reads count too). Peak RSS is the child's peak resident set during that "
        "step alone (VmHWM, reset before the step; it includes the ~150 MB of imported libraries). "
        "Counts are found/new/changed/unchanged/gone/failed. *load before* is the machine's 1-minute "
        "load average when the step started (2 CPUs: above 2 means other work competed for them).",
        "",
    ]
    for name, lake in report["lakes"].items():
        desc = lake["description"]
        lines += [f"## Lake `{name}`: {desc}", "",
                  f"{lake['tables']:,} tables, {lake['files']:,} files, {_mb(lake['bytes'])} on disk "
                  f"(generated in {lake['generate_s']:.1f} s).", ""]
        for cat, res in lake["results"].items():
            if "skipped" in res:
                lines += [f"### Catalog: {cat} — skipped: {res['skipped']}", ""]
                continue
            first, resc = res["first"], res["rescan_median"]
            lines += [
                f"### Catalog: {cat}",
                "",
                "| step | seconds | CPU s | tables/s | files/s | counts | meta read | data bytes read "
                "| OS read | speed-up vs first | peak RSS MB | load before |",
                "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
                _row("first scan", first, lake),
                _row(f"re-scan, unchanged (median of {len(res['rescans'])})", resc, lake, res["speedup"]),
            ]
            if "incremental" in res:
                inc = res["incremental"]
                lines.append(_row(f"incremental ({res['change_note']})", inc, lake,
                                  first["wall_s"] / inc["wall_s"]))
                lines.append(_row("re-scan after incremental", res["after"], lake,
                                  first["wall_s"] / res["after"]["wall_s"]))
            lines += [
                "",
                f"Re-scan breakdown (timed alone): discovery walk {res['discover_s']:.2f} s, "
                f"catalog fingerprint query {res['fingerprints_query_s']:.2f} s. "
                f"Re-scan times: {', '.join(format(r['wall_s'], '.2f') for r in res['rescans'])} s.",
                "",
                "| target | value | met |",
                "|---|---|---|",
            ]
            for t in res["targets"]:
                lines.append(f"| {t['target']} | {t['value']} | {'yes' if t['met'] else '**no**'} |")
            lines.append("")
    lines += ["## Reproduce", "", "```bash", report["command"], "```", ""]
    if report.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    return "\n".join(lines)


def targets(res: dict[str, Any], expect: dict[str, int] | None, n_tables: int) -> list[dict[str, Any]]:
    first, resc = res["first"], res["rescan_median"]
    out = [
        {"target": "first scan: all tables profiled, none failed",
         "value": f"{first['new']:,} new, {first['failed']} failed", "met":
         first["new"] == n_tables and first["failed"] == 0},
        {"target": "first scan: data bytes read = 0", "value": f"{first['data_bytes_read']:,}",
         "met": first["data_bytes_read"] == 0},
        {"target": "re-scan: data bytes read = 0", "value": f"{resc['data_bytes_read']:,}",
         "met": all(r["data_bytes_read"] == 0 for r in res["rescans"])},
        {"target": "re-scan: nothing re-profiled (meta read = 0, unchanged = all)",
         "value": f"meta {resc['bytes_read']:,} B, unchanged {resc['unchanged']:,}",
         "met": all(r["bytes_read"] == 0 and r["unchanged"] == n_tables for r in res["rescans"])},
        {"target": f"re-scan speed-up ≥ {TARGET_SPEEDUP:.0f}×", "value": f"{res['speedup']:.1f}×",
         "met": res["speedup"] >= TARGET_SPEEDUP},
    ]
    if expect is not None and "incremental" in res:
        inc = res["incremental"]
        got = {k: inc[k] for k in expect}
        out.append({"target": "incremental: counts as expected",
                    "value": ", ".join(f"{k} {got[k]} (expected {expect[k]})" for k in expect),
                    "met": got == expect})
        out.append({"target": "incremental: data bytes read = 0", "value": f"{inc['data_bytes_read']:,}",
                    "met": inc["data_bytes_read"] == 0})
    return out


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", type=int, default=10_000, help="tables in the many-tables lake")
    ap.add_argument("--files", type=int, default=1_000, help="files in the one-table lake")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for scan.json and scan.md")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "r2d2-scan-bench",
                    help="where lakes and SQLite catalogs are written (wiped first)")
    ap.add_argument("--catalogs", default="sqlite,postgres",
                    help="comma-separated: sqlite, postgres (postgres is skipped if initdb is missing)")
    ap.add_argument("--rescans", type=int, default=5, help="re-scans of the unchanged lake (median kept)")
    ap.add_argument("--threads", type=int, default=8, help="writer threads for lake generation")
    ap.add_argument("--cprofile", action="store_true",
                    help="also run an extra first scan of the tables lake under cProfile (SQLite; not timed) "
                         "and write its stats to <workdir>/first_scan.prof (cProfile sees the main "
                         "thread only: use py-spy for the footer-reading worker threads)")
    args = ap.parse_args(argv)
    catalogs = [c.strip() for c in args.catalogs.split(",") if c.strip()]
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True)
    report: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "command": "cd " + str(REPO) + " && .venv/bin/python bench/scan_bench.py " + " ".join(
            shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
        "lakes": {},
        "notes": [],
    }

    print(f"generating {args.tables:,} tables and a {args.files:,}-file table under {args.workdir}",
          flush=True)
    lakes: dict[str, dict[str, Any]] = {
        "tables": {"root": args.workdir / "lake_tables",
                   "description": f"{args.tables:,} small Parquet tables",
                   **generate_tables_lake(args.workdir / "lake_tables", args.tables, args.threads)},
        "files": {"root": args.workdir / "lake_files",
                  "description": f"one Parquet table of {args.files:,} files",
                  **generate_files_lake(args.workdir / "lake_files", args.files, args.threads)},
    }
    for name, lake in lakes.items():
        print(f"  {name}: {lake['tables']:,} tables, {lake['files']:,} files, {_mb(lake['bytes'])}, "
              f"{lake['generate_s']:.1f} s", flush=True)
        lake["results"] = {}

    pg: ThrowawayPostgres | None = None
    urls: dict[str, dict[str, str]] = {name: {} for name in lakes}
    for cat in catalogs:
        if cat == "sqlite":
            for name in lakes:
                urls[name]["sqlite"] = f"sqlite:///{args.workdir / f'catalog-{name}.db'}"
        elif cat == "postgres":
            if shutil.which("pg_config") is None:
                for lake in lakes.values():
                    lake["results"]["postgres"] = {"skipped": "pg_config not found"}
                continue
            pg = ThrowawayPostgres()
            try:
                base = pg.start()
            except (subprocess.CalledProcessError, OSError) as exc:
                for lake in lakes.values():
                    lake["results"]["postgres"] = {"skipped": f"could not start PostgreSQL: {exc}"}
                pg.stop()
                pg = None
                continue
            for name in lakes:
                urls[name]["postgres"] = base  # one database; reset before each lake (see below)
        else:
            raise SystemExit(f"unknown catalog {cat!r}")

    try:
        # PostgreSQL holds one database: run lake by lake, each catalog on a fresh schema; the
        # incremental step for a lake follows its first scans (the lake is changed in between).
        for name, lake in lakes.items():
            root = str(lake["root"])
            for cat, url in urls[name].items():
                if cat == "postgres":
                    reset_pg_database(url)
                print(f"[{name} / {cat}] first scan + {args.rescans} re-scans", flush=True)
                res = in_child(child_first_and_rescans, root, url, args.rescans, None)
                walls = [r["wall_s"] for r in res["rescans"]]
                med = statistics.median(walls)
                res["rescan_median"] = min(res["rescans"], key=lambda r: abs(r["wall_s"] - med))
                res["speedup"] = res["first"]["wall_s"] / res["rescan_median"]["wall_s"]
                lake["results"][cat] = res
                f = res["first"]
                print(f"    first {f['wall_s']:.2f} s ({f['found'] / f['wall_s']:,.0f} tables/s, "
                      f"{lake['files'] / f['wall_s']:,.0f} files/s), re-scan {med:.2f} s, "
                      f"speed-up {res['speedup']:.1f}×, peak RSS {f['peak_rss_mb']:.0f} MB", flush=True)
            if name == "tables":
                change = modify_tables_lake(lake["root"], args.tables)
                note = (f"{change['appended']} tables +1 file, {change['touched']} touched, "
                        f"{change['deleted']} deleted")
            else:
                change = modify_files_lake(lake["root"], args.files)
                note = f"+{change['appended_files']} files"
            lake["change"] = change
            for cat, url in urls[name].items():
                print(f"[{name} / {cat}] incremental re-scan ({note})", flush=True)
                inc = in_child(child_incremental, root, url)
                res = lake["results"][cat]
                res.update(inc)
                res["change_note"] = note
                i = inc["incremental"]
                print(f"    {i['wall_s']:.2f} s: changed {i['changed']}, gone {i['gone']}, new {i['new']}, "
                      f"unchanged {i['unchanged']}, failed {i['failed']}", flush=True)
            n_tables = lake["tables"]
            for cat in urls[name]:
                res = lake["results"][cat]
                res["targets"] = targets(res, change["expect"], n_tables)
        if args.cprofile:
            url = f"sqlite:///{args.workdir / 'catalog-cprofile.db'}"
            prof = args.workdir / "first_scan.prof"
            print(f"[tables / sqlite] extra first scan under cProfile -> {prof}", flush=True)
            res = in_child(child_first_and_rescans, str(lakes["tables"]["root"]), url, 0, str(prof))
            report["cprofile"] = {"path": str(prof), "wall_s_under_profiler": res["first"]["wall_s"],
                                  "top": _top_stats(prof)}
    finally:
        if pg is not None:
            pg.stop()

    for lake in lakes.values():
        lake["root"] = str(lake["root"])
    report["lakes"] = lakes
    report["machine"]["loadavg_end"] = os.getloadavg()
    report["notes"] += [
        "Incremental change: the tables lake gets a file appended to 0.5 % of its tables, the mtime of "
        "0.3 % bumped (both must count as changed) and 0.2 % deleted (gone); the files table gets 1 % more "
        "files (the one table is changed, so all its footers are read again).",
        "Timings on a shared 2-CPU machine vary run to run; the speed-up is a ratio of scans run "
        "back to back in the same process.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scan.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / "scan.md").write_text(render_markdown(report))
    print(f"wrote {args.out / 'scan.json'} and {args.out / 'scan.md'}")
    ok = all(t["met"] for lake in lakes.values() for r in lake["results"].values()
             for t in r.get("targets", []))
    return 0 if ok else 1


def _top_stats(path: Path, n: int = 25) -> list[dict[str, Any]]:
    import pstats

    st = pstats.Stats(str(path))
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append({"where": f"{file}:{line}({func})", "calls": nc, "tottime": tt, "cumtime": ct})
    rows.sort(key=lambda r: r["tottime"], reverse=True)
    return rows[:n]


if __name__ == "__main__":
    sys.exit(main())
