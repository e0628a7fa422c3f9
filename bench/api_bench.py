"""REST API latency: GET /edges and GET /tables with 100,000 edges, 32 concurrent clients on loopback.

For each catalog (SQLite file, throwaway PostgreSQL cluster): synthetic tables and edges are written
straight through the catalog API; ``r2d2 serve`` runs in a subprocess (one uvicorn process, as
deployed); 32 asyncio httpx clients send requests (``limit=100`` pages at random offsets) until a
request count or a time bound is reached. Then a real ``detect`` run is started over a small
generated lake (``LakeSpec.small()``, Spark ``local[*]`` inside the server process) and the same load
runs while the detect run is in progress.

The synthetic tables are marked gone (so detect does not try to read their non-existent files), then
the edges are written (which keeps them non-stale, so ``GET /edges`` lists them).

Writes ``bench/results/api.json`` and ``bench/results/api.md``.

Reproduce::

    .venv/bin/python bench/api_bench.py                     # sqlite and postgres
    .venv/bin/python bench/api_bench.py --backends sqlite --requests 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from r2d2.catalog import Catalog, EdgeUpsert, open_catalog
from r2d2.types import Column, ColumnStats, Family, FileEntry, TableProfile

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 32
PAGE = 100


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a loopback port (as tests/conftest.py does)."""
    bindir = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                 check=True).stdout.strip())
    root = Path(tempfile.mkdtemp(prefix="r2d2-bench-pg-"))
    port = _free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "r2d2", "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
                    "start", "-o", f"-h 127.0.0.1 -p {port} -k {root} -F"], check=True, capture_output=True)
    try:
        subprocess.run([*run_as, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "r2d2",
                        "r2d2"], check=True, capture_output=True)
        yield f"postgresql+psycopg://r2d2@127.0.0.1:{port}/r2d2"
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _profile(i: int) -> TableProfile:
    cols = (Column(name="id", physical_type="int64", family=Family.INTEGER),
            Column(name="name", physical_type="string", family=Family.STRING))
    stats = {"id": ColumnStats(min=0, max=i, min_exact=True, max_exact=True, null_count=0),
             "name": ColumnStats(min="a", max="z", null_count=0)}
    nbytes = 1000 + 37 * i
    return TableProfile(location=f"/synthetic/lake/t{i:06d}", format="parquet", fingerprint=f"fp{i}",
                        columns=cols, stats=stats, num_rows=10 + i, num_bytes=nbytes,
                        files=(FileEntry(path="part-0.parquet", size=nbytes, mtime_ns=1),))


def fill(catalog: Catalog, n_tables: int, n_edges: int, seed: int) -> dict[str, float]:
    """Synthetic tables (marked gone) and edges; returns the seconds each step took."""
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    for i in range(n_tables):
        catalog.save_profile(_profile(i), seen_at=now)
    catalog.mark_gone(roots=["/synthetic"], seen=frozenset(), seen_at=now)
    ids = [t.id for t in catalog.list_tables(prefix="/synthetic/", with_profile=False)]
    t1 = time.perf_counter()
    rng = random.Random(seed)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < n_edges:
        p, c = rng.sample(ids, 2)
        pairs.add((p, c))
    states = ["pruned"] * 6 + ["verified"] * 2 + ["inferred", "candidate"]
    stages = {"pruned": ["minmax", "minhash", "probe"], "verified": ["exact"], "inferred": ["transitive"],
              "candidate": ["minhash"]}
    rows = []
    for p, c in sorted(pairs):
        state = rng.choice(states)
        rows.append(EdgeUpsert(parent_id=p, child_id=c, parent_fingerprint="f", child_fingerprint="f",
                               state=state, stage=rng.choice(stages[state]),  # type: ignore[arg-type]
                               multiset=state == "verified" or None,
                               evidence={"reason": "synthetic", "bytes_read": rng.randrange(10**6)}))
    catalog.upsert_edges(rows)
    return {"tables_s": round(t1 - t0, 1), "edges_s": round(time.perf_counter() - t1, 1)}


