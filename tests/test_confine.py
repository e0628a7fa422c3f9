"""One confinement rule (r2d2/lake/confine.py): a table whose real path leaves its root is an error
naming the link, never read, never moved — for links to files, to folders and through parent folders,
in scan (CLI library and API), detect, apply, restore, reconstruct, purge and recover.
"""

from __future__ import annotations

import math
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import lakes
import pyarrow as pa
import pytest
from test_api import serve, wait_run

from r2d2.catalog import EdgeUpsert, open_catalog
from r2d2.config import load_settings
from r2d2.detect import confine_tables
from r2d2.errors import PathEscapeError, ReconstructError
from r2d2.lake import confine
from r2d2.optimize.planning import PlanRequest, create_plan
from r2d2.reconstruct.apply import apply_plan
from r2d2.reconstruct.restore import purge, reconstruct_to, recover, restore
from r2d2.scan import scan

SECRET = {"ssn": ["123-45-6789", "987-65-4321"], "x": [1, 2]}


def no_spark() -> Any:
    raise AssertionError("a Parquet scan needs no Spark")


def swap_for_link(folder: Path, outside: Path) -> Path:
    """Move ``folder`` out of the lake and leave a symbolic link to it in its place."""
    target = outside / folder.name
    outside.mkdir(parents=True, exist_ok=True)
    shutil.move(folder, target)
    folder.symlink_to(target, target_is_directory=True)
    return target


# --- the rule ---------------------------------------------------------------------------------------

def test_escape_names_the_link(tmp_path: Path) -> None:
    lake, outside = tmp_path / "lake", tmp_path / "outside"
    (lake / "ns").mkdir(parents=True)
    (outside / "t").mkdir(parents=True)
    (lake / "link").symlink_to(outside, target_is_directory=True)
    (lake / "inner").symlink_to(lake / "ns", target_is_directory=True)
    assert confine.escape(str(lake / "ns" / "t"), str(lake)) is None
    assert confine.escape(str(lake / "inner" / "t"), str(lake)) is None  # a link that stays inside
    found = confine.escape(str(lake / "link" / "t"), str(lake))
    assert found is not None and (found.link, found.target) == (str(lake / "link"), str(outside))
    assert confine.escape(str(lake / "link" / "not-yet"), str(lake)) is not None  # paths still to be written
    (tmp_path / "alias").symlink_to(lake, target_is_directory=True)  # a root reached through a link is fine
    assert confine.escape(str(tmp_path / "alias" / "ns"), str(tmp_path / "alias")) is None
    with pytest.raises(PathEscapeError, match=r"the symbolic link .*/lake/link points to .*/outside"):
        confine.check(str(lake / "link" / "t"), str(lake))
    assert confine.escape("s3://bucket/lake/t", "s3://bucket/lake") is None
    # One pass over many tables shares its lookups (detect's confine_tables): the same answers.
    shared = confine.Lookups()
    for name in ("ns/t", "inner/t", "link/t", "link/not-yet", "ns", "inner", "link"):
        assert confine.escape(str(lake / name), str(lake), shared) == confine.escape(str(lake / name), str(lake))
    assert confine.escape(str(lake / "link" / "t"), str(lake), shared) is not None


# --- scan and detect ---------------------------------------------------------------------------------

def test_scan_refuses_links_to_folders_files_and_through_parents(tmp_path: Path) -> None:
    lake, outside = tmp_path / "lake", tmp_path / "outside"
    lakes.parquet(lake / "ok", {"x": [1, 2]})
    lakes.parquet(outside / "secret", SECRET)
    (lake / "escape").symlink_to(outside, target_is_directory=True)  # a link to a folder
    lakes.parquet(lake / "mixed", {"x": [3]})  # a link to a file, in an otherwise real table
    (lake / "mixed" / "part-1.parquet").symlink_to(outside / "secret" / "part-0.parquet")
    lakes.parquet(lake / "ns" / "t", {"x": [4]})  # through a parent, once it is swapped for a link
    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite'}")
    first = scan(catalog, [str(lake)], spark_factory=no_spark)
    assert {e["location"] for e in first.errors} == {str(lake / "escape"), str(lake / "mixed")}
    assert all("symbolic link" in e["error"] for e in first.errors)
    assert f"the symbolic link {lake / 'mixed' / 'part-1.parquet'} points to" in \
        next(e["error"] for e in first.errors if e["location"] == str(lake / "mixed"))
    assert catalog.get_table(str(lake / "ns" / "t")).root == str(lake)
    swap_for_link(lake / "ns", outside)
    second = scan(catalog, [str(lake)], spark_factory=no_spark)
    assert str(lake / "ns") in {e["location"] for e in second.errors}
    t = catalog.get_table(str(lake / "ns" / "t"))
    assert t.status == "error" and t.profile is None and f"the symbolic link {lake / 'ns'}" in str(t.error)
    active = {r.location for r in catalog.list_tables(status="active")}
    assert active == {str(lake / "ok")}
    for r in catalog.list_tables():  # nothing from outside the lake is known, let alone its columns
        assert r.profile is None or "ssn" not in [c.name for c in r.profile.columns]


