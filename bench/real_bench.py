"""R2D2 on real-shaped lakes, side by side with the pyarrow floor and the brute-force script.

For each lake size (``--tables``), in one run and in turn (``--repeat`` rounds, medians reported; round
*i* starts with method *i*, so that each method takes each place in the order once in three rounds):

* the pyarrow floor (:mod:`bench.pyarrow_floor`): every data file read once, in this process;
* the brute-force exact script (:mod:`bench.bruteforce`): Python sets of canonical rows, in this process
  (lakes of at most ``--brute-max`` tables);
* R2D2 as a user runs it: ``r2d2 scan LAKE`` then ``r2d2 detect``, two fresh processes on a fresh SQLite
  catalog and home (process start, imports and any Spark start included).

A lake is ``N`` tables of the default shape, or ``NxK``: the same tables with a median table size
``K`` times larger (the same big tables). Edges are compared with the lake's complete truth and with
brute force. Then: the growth exponent of R2D2's time between the smallest and the largest lake of the
default shape, and a least-squares fit ``seconds = a * tables + b * bytes`` of scan and of detect's
content stages over all the lakes measured (per-table constants ``a``). Lakes of one shape alone
cannot separate ``a`` from ``b``: their bytes grow with their tables, so the fit needs a lake whose
bytes per table differ (``2500x4``). Writes ``<out>/real.json`` and ``<out>/real.md``. Reproduce::

    .venv/bin/python bench/real_bench.py --tables 2500 2500x4 25000 --repeat 3 --workdir /tmp/r2d2-real \
        --out bench/results
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.bruteforce import bruteforce
from bench.pagecache import warm_page_cache
from bench.pyarrow_floor import read_every_file
from bench.result import edge_set, exact_only
from r2d2.containment.report import EdgeOut
from r2d2.gen.evaluate import as_truth, score
from r2d2.gen.real import RealLakeSpec, generate_real_lake
from r2d2.gen.truth import Truth

CONTENT = ("minhash", "probe", "exact")
R2D2 = str(Path(sys.executable).with_name("r2d2"))


def lake_spec(text: str) -> tuple[int, int]:
    """``N`` or ``NxK`` (``--tables``): ``(tables, median size factor)``."""
    tables, x, factor = text.partition("x")
    try:
        spec = int(tables), int(factor) if x else 1
    except ValueError:
        spec = (0, 0)
    if min(spec) < 1:
        raise argparse.ArgumentTypeError(f"a lake is N or NxK (tables, median size factor >= 1), got {text!r}")
    return spec


def _name(tables: int, factor: int) -> str:
    return f"{tables}" if factor == 1 else f"{tables}x{factor}"


def _lake(workdir: Path, tables: int, factor: int, seed: int) -> tuple[Path, Truth, float]:
    """The lake of ``tables`` tables under ``workdir`` (generated once, reused by later runs)."""
    name = _name(tables, factor)
    root, truth_path = workdir / f"lake-{name}", workdir / f"truth-{name}.json"
    if root.exists() and truth_path.exists():
        return root, Truth.load(truth_path), 0.0
    shutil.rmtree(root, ignore_errors=True)
    spec = RealLakeSpec(tables=tables)
    lake = generate_real_lake(root, replace(spec, median_bytes=spec.median_bytes * factor), seed=seed)
    lake.truth.save(truth_path)
    return root, lake.truth, lake.seconds


def _cli(home: Path, *args: str) -> tuple[float, dict[str, Any]]:
    cmd = [R2D2, "--home", str(home), "--catalog", f"sqlite:///{home / 'catalog.sqlite'}", *args, "--format", "json"]
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if out.returncode not in (0, 1):
        raise RuntimeError(f"{shlex.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return seconds, json.loads(out.stdout)


def _r2d2(root: Path, workdir: Path) -> dict[str, Any]:
    home = workdir / "r2d2-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    scan_s, scan = _cli(home, "scan", str(root))
    detect_s, detect = _cli(home, "detect")
    shutil.rmtree(home, ignore_errors=True)
    stages = {s["name"]: s for s in detect["stages"]}
    edges = [EdgeOut(e["parent"], e["child"], e["relation"], e["verified"], e["multiset"], e.get("stage", ""),
                     fraction=e.get("fraction"), except_columns=tuple(e.get("except_columns", ())))
             for e in detect["edges"]]
    return {"scan_seconds": scan_s, "detect_seconds": detect_s, "seconds": scan_s + detect_s,
            "content_seconds": sum(stages[n]["seconds"] for n in CONTENT if n in stages),
            "content_tables": stages["minhash"].get("tables_read") if "minhash" in stages else 0,
            "content_bytes": sum(stages[n]["bytes_read"] for n in CONTENT if n in stages),
            "scan_failed": scan.get("failed"), "errors": len(detect["errors"]), "stages": detect["stages"],
            "edges": edges}


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def measure(root: Path, truth: Truth, workdir: Path, *, repeat: int, brute: bool) -> dict[str, Any]:
    rounds: dict[str, list[dict[str, Any]]] = {"floor": [], "brute": [], "r2d2": []}

    def floor() -> None:
        f = read_every_file([str(root)])
        rounds["floor"].append({"seconds": f.seconds, "bytes": f.bytes_read, "files": f.files})

    def brute_force() -> None:
        b = bruteforce([str(root)])
        rounds["brute"].append({"seconds": b.seconds, "edges": b.edges})

    methods = [floor, *([brute_force] if brute else []), lambda: rounds["r2d2"].append(_r2d2(root, workdir))]
    for i in range(repeat):
        # Interleaved, and each round starts with the next method: every method sees the same machine
        # on average, and none always runs right after brute force (its few GB of Python sets leave
        # the machine slower for a while: detect measured 14.2 s there instead of 10.4-10.9 s).
        # Each starts with the lake in the page cache, which brute force's memory would evict.
        for method in methods[i % len(methods):] + methods[:i % len(methods)]:
            warm_page_cache(root)
            method()
    r2 = rounds["r2d2"]
    every = r2[0]["edges"]
    r2_edges = exact_only(every)  # brute force and the truth know exact containments only
    sc = score(as_truth(every), truth)
    out: dict[str, Any] = {
        "floor_seconds": _median(rounds["floor"], "seconds"), "floor_bytes": rounds["floor"][0]["bytes"],
        "files": rounds["floor"][0]["files"],
        "r2d2_seconds": _median(r2, "seconds"), "scan_seconds": _median(r2, "scan_seconds"),
        "detect_seconds": _median(r2, "detect_seconds"), "content_seconds": _median(r2, "content_seconds"),
        "content_bytes": r2[0]["content_bytes"], "content_tables": r2[0]["content_tables"],
        "stages": r2[0]["stages"], "runs": {k: [{kk: vv for kk, vv in r.items() if kk != "edges"} for r in v]
                                            for k, v in rounds.items()},
        "edges": len(r2_edges), "overlaps": sum(e.relation == "overlaps" for e in every),
        "except_key_edges": sum(bool(e.except_columns) for e in every), "truth_edges": len(truth),
        "precision": sc.precision, "recall": sc.recall,
        "wrong_flags": len(sc.wrong_flags),
        "same_edges_every_run": all(edge_set(r["edges"]) == edge_set(every) for r in r2),
    }
    if rounds["brute"]:
        out["brute_seconds"] = _median(rounds["brute"], "seconds")
        out["identical_to_brute"] = edge_set(rounds["brute"][0]["edges"]) == edge_set(r2_edges)
    return out


def fit(points: list[tuple[int, int, float]]) -> dict[str, float] | None:
    """Least squares ``seconds = a * tables + b * bytes`` (no intercept: process start is in a)."""
    if len(points) < 2:
        return None
    x = np.array([[t, b] for t, b, _ in points], float)
    y = np.array([s for *_, s in points], float)
    (a, b), *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ np.array([a, b])
    return {"ms_per_table": a * 1e3, "s_per_gb": b * 1e9, "points": len(points),
            "max_residual_s": float(np.abs(residual).max())}


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "command": "bench/real_bench.py " + shlex.join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()},
        "lakes": [],
    }
    for tables, factor in args.tables:
        root, truth, gen_s = _lake(args.workdir, tables, factor, args.seed)
        lake_bytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        print(f"lake {_name(tables, factor)}: {lake_bytes / 1e6:.1f} MB (generated in {gen_s:.1f} s)", flush=True)
        m = measure(root, truth, args.workdir, repeat=args.repeat,
                    brute=tables <= args.brute_max and factor == 1)
        m.update({"tables": tables, "size_factor": factor, "name": _name(tables, factor), "bytes": lake_bytes,
                  "load_average_after": os.getloadavg()})
        result["lakes"].append(m)
        print(json.dumps({k: v for k, v in m.items() if k not in ("stages", "runs")}), flush=True)
    lakes = result["lakes"]
    plain = sorted((lk for lk in lakes if lk["size_factor"] == 1), key=lambda lk: lk["tables"])
    if len(plain) >= 2 and plain[0]["tables"] < plain[-1]["tables"]:
        lo, hi = plain[0], plain[-1]
        result["exponent"] = math.log(hi["r2d2_seconds"] / lo["r2d2_seconds"]) / math.log(hi["tables"] / lo["tables"])
    result["fit_scan"] = fit([(lk["tables"], lk["bytes"], lk["scan_seconds"]) for lk in lakes])
    result["fit_content"] = fit([(lk["content_tables"] or 0, lk["content_bytes"], lk["content_seconds"])
                                 for lk in lakes])
    result["load_average_at_end"] = os.getloadavg()
    return result


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = ["# R2D2 on real-shaped lakes, side by side with the pyarrow floor and brute force", "",
             f"Command: `.venv/bin/python {r['command']}`  ",
             f"Machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; load average (1, 5, 15 min) at "
             f"start {', '.join(f'{x:.1f}' for x in m['load_average_at_start'])}, at end "
             f"{', '.join(f'{x:.1f}' for x in r['load_average_at_end'])}: the machine is shared, so methods are "
             "compared within the run (interleaved rounds, medians); each method starts with the lake's files in "
             "the OS page cache.", "",
             "| tables (× median size) | lake | files | floor s | brute force s | R2D2 scan s | R2D2 detect s | "
             "R2D2 total s | ÷ floor | brute ÷ R2D2 | edges | P / R | = brute |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for lk in r["lakes"]:
        brute = lk.get("brute_seconds")
        brute_s = f"{brute:.1f}" if brute else "–"
        speed = f"{brute / lk['r2d2_seconds']:.2f}×" if brute else "–"
        lines.append(
            f"| {lk.get('name', lk['tables'])} | {lk['bytes'] / 1e6:.0f} MB | {lk['files']:,} | "
            f"{lk['floor_seconds']:.1f} | "
            f"{brute_s} | {lk['scan_seconds']:.1f} | {lk['detect_seconds']:.1f} | "
            f"{lk['r2d2_seconds']:.1f} | {lk['r2d2_seconds'] / lk['floor_seconds']:.2f}× | "
            f"{speed} | {lk['edges']:,} / {lk['truth_edges']:,} | "
            f"{lk['precision']:.3f} / {lk['recall']:.3f} | {lk.get('identical_to_brute', '–')} |")
    lines += ["", "Edges, P / R and = brute count exact containments and duplicates; R2D2 also reported "
              + "; ".join(f"{lk.get('name', lk['tables'])} tables: {lk['overlaps']} overlaps, {lk['except_key_edges']} "
                          "containments except generated keys" for lk in r["lakes"])
              + " (report-only relations the truth and brute force do not cover).",
              "", "Detect's stages (first round):", ""]
    for lk in r["lakes"]:
        lines.append(f"* {lk.get('name', lk['tables'])} tables: " + "; ".join(
            f"{s['name']} {s['candidates_in']:,}→{s['candidates_out']:,} {s['seconds']:.2f} s"
            + (f" {s['bytes_read'] / 1e6:.1f} MB" if s["bytes_read"] else "") for s in lk["stages"])
            + f"; {lk['content_tables'] or '?'} tables reached the content stages")
    lines += ["", "## Targets", "", "| target | value | result |", "|---|---:|---|"]
    first = r["lakes"][0]
    ratio = first["r2d2_seconds"] / first["floor_seconds"]
    lines.append(f"| {first['tables']:,} tables: scan + detect ≤ 3× the pyarrow floor | {ratio:.2f}× | "
                 f"{'met' if ratio <= 3 else 'missed'} |")
    if first.get("brute_seconds"):
        speed = first["brute_seconds"] / first["r2d2_seconds"]
        lines.append(f"| {first['tables']:,} tables: ≥ 2× faster than brute force | {speed:.2f}× | "
                     f"{'met' if speed >= 2 else 'missed'} |")
        lines.append(f"| identical edges (brute force, truth) | {first.get('identical_to_brute')} / "
                     f"P {first['precision']:.3f} R {first['recall']:.3f} | |")
    if "exponent" in r:
        lines.append(f"| time grows at most linearly with tables (log-log exponent ≤ 1.1) | {r['exponent']:.2f} | "
                     f"{'met' if r['exponent'] <= 1.1 else 'missed'} |")
    for name, key, limit in (("scan", "fit_scan", 3.0), ("detect's content stages, per table reaching them",
                                                          "fit_content", 5.0)):
        f = r.get(key)
        if f:
            shape = (f"; {f['points']} lakes, largest residual {f['max_residual_s']:.2f} s" if "points" in f else "")
            verdict = "met" if f["ms_per_table"] <= limit else "missed"
            if f["s_per_gb"] < 0:
                verdict = "unreliable (degenerate fit: negative byte term)"
            lines.append(f"| {name}: per-table constant (fit seconds = a·tables + b·bytes) ≤ {limit:g} ms | "
                         f"{f['ms_per_table']:.2f} ms (b = {f['s_per_gb']:.1f} s/GB{shape}) | {verdict} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", type=lake_spec, nargs="+", default=[(2500, 1), (2500, 4), (25000, 1)],
                    help="lakes: N tables, or NxK for N tables with a K times larger median size")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--brute-max", type=int, default=2500, help="run brute force on lakes of at most this many tables")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/r2d2-real"))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args()
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "real.json").write_text(json.dumps(result, indent=1, default=str))
    (args.out / "real.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
