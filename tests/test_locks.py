"""Operation locks across real processes, on SQLite and PostgreSQL (r2d2/catalog/locks.py).

A helper process takes a lock through the library and waits; the CLI, the API and this process must
then be refused at once, naming it (operation, host, pid, start). A holder killed with SIGKILL leaves
nothing that blocks the next taker. Two real `r2d2 apply` of one plan: the second stops before any
recipe work and exits 75.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lakes
import pyarrow as pa
import pytest
from test_api import assert_problem, serve

from r2d2.catalog import EdgeUpsert, open_catalog
from r2d2.catalog.locks import HOST, STALE_S, exclusive
from r2d2.cli.exits import EXIT_BUSY
from r2d2.config import load_settings
from r2d2.errors import OperationBusyError
from r2d2.optimize.planning import PlanRequest, create_plan
from r2d2.reconstruct.apply import apply_plan
from r2d2.scan import scan

HOLD = """
import sys
from r2d2.catalog import open_catalog
lock = open_catalog(sys.argv[1]).acquire_lock(sys.argv[2], sys.argv[3])
print("held", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
"""


@contextmanager
def holder(url: str, name: str = "destructive", operation: str = "apply of plan 99") -> Iterator[subprocess.Popen[str]]:
    """A real process holding lock ``name``; it releases it when the block ends (unless killed before)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, url, name, operation], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held", proc.stderr
        yield proc
    finally:
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
        proc.wait(30)


def cli(url: str, home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "r2d2.cli.main", "--home", str(home), "--catalog", url, *args],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_a_held_lock_refuses_other_processes_naming_the_holder(catalog_url: str, tmp_path: Path) -> None:
    catalog = open_catalog(catalog_url)
    with holder(catalog_url) as proc:
        with pytest.raises(OperationBusyError) as busy:
            catalog.acquire_lock("destructive", "purge")
        assert busy.value.lock == "destructive"
        assert {k: busy.value.holder[k] for k in ("operation", "host", "pid")} == {
            "operation": "apply of plan 99", "host": HOST, "pid": proc.pid}
        started = datetime.fromisoformat(str(busy.value.holder["started_at"]))
        assert abs(datetime.now(UTC) - started) < timedelta(minutes=1)
        assert f"pid {proc.pid}" in str(busy.value) and "apply of plan 99" in str(busy.value)
        # the CLI: another destructive command exits 75 with the holder on stderr, having done nothing
        refused = cli(catalog_url, tmp_path / "home", "recover")
        assert refused.returncode == EXIT_BUSY, refused.stdout + refused.stderr
        assert "apply of plan 99" in refused.stderr and f"pid {proc.pid}" in refused.stderr
        # the API (another process again): 409 with the holder in the problem body
        settings = load_settings(home=tmp_path / "api-home", catalog_url=catalog_url)
        with serve(settings) as api, api.client("admin") as c:
            body = assert_problem(c.post("/maintenance/purge", json={}), 409)
            assert body["lock"] == "destructive" and body["holder"]["pid"] == proc.pid
            assert body["holder"]["operation"] == "apply of plan 99" and body["holder"]["host"] == HOST
        # other locks are independent
        with exclusive(catalog, "detect", "detect"):
            pass
    assert cli(catalog_url, tmp_path / "home", "recover").returncode == 0
    assert catalog.lock_holder("destructive") is None


