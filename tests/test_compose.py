"""docker-compose.yml without a Docker engine: every R2D2 service's environment loads into valid
settings, the API's command starts with it, and the scheduler's script runs one round (scan → detect
→ check → purge) against a local lake, with the compose file's environment (paths and the catalog
mapped to this machine: the lake, the home, the test PostgreSQL server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import lakes
import pyarrow as pa
import pyspark
import pytest
import yaml

from r2d2.config import load_settings

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def services() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def r2d2_env(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items() if k.startswith("R2D2_")}


def local_env(env: dict[str, str], tmp_path: Path, pg: str) -> dict[str, str]:
    """The compose environment with its container paths and hosts mapped to this machine."""
    out = {}
    for key, value in env.items():
        value = value.replace("/var/lib/r2d2", str(tmp_path / "home")).replace("/lake", str(tmp_path / "lake"))
        if key == "R2D2_CATALOG_URL":
            value = pg
        if key == "R2D2_SPARK_MASTER":
            value = "local[2]"
        out[key] = value
    return out


def test_every_r2d2_service_environment_is_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    found = {name: r2d2_env(s) for name, s in services().items() if r2d2_env(s)}
    assert {"api", "scheduler", "spark-worker-1", "spark-worker-2"} <= set(found)
    for name, env in found.items():
        for key in [k for k in os.environ if k.startswith("R2D2_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        assert settings.lake_roots == ("/lake",), name
        assert str(settings.home) == "/var/lib/r2d2" and settings.spark_master == "spark://spark-master:7077"


def test_workers_mount_the_shared_home() -> None:
    for name, service in services().items():
        if name.startswith("spark-worker") or name in ("api", "scheduler"):
            assert any(str(v).endswith(":/var/lib/r2d2") for v in service.get("volumes", [])), name


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.postgres
def test_api_command_starts_with_the_compose_environment(tmp_path: Path, postgres_url: str) -> None:
    from pgdb import create_database

    env = {k: v for k, v in os.environ.items() if not k.startswith("R2D2_")}
    env.update(local_env(r2d2_env(services()["api"]), tmp_path, create_database(postgres_url, "compose_api")))
    (tmp_path / "lake").mkdir()
    port = _port()
    proc = subprocess.Popen([str(BIN / "r2d2"), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=2) as r:
                    assert r.status == 200
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.postgres
@pytest.mark.slow
def test_scheduler_runs_one_round_against_a_local_lake(tmp_path: Path, postgres_url: str) -> None:
    from pgdb import create_database

    base = pa.table({"id": list(range(300)), "v": [f"v{i % 7}" for i in range(300)]})
    lakes.parquet(tmp_path / "lake" / "base", base)
    lakes.parquet(tmp_path / "lake" / "subset", base.slice(10, 100))
    url = create_database(postgres_url, "compose_scheduler")
    env = {k: v for k, v in os.environ.items() if not k.startswith("R2D2_")}
    env.update(local_env(r2d2_env(services()["scheduler"]), tmp_path, url))
    env.update(R2D2_SCHEDULER_ONCE="1", SPARK_HOME=str(Path(pyspark.__file__).parent),
               R2D2_SPARK_SUBMIT=str(BIN / "spark-submit"), R2D2_JOBS_DIR=str(ROOT / "jobs"),
               R2D2_PYTHON=sys.executable, R2D2_CLI=str(BIN / "r2d2"), PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    out = subprocess.run(["sh", str(ROOT / "deploy" / "scheduler.sh")], env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    from r2d2.catalog import open_catalog

    catalog = open_catalog(url)
    assert {t.location for t in catalog.list_tables()} == {str(tmp_path / "lake" / "base"),
                                                           str(tmp_path / "lake" / "subset")}
    assert catalog.list_runs("detect", limit=None)
