"""Lakes on Google Cloud Storage and Azure Blob Storage, against emulators started on 127.0.0.1.

fake-gcs-server (GCS's JSON API) and Azurite (Azure Blob Storage) are real HTTP servers that
pyarrow's ``GcsFileSystem`` / ``AzureFileSystem`` and delta-rs talk to as to the clouds, reached through
the documented storage options. ``make emulators`` installs them into tests/emulators/ (pinned there);
a missing one fails these tests with what to install, it never skips them.

A small lake of every layout (Parquet, hive-partitioned Parquet, CSV, Delta, a table in nested folders
that no marker object names) on each store gives the tables and edges of the same lake on local disk,
on the driver, without Spark (hash sets in a work folder on the store); and the copy → verify → commit
marker → delete move into a quarantine folder on the same store, interrupted at its steps and resumed,
and back, keeps every object's bytes. On GCS, apply, a rebuild and restore also run with Spark reading
through Google's GCS connector (the jar ``make jars`` fetches), pointed at the emulator.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lakes
import pyarrow.fs as pafs
import pytest
from test_reconstruct import parent_table, write_lake

from r2d2.catalog import open_catalog
from r2d2.config import load_settings
from r2d2.containment.pipeline import detect
from r2d2.errors import SafetyError
from r2d2.lake import fs as lakefs
from r2d2.lake.discover import discover
from r2d2.reconstruct.journal import Journal
from r2d2.reconstruct.quarantine import complete, discard_partial, marker, move_tree
from r2d2.scan import scan

EMULATORS = Path(__file__).resolve().parent / "emulators"
AZURITE_MAIN = EMULATORS / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
AZURITE_BLOB = EMULATORS / "azurite-blob.js"  # starts AZURITE_MAIN (see the file for why)
FAKE_GCS_SERVER = EMULATORS / "bin" / "fake-gcs-server"
INSTALL = "run `make emulators` (tests/emulators/install.sh)"
# Azurite's one account and its published key (https://github.com/Azure/Azurite#default-storage-account).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def installed(path: Path, what: str) -> Path:
    """``path`` of an emulator, or a test failure (never a skip) saying how to install it."""
    if not path.exists():
        pytest.fail(f"{what} is not installed ({path} is missing): {INSTALL}", pytrace=False)
    return path


@contextmanager
def _serve(cmd: list[str], ready_url: str, name: str, log_dir: Path) -> Iterator[None]:
    """Run ``cmd`` until the test session ends; ready once ``ready_url`` answers over HTTP (any status).
    Stopped by the process id started here."""
    log = open(log_dir / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(ready_url, timeout=2).close()
                break
            except urllib.error.HTTPError:  # it answers
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start (exit {proc.poll()}): "
                                       f"{(log_dir / 'server.log').read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def gcs_options(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, str]]]:
    """Storage options reaching a fake-gcs-server on loopback (in memory, plain HTTP, no credentials)."""
    binary = installed(FAKE_GCS_SERVER, "fake-gcs-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(binary), "-backend", "memory", "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
           "-external-url", url, "-public-host", f"127.0.0.1:{port}", "-log-level", "warn"]
    with _serve(cmd, f"{url}/storage/v1/b", "fake-gcs-server", tmp_path_factory.mktemp("fake-gcs")):
        yield {"gs": {"endpoint_override": url, "anonymous": "true", "project_id": "r2d2-test",
                      "retry_time_limit": "10"}}


@pytest.fixture(scope="session")
def azure_options(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, str]]]:
    """Storage options reaching Azurite's blob service on loopback (in memory; its well-known key)."""
    installed(AZURITE_MAIN, "Azurite")
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"Azurite needs Node.js ('node' is not on PATH): {INSTALL}", pytrace=False)
    port = _free_port()
    cmd = [node, str(AZURITE_BLOB), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
           "--disableTelemetry", "--skipApiVersionCheck", "--silent"]
    url = f"http://127.0.0.1:{port}"
    with _serve(cmd, f"{url}/{AZURITE_ACCOUNT}?comp=list", "Azurite", tmp_path_factory.mktemp("azurite")):
        # only the blob endpoint: the Data Lake (dfs) endpoint is taken to be the same one
        yield {"abfss": {"account_key": AZURITE_KEY, "blob_storage_authority": url}}


