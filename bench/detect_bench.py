"""Detection benchmark: R2D2's funnel against exact baselines without pruning, side by side in one run.

Steps (one process, one Spark session ``local[2]``, driver memory 6g):

1. generate a lake with :func:`r2d2.gen.lake.generate_lake` and ``LakeSpec.shaped(--tables, --bytes)``
   (cached under ``--workdir`` as a pickle with its truth, so a re-run skips generation), scan it into
   a fresh SQLite catalog;
2. R2D2 ``detect`` on the whole lake (cold: no sketch cache; the lake's files in the page cache, as
   before every method): the funnel per stage;
3. :func:`bench.baselines.hash_join_all` on the same tables (schema candidates only); identical edges?
4. an incremental re-run: 10 existing tables copied to new folders, re-scan, ``detect``;
   (timing repeats, ``--repeats``: the full and the incremental detect run again, each from a copy of
   the catalog as it was before it, in a home of its own; their medians make the reported ratio, as
   one run of each moves with the shared machine's load)
5. a subset of ``--naive-subset`` tables (the case family whole, plus the same few tables from each
   snapshot family): a fresh catalog scanning only those folders, R2D2 ``detect`` on it, then
   :func:`bench.baselines.naive_pairwise`; identical edges?
6. precision / recall of every method against the generator's truth (restricted to the tables seen).

R2D2's ``detect`` on the whole lake is sampled with ``py-spy`` (``--pyspy``; Python side only: Spark
time shows as waiting in py4j). Writes ``<out>/detect.json`` (after every step) and ``<out>/detect.md``.

Reproduce::

    .venv/bin/python bench/detect_bench.py --tables 1000 --bytes 2.2e9 --naive-subset 200 \\
        --workdir /tmp/r2d2-detect-bench --out bench/results
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.baselines import edge_set, hash_join_all, naive_pairwise  # noqa: E402
from bench.pagecache import warm_page_cache  # noqa: E402
from bench.result import exact_only  # noqa: E402
from r2d2.catalog import open_catalog  # noqa: E402
from r2d2.config import load_settings  # noqa: E402
from r2d2.containment.pipeline import detect  # noqa: E402
from r2d2.containment.schema_graph import schema_candidates  # noqa: E402
from r2d2.engine import get_spark  # noqa: E402
from r2d2.gen.evaluate import as_truth, score  # noqa: E402
from r2d2.gen.lake import LakeSpec, generate_lake  # noqa: E402
from r2d2.gen.lake import read_table as gen_read_table  # noqa: E402
from r2d2.gen.truth import Truth, exact_oracle  # noqa: E402
from r2d2.scan import scan  # noqa: E402

TARGETS = {"speedup_vs_hash_join": 5.0, "speedup_vs_naive": 20.0, "content_bytes_ratio": 2.0,
           "incremental_fraction": 0.10}
SUBSET_PER_FAMILY = ("snap_000", "team_copy_a", "snap_008", "near_same_stats", "projection")
ADDED = ("sales/base", "sales/filter", "sales/chain_b", "sales/csv_subset", "sales/int32",
         "f0001/snap_000", "f0001/snap_005", "f0001/filtered", "f0001/rollup", "f0001/projection")

RESULT: dict[str, Any] = {}


def copy_catalog(settings: Any, home: Path) -> None:
    """A fresh home whose catalog is a copy of ``settings``' (SQLite's backup: consistent while the
    original is open). Its work folder is its own; hash sets the copy refers to stay where they are."""
    import sqlite3

    home.mkdir(parents=True)
    src = sqlite3.connect(str(settings.home / "catalog.sqlite"))
    dst = sqlite3.connect(str(home / "catalog.sqlite"))
    with dst:
        src.backup(dst)
    src.close()
    dst.close()


def timed_repeats(settings: Any, factory: Any, homes: list[Path]) -> list[dict[str, Any]]:
    """``detect`` once from each of ``homes`` (prepared by :func:`copy_catalog`): its seconds, and stage
    3's seconds and bytes; each home is deleted after its run (its hash sets are no longer needed)."""
    out = []
    for home in homes:
        rep_settings = load_settings(home=home, spark_master="local[2]", spark_driver_memory="6g")
        catalog = open_catalog(rep_settings.resolved_catalog_url)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        res = detect(catalog, rep_settings, factory)
        seconds = time.perf_counter() - t0
        stage3 = next(s for s in res.stages if s.name == "minhash")
        out.append({"seconds": round(seconds, 3), "load_avg_1m_before": load0,
                    "stage3_seconds": round(stage3.seconds, 3), "stage3_bytes": stage3.bytes_read})
        catalog.close()
        shutil.rmtree(home, ignore_errors=True)
    return out


