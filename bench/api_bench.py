"""REST API throughput and latency: GET /edges and GET /tables pages with 100,000 edges, 32 connections.

For each catalog (SQLite file, throwaway PostgreSQL cluster): synthetic tables and edges are written
straight through the catalog API; ``r2d2 serve`` runs in a subprocess (``--workers`` uvicorn processes,
access log off); the load comes from ``wrk`` (a separate C process: Debian package ``wrk``; the bench
says how to install it when missing), 32 connections for ``--seconds`` per row, each request a page of
100 at a random offset (``?after_id`` rows: after a random id, keyset pagination). ``wrk`` counts
connect/read/write/timeout errors and non-2xx answers; offsets stay below ``total - 100`` so every page
is full. The machine's load average is read before and after each row (other processes share the CPUs).
Then, optionally (``--detect``), a real ``detect`` run is started over a small generated lake and the same
load runs while it is in progress.

Writes ``bench/results/api.json`` and ``bench/results/api.md``.

Reproduce::

    apt-get install -y wrk                                   # the load generator (once)
    .venv/bin/python bench/api_bench.py                      # sqlite and postgres, 2 workers
    .venv/bin/python bench/api_bench.py --backends sqlite --workers 1 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
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
def server(catalog_url: str, home: Path, lake: Path, workers: int) -> Iterator[tuple[str, int]]:
    port = _free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    log = open(home / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(Path(sys.executable).parent / "r2d2"), "--catalog", catalog_url, "--home",
                             str(home), "serve", "--port", str(port), "--lake-root", str(lake),
                             "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start; see {home / 'server.log'}")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        if proc.poll() is not None:  # the server died: show why before the work folder goes
            log.flush()
            tail = (home / "server.log").read_text(errors="replace")[-4000:]
            print(f"server exited with {proc.returncode}; log tail:\n{tail}", file=sys.stderr, flush=True)
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its worker processes (its own session)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


WRK_SCRIPT = r"""
local path, total, keyset, page = "%(path)s", %(total)d, %(keyset)s, %(page)d
math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
request = function()
  local q
  if keyset then q = "after_id=" .. math.random(0, math.max(total - 2 * page, 1))
  else q = "offset=" .. math.random(0, math.max(total - page, 1)) end
  return wrk.format("GET", path .. "?limit=" .. page .. "&" .. q)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, '
    .. '"write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, '
    .. '"max_us": %%d, "mean_us": %%.1f}\n', summary.requests, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def _cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by process ``root`` and its children (the server's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == root or ppid == root:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _wrk(base: str, token: str, path: str, total: int, seconds: float, *, keyset: bool = False,
         threads: int = 1, work: Path, server_pid: int | None = None) -> dict[str, Any]:
    """One ``wrk`` run; returns requests, errors, req/s, latency percentiles and the load average."""
    script = work / f"wrk-{path.strip('/')}-{int(keyset)}.lua"
    script.write_text(WRK_SCRIPT % {"path": path, "total": total, "keyset": "true" if keyset else "false",
                                    "page": PAGE})
    load_before = os.getloadavg()[0]
    cpu_before = _cpu_s(server_pid) if server_pid else 0.0
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(CLIENTS), "-d", f"{seconds:.0f}s", "--timeout", "10s",
                          "-H", f"Authorization: Bearer {token}", "-s", str(script), base + path],
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout.split("WRK ", 1)[1].splitlines()[0])
    cpu = _cpu_s(server_pid) - cpu_before if server_pid else 0.0
    wall = data["duration_us"] / 1e6
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {"requests": data["requests"], "errors": errors, "non_2xx": data["status"], "seconds": round(wall, 2),
            "rps": round(data["requests"] / wall, 1), "p50_ms": round(data["p50_us"] / 1000, 1),
            "p90_ms": round(data["p90_us"] / 1000, 1), "p99_ms": round(data["p99_us"] / 1000, 1),
            "max_ms": round(data["max_us"] / 1000, 1), "server_cpu_ms_per_request":
                round(cpu * 1000 / max(data["requests"], 1), 2), "server_cpu_s": round(cpu, 1),
            "loadavg_1m_before": round(load_before, 2),
            "loadavg_1m": round(os.getloadavg()[0], 2)}


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
    with server(url, home, lake, args.workers) as (base, pid):
        auth = {"Authorization": f"Bearer {token}"}
        scan_run = httpx.post(f"{base}/runs/scan", json={"roots": [str(lake)]}, headers=auth,
                              timeout=60).json()
        while _run_status(base, token, scan_run["id"])["status"] == "running":
            time.sleep(0.2)
        totals = {p: httpx.get(f"{base}{p}", params={"limit": 1}, headers=auth).json()["total"]
                  for p in ("/edges", "/tables")}
        print(f"[{name}] catalog: {totals}", flush=True)
        common = {"backend": name, "workers": args.workers, "wrk_threads": args.threads, **fill_s}
        for path in ("/edges", "/tables"):  # warm-up
            _wrk(base, token, path, totals[path], 3, threads=args.threads, work=work, server_pid=pid)
        for keyset in (False, True):
            for path in ("/edges", "/tables"):
                r = _wrk(base, token, path, totals[path], args.seconds, keyset=keyset, threads=args.threads,
                         work=work, server_pid=pid)
                rows.append({**common, "endpoint": f"GET {path}" + ("?after_id" if keyset else ""),
                             "during": "idle", **r})
                print(rows[-1], flush=True)
        if args.detect:
            detect = httpx.post(f"{base}/runs/detect", headers=auth, timeout=60).json()
            for path in ("/edges", "/tables"):
                before = _run_status(base, token, detect["id"])["status"]
                r = _wrk(base, token, path, totals[path], args.seconds, threads=args.threads, work=work, server_pid=pid)
                after = _run_status(base, token, detect["id"])
                rows.append({**common, "endpoint": f"GET {path}", "during": "detect run",
                             "detect_running_before": before == "running",
                             "detect_running_after": after["status"] == "running", **r})
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


