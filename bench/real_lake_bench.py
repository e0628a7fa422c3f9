"""Real-shaped lake benchmark: generate the lake, measure its shape, then the pyarrow floor and brute force.

Steps (one process):

1. :func:`r2d2.gen.real.generate_real_lake` with ``--tables`` tables (its truth saved as
   ``<workdir>/truth-<tables>.json``) and its shape (:func:`r2d2.gen.shape.lake_shape`);
2. :func:`bench.pyarrow_floor.read_every_file`: every data file read once with pyarrow;
3. :func:`bench.bruteforce.bruteforce`: exact containment with Python sets, scored against the truth;
4. for each ``--generate-only`` size: generation time and bytes of a lake of that many tables (deleted
   afterwards).

Writes ``<out>/real-lake.json`` and ``<out>/real-lake.md``. Reproduce::

    .venv/bin/python bench/real_lake_bench.py --tables 2500 --generate-only 25000 \\
        --workdir /tmp/r2d2-real-lake --out bench/results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bruteforce import bruteforce
from bench.pyarrow_floor import read_every_file
from r2d2.gen.evaluate import as_truth, score
from r2d2.gen.real import RealLakeSpec, generate_real_lake
from r2d2.gen.shape import lake_shape


def _generate(workdir: Path, tables: int, seed: int) -> tuple[Any, dict[str, Any]]:
    root = workdir / f"lake-{tables}"
    shutil.rmtree(root, ignore_errors=True)
    lake = generate_real_lake(root, RealLakeSpec(tables=tables), seed=seed)
    shape = lake_shape(lake)
    print(f"generated {tables} tables in {lake.seconds:.1f} s: {json.dumps(shape)}", flush=True)
    return lake, shape


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()},
        "command": "bench/real_lake_bench.py " + shlex.join(sys.argv[1:]),
        "seed": args.seed,
    }
    args.workdir.mkdir(parents=True, exist_ok=True)
    lake, shape = _generate(args.workdir, args.tables, args.seed)
    lake.truth.save(args.workdir / f"truth-{args.tables}.json")
    result["lake"] = shape
    floor = read_every_file([str(lake.root)])
    print(f"floor: {floor.seconds:.1f} s, {floor.bytes_read:,} bytes, {floor.files} files", flush=True)
    result["floor"] = asdict(floor)
    t0 = time.perf_counter()
    brute = bruteforce([str(lake.root)])
    sc = score(as_truth(brute.edges), lake.truth)
    print(f"bruteforce: {time.perf_counter() - t0:.1f} s, precision {sc.precision} recall {sc.recall}", flush=True)
    result["bruteforce"] = {"seconds": brute.seconds, "bytes_read": brute.bytes_read, "edges": len(brute.edges),
                            "precision": sc.precision, "recall": sc.recall, "wrong_flags": len(sc.wrong_flags),
                            "stats": brute.stats}
    result["generate_only"] = []
    for n in args.generate_only:
        big, big_shape = _generate(args.workdir, n, args.seed)
        result["generate_only"].append({k: big_shape[k] for k in (
            "tables", "seconds", "bytes", "median_bytes", "max_bytes", "formats", "files_per_table", "edges",
            "share_in_an_edge")})
        shutil.rmtree(big.root, ignore_errors=True)
    return result


def markdown(r: dict[str, Any]) -> str:
    lake, floor, brute = r["lake"], r["floor"], r["bruteforce"]
    fmt = lake["formats"]
    n = lake["tables"]
    lines = [
        "# Real-shaped lake: shape, pyarrow floor, brute force",
        "",
        f"Machine: {r['machine']['cpus']} CPUs, {r['machine']['platform']}, Python {r['machine']['python']}; "
        f"load average at start {', '.join(f'{x:.1f}' for x in r['machine']['load_average_at_start'])} "
        "(a shared machine: times are wall clock under that load).",
        "",
        f"## The lake ({n:,} tables, seed {r['seed']})",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| generation | {lake['seconds']:.1f} s |",
        f"| bytes on disk | {lake['bytes'] / 1e6:.1f} MB |",
        f"| median / p90 / p99 / max table | {lake['median_bytes'] / 1e3:.1f} KB / {lake['p90_bytes'] / 1e3:.0f} KB / "
        f"{lake['p99_bytes'] / 1e6:.2f} MB / {lake['max_bytes'] / 1e6:.1f} MB |",
        f"| tables over 10 MB | {lake['tables_over_10mb']} |",
        f"| Parquet / of which hive / CSV / Delta | {fmt.get('parquet', 0)} / {lake['hive_tables']} / "
        f"{fmt.get('csv', 0)} ({fmt.get('csv', 0) / n:.1%}) / {fmt.get('delta', 0)} ({fmt.get('delta', 0) / n:.1%}) |",
        f"| data files / per table / one-file tables | {lake['data_files']:,} / {lake['files_per_table']:.2f} / "
        f"{lake['single_file_tables']:,} |",
        f"| edges (contains / duplicate) | {lake['edges']} ({lake['edges_by_relation'].get('contains', 0)} / "
        f"{lake['edges_by_relation'].get('duplicate', 0)}) |",
        f"| tables in a true containment | {lake['tables_in_an_edge']} ({lake['share_in_an_edge']:.1%}) |",
        f"| planted relations / near misses | {lake['planted']} / {lake['near_misses']} |",
        "",
        "## Baselines on it",
        "",
        "| method | seconds | bytes read | edges | precision | recall |",
        "|---|---:|---:|---:|---:|---:|",
        f"| pyarrow floor (every data file read once, 1 thread of files) | {floor['seconds']:.1f} "
        f"(discover {floor['discover_seconds']:.1f}) | {floor['bytes_read'] / 1e6:.1f} MB | – | – | – |",
        f"| brute force (Python sets of canonical rows) | {brute['seconds']:.1f} | "
        f"{brute['bytes_read'] / 1e6:.1f} MB | {brute['edges']} | {brute['precision']:.3f} | {brute['recall']:.3f} |",
        "",
        f"Brute force compared {brute['stats']['pairs']:,} schema-compatible pairs in {brute['stats']['groups']} "
        f"groups (largest {brute['stats']['largest_group']} tables).",
    ]
    if r["generate_only"]:
        lines += ["", "## Generation at scale", "", "| tables | seconds | bytes on disk | median table | files/table |"
                  " edges |", "|---:|---:|---:|---:|---:|---:|"]
        for g in r["generate_only"]:
            lines.append(f"| {g['tables']:,} | {g['seconds']:.1f} | {g['bytes'] / 1e9:.2f} GB | "
                         f"{g['median_bytes'] / 1e3:.1f} KB | {g['files_per_table']:.2f} | {g['edges']:,} |")
    lines += ["", f"Reproduce: `.venv/bin/python {r['command']}`", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--generate-only", type=int, nargs="*", default=[], metavar="TABLES")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/r2d2-real-lake"))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args()
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "real-lake.json").write_text(json.dumps(result, indent=1))
    (args.out / "real-lake.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