def test_every_command_taking_a_lock_exits_75_and_records_no_run(tmp_path: Path) -> None:
    """Exit 75 (r2d2/cli/exits.py) holds for every command that takes a lock, in both output formats,
    and for the batch jobs (the CLI's shims): refused before any run is recorded or Spark started. The
    commands run in this process (click's runner) against a holder in another one."""
    from click.testing import CliRunner

    from jobs import apply as apply_job
    from jobs import detect as detect_job
    from r2d2.cli.main import _register_subcommands
    from r2d2.cli.main import cli as r2d2

    _register_subcommands()
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    lakes.parquet(tmp_path / "lake" / "t", {"x": [1, 2]})
    catalog = open_catalog(url)
    scan(catalog, [str(tmp_path / "lake")], spark_factory=lambda: None)
    plan_id = create_plan(catalog, PlanRequest(solver="greedy"))
    base = ["--home", str(tmp_path / "home"), "--catalog", url]
    runs_before = len(catalog.list_runs(limit=None))
    commands = {"destructive": [["apply", str(plan_id), "--yes"], ["restore", str(tmp_path / "lake" / "t")],
                                ["check"], ["purge", "--yes"], ["recover"]],
                "detect": [["detect"]]}
    for lock, argvs in commands.items():
        with holder(url, lock, f"held by the test ({lock})"):
            for argv in argvs:
                text = CliRunner().invoke(r2d2, [*base, *argv])
                assert text.exit_code == EXIT_BUSY and "held by the test" in text.output, (argv, text.output)
                as_json = CliRunner().invoke(r2d2, [*base, *argv, "--format", "json"])
                assert as_json.exit_code == EXIT_BUSY, (argv, as_json.output)
                error = json.loads(as_json.stdout)["error"]
                assert (error["type"], error["exit_code"]) == ("OperationBusyError", EXIT_BUSY)
            job, args = (apply_job, [str(plan_id), "--yes"]) if lock == "destructive" else (detect_job, [])
            with pytest.raises(SystemExit) as exited:
                job.main([*base, *args])
            assert exited.value.code == EXIT_BUSY
    assert len(catalog.list_runs(limit=None)) == runs_before  # refused before a run was recorded


def test_detect_is_serialized_across_processes(catalog_url: str, tmp_path: Path) -> None:
    with holder(catalog_url, "detect", "detect run 7") as proc:
        refused = cli(catalog_url, tmp_path / "home", "detect")
        assert refused.returncode == EXIT_BUSY, refused.stdout + refused.stderr
        assert "detect run 7" in refused.stderr and f"pid {proc.pid}" in refused.stderr
        settings = load_settings(home=tmp_path / "api-home", catalog_url=catalog_url)
        with serve(settings) as api, api.client("operator") as c:
            body = assert_problem(c.post("/runs/detect"), 409)
            assert body["lock"] == "detect" and body["holder"]["pid"] == proc.pid
            assert c.get("/runs", params={"kind": "detect"}).json()["total"] == 0  # no run started


def test_a_killed_holder_does_not_block(catalog_url: str) -> None:
    catalog = open_catalog(catalog_url)
    with holder(catalog_url) as proc:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    # SQLite: same host, dead pid -> taken over at once; PostgreSQL: the session ended with the process
    with exclusive(catalog, "destructive", "recover") as lock:
        assert catalog.lock_holder("destructive").pid == os.getpid()  # type: ignore[union-attr]
        lock.ensure()


@pytest.mark.postgres
def test_postgres_waits_for_the_session_of_a_dead_holder_to_end(postgres_url: str) -> None:
    """A client killed on this host leaves its session (and the advisory lock) for a moment after the
    process is gone: the next taker waits for it to end instead of refusing; a live holder is refused at once."""
    from pgdb import create_database
    from sqlalchemy import update

    from r2d2.catalog.locks import L

    catalog_url = create_database(postgres_url, f"t_{os.getpid()}_dead_holder_session")
    catalog = open_catalog(catalog_url)
    gone = subprocess.Popen(["true"])
    gone.wait(30)
    with holder(catalog_url) as proc:
        started = time.monotonic()
        with pytest.raises(OperationBusyError):
            catalog.acquire_lock("destructive", "purge")
        assert time.monotonic() - started < 3.0  # alive: refused at once, not after the 5 s wait
        # The session lives on (the helper process holds it) while the recorded process is dead, as when
        # the client was killed and PostgreSQL has not yet noticed; it ends 0.5 s later.
        with catalog._write() as conn:
            conn.execute(update(L).where(L.c.name == "destructive").values(pid=gone.pid))
        ender = threading.Timer(0.5, proc.send_signal, [signal.SIGKILL])
        ender.start()
        started = time.monotonic()
        with exclusive(catalog, "destructive", "recover"):
            waited = time.monotonic() - started
            assert catalog.lock_holder("destructive").pid == os.getpid()  # type: ignore[union-attr]
        ender.join()
    assert waited > 0.4  # it waited for the session to end (5 s at most, else it would have raised)


