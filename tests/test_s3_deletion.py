"""apply, restore and crash safety on S3 (a real S3 server on loopback: moto's standalone server).

The lake of tests/test_reconstruct.py is uploaded to a bucket; recipes, quarantine and the work folder
are on the bucket too. Deleting there is copy → verify → commit marker → delete under the journal:
`r2d2 apply` / `r2d2 restore` are SIGKILLed at steps of that sequence, every table must be whole in
place or in quarantine (object by object, SHA-256), and `r2d2 recover` must leave catalog and store
consistent. The plan and the restored bytes are those of the same lake on local disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import lakes
import pyarrow.fs as pafs
import pytest
from test_reconstruct import CHILDREN, deleting_plan, setup_lake, write_lake

from r2d2.catalog import EdgeUpsert, open_catalog
from r2d2.catalog.journal import OPEN_STATES
from r2d2.config import load_settings
from r2d2.engine.spark import apply_storage_options
from r2d2.lake import fs as lakefs
from r2d2.reconstruct.apply import apply_plan
from r2d2.reconstruct.restore import reconstruct_to, restore
from r2d2.scan import scan

# Each point kills the n-th such step of one `r2d2 apply` run of the plan's 7 deletions, one after the
# other: a point past the copies leaves its table quarantined once recovered, so 6 points at most may.
APPLY_POINTS = ["intent:1", "copy:1", "copy:2", "staged:1", "unlink:1", "moved:1", "committed:1", "done:1"]
RESTORE_POINTS = ["copy:1", "staged:1", "unlink:1", "moved:1"]


def manifest(location: str) -> dict[str, str]:
    return {rel: hashlib.sha256(lakefs.read_bytes(lakefs.join(location, rel))).hexdigest()
            for rel, _ in lakefs.files_under(location)}


def no_spark():
    raise AssertionError("the move phase must not need Spark")


@pytest.fixture(scope="module")
def s3_lake(spark, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("s3del")
    options = {"s3": {"endpoint_override": s3_endpoint, "access_key": "testing", "secret_key": "testing",
                      "region": "us-east-1"}}
    bucket = f"del-{uuid.uuid4().hex[:12]}"
    scheme, endpoint = s3_endpoint.split("://", 1)
    pafs.S3FileSystem(scheme=scheme, endpoint_override=endpoint, access_key="testing", secret_key="testing",
                      region="us-east-1", allow_bucket_creation=True).create_dir(bucket)
    env = {"R2D2_STORAGE_OPTIONS": json.dumps(options), "R2D2_WORK_FOLDER": f"s3://{bucket}/r2d2/work",
           "R2D2_RECIPES_FOLDER": f"s3://{bucket}/r2d2/recipes",
           "R2D2_QUARANTINE_FOLDER": f"s3://{bucket}/r2d2/quarantine"}
    settings = load_settings(home=root / "home", spark_master="local[2]", storage_options=options,
                             work_folder=env["R2D2_WORK_FOLDER"], recipes_folder=env["R2D2_RECIPES_FOLDER"],
                             quarantine_folder=env["R2D2_QUARANTINE_FOLDER"])
    apply_storage_options(spark, options)
    local = write_lake(root / "lake")
    lake = lakes.upload(root / "lake", f"s3://{bucket}/lake")
    locs = {name: lakefs.join(lake, Path(path).name) for name, path in local.items()}
    catalog = open_catalog(settings.resolved_catalog_url)
    summary = scan(catalog, [lake], spark_factory=lambda: spark)
    assert summary.failed == 0, summary.errors
    recs = {name: catalog.get_table(loc) for name, loc in locs.items()}
    edges = [EdgeUpsert(recs["parent"].id, recs[n].id, recs["parent"].fingerprint, recs[n].fingerprint,
                        "verified", "exact", "duplicate" if n == "copy" else "contains", n != "sample",
                        {"distinct_rows": 10}) for n in CHILDREN]
    edges.append(EdgeUpsert(recs["copy"].id, recs["parent"].id, recs["copy"].fingerprint,
                            recs["parent"].fingerprint, "verified", "exact", "duplicate", True, {}))
    catalog.upsert_edges(edges)
    pid = deleting_plan(catalog)
    report = apply_plan(catalog, settings, lambda: spark, pid, prepare_only=True)
    assert {i.action for i in report.items} == {"prepared"}, [(i.location, i.reason) for i in report.items]
    originals = {loc: manifest(loc) for loc in locs.values()}
    return root, settings, catalog, locs, pid, originals, env


@pytest.fixture(autouse=True)
def _s3_options(s3_lake) -> None:
    """This process's storage options are the S3 lake's (another test's settings may have reset them)."""
    lakefs.set_storage_options(s3_lake[1].storage_options)


def run_cli(settings, env_extra: dict[str, str], *args: str, fault: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "R2D2_FAULT"}
    env.update(env_extra)
    if fault:
        env["R2D2_FAULT"] = fault
    cmd = [sys.executable, "-m", "r2d2.cli.main", "--home", str(settings.home),
           "--catalog", settings.resolved_catalog_url, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def quarantined(settings) -> list[str]:
    root = settings.quarantine_location
    return [lakefs.join(root, f"{d.name}/{t.name}") for d in lakefs.children(root) if d.is_dir
            for t in lakefs.children(lakefs.join(root, d.name)) if not t.name.startswith(".")]


def whole_somewhere(settings, originals) -> None:
    places = quarantined(settings)
    for loc, files in originals.items():
        name = loc.rsplit("/", 1)[-1]
        assert any(manifest(p) == files for p in [loc, *(q for q in places if q.endswith("/" + name))]), loc


def consistent(settings, catalog, originals) -> None:
    assert catalog.list_deletions(states=OPEN_STATES) == []
    for loc, files in originals.items():
        live = catalog.list_deletions(location=loc, states=("quarantined",))
        if live:
            assert not lakefs.exists(loc) and manifest(live[-1].quarantine_path) == files
            assert catalog.get_table(loc).status == "gone"
        else:
            assert manifest(loc) == files and catalog.get_table(loc).status == "active"
    root = settings.quarantine_location
    markers = [e.name for d in lakefs.children(root) if d.is_dir for e in lakefs.children(lakefs.join(root, d.name))
               if e.name.endswith(".r2d2-complete")]
    assert markers == []


def restore_all(settings, catalog, originals) -> None:
    for loc in originals:
        if catalog.list_deletions(location=loc, states=("quarantined",)):
            restore(catalog, settings, no_spark, loc)
    for loc, files in originals.items():
        assert manifest(loc) == files


def test_plan_on_s3_is_the_plan_on_local_disk(s3_lake, spark, tmp_path: Path) -> None:
    _, settings, catalog, _locs, pid, _, _ = s3_lake
    _, local_catalog, local_locs = setup_lake(tmp_path, spark)
    lakefs.set_storage_options(settings.storage_options)  # load_settings of the local lake reset them
    local_pid = deleting_plan(local_catalog)

    def decisions(cat, plan_id: int, prefix: str) -> list[tuple]:
        from r2d2.optimize.plan import load_plan

        plan = load_plan(cat.get_plan(plan_id).plan)
        return sorted((d.location.removeprefix(prefix), (d.parent_location or "").removeprefix(prefix))
                      for d in plan.deleted)

    s3_prefix = catalog.get_table(_locs["parent"]).location.rsplit("/", 1)[0]
    local_prefix = str(Path(local_locs["parent"]).parent)
    assert decisions(catalog, pid, s3_prefix) == decisions(local_catalog, local_pid, local_prefix)
    assert len(decisions(catalog, pid, s3_prefix)) == len(CHILDREN)


def test_kills_during_apply_and_restore_on_s3(s3_lake, spark) -> None:
    """One sequence, so each kill starts from the state the previous recovery left: a restore on a store
    writes new objects (new modification times), so a restored table no longer has the fingerprint the
    plan and its recipes were made for, and would rightly be refused as drift by a later apply."""
    _, settings, catalog, _locs, pid, originals, env = s3_lake
    for point in APPLY_POINTS:
        proc = run_cli(settings, env, "apply", str(pid), "--yes", fault=f"apply:{point}")
        assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stdout, proc.stderr)
        whole_somewhere(settings, originals)
        rec = run_cli(settings, env, "recover")
        assert rec.returncode == 0, (point, rec.stdout + rec.stderr)
        consistent(settings, catalog, originals)
    report = apply_plan(catalog, settings, no_spark, pid)  # what the kills left of the plan
    assert report.failed == [], [(i.location, i.reason) for i in report.failed]
    assert {i.action for i in report.items} <= {"deleted", "skipped"}
    consistent(settings, catalog, originals)
    gone = catalog.list_deletions(states=("quarantined",))
    assert len(gone) == len(CHILDREN)
    assert all(lakefs.is_object_store(d.quarantine_path) for d in gone)
    for point, deletion in zip(RESTORE_POINTS, gone, strict=False):
        proc = run_cli(settings, env, "restore", deletion.location, fault=f"restore:{point}")
        assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stdout, proc.stderr)
        whole_somewhere(settings, originals)
        rec = run_cli(settings, env, "recover")
        assert rec.returncode == 0, (point, rec.stdout + rec.stderr)
        consistent(settings, catalog, originals)
    check_reconstruct_and_purge_one(s3_lake, spark)
    restore_all(settings, catalog, originals)
    consistent(settings, catalog, originals)


