"""First incremental detect of a process that holds a Spark session (a spark-submit detect job, a notebook):
stage 3 hashing a few MB in one thread with the ahead-of-time kernels, against loading numba for threads.

Such a process cannot fork, so stage 3's driver tasks run in threads, with numba's kernels (they release
the GIL); numba's import and cached kernels cost 0.5-0.75 s the first time. Up to
``sketch_job.SERIAL_BYTES`` of local files, stage 3 hashes in one thread with the ahead-of-time kernels
instead. Both ways run side by side here, alternating, each in a fresh child process: ``serial`` (the
default) and ``threads`` (``SERIAL_BYTES = 0``: numba loaded for two threads, as before).

Setup (once, in a child process): the detect benchmark's lake (``--tables``, ``--bytes``; generated or
reused from ``--workdir``), scanned and detected whole, then its 10 tables copied to new folders
(``detect_bench.ADDED``) and scanned again: the state every round starts from (a copy of the home).
Each round: a child process copies it, starts its Spark session (``local[2]``), then times ``detect``.
Edges must be the same both ways. Writes ``<out>/first_detect.json`` and ``<out>/first_detect.md``.

Reproduce::

    .venv/bin/python bench/first_detect_bench.py --tables 1000 --bytes 2.2e9 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
MODES = ("serial", "threads")

SETUP = """
import json, shutil, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from bench.detect_bench import ADDED, load_lake
from r2d2.catalog import open_catalog
from r2d2.config import load_settings
from r2d2.detect import detect
from r2d2.engine import get_spark
from r2d2.scan import scan

workdir, state = Path(sys.argv[2]), Path(sys.argv[3])
lake, _, _ = load_lake(workdir, int(sys.argv[4]), int(float(sys.argv[5])), 7, 0.2)
root = Path(lake.root)
added = root / "zz_added"
shutil.rmtree(added, ignore_errors=True)
settings = load_settings(home=state, spark_master="local[2]", spark_driver_memory="6g")
catalog = open_catalog(settings.resolved_catalog_url)
scan(catalog, [str(root)], spark_factory=lambda: get_spark(settings))
detect(catalog, settings, lambda: get_spark(settings))
for rel in ADDED:
    shutil.copytree(root / rel, added / rel.replace("/", "__"))
scan(catalog, [str(root)], spark_factory=lambda: get_spark(settings))
print(json.dumps({"root": str(root), "added": str(added)}))
"""

ROUND = """
import json, shutil, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from r2d2.catalog import open_catalog
from r2d2.config import load_settings
from r2d2.containment import compiled, sketch_job
from r2d2.detect import detect
from r2d2.engine import get_spark

state, home, mode = Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
shutil.copytree(state, home)
if mode == "threads":
    sketch_job.SERIAL_BYTES = 0  # numba loaded for two threads whatever the bytes, as before
settings = load_settings(home=home, spark_master="local[2]", spark_driver_memory="6g")
get_spark(settings)  # held, as by a spark-submit job: this process may not fork
catalog = open_catalog(settings.resolved_catalog_url)
t0 = time.perf_counter()
result = detect(catalog, settings, lambda: get_spark(settings))
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "stages": {s.name: s.seconds for s in result.stages},
                  "stage3_bytes": result.stage("minhash").bytes_read, "numba": "numba" in sys.modules,
                  "edges": sorted([e.parent, e.child, e.relation] for e in result.edges)}))