FINDINGS = """
## Where the time went (issue 18), and what changed

Measured on this shared 2-CPU machine with `py-spy record --gil` on one server worker under `wrk` load,
and with per-step timings in one thread (figures under a load average of 5 to 13 from other work, so
read the ratios more than the absolute values):

* **The load generator shared the cores.** The previous bench drove 32 asyncio httpx clients in Python
  on the same two CPUs: they used about as much CPU as the server. Now `wrk` (C, one thread) generates
  the load, and the bench reports the server's own CPU time per request (`server_cpu_ms_per_request` in
  `api.json`: CPU seconds of the server processes over the requests served), which does not depend on
  how many CPUs other work left us.
* **`OFFSET` walked the index for every page**: a page at a random offset among 100,000 edges walked
  50,000 index entries on average (2.8 ms of SQLite per page). Offset pages are now cut from a snapshot
  of the matching ids (per filter combination, reloaded every 2 s on a background thread while the
  requests use the previous one, `api/crud.py`), then read by primary key. The snapshot also gives the total, so the
  `count(*)` per page (already cached 2 s) is gone for offset pages too.
* **Per-row work in Python**: SQLAlchemy's row processing (UTC datetime type, JSON decoding with a new
  `JSONDecoder` per value: about 10 µs each, 1 ms a page), records, pydantic models (`Edge.of` and the
  response-model validation: 1.2 ms a page) and the standard JSON encoder with `isoformat` (a third of
  the rendering). Pages now render the driver's rows directly (`api/render.py`; stored JSON evidence is
  embedded as it is stored) and are encoded once by orjson; `tests/test_api_service.py` checks the
  document is the same as the pydantic schemas'.
* **Threads and connections**: sync routes ran on AnyIO's 40-thread pool while the catalog pooled 5 (+10
  overflow) connections: under load every request past 15 opened and closed a SQLite connection (cold
  page cache, four PRAGMAs), and 40 threads contended for the GIL. Now 16 request threads and 20 (+10)
  pooled connections. Auth looked the token up in the catalog on every request: a verified token is now
  kept 2 s (`api/deps.py`). (The list routes are now `async`: see the last item.)
* **One process**: `r2d2 serve --workers N` runs N uvicorn processes (uvloop and httptools are installed).
* **PostgreSQL: round trips and statement building.** A page cost 5.3 ms of the server's time on
  PostgreSQL against 2 on SQLite (`ApiQueries.edge_page` in a loop, 20,000 edges): every request checked
  its pooled connection out with SQLAlchemy's `pool_pre_ping` (`SELECT 1`, which in psycopg's
  transactional mode also sent `BEGIN`), then ran the query and a `COMMIT`: four round trips. Reads now
  run in autocommit (under `READ COMMITTED` each statement takes its own snapshot anyway), a pooled
  connection is pinged only after 5 s idle (one that dies while in use invalidates the pool, as
  before), the page's ids go as one array parameter (`= ANY(%s)`: one statement text, which psycopg
  prepares after five uses, instead of 100 bound values), the evidence comes as its stored text
  (psycopg decoded every row's JSONB for the page to encode it again), and each page's statement is
  built once per filter and run with parameters (SQLAlchemy computed a cache key for every new
  statement object, then adapted the cached result columns to it: more Python than the query). The
  same loop: 5.3 → 1.7 ms (edges), 4.0 → 1.9 ms (tables). Under `wrk`: PostgreSQL `GET /edges` 208 →
  417 requests/s, server CPU 6.8 → 3.0 ms per request; SQLite 525 → 577 (3.5 → 3.2 ms).
  `tests/test_catalog.py` ends the server side of pooled connections: a dead idle one is replaced, one
  that died in use fails one read and the pool is renewed.
* **The thread hop, and the snapshot reload in the request's path.** Each page went from the event
  loop to a worker thread and back: about 0.35 ms of a sequential request (in-process ASGI loop), and
  under load the 16 threads took turns on the GIL in no particular order, so some requests waited many
  turns: p99 about 4 times p50. `GET /edges` and `GET /tables` are now `async` and query on the event
  loop (a page is a few indexed lookups, under a millisecond), so a worker serves its requests in
  order. Then the tail was the id snapshot's reload: 60 ms every 2 s, during which (on the event loop)
  every request of that worker waited; with reloads switched off for a test, p99 fell to 67 ms
  (SQLite) and 92 ms (PostgreSQL). Reloads now run on a background thread while requests keep the
  previous snapshot, and the database returns the ids as one aggregated text value (`group_concat` /
  `string_agg`, parsed by numpy) instead of 100,000 rows: 17-30 ms, and the database's part without
  the GIL. Back to back (`wrk` 15 s, `GET /edges`, 2 workers), requests/s and p99:

  | step | SQLite | PostgreSQL |
  |---|---|---|
  | threads (before) | 479-515, p99 241-270 ms | 383-417, p99 222-229 ms |
  | `async` list routes | 737-825, p99 121-141 ms | 489-568, p99 172-240 ms |
  | + background reload, aggregated ids | 916-921, p99 99-101 ms | 642-799, p99 140-181 ms |

  Server CPU per request went from 3.5 to 2.0 ms (SQLite) and from 3.1 to 2.0 ms (PostgreSQL).
* **Then SQLite met the targets and PostgreSQL half did** (30 s rows before the next three items, `git
  show bd1101f:bench/results/api.md`): SQLite 843-1,003 requests/s with p99 72-86 ms; PostgreSQL 520-790
  requests/s, but p99 120-141 ms on three rows of four. Tried and not kept then: 3 or 4 workers (p50
  lower, p99 no better) and freezing the server's start-up heap out of the garbage collector (no
  measurable change).
* **One worker took most connections.** With `--workers 2`, uvicorn's supervisor binds one socket and
  both workers accept from it; the worker whose event loop wakes first accepts every pending
  connection, and `wrk`'s 32 keep-alive connections stay where they landed. Counted per worker process
  (`ss`) under load: 30/2, 26/6, 32/0 and 18/14 on four rows. The busy worker served its 30 clients alone
  (p99 about 3.5 times p50) while the other idled; at 32/0 a row ran at the speed of one worker (405
  requests/s). Each worker now listens on its own `SO_REUSEPORT` socket (`r2d2/cli/reuseport.py`; the
  parent only reserves the port), and Linux hands each new connection to one of them by a hash of its
  addresses: 15/17, 16/16, 17/15 and 17/15 on the same rows. `tests/test_serve_workers.py` opens a burst
  of 32 connections against a real `r2d2 serve --workers 2` and checks that both workers hold some
  (and that a killed worker's replacement does).
* **PostgreSQL's share of a page.** CPU per request of the PostgreSQL processes, from `/proc` under
  `wrk`: 0.76 ms (`GET /edges`) and 1.2 ms (`?after_id`), against 1.4-1.7 ms for the server itself.
  `EXPLAIN (ANALYZE, BUFFERS)`: the keyset page selected its ids in a subquery, then looked every id up
  again, hashed and sorted them (1.1 ms); reading from the id on in one statement is 0.45 ms (both
  keyset statements, edges and tables). And 774 of the page's 951 buffer reads were the joins of each
  edge with its parent's and child's table rows, for their locations. A table's row keeps its id and
  its location for good (rows are never deleted, a location never rewritten), so each server process
  now keeps the locations it has read (`api/crud.py`, `Locations`: the page's missing ids in one query,
  all dropped every 10 minutes) and edge pages are read without the joins.
  `tests/test_api_service.py` checks that the pages are the same documents as the joined query's, on
  both catalogs, a table added meanwhile included.
* **Now met on both** (the table above this text): 900-1,730 requests/s, p99 42-88 ms, 0 errors on all
  eight rows; server CPU 1.1-1.8 ms per request. Two earlier runs of the same changes (before the
  review's fixes): 1,000-1,830 requests/s with p99 42-76 ms, and 1,130-1,860 with p99 38-67 ms.

Before and after, back to back on one SQLite catalog (5,000 tables, 100,000 edges), `wrk -t1 -c32 -d15s`
at random offsets, the machine shared with other work (1-minute load average 3.3 to 8.9 during these
runs):

| server | GET /edges req/s | p50 ms | p99 ms | GET /tables req/s | p50 ms | p99 ms |
|---|---:|---:|---:|---:|---:|---:|
| before (bcad31a, `r2d2 serve`, one process) | 64.7 | 461.6 | 939.9 | 100.7 | 299.3 | 781.1 |
| after, one process (`--no-access-log`) | 225.9 | 127.6 | 545.1 | 236.0 | 123.5 | 335.9 |
| after, `--workers 2 --no-access-log` | 327.1 | 83.8 | 641.8 | 407.3 | 68.0 | 313.5 |
"""