def test_sqlite_lock_of_another_host_is_taken_over_only_when_stale(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import insert

    from r2d2.catalog.locks import L
    from r2d2.errors import SafetyError

    monkeypatch.setattr("r2d2.catalog.locks.HEARTBEAT_S", 0.05)
    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite'}")
    now = datetime.now(UTC)
    row = {"name": "destructive", "owner": "x" * 32, "operation": "purge", "host": "other-host", "pid": 1,
           "started_at": now, "heartbeat_at": now}
    with catalog._write() as conn:
        conn.execute(insert(L).values(**row))
    with pytest.raises(OperationBusyError, match=r"purge .*host other-host, pid 1"):
        catalog.acquire_lock("destructive", "recover")
    with catalog._write() as conn:  # the other host stopped refreshing its heartbeat
        conn.execute(L.update().values(heartbeat_at=now - timedelta(seconds=STALE_S + 1)))
    with exclusive(catalog, "destructive", "recover") as lock:
        taken = catalog.lock_holder("destructive")
        assert taken is not None and taken.host == HOST and taken.operation == "recover"
        lock.ensure()
        with catalog._write() as conn:  # taken over in turn (we looked dead to someone): lost
            conn.execute(L.update().values(owner="y" * 32))
        deadline = time.monotonic() + 10
        while not lock.lost and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(SafetyError, match="no longer held"):
            lock.ensure()
    with catalog._read() as conn:  # our release left the new owner's row alone
        assert conn.execute(L.select()).first().owner == "y" * 32


# --- two real `r2d2 apply` of one plan ---------------------------------------------------------------

def _lake_with_a_plan(root: Path, catalog_url: str, spark: Any) -> tuple[Any, int, Path]:
    n = 500
    parent = pa.table({"x": pa.array(range(n), pa.int64()), "y": [f"v{i % 37}" for i in range(n)]})
    lakes.parquet(root / "lake" / "parent", parent)
    lakes.parquet(root / "lake" / "child", parent.take(pa.array(list(range(n - 1, -1, -1)))))
    settings = load_settings(home=root / "home", catalog_url=catalog_url, spark_master="local[2]")
    catalog = open_catalog(catalog_url)
    scan(catalog, [str(root / "lake")], spark_factory=lambda: spark)
    p, c = (catalog.get_table(str(root / "lake" / name)) for name in ("parent", "child"))
    catalog.upsert_edges([EdgeUpsert(p.id, c.id, p.fingerprint, c.fingerprint, "verified", "exact", "contains",
                                     True, {"distinct_rows": n, "missing": 0, "rows_over_count": 0})])
    plan_id = create_plan(catalog, PlanRequest(latency_limit_s=math.inf, access_default=0.0, storage_price=1e6,
                                               compute_price=0.0, solver="greedy"))
    prepared = apply_plan(catalog, settings, lambda: spark, plan_id, prepare_only=True)
    assert [i.action for i in prepared.items] == ["prepared"], prepared.items
    return settings, plan_id, root / "lake" / "child"


def _stopped(pid: int, timeout_s: float = 120) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "T":
                return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_two_applies_of_one_plan(catalog_url: str, tmp_path: Path, spark: Any) -> None:
    settings, plan_id, child = _lake_with_a_plan(tmp_path, catalog_url, spark)
    catalog = open_catalog(catalog_url)
    recipes = len(catalog.list_recipes())
    args = [sys.executable, "-m", "r2d2.cli.main", "--home", str(settings.home), "--catalog", catalog_url,
            "apply", str(plan_id), "--yes"]
    first = subprocess.Popen(args, env={**os.environ, "R2D2_FAULT": "apply:intent:1:stop"},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _stopped(first.pid), "the first apply never reached its move"
        t0 = time.monotonic()
        second = subprocess.run(args, capture_output=True, text=True, timeout=300)
        assert second.returncode == EXIT_BUSY, second.stdout + second.stderr
        assert f"apply of plan {plan_id}" in second.stderr and f"pid {first.pid}" in second.stderr
        assert time.monotonic() - t0 < 60  # refused at once, no recipe work
        assert len(catalog.list_recipes()) == recipes
        assert child.is_dir()
    finally:
        first.send_signal(signal.SIGCONT)
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, out + err
    assert not child.exists() and "1 deleted" in out
    assert catalog.lock_holder("destructive") is None