def test_detect_forgets_tables_whose_path_became_a_link(tmp_path: Path) -> None:
    lake, outside = tmp_path / "lake", tmp_path / "outside"
    lakes.parquet(lake / "ns" / "t", {"x": [1]})
    lakes.parquet(lake / "u", {"x": [1]})
    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite'}")
    scan(catalog, [str(lake)], spark_factory=no_spark)
    swap_for_link(lake / "ns", outside)
    assert confine_tables(catalog) == [str(lake / "ns" / "t")]
    t = catalog.get_table(str(lake / "ns" / "t"))
    assert t.status == "error" and t.profile is None
    assert [r.location for r in catalog.list_tables(status="active")] == [str(lake / "u")]


def test_api_scan_of_an_allowed_root_does_not_serve_what_a_link_leads_to(tmp_path: Path) -> None:
    lake, outside = tmp_path / "lake", tmp_path / "outside"
    lakes.parquet(lake / "ok", {"x": [1, 2]})
    lakes.parquet(outside / "people", SECRET)
    (lake / "escape").symlink_to(outside, target_is_directory=True)
    settings = load_settings(home=tmp_path / "home", catalog_url=f"sqlite:///{tmp_path / 'c.sqlite'}",
                             lake_roots=(str(lake),))
    with serve(settings) as api:
        with api.client("operator") as op:
            run = wait_run(op, op.post("/runs/scan", json={"roots": [str(lake)]}).json()["id"])
        assert run["status"] == "succeeded"
        assert [e["location"] for e in run["errors"]] == [str(lake / "escape")]
        assert "symbolic link" in run["errors"][0]["error"]
        with api.client("reader") as reader:
            listed = reader.get("/tables", params={"limit": 1000}).json()["items"]
            assert str(outside) not in str(listed) or all(t["status"] == "error" for t in listed
                                                          if "escape" in t["location"])
            for t in listed:
                detail = reader.get(f"/tables/{t['id']}").text
                assert "ssn" not in detail and "123-45-6789" not in detail