@contextmanager
def server(catalog_url: str, home: Path, lake: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    log = open(home / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(Path(sys.executable).parent / "r2d2"), "--catalog", catalog_url, "--home",
                             str(home), "serve", "--port", str(port), "--lake-root", str(lake),
                             "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {home / 'server.log'}")
            time.sleep(0.2)
        yield base
    finally:
        if proc.poll() is not None:  # the server died: show why before the work folder goes
            log.flush()
            tail = (home / "server.log").read_text(errors="replace")[-4000:]
            print(f"server exited with {proc.returncode}; log tail:\n{tail}", file=sys.stderr, flush=True)
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def _load(base: str, token: str, path: str, total: int, requests: int, max_s: float,
                keyset: bool = False) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    issued = 0
    rng = random.Random(1)
    deadline = time.monotonic() + max_s
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=60) as client:
        async def worker() -> None:
            nonlocal issued, errors
            while issued < requests and time.monotonic() < deadline:
                issued += 1
                if keyset:  # ids are dense here: a random id well before the end gives a full page
                    params = {"limit": PAGE, "after_id": rng.randrange(max(total - 2 * PAGE, 1))}
                else:
                    params = {"limit": PAGE, "offset": rng.randrange(max(total - PAGE, 1))}
                t0 = time.perf_counter()
                try:
                    response = await client.get(path, params=params)
                except httpx.TransportError:  # counted, not fatal: the table shows it
                    errors += 1
                    await asyncio.sleep(0.1)
                    continue
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200 or len(response.json()["items"]) != PAGE:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        wall = time.perf_counter() - t0
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"requests": len(latencies), "errors": errors, "seconds": round(wall, 2),
            "loadavg_1m": round(os.getloadavg()[0], 1),
            "rps": round(len(latencies) / wall, 1), "p50_ms": round(q[49] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1), "max_ms": round(latencies[-1] * 1000, 1)}