def write(rows: list[dict[str, Any]], args: argparse.Namespace, command: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    meta = {"command": command, "clients": CLIENTS, "page": PAGE, "tables": args.tables, "edges": args.edges,
            "seconds_per_row": args.seconds, "workers": args.workers, "wrk_threads": args.threads,
            "load_generator": wrk_version, "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "date": datetime.now(UTC).isoformat(timespec="seconds")}
    (RESULTS / "api.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    lines = [
        "# REST API throughput and latency", "",
        f"`{command}`", "",
        f"{args.edges:,} edges between {args.tables:,} synthetic tables (plus a ~45-table generated lake, "
        f"scanned through the API). Load: `{wrk_version.split(' [')[0]}` in its own process, {args.threads} thread, "
        f"{CLIENTS} connections, {args.seconds:.0f} s per row; each request is a page of {PAGE} at a random "
        f"offset (`?after_id` rows: after a random id, keyset pagination). Server: `r2d2 serve --workers "
        f"{args.workers} --no-access-log` in a subprocess. Machine: {meta['machine']} shared with other "
        f"work, Python {meta['python']}.", "",
        "| catalog | endpoint | during | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms "
        "| server CPU ms/req | load 1m before → after |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        during = r["during"]
        if during == "detect run":
            during += " (running throughout)" if r["detect_running_after"] else " (finished during load)"
        lines.append(f"| {r['backend']} | {r['endpoint']} | {during} | {r['requests']} | {r['errors']} | "
                     f"{r['rps']} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | {r['max_ms']} | "
                     f"{r['server_cpu_ms_per_request']} | {r['loadavg_1m_before']} → {r['loadavg_1m']} |")
    detect_rows = [r for r in rows if r["during"] == "detect run"]
    if detect_rows:
        lines += ["", "Detect runs (real: Spark `local[*]` in a server worker, over the generated lake): " + ", ".join(
            f"{r['backend']} {r['detect_status']} in {r['detect_seconds']} s" for r in detect_rows[::2]) + "."]
    lines += ["Catalog fill time (catalog API, not measured as API latency): " + ", ".join(
        f"{r['backend']} tables {r['tables_s']} s, edges {r['edges_s']} s"
        for r in {r["backend"]: r for r in rows}.values()) + ".",
        "", "`errors`: wrk's connect, read, write and timeout errors plus non-2xx answers. `load 1m`: the "
        "machine's 1-minute load average when the row started and ended (2 CPUs: above 2, processes waited "
        "for a CPU; the server and wrk alone account for up to about 2). `server CPU ms/req`: CPU time of "
        "the server's processes per request served (independent of how much CPU other work left)."]
    (RESULTS / "api.md").write_text("\n".join(lines) + "\n" + FINDINGS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])
    parser.add_argument("--tables", type=int, default=5000)
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30.0, help="Seconds of load per row.")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of the server.")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads.")
    parser.add_argument("--detect", action="store_true", help="Also measure while a detect run goes.")
    parser.add_argument("--out", type=Path, default=None, help="Write results here instead of bench/results.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk (Debian package; the load generator)")
    if args.out is not None:
        global RESULTS
        RESULTS = args.out
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