"""


def child(code: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")}
    done = subprocess.run([sys.executable, "-c", code, str(REPO), *args], capture_output=True, text=True,
                          env=env, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", type=int, default=1000)
    ap.add_argument("--bytes", type=float, default=2.2e9)
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the two modes, alternated")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/r2d2-detect-bench"),
                    help="where the detect benchmark's lake is generated or found")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    run = args.workdir / f"first-detect-{os.getpid()}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    lake: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        lake = child(SETUP, str(args.workdir), str(run / "state"), str(args.tables), str(args.bytes))
        setup_s = time.perf_counter() - t0
        rounds: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
        for i in range(args.rounds):
            for mode in MODES if i % 2 == 0 else reversed(MODES):
                got = child(ROUND, str(run / "state"), str(run / f"{mode}-{i}"), mode)
                shutil.rmtree(run / f"{mode}-{i}", ignore_errors=True)
                rounds[mode].append(got)
                print(f"round {i} {mode}: {got['seconds']:.3f} s, stage 3 {got['stages']['minhash']:.3f} s",
                      flush=True)
    finally:
        if lake:  # the lake is the detect benchmark's: it gets back the tables it had
            shutil.rmtree(lake["added"], ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)
    report = summarize(args, rounds, setup_s)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "first_detect.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "first_detect.md").write_text(render(report))
    print(f"wrote {args.out / 'first_detect.json'} and {args.out / 'first_detect.md'}")


def summarize(args: argparse.Namespace, rounds: dict[str, list[dict[str, Any]]], setup_s: float) -> dict[str, Any]:
    per_mode = {}
    for mode, runs in rounds.items():
        per_mode[mode] = {
            "seconds": [round(r["seconds"], 3) for r in runs],
            "median_s": round(statistics.median(r["seconds"] for r in runs), 3),
            "stage3_s": [round(r["stages"]["minhash"], 3) for r in runs],
            "median_stage3_s": round(statistics.median(r["stages"]["minhash"] for r in runs), 3),
            "stage3_bytes": runs[0]["stage3_bytes"],
            "numba_loaded": sorted({r["numba"] for r in runs}),
        }
    edges = {mode: [r["edges"] for r in runs] for mode, runs in rounds.items()}
    first = edges["serial"][0]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average": os.getloadavg()},
        "args": {"tables": args.tables, "bytes": args.bytes, "rounds": args.rounds},
        "setup_s": round(setup_s, 1),
        "modes": per_mode,
        "same_edges": all(e == first for runs in edges.values() for e in runs),
        "edges": len(first),
        "speedup": round(per_mode["threads"]["median_s"] / per_mode["serial"]["median_s"], 2),
    }


def render(r: dict[str, Any]) -> str:
    s, t = r["modes"]["serial"], r["modes"]["threads"]
    lines = [
        "# First incremental detect of a process holding a Spark session",
        "",
        f"Commit {r['commit']}, {r['date']}; {r['machine']['cpus']} CPUs, load average at the end "
        f"{r['machine']['load_average'][0]:.1f}. Lake: {r['args']['tables']:,} tables, "
        f"{r['args']['bytes'] / 1e9:.1f} GB (the detect benchmark's), 10 tables added; every round a fresh "
        "child process holding a Spark session `local[2]` (so it cannot fork), modes alternated.",
        "",
        "| mode | detect s (median) | each run | stage 3 s (median) | stage 3 bytes | numba loaded |",
        "|---|---:|---|---:|---:|---|",
        f"| serial (default: one thread, ahead-of-time kernels) | {s['median_s']:.3f} | "
        f"{', '.join(map(str, s['seconds']))} | {s['median_stage3_s']:.3f} | {s['stage3_bytes'] / 1e6:.1f} MB | "
        f"{s['numba_loaded']} |",
        f"| threads (`SERIAL_BYTES = 0`: numba for two threads, as before) | {t['median_s']:.3f} | "
        f"{', '.join(map(str, t['seconds']))} | {t['median_stage3_s']:.3f} | {t['stage3_bytes'] / 1e6:.1f} MB | "
        f"{t['numba_loaded']} |",
        "",
        f"Threads ÷ serial (medians): **{r['speedup']:.2f}×**. Same edges in every run: "
        f"{'yes' if r['same_edges'] else '**no**'} ({r['edges']} edges).",
        "",
        "Reproduce: `.venv/bin/python bench/first_detect_bench.py --tables "
        f"{r['args']['tables']} --bytes {r['args']['bytes']:.1e} --rounds {r['args']['rounds']}`",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