def _run_status(base: str, token: str, run_id: int) -> dict[str, Any]:
    return httpx.get(f"{base}/runs/{run_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()


def bench_backend(name: str, url: str, work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    from r2d2.gen.lake import LakeSpec, generate_lake

    home = work / f"home-{name}"
    home.mkdir(parents=True)
    lake = work / f"lake-{name}"
    generate_lake(lake, LakeSpec.small(), seed=7)
    catalog = open_catalog(url)
    print(f"[{name}] filling {args.tables} tables and {args.edges} edges ...", flush=True)
    fill_s = fill(catalog, args.tables, args.edges, seed=1)
    _, token = catalog.create_token("bench", "admin")
    rows: list[dict[str, Any]] = []
    with server(url, home, lake) as base:
        auth = {"Authorization": f"Bearer {token}"}
        scan_run = httpx.post(f"{base}/runs/scan", json={"roots": [str(lake)]}, headers=auth,
                              timeout=60).json()
        while _run_status(base, token, scan_run["id"])["status"] == "running":
            time.sleep(0.2)
        totals = {p: httpx.get(f"{base}{p}", params={"limit": 1}, headers=auth).json()["total"]
                  for p in ("/edges", "/tables")}
        print(f"[{name}] catalog: {totals}", flush=True)
        for path in ("/edges", "/tables"):  # warm-up
            asyncio.run(_load(base, token, path, totals[path], 200, 30))
        for path in ("/edges", "/tables"):
            r = asyncio.run(_load(base, token, path, totals[path], args.requests, args.max_seconds))
            rows.append({"backend": name, "endpoint": f"GET {path}", "during": "idle", **r, **fill_s})
            print(rows[-1], flush=True)
        for path in ("/edges", "/tables"):
            r = asyncio.run(_load(base, token, path, totals[path], args.requests, args.max_seconds,
                                  keyset=True))
            rows.append({"backend": name, "endpoint": f"GET {path}?after_id", "during": "idle", **r, **fill_s})
            print(rows[-1], flush=True)
        detect = httpx.post(f"{base}/runs/detect", headers=auth, timeout=60).json()
        for path in ("/edges", "/tables"):
            before = _run_status(base, token, detect["id"])["status"]
            r = asyncio.run(_load(base, token, path, totals[path], args.requests, args.max_seconds))
            after = _run_status(base, token, detect["id"])
            rows.append({"backend": name, "endpoint": f"GET {path}", "during": "detect run",
                         "detect_running_before": before == "running",
                         "detect_running_after": after["status"] == "running",
                         "detect_stage_after": after["progress"].get("stage"), **r, **fill_s})
            print(rows[-1], flush=True)
        while (final := _run_status(base, token, detect["id"]))["status"] == "running":
            time.sleep(1)
        for row in rows:
            if row["during"] == "detect run":
                row["detect_status"] = final["status"]
                took = (datetime.fromisoformat(final["finished_at"])
                        - datetime.fromisoformat(final["started_at"]))
                row["detect_seconds"] = round(took.total_seconds(), 1)
    catalog.close()
    return rows


def write(rows: list[dict[str, Any]], args: argparse.Namespace, command: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    meta = {"command": command, "clients": CLIENTS, "page": PAGE, "tables": args.tables, "edges": args.edges,
            "requests_bound": args.requests, "seconds_bound": args.max_seconds,
            "python": platform.python_version(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "date": datetime.now(UTC).isoformat(timespec="seconds")}
    (RESULTS / "api.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    lines = [
        "# REST API latency", "",
        f"`{command}`", "",
        f"{args.edges:,} edges between {args.tables:,} synthetic tables (plus a ~45-table generated lake, "
        f"scanned through the API); {CLIENTS} concurrent asyncio httpx clients on loopback; each request "
        f"is a page of {PAGE} at a random offset (`?after_id` rows: after a random id, keyset "
        f"pagination); bounded to {args.requests:,} requests or "
        f"{args.max_seconds:.0f} s per row. Server: `r2d2 serve` (one uvicorn process) in a subprocess. "
        f"Machine: {meta['machine']}, Python {meta['python']}.", "",
        "| catalog | endpoint | during | requests | errors | req/s | p50 ms | p99 ms | max ms | load 1m |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        during = r["during"]
        if during == "detect run":
            during += " (running throughout)" if r["detect_running_after"] else " (finished during load)"
        lines.append(f"| {r['backend']} | {r['endpoint']} | {during} | {r['requests']} | {r['errors']} | "
                     f"{r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['loadavg_1m']} |")
    detect_rows = [r for r in rows if r["during"] == "detect run"]
    lines += ["", "Detect runs (real: Spark `local[*]` in the server process, over the generated lake): "
              + ", ".join(
        f"{r['backend']} {r['detect_status']} in {r['detect_seconds']} s" for r in detect_rows[::2]) + ".",
        "Catalog fill time (catalog API, not measured as API latency): " + ", ".join(
        f"{r['backend']} tables {r['tables_s']} s, edges {r['edges_s']} s"
        for r in {r["backend"]: r for r in rows}.values()) + ".",
        "", "The load generator runs on the same 2-CPU machine as the server (and Spark during detect), "
        "so these figures include CPU contention with the clients; `load 1m` is the machine's 1-minute "
        "load average at the end of each row (above 2, other work shared the CPUs). `errors` counts non-200 "
        "answers, short pages and connections the server reset (counted, the load goes on)."]
    (RESULTS / "api.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])
    parser.add_argument("--tables", type=int, default=5000)
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000, help="Requests per row (bound).")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="Seconds per row (bound).")
    args = parser.parse_args()
    command = "python bench/api_bench.py " + " ".join(sys.argv[1:])
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="r2d2-api-bench-") as tmp:
        work = Path(tmp)
        for backend in args.backends:
            if backend == "sqlite":
                rows += bench_backend("sqlite", f"sqlite:///{work / 'catalog.sqlite'}", work, args)
            else:
                with postgres() as url:
                    rows += bench_backend("postgres", url, work, args)
    write(rows, args, command.strip())


if __name__ == "__main__":
    main()