@dataclass(frozen=True)
class Store:
    scheme: str
    options: dict[str, dict[str, str]]
    root: str  # a new, empty bucket or container


@pytest.fixture(params=["gs", "abfss"])
def store(request: pytest.FixtureRequest) -> Store:
    """A new bucket (GCS) or container (Azure) on the emulator, and the options reaching it (set)."""
    name = f"r2d2-{uuid.uuid4().hex[:12]}"
    if request.param == "gs":
        options = request.getfixturevalue("gcs_options")
        root = f"gs://{name}"
    else:
        options = request.getfixturevalue("azure_options")
        root = f"abfss://{name}@{AZURITE_ACCOUNT}.dfs.core.windows.net"
    lakefs.set_storage_options(options)
    lakefs.makedirs(root)  # creates the bucket / container
    return Store(request.param, options, root)


def no_spark():
    raise AssertionError("a lake this small is scanned and detected on the driver, without Spark")


def _edges(result, prefix: str) -> set[tuple]:
    return {(e.parent.removeprefix(prefix), e.child.removeprefix(prefix), e.relation, e.multiset)
            for e in result.edges}


@pytest.fixture(scope="module")
def local_lake(tmp_path_factory: pytest.TempPathFactory):
    """The lake on local disk (tests/test_reconstruct.py's tables of every layout, plus a table two
    namespace folders down), scanned and detected on the driver: its root and edges (paths relative)."""
    root = tmp_path_factory.mktemp("gcs-azure") / "lake"
    write_lake(root)
    lakes.parquet(root / "ns" / "deeper" / "ids", parent_table().select(["id", "grp"]).slice(0, 700))
    settings = load_settings(home=root.parent / "home")
    catalog = open_catalog(settings.resolved_catalog_url)
    summary = scan(catalog, [str(root)], spark_factory=no_spark)
    assert summary.failed == 0 and summary.found == 9, summary.errors
    result = detect(catalog, settings, no_spark)
    assert result.errors == []
    return root, _edges(result, str(root))


def manifest(location: str) -> dict[str, str]:
    """SHA-256 of every object under ``location``, by relative path."""
    return {rel: hashlib.sha256(lakefs.read_bytes(lakefs.join(location, rel))).hexdigest()
            for rel, _ in lakefs.files_under(location)}


