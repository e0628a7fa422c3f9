"""The batch jobs on a real Spark standalone cluster (one master, two workers on loopback).

The cluster is started from the pyspark installation's `spark-class`, each worker with its own work
folder, and stopped by the process ids the test started. The jobs must give exactly the edges that
local mode gives on the same lake, and the same plan.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pyspark
import pytest

SPARK_HOME = Path(pyspark.__file__).parent
BIN = Path(sys.executable).parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    env.pop("R2D2_SPARK_MASTER", None)
    return env


def _wait_port(port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("cluster")
    port, ui = _port(), _port()
    procs: list[subprocess.Popen] = []
    logs = []

    def log(name: str):
        logs.append(open(root / name, "w"))  # noqa: SIM115 - closed after the processes stop
        return logs[-1]

    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    try:
        procs.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
             "--webui-port", str(ui)],
            env=_env(), stdout=log("master.log"), stderr=subprocess.STDOUT, start_new_session=True))
        _wait_port(port)
        url = f"spark://127.0.0.1:{port}"
        for i in (1, 2):
            work = root / f"worker{i}"
            work.mkdir()
            procs.append(subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                 "--cores", "1", "--memory", "1g", "--work-dir", str(work), "--webui-port", str(_port())],
                env=_env(), stdout=log(f"worker{i}.log"), stderr=subprocess.STDOUT,
                start_new_session=True))
        deadline = time.monotonic() + 90
        while (root / "master.log").read_text().count("Registering worker") < 2:
            if time.monotonic() > deadline:
                raise TimeoutError("workers did not register:\n" + (root / "master.log").read_text()[-2000:])
            time.sleep(0.5)
        yield url
    finally:
        for proc in reversed(procs):  # stop exactly what we started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for f in logs:
            f.close()


def _lake(root: Path) -> Path:
    base = pa.table({"id": pa.array(range(5000), pa.int64()), "v": [f"v{i % 97}" for i in range(5000)],
                     "x": pa.array([i * 0.5 for i in range(5000)])})
    tables = {"base": base, "copy": base, "subset": base.slice(100, 900),
              "proj": base.select(["id", "v"]).slice(0, 3000), "other": base.slice(2000, 500)}
    for name, table in tables.items():
        (root / name).mkdir(parents=True)
        pq.write_table(table, root / name / "part-0.parquet", row_group_size=1000)
    return root


def _submit(master: str, job: str, *args: str) -> dict:
    cmd = [str(BIN / "spark-submit"), "--master", master, "--conf", "spark.executor.memory=1g",
           str(Path(__file__).parents[1] / "jobs" / job), "--json", *args]
    out = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout[out.stdout.index("{"):])


def _edges(payload: dict) -> set[tuple]:
    return {(e["parent"], e["child"], e["relation"], e["multiset"]) for e in payload["edges"]}


def test_jobs_on_standalone_cluster_match_local_mode(cluster: str, tmp_path: Path) -> None:
    lake = _lake(tmp_path / "lake")
    on_cluster = tmp_path / "cluster-home"
    local = tmp_path / "local-home"
    scan = _submit(cluster, "scan.py", "--home", str(on_cluster), str(lake))
    assert scan["found"] == 5 and scan["failed"] == 0
    remote = _submit(cluster, "detect.py", "--home", str(on_cluster))
    _submit("local[2]", "scan.py", "--home", str(local), str(lake))
    here = _submit("local[2]", "detect.py", "--home", str(local))
    assert _edges(remote) == _edges(here)
    remote_plan = _submit(cluster, "plan.py", "--home", str(on_cluster), "--access-default", "0")
    local_plan = _submit("local[2]", "plan.py", "--home", str(local), "--access-default", "0")

    def decisions(plan: dict) -> list[tuple]:
        return sorted((d["location"], d["action"], d["parent_location"]) for d in plan["decisions"])

    assert decisions(remote_plan) == decisions(local_plan)
    # spark-submit jobs record their runs like every other entrance (r2d2 runs, GET /runs)
    from r2d2.catalog import open_catalog

    for home in (on_cluster, local):
        recorded = open_catalog(f"sqlite:///{home / 'catalog.sqlite'}").list_runs(limit=None)
        assert sorted((r.kind, r.status) for r in recorded) == [
            ("detect", "succeeded"), ("plan", "succeeded"), ("scan", "succeeded")]
    assert any(d[1] == "delete" for d in decisions(remote_plan))
    assert (str(lake / "base"), str(lake / "subset"), "contains", True) in _edges(remote)
    # idempotent: a second run re-examines nothing and finds the same edges
    again = _submit(cluster, "detect.py", "--home", str(on_cluster))
    assert _edges(again) == _edges(remote)