def test_api_scan_of_a_missing_path_starts_no_run(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lakes.parquet(lake / "ok", {"x": [1]})
    settings = load_settings(home=tmp_path / "home", catalog_url=f"sqlite:///{tmp_path / 'c.sqlite'}",
                             lake_roots=(str(lake),))
    with serve(settings) as api, api.client("operator") as c:
        missing = c.post("/runs/scan", json={"roots": [str(lake / "ok"), str(lake / "nope")]})
        assert missing.status_code == 404, missing.text
        assert str(lake / "nope") in missing.json()["detail"]
        assert c.get("/runs").json()["total"] == 0 and c.get("/tables").json()["total"] == 0


def test_delta_file_out_of_the_root_is_refused(tmp_path: Path) -> None:
    """A Delta log may name an absolute path: one outside the lake root makes the table an error."""
    import json as _json

    import pyarrow.parquet as pq

    lake, outside = tmp_path / "lake", tmp_path / "outside"
    lakes.delta(lake / "d", pa.table({"x": [1, 2]}))
    outside.mkdir()
    pq.write_table(pa.table({"x": [3]}), outside / "secret.parquet")
    log = lake / "d" / "_delta_log" / "00000000000000000000.json"
    actions = [_json.loads(line) for line in log.read_text().splitlines()]
    for a in actions:
        if "add" in a:
            a["add"]["path"] = f"file://{outside / 'secret.parquet'}"
            a["add"]["size"] = (outside / "secret.parquet").stat().st_size
    log.write_text("\n".join(_json.dumps(a) for a in actions) + "\n")
    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite'}")
    summary = scan(catalog, [str(lake)], spark_factory=no_spark)
    assert [e["location"] for e in summary.errors] == [str(lake / "d")]
    assert f"{outside / 'secret.parquet'}" in summary.errors[0]["error"]
    assert catalog.get_table(str(lake / "d")).profile is None


# --- apply, restore, reconstruct, purge, recover -----------------------------------------------------

@pytest.fixture
def planned(tmp_path: Path, spark: Any):
    """lake/p/parent and lake/c/child (a copy), scanned, with a prepared plan deleting the child."""
    n = 300
    table = pa.table({"x": pa.array(range(n), pa.int64()), "y": [f"v{i % 11}" for i in range(n)]})
    lake = tmp_path / "lake"
    lakes.parquet(lake / "p" / "parent", table)
    lakes.parquet(lake / "c" / "child", table.take(pa.array(list(range(n - 1, -1, -1)))))
    settings = load_settings(home=tmp_path / "home", catalog_url=f"sqlite:///{tmp_path / 'c.sqlite'}",
                             spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake)], spark_factory=lambda: spark)
    p, c = (catalog.get_table(str(lake / d / name)) for d, name in (("p", "parent"), ("c", "child")))
    catalog.upsert_edges([EdgeUpsert(p.id, c.id, p.fingerprint, c.fingerprint, "verified", "exact", "contains",
                                     True, {"distinct_rows": n, "missing": 0, "rows_over_count": 0})])
    plan_id = create_plan(catalog, PlanRequest(latency_limit_s=math.inf, access_default=0.0, storage_price=1e6,
                                               compute_price=0.0, solver="greedy"))
    assert [i.action for i in apply_plan(catalog, settings, lambda: spark, plan_id, prepare_only=True).items] \
        == ["prepared"]
    return settings, catalog, plan_id, lake, tmp_path / "outside"


@pytest.mark.slow
def test_apply_refuses_a_child_behind_a_link(planned, spark: Any) -> None:
    settings, catalog, plan_id, lake, outside = planned
    moved = swap_for_link(lake / "c", outside)  # the child's parent folder is now a link out of the lake
    report = apply_plan(catalog, settings, lambda: spark, plan_id)
    (item,) = report.items
    assert item.action == "refused" and f"the symbolic link {lake / 'c'} points to {moved}" in item.reason
    assert (moved / "child" / "part-0.parquet").is_file()  # never moved
    assert catalog.list_deletions() == [] and not (settings.home / "quarantine").exists()


@pytest.mark.slow
def test_restore_reconstruct_purge_recover_refuse_links(planned, spark: Any) -> None:
    settings, catalog, plan_id, lake, outside = planned
    (item,) = apply_plan(catalog, settings, lambda: spark, plan_id).items
    assert item.action == "deleted", item.reason
    child = str(lake / "c" / "child")
    # restore: the folder the child goes back into now leads out of the lake
    (lake / "c").rmdir()
    (outside / "c").mkdir(parents=True)
    (lake / "c").symlink_to(outside / "c", target_is_directory=True)
    with pytest.raises(PathEscapeError, match=f"the symbolic link {lake / 'c'}"):
        restore(catalog, settings, lambda: spark, child)
    assert list((outside / "c").iterdir()) == []  # nothing written behind the link
    # recover of an interrupted deletion behind the link: a problem, nothing moved
    (d,) = catalog.list_deletions()
    catalog.set_deletion_state(d.id, "moving")
    report = recover(catalog, settings)
    assert report.actions == [] and "symbolic link" in report.problems[0]
    assert Path(d.quarantine_path).is_dir()
    catalog.set_deletion_state(d.id, "quarantined")
    # reconstruct and purge: the pinned parent now lies behind a link
    swap_for_link(lake / "p", outside)
    with pytest.raises(ReconstructError, match=f"the symbolic link {lake / 'p'}"):
        reconstruct_to(catalog, lambda: spark, child, str(settings.home / "rebuilt"))
    assert not (settings.home / "rebuilt").exists()
    purged = purge(catalog, settings, older_than=timedelta(0))
    assert purged.purged == [] and "symbolic link" in purged.kept[0][1]
    assert Path(d.quarantine_path).is_dir()
    assert os.path.islink(lake / "p")