def median(xs: list[float]) -> float:
    ys = sorted(xs)
    n = len(ys)
    return ys[n // 2] if n % 2 else (ys[n // 2 - 1] + ys[n // 2]) / 2


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def save(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "detect.json").write_text(json.dumps(RESULT, indent=2, default=str))


def restrict(truth: Truth, locations: set[str]) -> Truth:
    return Truth(frozenset(e for e in truth.edges if e.parent in locations and e.child in locations))


def pr(edges, truth: Truth) -> dict[str, Any]:
    s = score(as_truth(edges), truth)
    return {"precision": s.precision, "recall": s.recall, "true_positives": s.true_positives,
            "false_positives": len(s.false_positives), "false_negatives": len(s.false_negatives),
            "wrong_flags": len(s.wrong_flags),
            "examples": [str(x) for x in (s.false_positives[:3] + s.false_negatives[:3])]}


def stages_json(result) -> list[dict[str, Any]]:
    return [s.to_json() for s in result.stages]


def diff(a, b) -> dict[str, Any]:
    """R2D2's exact edges ``a`` against a baseline's ``b`` (which looks for nothing else)."""
    sa, sb = edge_set(exact_only(a)), edge_set(b)
    return {"identical": sa == sb, "only_r2d2": sorted(map(list, sa - sb))[:5],
            "only_baseline": sorted(map(list, sb - sa))[:5], "n_r2d2": len(sa), "n_baseline": len(sb)}


def load_lake(workdir: Path, tables: int, nbytes: int, seed: int, related: float = 1.0):
    name = f"lake-{tables}-{nbytes}-s{seed}" + ("" if related == 1.0 else f"-r{related:g}")
    cache = workdir / f"{name}.pkl"
    spec = LakeSpec.shaped(tables, nbytes, related=related)
    if cache.exists():
        data = pickle.loads(cache.read_bytes())
        return data["lake"], spec, True
    lake = generate_lake(workdir / name, spec, seed=seed)
    cache.write_bytes(pickle.dumps({"spec": spec, "lake": lake}))
    return lake, spec, False


def lake_shape(lake, spec) -> dict[str, Any]:
    fam = Counter(Path(loc).parent.name for loc in lake.tables)
    formats = Counter(lake.tables.values())
    return {"tables": len(lake.tables), "bytes": lake.bytes, "families": len(fam),
            "snapshot_families": spec.snapshot_families, "case_family_tables": fam.get("sales", 0),
            "tables_per_snapshot_family": sorted(set(v for k, v in fam.items() if k.startswith("f"))),
            "plain_families": spec.plain_families, "plain_snapshots": spec.plain_snapshots,
            "snapshot_rows": spec.snapshot_rows, "case_rows": spec.case_rows, "formats": dict(formats),
            "truth_edges": len(lake.truth), "planted_edges": len(lake.planted),
            "near_misses": len(lake.near_misses), "generate_seconds": round(lake.seconds, 1)}


def start_pyspy(path: Path, rate: int) -> subprocess.Popen | None:
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists():
        return None
    return subprocess.Popen([str(exe), "record", "--pid", str(os.getpid()), "--rate", str(rate),
                             "--nonblocking", "--idle",
                             "--format", "raw", "--output", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_pyspy(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def summarize_pyspy(path: Path, top: int = 12) -> dict[str, Any]:
    """Top functions by inclusive and by self samples, from py-spy's collapsed-stack output."""
    if not path.exists():
        return {}
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        cnt = int(n)
        frames = stack.split(";")
        # the main thread's detect call only (--idle samples every thread, waiting or not)
        if not any(f.startswith("detect (") and "r2d2/containment/pipeline.py" in f for f in frames):
            continue
        total += cnt
        for f in set(frames):
            incl[f] += cnt
        self_[frames[-1]] += cnt
    fmt = lambda c: [{"frame": f, "share": round(n / max(total, 1), 3)} for f, n in c.most_common(top)]  # noqa: E731
    r2d2 = Counter({f: n for f, n in incl.items() if "r2d2/" in f})
    return {"samples": total, "note": "main thread inside detect; py4j waits are Spark time",
            "top_self": fmt(self_), "top_inclusive_r2d2": fmt(r2d2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", type=int, default=1000)
    ap.add_argument("--bytes", type=float, default=2e9)
    ap.add_argument("--related", type=float, default=0.2,
                    help="share of snapshot families with derived tables; the rest are plain daily snapshots")
    ap.add_argument("--plain-per-family", type=int, default=8,
                    help="snapshots taken from each plain family into the naive subset")
    ap.add_argument("--naive-subset", type=int, default=200)
    ap.add_argument("--naive-threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/r2d2-detect-bench"))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--pyspy", action=argparse.BooleanOptionalAction, default=False,
                    help="sample R2D2's run with py-spy (costs CPU on a 2-core machine: off for timing runs)")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--keep-run", action="store_true",
                    help="keep the run's folder (catalogs, hash sets: 0.4-1.4 GB) under --workdir when done")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of the full and of the incremental detect whose medians are reported (>= 1)")
    args = ap.parse_args()
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    out: Path = args.out
    nbytes = int(args.bytes)

    import pyarrow
    import pyspark
    RESULT.update({
        "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/detect_bench.py", *sys.argv[1:]]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_avg_at_start": os.getloadavg(),
                    "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)},
        "versions": {"pyspark": pyspark.__version__, "pyarrow": pyarrow.__version__},
        "spark": {"master": "local[2]", "driver_memory": "6g"}, "targets": TARGETS,
    })

    # 1. lake + scan
    log("lake")
    lake, spec, cached = load_lake(workdir, args.tables, nbytes, args.seed, args.related)
    root = Path(lake.root)
    RESULT["lake"] = {**lake_shape(lake, spec), "cached": cached, "root": str(root)}
    save(out)
    run_dir = workdir / f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    added_root = root / "zz_added"
    if added_root.exists():
        shutil.rmtree(added_root)
    settings = load_settings(home=run_dir / "full", spark_master="local[2]", spark_driver_memory="6g")
    spark = get_spark(settings)
    factory = lambda: spark  # noqa: E731
    catalog = open_catalog(settings.resolved_catalog_url)
    log("scan")
    summary = scan(catalog, [str(root)], spark_factory=factory)
    RESULT["scan"] = {"found": summary.found, "failed": summary.failed, "seconds": round(summary.seconds, 2),
                      "errors": summary.errors[:5]}
    save(out)
    profiles = dict(catalog.active_profiles())
    lake_bytes = sum(p.num_bytes for p in profiles.values())

    # Warm-up, not timed: R2D2 and the hash join once each on a small lake in this session, so that
    # neither timed run pays the JVM's first-use costs (class loading, JIT, Python workers: ~20 s
    # on this machine), which would otherwise fall on whichever method runs first.
    log("warm-up")
    t0 = time.perf_counter()
    warm_lake = generate_lake(run_dir / "warm-lake", LakeSpec.small(), seed=args.seed)
    warm_settings = load_settings(home=run_dir / "warm", spark_master="local[2]", spark_driver_memory="6g")
    warm_catalog = open_catalog(warm_settings.resolved_catalog_url)
    scan(warm_catalog, [str(warm_lake.root)], spark_factory=factory)
    detect(warm_catalog, warm_settings, factory)
    warm_profiles = dict(warm_catalog.active_profiles())
    hash_join_all(spark, warm_profiles, schema_candidates(warm_profiles)[0], work_dir=run_dir / "warm-work")
    RESULT["warm_up_seconds"] = round(time.perf_counter() - t0, 2)

    # 2. R2D2 full (every method starts with the lake in the page cache: no method pays for cold reads
    # that the one before it spared the next)
    RESULT["page_cache"] = {"before_r2d2": warm_page_cache(root)}
    log("r2d2 detect (full)")
    full_homes = [run_dir / f"full-repeat-{i}" for i in range(1, max(1, args.repeats))]
    for home in full_homes:  # copies of the catalog as the full detect finds it
        copy_catalog(settings, home)
    prof_path = run_dir / "pyspy-detect.txt"
    spy = start_pyspy(prof_path, 20) if args.pyspy else None
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    full = detect(catalog, settings, factory)
    t_full = time.perf_counter() - t0
    stop_pyspy(spy)
    truth = lake.truth
    stages = stages_json(full)
    content_bytes = sum(s.bytes_read for s in full.stages if s.name in ("minhash", "probe", "exact"))
    hashset_bytes = sum(s.hashset_bytes for s in full.stages)
    total_read = sum(s.bytes_read for s in full.stages)
    reached = set()
    for e in catalog.list_edges():
        if e.stage != "minmax" and not (e.state == "pruned" and e.stage == "schema"):
            reached.update((e.parent_id, e.child_id))
    reached_bytes = sum(profiles[t].num_bytes for t in reached)
    RESULT["r2d2_full"] = {
        "seconds": round(t_full, 2), "load_avg_1m_before": load0, "stages": stages,
        "bytes_read": total_read, "lake_bytes": lake_bytes, "bytes_read_over_lake": total_read / lake_bytes,
        "edges": len(exact_only(full.edges)), "overlaps": sum(e.relation == "overlaps" for e in full.edges),
        "except_key_edges": sum(bool(e.except_columns) for e in full.edges),
        "errors": full.errors[:5], "score": pr(full.edges, truth),
        "content_stage_bytes": content_bytes, "content_tables": len(reached),
        "content_tables_bytes": reached_bytes,
        "content_bytes_ratio": content_bytes / max(reached_bytes, 1),
        "hashset_bytes": hashset_bytes,
        "content_bytes_ratio_with_hashsets": (content_bytes + hashset_bytes) / max(reached_bytes, 1),
    }
    if spy is not None:
        RESULT["r2d2_full"]["pyspy"] = summarize_pyspy(prof_path)
    stage3 = next(s for s in full.stages if s.name == "minhash")
    runs = [{"seconds": round(t_full, 3), "load_avg_1m_before": load0, "stage3_seconds": round(stage3.seconds, 3),
             "stage3_bytes": stage3.bytes_read}, *timed_repeats(settings, factory, full_homes)]
    cores = 2  # local[2]: stage 3's forked workers, or Spark's two task slots
    per_core = [r["stage3_bytes"] / r["stage3_seconds"] / cores / 1e6 for r in runs if r["stage3_seconds"]]
    RESULT["r2d2_full"].update({"runs": runs, "median_seconds": median([r["seconds"] for r in runs]),
                                "stage3_mb_s_per_core": [round(x, 1) for x in per_core],
                                "stage3_mb_s_per_core_median": round(median(per_core), 1) if per_core else None})
    save(out)
    log(f"r2d2 full: {t_full:.1f}s, {len(exact_only(full.edges))} exact edges; runs "
        f"{[r['seconds'] for r in runs]}, stage 3 {RESULT['r2d2_full']['stage3_mb_s_per_core']} MB/s per core")

    # 3. hash-join baseline, same tables
    log("hash-join baseline")
    RESULT["page_cache"]["before_hash_join"] = warm_page_cache(root)
    cands, _ = schema_candidates(profiles)
    load0 = os.getloadavg()[0]
    hj = hash_join_all(spark, profiles, cands, work_dir=run_dir / "hj")
    RESULT["hash_join"] = {"seconds": round(hj.seconds, 2), "load_avg_1m_before": load0,
                           "bytes_read": hj.bytes_read, "bytes_read_over_lake": hj.bytes_read / lake_bytes,
                           "jobs": hj.jobs, **hj.stats, "edges": len(hj.edges),
                           "vs_r2d2": diff(full.edges, hj.edges), "score": pr(hj.edges, truth),
                           "speedup_r2d2": hj.seconds / t_full}
    save(out)
    log(f"hash join: {hj.seconds:.1f}s")

    # 4. incremental: 10 tables copied to new folders
    log("incremental")
    added = []
    for rel in ADDED:
        src = root / rel
        dst = added_root / rel.replace("/", "__")
        shutil.copytree(src, dst)
        added.append((str(src), str(dst)))
    t0 = time.perf_counter()
    s2 = scan(catalog, [str(root)], spark_factory=factory)
    t_scan2 = time.perf_counter() - t0
    inc_homes = [run_dir / f"incremental-repeat-{i}" for i in range(1, max(1, args.repeats))]
    for home in inc_homes:  # copies of the catalog as the incremental detect finds it, run first: the
        copy_catalog(settings, home)  # hash sets they reuse are the full detect's, which it may replace
    inc_repeats = timed_repeats(settings, factory, inc_homes)
    t0 = time.perf_counter()
    inc = detect(catalog, settings, factory)
    t_inc = time.perf_counter() - t0
    inc_runs = [t_inc, *(r["seconds"] for r in inc_repeats)]
    full_runs = [r["seconds"] for r in RESULT["r2d2_full"]["runs"]]
    # truth of the grown lake: the oracle re-run on the families that got copies (not timed)
    fams = {Path(s).parent for s, _ in added}
    fam_tables = {loc: fmt for loc, fmt in lake.tables.items() if Path(loc).parent in fams}
    fam_tables.update({dst: lake.tables[src] for src, dst in added})
    fam_truth = exact_oracle({loc: gen_read_table(loc, fmt) for loc, fmt in fam_tables.items()})
    truth2 = Truth(frozenset(e for e in truth.edges if Path(e.parent).parent not in fams)) | fam_truth
    RESULT["incremental"] = {
        "added_tables": len(added), "copied_from": [s for s, _ in added], "scan": {
            "new": s2.new, "unchanged": s2.unchanged, "seconds": round(t_scan2, 2)},
        "detect_seconds": round(t_inc, 2), "fraction_of_full_detect": t_inc / t_full,
        "runs_seconds": [round(x, 3) for x in inc_runs], "median_seconds": median(inc_runs),
        "median_fraction_of_full_detect": median(inc_runs) / median(full_runs),
        "scan_plus_detect_fraction": (t_inc + t_scan2) / (t_full + summary.seconds),
        "pairs_reexamined": inc.pairs_reexamined, "pairs_reused": inc.pairs_reused,
        "stages": stages_json(inc), "edges": len(exact_only(inc.edges)), "score": pr(inc.edges, truth2)}
    save(out)
    log(f"incremental: {t_inc:.1f}s")

    # 5. subset: R2D2 and naive pairwise
    by_family: dict[str, list[str]] = {}
    for loc in sorted(lake.tables):
        by_family.setdefault(Path(loc).parent.name, []).append(loc)
    # The subset keeps the lake's make-up: the case family, a few tables of every family with derived
    # tables, then the first snapshots of plain families until it is large enough.
    subset = list(by_family.get("sales", []))
    for fam in sorted(f for f in by_family if f.startswith("f")):
        subset += [str(root / fam / n) for n in SUBSET_PER_FAMILY if str(root / fam / n) in lake.tables]
    for fam in sorted(f for f in by_family if f.startswith("p")):
        if len(subset) >= args.naive_subset:
            break
        subset += sorted(by_family[fam])[:args.plain_per_family]
    settings_s = load_settings(home=run_dir / "subset", spark_master="local[2]", spark_driver_memory="6g")
    cat_s = open_catalog(settings_s.resolved_catalog_url)
    ss = scan(cat_s, subset, spark_factory=factory)
    prof_s = dict(cat_s.active_profiles())
    truth_s = restrict(truth, set(subset))
    cands_s, _ = schema_candidates(prof_s)
    log(f"subset: {len(prof_s)} tables, {len(cands_s)} schema pairs")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    sub = detect(cat_s, settings_s, factory)
    t_sub = time.perf_counter() - t0
    RESULT["subset"] = {"tables": len(prof_s), "scanned": ss.found, "families": 1 + sum(
        1 for f in by_family if f.startswith("f") and any(loc.startswith(str(root / f) + "/") for loc in subset)),
        "plain_families": sum(1 for f in by_family if f.startswith("p")
                              and any(loc.startswith(str(root / f) + "/") for loc in subset)),
        "plain_per_family": args.plain_per_family,
        "per_snapshot_family": list(SUBSET_PER_FAMILY), "schema_pairs": len(cands_s),
        "truth_edges": len(truth_s), "r2d2": {"seconds": round(t_sub, 2), "load_avg_1m_before": load0,
                                              "stages": stages_json(sub), "edges": len(exact_only(sub.edges)),
                                              "score": pr(sub.edges, truth_s)}}
    save(out)
    if not args.skip_naive:
        log("naive pairwise")
        RESULT["page_cache"]["before_naive"] = warm_page_cache(root)
        load0 = os.getloadavg()[0]
        nv = naive_pairwise(spark, prof_s, cands_s, threads=args.naive_threads)
        RESULT["subset"]["naive"] = {"seconds": round(nv.seconds, 2), "load_avg_1m_before": load0,
                                     "bytes_read": nv.bytes_read, "jobs": nv.jobs, **nv.stats,
                                     "edges": len(nv.edges), "vs_r2d2": diff(sub.edges, nv.edges),
                                     "score": pr(nv.edges, truth_s), "speedup_r2d2": nv.seconds / t_sub,
                                     "seconds_per_pair": nv.seconds / max(len(cands_s), 1)}
        log(f"naive: {nv.seconds:.1f}s")
    RESULT["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULT["machine"]["load_avg_at_end"] = os.getloadavg()
    save(out)
    (out / "detect.md").write_text(render(RESULT))
    if not args.keep_run:  # (the lake stays cached for the next run; its results are in --out)
        shutil.rmtree(run_dir, ignore_errors=True)
    log("done")


def _gb(n: float) -> str:
    return f"{n / 1e9:.3f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def _met(value: float, target: float, higher: bool) -> str:
    ok = value >= target if higher else value <= target
    return f"{'met' if ok else '**missed**'} (target {'≥' if higher else '≤'} {target:g})"


def render(r: dict[str, Any]) -> str:
    lk, full, hj, inc = r["lake"], r["r2d2_full"], r["hash_join"], r["incremental"]
    sub = r.get("subset", {})
    nv = sub.get("naive")
    lines = [
        "# Detection benchmark", "",
        f"Command: `{r['command']}`  ", f"Run: {r['started']} → {r.get('finished')}; machine: {r['machine']['cpus']} "
        f"CPUs, {r['machine']['mem_gb']} GB, {r['machine']['platform']}; pyspark {r['versions']['pyspark']}, "
        f"pyarrow {r['versions']['pyarrow']}; Spark local[2], driver 6g, one session for every method.  ",
        f"Load average (1 min) at start {r['machine']['load_avg_at_start'][0]:.1f}, at end "
        f"{r['machine'].get('load_avg_at_end', [0])[0]:.1f}: the machine is shared, so absolute seconds are noisy; "
        "methods are compared inside the same run.", "",
        *([f"**Scale:** {r['scale_note']}", ""] if r.get("scale_note") else []),
        "## Lake", "",
        f"{lk['tables']} tables, {_gb(lk['bytes'])} on disk ({_gb(full['lake_bytes'])} as profiled); "
        f"{lk['families']} families: the case family `sales` ({lk['case_family_tables']} tables, {lk['case_rows']} "
        f"base rows, every named case), {lk.get('plain_families', 0)} plain families of "
        f"{lk.get('plain_snapshots', 0)} daily snapshots (one schema per family, different days: no containment) "
        f"and {lk['snapshot_families']} snapshot families with derived tables, of "
        f"{lk['tables_per_snapshot_family']} tables (15-16 daily snapshots of {lk['snapshot_rows']:,} rows, team "
        "copies in Parquet and Delta, a 3-day rollup, a filter, a projection, a CSV export, and 4 near misses: "
        "same stats but one changed value, same column value sets but re-paired rows, one extra row, "
        f"shifted min/max). Formats: {lk['formats']}. Truth: {lk['truth_edges']} edges (complete oracle), "
        f"{lk['planted_edges']} planted, {lk['near_misses']} near misses. Generation {lk['generate_seconds']} s "
        f"(not timed); scan {r['scan']['seconds']} s.", "",
        "## R2D2 funnel (whole lake, cold: no cached sketches)", "",
        f"Before anything is timed, R2D2 and the hash join each run once on a small generated lake in the same "
        f"Spark session ({r.get('warm_up_seconds', '?')} s, not timed), so that the JVM's first-use costs fall on "
        "neither method.", "",
        "| stage | candidates in | out | seconds | lake bytes read | hash-set bytes read | Spark jobs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in full["stages"]:
        lines.append(f"| {s['name']} | {s['candidates_in']:,} | {s['candidates_out']:,} | {s['seconds']:.1f} | "
                     f"{_gb(s['bytes_read'])} | {_gb(s.get('hashset_bytes', 0))} | {s['jobs']} |")
    lines += [
        f"| **total** | | {full['edges']} edges | **{full['seconds']:.1f}** | {_gb(full['bytes_read'])} | "
        f"{_gb(full.get('hashset_bytes', 0))} | |", "",
        f"Bytes read ÷ lake bytes: **{full['bytes_read_over_lake']:.3f}**.", "",
        f"Edges count exact containments and duplicates, what the baselines look for; R2D2 also reported "
        f"{full.get('overlaps', 0)} overlaps and {full.get('except_key_edges', 0)} containments except generated "
        f"keys (report-only relations).", "",
        "## Side by side", "",
        "| method | tables | seconds | bytes read | bytes ÷ lake | edges | identical to R2D2 | precision | recall "
        "| R2D2 speed-up |", "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
        f"| R2D2 detect | {lk['tables']} | {full['seconds']:.1f} | {_gb(full['bytes_read'])} | "
        f"{full['bytes_read_over_lake']:.3f} | {full['edges']} | – | {full['score']['precision']:.3f} | "
        f"{full['score']['recall']:.3f} | – |",
        f"| hash join, no pruning | {lk['tables']} | {hj['seconds']:.1f} | {_gb(hj['bytes_read'])} | "
        f"{hj['bytes_read_over_lake']:.3f} | {hj['edges']} | {'yes' if hj['vs_r2d2']['identical'] else '**no**'} | "
        f"{hj['score']['precision']:.3f} | {hj['score']['recall']:.3f} | **{hj['speedup_r2d2']:.2f}×** |",
    ]
    if sub:
        lines.append(f"| R2D2 detect (subset) | {sub['tables']} | {sub['r2d2']['seconds']:.1f} | "
                     f"{_gb(sum(s['bytes_read'] for s in sub['r2d2']['stages']))} | | {sub['r2d2']['edges']} | – | "
                     f"{sub['r2d2']['score']['precision']:.3f} | {sub['r2d2']['score']['recall']:.3f} | – |")
    if nv:
        lines.append(f"| naive pairwise (subset) | {sub['tables']} | {nv['seconds']:.1f} | {_gb(nv['bytes_read'])} | "
                     f"| {nv['edges']} | {'yes' if nv['vs_r2d2']['identical'] else '**no**'} | "
                     f"{nv['score']['precision']:.3f} | {nv['score']['recall']:.3f} | **{nv['speedup_r2d2']:.1f}×** |")
    lines += [
        "", f"Hash join: {hj['tables_read']} tables each read once ({hj['scan_units']} scans: same-schema Parquet "
        f"tables share one scan of their files), {hj['projections_hashed']} (table, projection) hash sets over "
        f"{hj['groups']} schema-compatible groups, {hj['pairs']:,} schema pairs decided by one join "
        f"({hj['pairs_sharing_a_row']:,} pairs share at least one row); hashing {hj['hash_seconds']} s of "
        f"{hj['seconds']:.1f} s.",
    ]
    if sub:
        lines.append(f"Subset: the case family whole plus {list(sub['per_snapshot_family'])} of each of "
                     f"{sub['families'] - 1} snapshot families with derived tables and the first "
                     f"{sub.get('plain_per_family', 0)} snapshots of {sub.get('plain_families', 0)} plain families "
                     f"({sub['tables']} tables, {sub['schema_pairs']:,} "
                     f"schema pairs, {sub['truth_edges']} truth edges)"
                     + (f"; naive: {nv['jobs']:,} Spark actions, {nv['threads']} threads, "
                        f"{nv['seconds_per_pair']:.2f} s per pair." if nv else "; naive not run."))
    lines += [
        "", "## Incremental re-run (10 tables copied to new folders, re-scan, detect)", "",
        f"Detect {inc['detect_seconds']:.1f} s = **{inc['fraction_of_full_detect']:.1%}** of the full detect "
        f"(scan + detect: {inc['scan_plus_detect_fraction']:.1%}); pairs re-examined {inc['pairs_reexamined']:,}, "
        f"reused {inc['pairs_reused']:,}; precision {inc['score']['precision']:.3f}, recall "
        f"{inc['score']['recall']:.3f} against the oracle re-run on the affected families.", "",
        *([f"Timing repeats (each from a copy of the catalog as the run found it): full detect "
           f"{[r['seconds'] for r in full['runs']]} s, median {full['median_seconds']:.2f} s; incremental detect "
           f"{inc['runs_seconds']} s, median {inc['median_seconds']:.2f} s = "
           f"**{inc['median_fraction_of_full_detect']:.1%}** of the full detect's median.", ""]
          if "median_fraction_of_full_detect" in inc else []),
        "## Targets", "",
        "| target | value | result |", "|---|---:|---|",
        f"| R2D2 vs hash join | {hj['speedup_r2d2']:.2f}× | {_met(hj['speedup_r2d2'], 5, True)} |",
    ]
    if nv:
        lines.append(f"| R2D2 vs naive pairwise | {nv['speedup_r2d2']:.1f}× | {_met(nv['speedup_r2d2'], 20, True)} |")
    lines += [
        f"| content-stage bytes ÷ bytes of the {full['content_tables']} tables reaching them "
        f"({_gb(full['content_stage_bytes'])} ÷ {_gb(full['content_tables_bytes'])}) | "
        f"{full['content_bytes_ratio']:.2f} | {_met(full['content_bytes_ratio'], 2, False)} |",
        *([f"| the same, counting R2D2's own hash sets read by probe and exact "
           f"({_gb(full['hashset_bytes'])}) | {full['content_bytes_ratio_with_hashsets']:.2f} | |"]
          if "hashset_bytes" in full else []),
        f"| incremental detect ÷ full detect (first runs) | {inc['fraction_of_full_detect']:.1%} | "
        f"{_met(inc['fraction_of_full_detect'], 0.10, False)} |",
        *([f"| the same, medians of {len(inc['runs_seconds'])} runs each | "
           f"{inc['median_fraction_of_full_detect']:.1%} | "
           f"{_met(inc['median_fraction_of_full_detect'], 0.10, False)} |"]
          if "median_fraction_of_full_detect" in inc else []),
        *([f"| stage 3 (content) throughput per core, MB/s: bytes read ÷ seconds ÷ 2 (runs "
           f"{full['stage3_mb_s_per_core']}; median) | {full['stage3_mb_s_per_core_median']:.1f} | "
           f"{_met(full['stage3_mb_s_per_core_median'], 50, True)} |"] if full.get("stage3_mb_s_per_core") else []),
        f"| identical edges (hash join) | {hj['vs_r2d2']['identical']} | |",
    ]
    if nv:
        lines.append(f"| identical edges (naive) | {nv['vs_r2d2']['identical']} | |")
    lines.append(f"| precision / recall R2D2 (whole lake) | {full['score']['precision']:.3f} / "
                 f"{full['score']['recall']:.3f} | |")
    spy = full.get("pyspy")
    if spy:
        lines += ["", f"## Profile of R2D2 detect (py-spy --idle, {spy['samples']} samples of the main thread; "
                  "time inside py4j calls is Spark work)", "",
                  "| share (inclusive) | frame |", "|---:|---|"]
        lines += [f"| {x['share']:.0%} | `{x['frame']}` |" for x in spy["top_inclusive_r2d2"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--render":
        print(render(json.loads(Path(sys.argv[2]).read_text())))
    else:
        main()
