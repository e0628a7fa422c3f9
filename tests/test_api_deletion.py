"""REST API for the deletion half: plans, apply (dry run and real), reconstruct streaming, restore,
serialization of destructive operations, and lake-root safety of table-addressed endpoints.

The end-to-end test runs the real library (Spark: the test session's one) behind a real uvicorn server
on a tiny lake written with pyarrow: a parent and a copy of it (rows in another order).
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any

import lakes
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_api import Gate, assert_problem, no_spark, serve, wait_run

from r2d2.catalog import EdgeUpsert, open_catalog
from r2d2.config import load_settings
from r2d2.optimize.planning import PlanRequest, create_plan
from r2d2.scan import scan

N = 2000
# Deleting pays: storage is dear, rebuilds are free and never accessed, no latency limit.
DELETING_PLAN = {"solver": "milp", "latency_limit_s": None, "access_default": 0, "storage_price": 1e6,
                 "compute_price": 0, "time_limit_s": 10}


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([("x", "ascending")])


@pytest.mark.slow
def test_plan_apply_reconstruct_restore(tmp_path: Path, spark: Any) -> None:
    lake = tmp_path / "lake"
    parent = pa.table({"x": pa.array(range(N), pa.int64()), "y": [f"value-{i * 7919 % 10007}" for i in range(N)]})
    child = parent.take(pa.array(list(range(N - 1, -1, -1))))  # a copy, rows in another order
    lakes.parquet(lake / "parent", parent)
    lakes.parquet(lake / "child", child)
    child_bytes = (lake / "child" / "part-0.parquet").read_bytes()
    settings = load_settings(home=tmp_path / "home", catalog_url=f"sqlite:///{tmp_path / 'c.sqlite'}",
                             lake_roots=(str(lake),), spark_master="local[2]")
    with serve(settings, spark=lambda: spark) as api, api.client("operator") as c:
        scanned = c.post("/runs/scan", json={"roots": [str(lake)]}).json()
        assert wait_run(c, scanned["id"])["status"] == "succeeded"
        p, ch = (api.catalog.get_table(str(lake / n)) for n in ("parent", "child"))
        # detect is covered by test_api.py / test_detect.py: record its verdict directly
        api.catalog.upsert_edges([EdgeUpsert(p.id, ch.id, p.fingerprint, ch.fingerprint, "verified", "exact",
                                             "contains", True,
                                             {"distinct_rows": N, "missing": 0, "rows_over_count": 0})])

        made = c.post("/plans", json=DELETING_PLAN)  # a background run of kind plan
        assert made.status_code == 202, made.text
        planned = wait_run(c, made.json()["id"])
        assert planned["status"] == "succeeded", planned
        plan = c.get(f"/plans/{planned['summary']['plan_id']}").json()
        deletes = [d for d in plan["decisions"] if d["action"] == "delete"]
        assert [(d["location"], d["parent_location"]) for d in deletes] == [(ch.location, p.location)]

        dry = c.post(f"/plans/{plan['id']}/apply", json={"dry_run": True})
        assert dry.status_code == 200, dry.text
        assert [(i["location"], i["action"]) for i in dry.json()["items"]] == [(ch.location, "would-delete")]
        assert (lake / "child").is_dir()
        dry_runs = c.get("/runs", params={"kind": "apply"}).json()["items"]  # recorded, as from the CLI
        assert [(r["params"]["dry_run"], r["status"]) for r in dry_runs] == [(True, "succeeded")]

        started = c.post(f"/plans/{plan['id']}/apply", json={})
        assert started.status_code == 202, started.text
        assert started.json()["kind"] == "apply" and started.headers["location"].startswith("/runs/")
        run = wait_run(c, started.json()["id"], timeout_s=300)
        assert run["status"] == "succeeded", run
        assert run["summary"]["counts"] == {"deleted": 1} and run["errors"] == []
        assert not (lake / "child").exists()
        quarantined = list((settings.home / "quarantine").glob("*/child/part-0.parquet"))
        assert len(quarantined) == 1 and quarantined[0].read_bytes() == child_bytes
        gone = c.get("/tables", params={"status": "gone"}).json()
        assert [t["location"] for t in gone["items"]] == [ch.location]
        assert c.get(f"/tables/{ch.id}").json()["status"] == "gone"

        before = sorted(os.listdir(lake))
        as_parquet = c.get(f"/tables/{ch.id}/reconstruct", params={"format": "parquet"})
        assert as_parquet.status_code == 200, as_parquet.text
        assert as_parquet.headers["content-type"] == "application/vnd.apache.parquet"
        assert as_parquet.headers["x-r2d2-rows"] == str(N)
        assert "table-" in as_parquet.headers["content-disposition"]
        rebuilt = pq.read_table(io.BytesIO(as_parquet.content))
        assert rebuilt.schema.names == ["x", "y"] and _sorted(rebuilt).equals(_sorted(child))
        as_arrow = c.get(f"/tables/{ch.id}/reconstruct", params={"format": "arrow"})
        assert as_arrow.status_code == 200
        assert as_arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
        streamed = pa.ipc.open_stream(as_arrow.content).read_all()
        assert _sorted(streamed).equals(_sorted(child))
        assert sorted(os.listdir(lake)) == before  # nothing written in the lake
        scratch = settings.home / "api-reconstruct"
        assert not scratch.exists() or list(scratch.iterdir()) == []
        assert_problem(c.get(f"/tables/{p.id}/reconstruct"), 409)  # never deleted: no recipe
        assert_problem(c.get(f"/tables/{ch.id}/reconstruct", params={"format": "csv"}), 422)

        restored = c.post(f"/tables/{ch.id}/restore", json={"move_mode": "auto"})
        assert restored.status_code == 202, restored.text
        done = wait_run(c, restored.json()["id"], timeout_s=300)
        assert done["status"] == "succeeded" and done["summary"]["how"] == "quarantine", done
        assert (lake / "child" / "part-0.parquet").read_bytes() == child_bytes
        assert pq.read_table(lake / "child").equals(child)
        assert c.get(f"/tables/{ch.id}").json()["status"] == "active"
        assert "not deleted" in assert_problem(c.post(f"/tables/{ch.id}/restore"), 409)["detail"]
        kinds = [r["kind"] for r in c.get("/runs").json()["items"]]  # newest first
        assert [k for k in kinds if k in ("restore", "reconstruct", "apply", "plan")][:6] == \
            ["restore", "reconstruct", "reconstruct", "apply", "apply", "plan"]


def test_destructive_calls_conflict_while_an_apply_runs(tmp_path: Path) -> None:
    """A background apply holds the destructive lock: every other destructive call gets 409."""
    lake = lakes.parquet(tmp_path / "lake" / "t", {"x": [1, 2, 3]}).parent
    settings = load_settings(home=tmp_path / "home", catalog_url=f"sqlite:///{tmp_path / 'c.sqlite'}",
                             lake_roots=(str(lake),))
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake)], spark_factory=no_spark)
    plan_id = create_plan(catalog, PlanRequest(solver="greedy"))
    table_id = catalog.get_table(str(lake / "t")).id
    gate = Gate()
    with serve(settings, jobs=gate.jobs()) as api, api.client("admin") as c:
        first = c.post(f"/plans/{plan_id}/apply", json={})
        assert first.status_code == 202, first.text
        run_id = first.json()["id"]
        assert gate.entered.wait(10)
        holder = f"apply run {run_id}"
        for method, path, body in (("POST", f"/plans/{plan_id}/apply", {}),
                                   ("POST", "/maintenance/purge", {}),
                                   ("POST", "/maintenance/recover", None),
                                   ("POST", "/maintenance/check", {})):
            conflict = assert_problem(c.request(method, path, json=body), 409)
            assert conflict["holder"]["operation"] == holder, (path, conflict)
        scan_conflict = assert_problem(c.post("/runs/scan", json={"roots": [str(lake)]}), 409)
        assert scan_conflict["holder"]["operation"] == holder
        assert c.get("/tables").status_code == 200  # reads go on
        assert c.post(f"/plans/{plan_id}/apply", json={"dry_run": True}).status_code == 200  # no lock
        assert_problem(c.post(f"/tables/{table_id}/restore"), 409)
        gate.open.set()
        assert wait_run(c, run_id)["status"] == "succeeded"
        for _ in range(100):  # the worker releases the locks just after closing the run
            purged = c.post("/maintenance/purge", json={})
            if purged.status_code != 409:
                break
            threading.Event().wait(0.02)
        assert purged.status_code == 200 and purged.json() == {"purged": [], "kept": []}
        assert c.post("/maintenance/recover").json() == {"actions": [], "problems": []}


def test_table_endpoints_refuse_tables_outside_lake_roots(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lakes.parquet(lake / "in", {"x": [1, 2]})
    outside = lakes.parquet(tmp_path / "elsewhere" / "out", {"x": [1]})
    settings = load_settings(home=tmp_path / "home", catalog_url=f"sqlite:///{tmp_path / 'c.sqlite'}",
                             lake_roots=(str(lake),))
    catalog = open_catalog(settings.resolved_catalog_url)
    scan(catalog, [str(lake), str(outside)], spark_factory=no_spark)  # by the CLI, say, before the roots
    out_id = catalog.get_table(str(outside)).id
    plan_id = catalog.add_plan(
        summary={"solver": "greedy", "status": "ok", "objective": 0.0, "bound": 0.0, "gap": 0.0,
                 "solve_seconds": 0.0, "savings_bytes": 1, "savings_per_month": 0.0, "deleted_tables": 1},
        plan={"decisions": [{"action": "delete", "table_id": out_id, "location": str(outside)}]},
        fingerprints={}, params={})
    with serve(settings) as api, api.client("admin") as c:
        for method, path, body in (("POST", f"/tables/{out_id}/restore", {}),
                                   ("GET", f"/tables/{out_id}/reconstruct", None),
                                   ("POST", f"/plans/{plan_id}/apply", {}),
                                   ("POST", f"/plans/{plan_id}/apply", {"dry_run": True})):
            refused = assert_problem(c.request(method, path, json=body), 403)
            assert "lake root" in refused["detail"], refused
        assert c.get("/runs", params={"kind": "apply"}).json()["total"] == 0
        assert outside.is_dir()