def test_lake_on_the_store_gives_the_edges_of_local_disk(store: Store, local_lake, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Discovery (folders that exist only through object names included), profiles (Delta through
    delta-rs with the mapped options), detection with hash sets written to and read from the store:
    the same tables and edges as on local disk, with no Spark session."""
    local_root, local_edges = local_lake
    lake = lakes.upload(local_root, f"{store.root}/lake")
    settings = load_settings(home=tmp_path / "home", storage_options=store.options,
                             work_folder=f"{store.root}/r2d2/work")
    catalog = open_catalog(settings.resolved_catalog_url)
    caplog.set_level(logging.DEBUG)
    summary = scan(catalog, [lake], spark_factory=no_spark)
    assert summary.failed == 0 and summary.found == 9, summary.errors
    assert {t.location.removeprefix(lake) for t in catalog.list_tables()} == {
        "/parent", "/copy", "/filter", "/sample", "/hive", "/csv", "/delta", "/groups", "/ns/deeper/ids"}
    assert catalog.get_table(f"{lake}/delta").profile.format == "delta"
    result = detect(catalog, settings, no_spark)
    assert result.errors == []
    assert _edges(result, lake) == local_edges
    assert ("/parent", "/ns/deeper/ids", "contains", True) in local_edges
    assert ("/parent", "/delta", "contains", True) in local_edges and len(local_edges) >= 10
    hashsets = lakefs.files_under(f"{store.root}/r2d2/work/hashsets")
    assert any(rel.endswith(".parquet") for rel, _ in hashsets)
    assert not (tmp_path / "home" / "work" / "hashsets").exists()
    for secret in [v for opts in store.options.values() for k, v in opts.items() if k == "account_key"]:
        assert secret not in caplog.text and secret not in repr(settings) and secret not in str(settings)


class Interrupted(Exception):
    pass


def stop_at(step: str, nth: int = 1):
    """A fault hook that interrupts a move at the ``nth`` time it reaches ``step``."""
    seen = [0]

    def fault(name: str) -> None:
        if name == step:
            seen[0] += 1
            if seen[0] == nth:
                raise Interrupted(f"{step}:{nth}")

    return fault


def test_quarantine_move_on_the_store_and_back_keeps_every_object(store: Store, local_lake,
                                                                  tmp_path: Path) -> None:
    """Each table moves into a quarantine folder on the same store by copy → verify → commit marker →
    delete: interrupted during the copies (not committed: the source is whole, the partial copy goes),
    then after the commit point (committed: the destination is whole, the rest of the source goes on
    resuming), and moved back; every object keeps its SHA-256 and nothing is left behind."""
    local_root, _ = local_lake
    lake = lakes.upload(local_root, f"{store.root}/lake")
    before = {t.location: manifest(t.location) for t in discover([lake]).tables}
    assert len(before) == 9
    # one table of each shape: two files, partition folders, a Delta log, one CSV file, deep folders
    shapes = ("parent", "hive", "delta", "csv", "ns/deeper/ids")
    moved = {f"{lake}/{name}": before[f"{lake}/{name}"] for name in shapes}
    assert sum(len(files) for files in moved.values()) >= 9
    quarantine = f"{store.root}/r2d2/quarantine"
    for n, (src, files) in enumerate(sorted(moved.items())):
        dst = f"{quarantine}/{n}/{src.rsplit('/', 1)[1]}"
        journal = Journal.create(tmp_path / "journal" / f"{n}.jsonl", operation="test", src=src, dst=dst)
        with pytest.raises(Interrupted):
            move_tree(src, dst, journal=journal, fault=stop_at("copy", nth=len(files)))
        assert not complete(src, dst) and manifest(src) == files
        assert lakefs.files_under(dst) != []  # a partial copy
        discard_partial(src, dst)
        assert not lakefs.exists(dst)
        with pytest.raises(Interrupted):
            move_tree(src, dst, journal=journal, fault=stop_at("unlink"))
        assert complete(src, dst) and lakefs.exists(marker(dst)) and manifest(dst) == files
        assert move_tree(src, dst, journal=journal) == "resumed"
        assert not lakefs.exists(src) and not lakefs.exists(marker(dst)) and manifest(dst) == files
        steps = [e["step"] for e in journal.entries()]
        assert steps.count("stage") == 1 and steps.count("copy") == 2 * len(files)
        assert steps.count("unlink") == len(files)
        assert move_tree(dst, src) == "copy"
        assert manifest(src) == files and not lakefs.exists(dst)
    assert {t.location: manifest(t.location) for t in discover([lake]).tables} == before
    assert lakefs.files_under(quarantine) == []
    with pytest.raises(SafetyError, match="nothing to move"):
        move_tree(f"{lake}/gone", f"{quarantine}/x/gone")


def test_storage_options_name_the_emulator_endpoint(store: Store) -> None:
    """Endpoints with their scheme (``http://host:port``) are taken apart for pyarrow; Azure's account is
    the URI's, its dfs endpoint defaults to the blob one; GCS's retry limit is in seconds; delta-rs
    gets the same endpoint; ``abfs://``/``gcs://`` are the same stores."""
    fs, path = lakefs.resolve(f"{store.root}/a/b")
    if store.scheme == "gs":
        assert isinstance(fs, pafs.GcsFileSystem) and path == f"{store.root[5:]}/a/b"
        assert lakefs.normalize_location(store.root.replace("gs://", "gcs://")) == store.root
        options = lakefs.delta_options(store.root)
        assert options is not None
        assert store.options["gs"]["endpoint_override"] in options["google_service_account_key"]
        # and Google's Hadoop connector (Spark) the same endpoint, project and anonymous access
        assert lakefs.hadoop_options(store.options) == {
            "fs.gs.storage.root.url": store.options["gs"]["endpoint_override"] + "/",
            "fs.gs.project.id": "r2d2-test", "fs.gs.auth.type": "UNAUTHENTICATED",
            "fs.gs.operation.move.enable": "false"}
    else:
        container = store.root[len("abfss://"):].split("@")[0]
        assert isinstance(fs, pafs.AzureFileSystem) and path == f"{container}/a/b"
        assert lakefs.normalize_location(store.root.replace("abfss://", "abfs://")) == store.root
        assert lakefs.delta_options(store.root) == {
            "azure_storage_account_name": AZURITE_ACCOUNT, "azure_storage_account_key": AZURITE_KEY,
            "azure_storage_endpoint": f"{store.options['abfss']['blob_storage_authority']}/{AZURITE_ACCOUNT}",
            "allow_http": "true"}
    lakefs.write_bytes(f"{store.root}/a/b/x.bin", b"abc")
    assert lakefs.read_bytes(f"{store.root}/a/b/x.bin") == b"abc"
    assert [e.name for e in lakefs.children(f"{store.root}/a")] == ["b"]
    lakefs.remove(f"{store.root}/a")
    assert not lakefs.exists(f"{store.root}/a") and lakefs.files_under(store.root) == []


def _gcs_bucket_of_many_folders(options: dict[str, dict[str, str]]) -> tuple[pafs.FileSystem, str]:
    """A new bucket: 12 table folders without marker objects (one with folders two deep), a folder made
    with a marker object, and one folder of 25 objects."""
    lakefs.set_storage_options(options)
    root = f"gs://r2d2-{uuid.uuid4().hex[:12]}"
    lakefs.makedirs(root)
    fs, base = lakefs.resolve(root)
    for i in range(12):
        lakefs.write_bytes(f"{root}/t{i}/part-0.parquet", b"x" * i)
    lakefs.write_bytes(f"{root}/t0/sub/deep/x.csv", b"a,b\n")
    fs.create_dir(f"{base}/marked/empty")
    for i in range(25):
        lakefs.write_bytes(f"{root}/big/f{i:02d}.bin", b"y")
    return fs, base


def _sorted(listing: dict) -> dict:
    return {k: sorted(v) for k, v in listing.items()}


def test_a_gcs_tree_is_listed_in_key_ranges_at_once_as_one_recursive_listing_sees_it(
        gcs_options, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow's GCS listing misses folders without marker objects, so a tree was one recursive listing
    with its pages one after another. Now the top folders come from one delimited listing and the objects
    below them from recursive listings of key ranges, several at once (pages of PAGE_SIZE), giving the
    very entries (sizes, times) of pyarrow's listing; one folder alone is one delimited listing."""
    from google.cloud import storage

    from r2d2.lake import gcs

    fs, base = _gcs_bucket_of_many_folders(gcs_options)
    monkeypatch.setattr(gcs, "PAGE_SIZE", 7)  # the folder of 25 objects takes 4 pages
    lock, ranges, in_flight, most = threading.Lock(), [], [0], [0]
    list_blobs = storage.Client.list_blobs

    def watched(self: storage.Client, *args: object, **kwargs: object) -> object:
        if kwargs.get("delimiter"):
            return list_blobs(self, *args, **kwargs)
        with lock:
            ranges.append((kwargs["start_offset"], kwargs["end_offset"]))
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        try:
            time.sleep(0.05)  # long enough for the other ranges to start
            return list(list_blobs(self, *args, **kwargs))
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(storage.Client, "list_blobs", watched)
    expected = _sorted(lakefs._gcs_tree(fs, base))
    walked = lakefs.walk(fs, base, descend=lambda e: True, threads=4)
    assert _sorted(walked) == expected
    assert len(walked[f"{base}/big"]) == 25 and {e.name for e in walked[f"{base}/t0"]} == {"part-0.parquet", "sub"}
    assert walked[f"{base}/marked/empty"] == [] and f"{base}/t0/sub/deep" in walked
    # 14 top folders in 4 ranges that follow one another, listed at the same time
    assert len(ranges) == 4 and most[0] > 1, (ranges, most[0])
    assert sorted(ranges)[0][0] == "big/" and [r[1] for r in sorted(ranges)][:-1] == [r[0] for r in sorted(ranges)][1:]
    for folder in (base, f"{base}/t0", f"{base}/big", f"{base}/marked", f"{base}/marked/empty"):
        assert sorted(lakefs.list_dir(fs, folder)) == expected[folder], folder
    with pytest.raises(FileNotFoundError, match="no such folder"):
        lakefs.list_dir(fs, f"{base}/nope")
    assert isinstance(lakefs.walk(fs, f"{base}/nope", descend=lambda e: True)[f"{base}/nope"], FileNotFoundError)
    only_files = lakefs.walk(fs, f"{base}/big", descend=lambda e: True)  # no sub-folder: no range to list
    assert _sorted(only_files) == {f"{base}/big": expected[f"{base}/big"]}


def test_gcs_credentials_that_cannot_refresh_fail_the_listing_not_the_discovery(gcs_options) -> None:
    """An expired access token (it cannot be refreshed) is the folder's PermissionError, as pyarrow's
    errors are: discovery records it and goes on."""
    expired = {"endpoint_override": gcs_options["gs"]["endpoint_override"], "access_token": "expired",
               "credential_token_expiration": "2000-01-01T00:00:00", "project_id": "r2d2-test"}
    lakefs.set_storage_options({"gs": expired})
    try:
        fs, base = lakefs.resolve(f"gs://r2d2-{uuid.uuid4().hex[:12]}/lake")
        listed = lakefs.walk(fs, base, descend=lambda e: True)
        assert isinstance(listed[base], PermissionError) and "cannot authenticate" in str(listed[base])
    finally:
        lakefs.set_storage_options(gcs_options)


def test_gcs_without_a_usable_client_lists_whole_trees_with_pyarrow(gcs_options, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """Where Google's client cannot be set up (no default credentials, say), a tree is one recursive
    pyarrow listing, as before, and a warning says so."""
    import google.auth.exceptions

    from r2d2.lake import gcs

    def no_credentials(opts: dict[str, str]) -> None:
        raise google.auth.exceptions.DefaultCredentialsError("no credentials here")

    options = {"gs": {**gcs_options["gs"], "retry_time_limit": "11"}}  # a filesystem and a client of its own
    fs, base = _gcs_bucket_of_many_folders(options)
    monkeypatch.setattr(gcs, "_credentials", no_credentials)
    monkeypatch.setattr(gcs, "tree", lambda *a, **k: pytest.fail("the client is not usable"))
    with caplog.at_level(logging.WARNING, logger="r2d2.lake.fs"):
        walked = lakefs.walk(fs, base, descend=lambda e: True)
    assert _sorted(walked) == _sorted(lakefs._gcs_tree(fs, base))
    assert "one recursive listing per tree" in caplog.text


def test_a_missing_emulator_fails_saying_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"fake-gcs-server is not installed .*`make emulators`"):
        installed(tmp_path / "fake-gcs-server", "fake-gcs-server")


def test_install_script_without_node_fails_saying_what_to_install(tmp_path: Path) -> None:
    """Without node (and no apt-get to install it), `make emulators` stops with what to install."""
    path = tmp_path / "bin"
    path.mkdir()
    for cmd in ("dirname", "id", "cat"):
        found = shutil.which(cmd)
        assert found is not None
        (path / cmd).symlink_to(found)
    out = subprocess.run([shutil.which("bash") or "/bin/bash", str(EMULATORS / "install.sh")],
                         capture_output=True, text=True, timeout=60, env={"PATH": str(path)})
    assert out.returncode == 1
    assert "need 'node'" in out.stderr and "apt-get install nodejs" in out.stderr


def test_make_test_installs_the_emulators_first() -> None:
    dry = subprocess.run(["make", "-n", "test"], cwd=EMULATORS.parent.parent, capture_output=True, text=True,
                         timeout=60, env={**os.environ, "MAKEFLAGS": ""})
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    install = next(i for i, line in enumerate(lines) if "tests/emulators/install.sh" in line)
    assert install < next(i for i, line in enumerate(lines) if "pytest" in line)


def _rows(location: str) -> list[tuple]:
    """A Parquet table's rows, sorted, read with pyarrow from wherever it is."""
    import pyarrow.dataset as ds

    fs, path = lakefs.resolve(location)
    table = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive").to_table()
    table = table.select(sorted(table.column_names))
    return sorted(tuple(r.values()) for r in table.to_pylist())


def test_apply_reconstruct_and_restore_through_spark_on_gcs(spark, gcs_options, tmp_path: Path) -> None:
    """apply on gs:// with Spark reading through Google's GCS connector (the jar `make jars` fetches,
    pointed at the emulator by the same storage options): each recipe is built and verified by Spark
    against the parent on the bucket, the child moves into a quarantine on the bucket, a rebuild from its
    recipe gives its rows, and a restore puts back every object's bytes."""
    from test_reconstruct import deleting_plan

    from r2d2.catalog import EdgeUpsert
    from r2d2.engine.spark import apply_storage_options
    from r2d2.reconstruct.apply import apply_plan
    from r2d2.reconstruct.restore import reconstruct_to, restore

    bucket = f"gs://r2d2-{uuid.uuid4().hex[:12]}"
    settings = load_settings(home=tmp_path / "home", spark_master="local[2]", storage_options=gcs_options,
                             work_folder=f"{bucket}/r2d2/work", recipes_folder=f"{bucket}/r2d2/recipes",
                             quarantine_folder=f"{bucket}/r2d2/quarantine")
    lakefs.makedirs(bucket)
    apply_storage_options(spark, gcs_options)
    write_lake(tmp_path / "lake")
    lake = lakes.upload(tmp_path / "lake", f"{bucket}/lake")
    catalog = open_catalog(settings.resolved_catalog_url)
    assert scan(catalog, [lake], spark_factory=no_spark).failed == 0
    children = ("copy", "filter")  # a whole-table recipe and a predicate one
    recs = {n: catalog.get_table(f"{lake}/{n}") for n in ("parent", *children)}
    catalog.upsert_edges([EdgeUpsert(recs["parent"].id, recs[n].id, recs["parent"].fingerprint, recs[n].fingerprint,
                                     "verified", "exact", "duplicate" if n == "copy" else "contains", True,
                                     {"distinct_rows": 10}) for n in children])
    originals = {n: manifest(recs[n].location) for n in children}
    expected = {n: _rows(recs[n].location) for n in children}

    report = apply_plan(catalog, settings, lambda: spark, deleting_plan(catalog))
    assert sorted((i.location, i.action) for i in report.items) == [(recs[n].location, "deleted") for n in children]
    gone = {d.location: d for d in catalog.list_deletions(states=("quarantined",))}
    for n in children:
        loc = recs[n].location
        assert not lakefs.exists(loc) and gone[loc].quarantine_path.startswith(f"{bucket}/r2d2/quarantine/")
        assert manifest(gone[loc].quarantine_path) == originals[n]
        target = f"{bucket}/rebuilt/{n}"
        reconstruct_to(catalog, lambda: spark, loc, target)
        assert _rows(target) == expected[n]
        restore(catalog, settings, no_spark, loc)
        assert manifest(loc) == originals[n] and catalog.get_table(loc).status == "active"
    assert lakefs.files_under(f"{bucket}/r2d2/quarantine") == []
