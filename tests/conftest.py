"""Shared fixtures: one Spark session per test run, a throwaway PostgreSQL server, settings.

The PostgreSQL server is a real cluster made with ``initdb`` in a temporary folder and started with
``pg_ctl`` on a free loopback port; it is stopped at the end of the run. ``R2D2_TEST_PG_URL`` points
the tests at an existing server instead (``.ci/run`` leaves it unset).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bindir() -> Path:
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


@pytest.fixture(scope="session")
def spark():
    """The one Spark session of the test run (small, fast configuration)."""
    from r2d2.config import load_settings
    from r2d2.engine import get_spark, stop_spark

    session = get_spark(load_settings(spark_master="local[2]", spark_shuffle_partitions=4,
                                      spark_driver_memory="2g"))
    yield session
    stop_spark()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a real PostgreSQL database (a throwaway cluster on a loopback port)."""
    if os.environ.get("R2D2_TEST_PG_URL"):
        yield os.environ["R2D2_TEST_PG_URL"]
        return
    bindir = _pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="r2d2-pg-"))
    datadir = root / "data"
    port = _free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres system user
        shutil.chown(root, user="postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(datadir), "-U", "r2d2",
                    "--auth=trust", "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    log = root / "server.log"
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(log), "-w", "start",
                    "-o", f"-h 127.0.0.1 -p {port} -k {root} -F"], check=True, capture_output=True)
    try:
        subprocess.run([*run_as, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", "r2d2", "r2d2"], check=True, capture_output=True)
        yield f"postgresql+psycopg://r2d2@127.0.0.1:{port}/r2d2"
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty catalog database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    from pgdb import create_database

    base: str = request.getfixturevalue("postgres_url")
    return create_database(base, f"t_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**10}")


@pytest.fixture
def settings(tmp_path: Path, catalog_url: str):
    """Settings with a private home folder and catalog."""
    from r2d2.config import load_settings

    return load_settings(home=tmp_path / "home", catalog_url=catalog_url, spark_master="local[2]")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 HTTP endpoint on loopback: moto's standalone server (``moto[server]``), started here
    and stopped by the process id this fixture started."""
    import sys
    import time
    import urllib.request

    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start (exit {proc.poll()})") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def s3_options(s3_endpoint: str, spark) -> dict[str, dict[str, str]]:
    """Storage options reaching the test S3 server (any key pair works there), also set on the test
    session's Hadoop configuration for s3a."""
    from r2d2.engine.spark import apply_storage_options

    options = {"s3": {"endpoint_override": s3_endpoint, "access_key": "testing", "secret_key": "testing",
                      "region": "us-east-1"}}
    apply_storage_options(spark, options)
    return options


@pytest.fixture
def s3_bucket(s3_options: dict[str, dict[str, str]], request: pytest.FixtureRequest) -> str:
    """A new, empty bucket: ``s3://<name>``."""
    import re
    import uuid

    import pyarrow.fs as pafs

    from r2d2.lake import fs as lakefs

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + "-" + uuid.uuid4().hex[:8]
    lakefs.set_storage_options(s3_options)
    opts = dict(s3_options["s3"])
    scheme, endpoint = opts.pop("endpoint_override").split("://", 1)
    pafs.S3FileSystem(scheme=scheme, endpoint_override=endpoint, allow_bucket_creation=True, **opts).create_dir(name)
    return f"s3://{name}"