def rows(location: str) -> list[tuple]:
    """A table's rows, sorted (files read with pyarrow: parquet under the location, any partitioning)."""
    import pyarrow.dataset as ds

    fs, path = lakefs.resolve(location)
    table = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive").to_table()
    table = table.select(sorted(table.column_names))
    return sorted(tuple(r.values()) for r in table.to_pylist())


def check_reconstruct_and_purge_one(s3_lake, spark) -> None:
    """check, reconstruct and purge on the store: the last quarantined Parquet table is rebuilt from its
    recipe into the bucket with its own rows, purged (its quarantine objects go), and rebuilt again."""
    _, settings, catalog, _locs, _pid, originals, env = s3_lake
    drift = run_cli(settings, env, "check", "--format", "json")
    assert drift.returncode == 0, drift.stdout + drift.stderr
    live = catalog.list_deletions(states=("quarantined",))
    report = json.loads(drift.stdout)
    assert {k: v for k, v in report.items() if k != "run_id"} == {"checked": len(live), "items": []}  # no drift
    assert catalog.get_run(report["run_id"]).kind == "check"  # recorded, as every operation's run
    d = [d for d in live if not d.location.endswith(("/csv", "/delta"))][-1]
    before = rows(d.quarantine_path)
    target = lakefs.join(lakefs.parent(settings.work_location), f"rebuilt-{uuid.uuid4().hex[:6]}")
    reconstruct_to(catalog, lambda: spark, d.location, target)
    assert rows(target) == before
    for other in catalog.list_deletions(states=("quarantined",)):
        if other.id != d.id:
            restore(catalog, settings, no_spark, other.location)
    purged = run_cli(settings, env, "purge", "--older-than", "0s", "--yes")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert catalog.get_deletion(d.id).state == "purged"
    assert not lakefs.exists(d.quarantine_path) and not lakefs.exists(d.location)
    again = target + "-again"
    reconstruct_to(catalog, lambda: spark, d.location, again)
    assert rows(again) == before
    del originals[d.location]  # rebuilt on request from now on, never restored in place
