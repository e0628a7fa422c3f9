"""Metadata stages alone: the schema graph and min-max pruning on synthetic table profiles (no data).

The profiles (:class:`r2d2.types.TableProfile`, no files behind them) are shaped like the generated
lakes, at any count:

* *snapshot families* of 26 tables sharing one prefixed schema (``f00012_id``, ``f00012_day``, ...):
  16 daily snapshots (overlapping id ranges, one day each), team copies (Parquet and Delta), a 3-day
  rollup, a filter, a 2-column projection, a 6-column CSV export and four near misses (same stats,
  same stats, half plus one row, shifted ranges);
* *generic tables* (``--generic-share`` of all tables): 3-8 columns drawn from a pool of common names
  (``id``, ``created_at``, ``status``, ...) with random ranges, the cross-family overlap of real lakes.

Statistics follow the contract of :mod:`r2d2.types`: exact integer, date and timestamp bounds, float
bounds with null counts, short strings exact, long strings inexact (a truncating writer) on half the
tables.

The stages are called exactly as :func:`r2d2.containment.pipeline.detect` calls them:
``schema_candidates(profiles)`` then ``prune_all(candidates, profiles)``. Each runs in two fresh
subprocesses, so the measurements do not disturb each other:

* ``time``: wall time of each stage, and resident memory: the peak (``VmHWM``, reset through
  ``/proc/self/clear_refs`` before each stage, else ``ru_maxrss``) minus the resident size before it;
* ``memory``: ``tracemalloc`` (which slows Python down, so it is never timed): the peak of Python
  allocations during each stage and what it keeps (the candidate lists).

Writes ``<out>/metadata.json`` and ``<out>/metadata.md``.

Reproduce::

    .venv/bin/python bench/metadata_bench.py --tables 100000 --out bench/results
    .venv/bin/python bench/metadata_bench.py --tables 1000 --out /tmp/metadata   # quick check
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import shlex
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from r2d2.containment.minmax import prune_all  # noqa: E402
from r2d2.containment.schema_graph import schema_candidates  # noqa: E402
from r2d2.types import Column, ColumnStats, Family, FileEntry, TableFormat, TableProfile  # noqa: E402

FAMILY_TABLES = 26
SNAPSHOTS = 16
DAY_NS = 86_400 * 10**9
EPOCH_2024 = 19723  # days since 1970-01-01
GENERIC_POOL: tuple[tuple[str, Family], ...] = (
    ("id", Family.INTEGER), ("user_id", Family.INTEGER), ("account_id", Family.INTEGER),
    ("order_id", Family.INTEGER), ("product_id", Family.INTEGER), ("store_id", Family.INTEGER),
    ("quantity", Family.INTEGER), ("version", Family.INTEGER), ("count", Family.INTEGER),
    ("amount", Family.FLOAT), ("price", Family.FLOAT), ("score", Family.FLOAT), ("weight", Family.FLOAT),
    ("total", Family.DECIMAL), ("name", Family.STRING), ("status", Family.STRING), ("type", Family.STRING),
    ("country", Family.STRING), ("city", Family.STRING), ("email", Family.STRING), ("source", Family.STRING),
    ("category", Family.STRING), ("description", Family.STRING), ("code", Family.STRING),
    ("created_at", Family.TIMESTAMP), ("updated_at", Family.TIMESTAMP), ("deleted_at", Family.TIMESTAMP),
    ("event_time", Family.TIMESTAMP), ("day", Family.DATE), ("birth_date", Family.DATE),
    ("is_active", Family.BOOLEAN), ("flag", Family.BOOLEAN), ("payload", Family.BINARY),
    ("region", Family.STRING), ("channel", Family.STRING), ("currency", Family.STRING),
    ("tax", Family.FLOAT), ("discount", Family.FLOAT), ("session_id", Family.STRING), ("ip", Family.STRING),
)
_PHYSICAL = {Family.INTEGER: "int64", Family.FLOAT: "double", Family.DECIMAL: "decimal128(18, 2)",
             Family.STRING: "string", Family.BINARY: "binary", Family.BOOLEAN: "bool", Family.DATE: "date32[day]",
             Family.TIMESTAMP: "timestamp[us, tz=UTC]"}


# ----------------------------------------------------------------------------------------- profiles


def _profile(tid: int, location: str, fmt: TableFormat, cols: list[tuple[str, Family, ColumnStats]],
             rows: int) -> TableProfile:
    columns = tuple(Column(n, _PHYSICAL[f], f, unit="us" if f is Family.TIMESTAMP else None) for n, f, _ in cols)
    per_col = max(rows * 6, 1)
    return TableProfile(
        location=location, format=fmt, fingerprint=f"synthetic-{tid}", columns=columns,
        stats={n.lower(): s for n, _, s in cols}, num_rows=rows, num_bytes=per_col * len(cols),
        files=(FileEntry("part-00000.parquet", per_col * len(cols), 0),),
        column_bytes={n.lower(): per_col for n, _, _ in cols})


def _snapshot_stats(rng: random.Random, i: int, rows: int, truncating: bool) -> dict[str, ColumnStats]:
    start = i * int(rows * 0.95)
    day = EPOCH_2024 + i
    nulls = int(rows * 0.01)
    return {
        "id": ColumnStats(start, start + rows - 1, True, True, 0),
        "day": ColumnStats(day, day, True, True, 0),
        "ts": ColumnStats(day * DAY_NS + rng.randrange(10**9), (day + 1) * DAY_NS - rng.randrange(1, 10**9),
                          True, True, 0),
        "amount": ColumnStats(round(rng.uniform(0, 1), 2), round(rng.uniform(999, 1000), 2), True, True, nulls),
        "qty": ColumnStats(1, 100, True, True, 0),
        "cat": ColumnStats("cat_0", "cat_7", True, True, 0),
        # a writer truncating long strings gives bounds that are not attained: inexact
        "note": ColumnStats("n1000", "n9999", not truncating, not truncating, 0),
    }


def _merge(a: ColumnStats, b: ColumnStats) -> ColumnStats:
    """Statistics of a union: min of mins, max of maxes (exact when the winner's bound is)."""
    lo, lo_exact = (a.min, a.min_exact) if a.min <= b.min else (b.min, b.min_exact)
    hi, hi_exact = (a.max, a.max_exact) if a.max >= b.max else (b.max, b.max_exact)
    nulls = None if a.null_count is None or b.null_count is None else a.null_count + b.null_count
    return ColumnStats(lo, hi, lo_exact, hi_exact, nulls)


_SNAP_COLS = (("id", Family.INTEGER), ("day", Family.DATE), ("ts", Family.TIMESTAMP), ("amount", Family.FLOAT),
              ("qty", Family.INTEGER), ("cat", Family.STRING), ("note", Family.STRING))


def _family(rng: random.Random, fam: int, first_tid: int) -> list[TableProfile]:
    """One snapshot family: FAMILY_TABLES profiles with ids from ``first_tid``."""
    p = f"f{fam:05d}"
    rows = rng.randrange(1_000, 1_000_000)
    truncating = rng.random() < 0.5
    snaps = [_snapshot_stats(rng, i, rows, truncating) for i in range(SNAPSHOTS)]
    out: list[TableProfile] = []

    def add(name: str, stats: dict[str, ColumnStats], n: int, fmt: TableFormat = "parquet",
            keep: tuple[str, ...] | None = None) -> None:
        cols = [(f"{p}_{c}", f, stats[c]) for c, f in _SNAP_COLS if keep is None or c in keep]
        tid = first_tid + len(out)
        out.append(_profile(tid, f"/lake/{p}/{name}", fmt, cols, n))

    for i, s in enumerate(snaps):
        add(f"snap_{i:03d}", s, rows)
    add("team_copy_a", snaps[0], rows)
    add("team_copy_b", snaps[1], rows, "delta")
    rollup = snaps[2]
    for k in (3, 4):
        rollup = {c: _merge(rollup[c], snaps[k][c]) for c in rollup}
    add("rollup", rollup, 3 * rows)
    add("filtered", {**snaps[5], "amount": ColumnStats(round(rng.uniform(450, 550), 2), snaps[5]["amount"].max,
                                                       True, True, 0)}, rows // 2)
    add("projection", snaps[6], rows, keep=("cat", "day"))
    add("csv_export", snaps[7], rows, "csv", keep=("id", "day", "amount", "qty", "cat", "note"))
    add("near_same_stats", snaps[8], rows)
    add("near_row_pairing", snaps[9], rows)
    half = snaps[10]["id"]
    add("near_extra_row", {**snaps[10], "id": ColumnStats(half.min, half.min + rows // 2, True, True, 0)},
        rows // 2 + 1)
    shift = 10**12
    add("near_minmax", {**snaps[11], "id": ColumnStats(snaps[11]["id"].min + shift, snaps[11]["id"].max + shift,
                                                       True, True, 0),
                        "day": ColumnStats(EPOCH_2024 + 5000, EPOCH_2024 + 5000, True, True, 0)}, rows)
    assert len(out) == FAMILY_TABLES
    return out


def _generic_stats(rng: random.Random, family: Family, rows: int) -> ColumnStats:
    nulls = rng.choice((0, 0, rng.randrange(rows + 1)))
    if family is Family.INTEGER:
        lo = rng.randrange(10**6)
        return ColumnStats(lo, lo + rng.randrange(1, 10**6), True, True, nulls)
    if family in (Family.FLOAT, Family.DECIMAL):
        flo = round(rng.uniform(-100, 100), 2)
        fhi = round(flo + rng.uniform(0, 1000), 2)
        if family is Family.DECIMAL:  # canonical decimals are strings
            return ColumnStats(str(flo), str(fhi), True, True, nulls)
        return ColumnStats(flo, fhi, True, True, nulls)
    if family is Family.STRING:
        a, b = sorted(f"v{rng.randrange(10**6):06d}" for _ in range(2))
        exact = rng.random() < 0.5
        return ColumnStats(a, b, exact, exact, nulls)
    if family is Family.BINARY:
        return ColumnStats("00", "ff", True, True, nulls)
    if family is Family.BOOLEAN:
        return ColumnStats(False, True, True, True, nulls)
    if family is Family.DATE:
        lo = EPOCH_2024 - rng.randrange(3650)
        return ColumnStats(lo, lo + rng.randrange(1, 1000), True, True, nulls)
    lo = (EPOCH_2024 - rng.randrange(3650)) * DAY_NS
    return ColumnStats(lo, lo + rng.randrange(1, 1000) * DAY_NS, True, True, nulls)


def synthetic_profiles(n: int, *, seed: int = 7, generic_share: float = 0.1) -> dict[int, TableProfile]:
    """About ``n`` profiles: snapshot families of 26 tables, and generic tables (see the module doc)."""
    rng = random.Random(seed)
    generic = round(n * generic_share)
    families = max((n - generic) // FAMILY_TABLES, 0)
    generic = n - families * FAMILY_TABLES
    profiles: dict[int, TableProfile] = {}
    for fam in range(families):
        for prof in _family(rng, fam, len(profiles) + 1):
            profiles[len(profiles) + 1] = prof
    for g in range(generic):
        rows = rng.randrange(1, 1_000_000)
        picked = rng.sample(GENERIC_POOL, rng.randint(3, 8))
        cols = [(name, fam, _generic_stats(rng, fam, rows)) for name, fam in picked]
        tid = len(profiles) + 1
        profiles[tid] = _profile(tid, f"/lake/generic/t{g:06d}", "parquet", cols, rows)
    return profiles


# ----------------------------------------------------------------------------------------- workers


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's resident-set high-water mark (VmHWM) of this process, if allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_kb() -> int:
    hwm = _status_kb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def worker(mode: str, tables: int, seed: int, generic_share: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    profiles = synthetic_profiles(tables, seed=seed, generic_share=generic_share)
    gen_s = time.perf_counter() - t0
    gc.collect()
    out: dict[str, Any] = {"mode": mode, "tables": len(profiles), "generate_seconds": round(gen_s, 2),
                           "columns": sum(len(p.columns) for p in profiles.values())}
    if mode == "memory":
        tracemalloc.start()
    stages: dict[str, dict[str, Any]] = {}

    def measure(name: str, fn):
        gc.collect()
        rss0 = _status_kb("VmRSS") or 0
        reset = _reset_peak()
        cur0 = 0
        if mode == "memory":
            tracemalloc.reset_peak()
            cur0 = tracemalloc.get_traced_memory()[0]
        t = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t
        rec: dict[str, Any] = {}
        if mode == "memory":
            cur, peak = tracemalloc.get_traced_memory()
            rec.update({"traced_peak_mb": round((peak - cur0) / 2**20, 1),
                        "traced_retained_mb": round((cur - cur0) / 2**20, 1)})
        else:
            rec.update({"seconds": round(seconds, 3), "rss_before_mb": round(rss0 / 1024, 1),
                        "rss_peak_delta_mb": round((_peak_kb() - rss0) / 1024, 1),
                        "peak_source": "VmHWM (reset)" if reset else "ru_maxrss"})
        stages[name] = rec
        return result

    n = len(profiles)
    # exactly as pipeline._detect calls them
    candidates, exclusions = measure("schema", lambda: schema_candidates(profiles))
    kept, pruned = measure("minmax", lambda: prune_all(candidates, profiles))
    if mode == "memory":
        tracemalloc.stop()
    stages["schema"].update({"candidates_in": n * (n - 1), "candidates_out": len(candidates),
                             "exclusions": len(exclusions)})
    stages["minmax"].update({"candidates_in": len(candidates), "candidates_out": len(kept),
                             "pruned_by_rule": dict(Counter(r.split(":")[0] for _, r in pruned).most_common())})
    out["stages"] = stages
    out["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _run_worker(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--tables", str(args.tables),
           "--seed", str(args.seed), "--generic-share", str(args.generic_share)]
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# ----------------------------------------------------------------------------------------- report


def render(r: dict[str, Any]) -> str:
    t, m = r["time"]["stages"], r["memory"]["stages"]
    lines = [
        f"# Metadata stages on {r['tables']:,} synthetic table profiles", "",
        f"Command: `{r['command']}`  ",
        f"Run: {r['started']}; machine: {r['machine']['cpus']} CPUs, {r['machine']['mem_gb']} GB, "
        f"{r['machine']['platform']}, Python {r['machine']['python']}; load average (1 min) at start "
        f"{r['machine']['load_avg_at_start'][0]:.1f}.", "",
        f"{r['tables']:,} profiles ({r['columns']:,} columns): {r['families']:,} snapshot families of "
        f"{FAMILY_TABLES} tables and {r['generic_tables']:,} generic tables (columns from a pool of "
        f"{len(GENERIC_POOL)} common names); no data files. Building the profiles took "
        f"{r['time']['generate_seconds']} s (not part of the stages).", "",
        "| stage | candidates in | out | seconds | RSS peak − RSS before | traced peak (tracemalloc) "
        "| traced retained |", "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("schema", "minmax"):
        lines.append(f"| {name} | {t[name]['candidates_in']:,} | {t[name]['candidates_out']:,} | "
                     f"{t[name]['seconds']:.2f} | {t[name]['rss_peak_delta_mb']:,.0f} MB | "
                     f"{m[name]['traced_peak_mb']:,.0f} MB | {m[name]['traced_retained_mb']:,.0f} MB |")
    total = t["schema"]["seconds"] + t["minmax"]["seconds"]
    lines += [
        f"| **both** | | | **{total:.2f}** | | | |", "",
        f"Min-max pruned by rule: {t['minmax']['pruned_by_rule']}. Resident size before the schema stage "
        f"(the profiles): {t['schema']['rss_before_mb']:,.0f} MB; process peak {r['time']['max_rss_mb']:,.0f} MB. "
        f"RSS peaks from {t['schema']['peak_source']}. Times from a run without tracemalloc; memory "
        "from a second run with it (each in its own subprocess).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--generic-share", type=float, default=0.1)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--worker", choices=("time", "memory"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.tables, args.seed, args.generic_share)))
        return
    started = datetime.now(UTC).isoformat(timespec="seconds")
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
               "load_avg_at_start": os.getloadavg(),
               "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)}
    timing = _run_worker("time", args)
    memory = _run_worker("memory", args)
    families = max((args.tables - round(args.tables * args.generic_share)) // FAMILY_TABLES, 0)
    result = {
        "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/metadata_bench.py", *sys.argv[1:]]),
        "started": started, "finished": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine,
        "tables": timing["tables"], "columns": timing["columns"], "families": families,
        "generic_tables": timing["tables"] - families * FAMILY_TABLES, "generic_share": args.generic_share,
        "seed": args.seed, "time": timing, "memory": memory,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metadata.json").write_text(json.dumps(result, indent=2))
    (args.out / "metadata.md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
