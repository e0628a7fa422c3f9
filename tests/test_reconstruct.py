"""Recipes, apply, purge, restore, reconstruct and drift on a small lake of every layout.

The lake is written with pyarrow (parquet, hive-partitioned parquet, CSV, Delta); edges come from the
planted truth (detect is covered by test_detect.py; apply re-verifies every edge by rebuilding).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import lakes
import numpy as np
import pyarrow as pa
import pyarrow.compute
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from r2d2.catalog import EdgeUpsert, open_catalog
from r2d2.config import load_settings
from r2d2.lake.read import read_table
from r2d2.optimize import CostDefaults, Decision, Plan, Prices, check_plan, solve_greedy, solve_milp
from r2d2.optimize.stored import build_problem, store_plan
from r2d2.reconstruct import checksum as cks
from r2d2.reconstruct.apply import apply_plan
from r2d2.reconstruct.drift import check
from r2d2.reconstruct.restore import purge, reconstruct_to, restore
from r2d2.scan import scan

N = 3000
# child name -> (format, how), parent is always "parent"
CHILDREN = {
    "copy": "parquet",       # shuffled duplicate: selection "all"
    "filter": "parquet",     # grp in [2, 5], projected: predicate
    "sample": "parquet",     # random rows, some repeated, id as int32: hashes with counts
    "hive": "hive",          # grp < 3, partitioned by grp: predicate
    "csv": "csv",            # random subset of (id, name, amount): hashes
    "delta": "delta",        # grp >= 7: predicate
    "groups": "parquet",     # distinct (name): "all" with distinct
}


def parent_table(seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = rng.permutation(N).astype(np.int64) + 1000
    return pa.table({
        "id": ids,
        "grp": (ids % 10).astype(np.int64),
        "name": pa.array([f"name-{i % 777}" if i % 50 else None for i in ids]),
        "amount": np.round(rng.uniform(-10, 10, N), 2),
        "day": pa.array((19000 + ids % 90).astype(np.int32)).cast(pa.date32()),
        "ts": pa.array((ids * 1_000_003).astype(np.int64), pa.timestamp("us")),
    })


def write_lake(root: Path) -> dict[str, str]:
    p = parent_table()
    rng = np.random.default_rng(1)
    grp = p.column("grp").to_numpy()
    locs: dict[str, str] = {}
    par = root / "parent"
    lakes.parquet(par, p.slice(0, N // 2), name="part-0.parquet")
    lakes.parquet(par, p.slice(N // 2), name="part-1.parquet")
    locs["parent"] = str(par)
    locs["copy"] = str(lakes.parquet(root / "copy", p.take(rng.permutation(N))))
    f = p.filter(pa.array((grp >= 2) & (grp <= 5))).select(["id", "grp", "name"])
    locs["filter"] = str(lakes.parquet(root / "filter", f))
    idx = rng.choice(N, 400, replace=False)
    idx = np.concatenate([idx, idx[:50], idx[:10]])
    s = p.take(pa.array(idx)).select(["id", "name", "amount", "day"])
    s = s.set_column(0, pa.field("id", pa.int32()), s.column("id").cast(pa.int32()))
    locs["sample"] = str(lakes.parquet(root / "sample", s))
    locs["hive"] = str(lakes.partitioned(root / "hive", p.filter(pa.array(grp < 3)), ["grp"]))
    c = p.take(pa.array(rng.choice(N, 500, replace=False))).select(["id", "name", "amount"])
    (root / "csv").mkdir()
    pacsv.write_csv(c, root / "csv" / "part-0.csv")
    locs["csv"] = str(root / "csv")
    locs["delta"] = str(lakes.delta(root / "delta", p.filter(pa.array(grp >= 7))))
    names = pa.compute.unique(p.column("name")).take(pa.array(rng.permutation(778)))
    locs["groups"] = str(lakes.parquet(root / "groups", pa.table({"name": names})))
    return locs


def setup_lake(root: Path, spark: Any, catalog_url: str | None = None):
    locs = write_lake(root / "lake")
    settings = load_settings(home=root / "home", catalog_url=catalog_url, spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    summary = scan(catalog, [str(root / "lake")], spark_factory=lambda: spark)
    assert summary.failed == 0, summary.errors
    recs = {name: catalog.get_table(loc) for name, loc in locs.items()}
    edges = [EdgeUpsert(recs["parent"].id, recs[n].id, recs["parent"].fingerprint, recs[n].fingerprint,
                        "verified", "exact", "duplicate" if n == "copy" else "contains", n != "sample",
                        {"distinct_rows": 10})
             for n in CHILDREN]
    edges.append(EdgeUpsert(recs["copy"].id, recs["parent"].id, recs["copy"].fingerprint,
                            recs["parent"].fingerprint, "verified", "exact", "duplicate", True, {}))
    catalog.upsert_edges(edges)
    return settings, catalog, locs


def content(spark: Any, catalog: Any, location: str) -> tuple[list[tuple[str, str]], str]:
    """(column names and physical types, content checksum) of the catalog's current profile."""
    prof = catalog.get_table(location).profile
    return ([(c.name, c.physical_type) for c in prof.columns],
            cks.table_checksum(read_table(spark, prof), prof.columns).text)


def deleting_plan(catalog: Any, solver: str = "milp") -> int:
    built = build_problem(catalog, prices=Prices(storage_per_gb_month=1e6, compute_per_hour=0.0),
                          defaults=CostDefaults(accesses_per_month=0.0, latency_limit_s=float("inf")))
    plan = solve_milp(built.problem) if solver == "milp" else solve_greedy(built.problem)
    assert check_plan(built.problem, plan) == []
    return store_plan(catalog, built, plan, {"solver": solver})


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("recon")
    settings, catalog, locs = setup_lake(root, spark)
    before = {n: content(spark, catalog, loc) for n, loc in locs.items()}
    return root, settings, catalog, locs, before


def test_plan_is_stored_and_read_back(lake) -> None:
    _, _, catalog, locs, _ = lake
    assert set(locs) == {"parent", *CHILDREN}
    for solver in ("milp", "greedy"):
        pid = deleting_plan(catalog, solver)
        rec = catalog.get_plan(pid)
        assert rec.solver == solver and rec.deleted_tables == len(CHILDREN)
        deleted = {d["location"] for d in rec.plan["decisions"] if d["action"] == "delete"}
        # the duplicate pair keeps exactly one copy; every other child is deleted from a kept parent
        assert len({locs["parent"], locs["copy"]} & deleted) == 1
        assert str(catalog.get_table(locs["parent"]).id) in rec.fingerprints
        assert rec.params["model"].startswith("default")


def test_dry_run_changes_nothing(lake, spark) -> None:
    root, settings, catalog, _, _ = lake
    pid = deleting_plan(catalog)
    listing = sorted(str(p) for p in (root / "lake").rglob("*"))
    report = apply_plan(catalog, settings, lambda: spark, pid, dry_run=True)
    assert {i.action for i in report.items} == {"would-delete"}
    assert sorted(str(p) for p in (root / "lake").rglob("*")) == listing
    assert catalog.list_deletions() == [] and catalog.list_recipes() == []


def test_round_trip_every_layout(lake, spark) -> None:
    """plan → apply → purge → restore (rebuild) gives back every table's content, names and types."""
    root, settings, catalog, locs, before = lake
    pid = deleting_plan(catalog)
    report = apply_plan(catalog, settings, lambda: spark, pid)
    assert report.failed == [], [(i.location, i.reason) for i in report.failed]
    deleted = {i.location for i in report.items if i.action == "deleted"}
    assert len(deleted) == len(CHILDREN)
    selections = {Path(i.location).name: i.selection for i in report.items}
    assert selections["filter"] == "predicate" and selections["sample"] == "hashes"
    assert selections["groups"] == "all" and selections["delta"] == "predicate"
    for loc in deleted:
        assert not os.path.exists(loc)
        assert catalog.get_table(loc).status == "gone"
    # a second apply of the same plan does nothing
    again = apply_plan(catalog, settings, lambda: spark, pid)
    assert {i.action for i in again.items} == {"skipped"}
    # a (stale or hand-made) plan that deletes the kept parent is refused: children depend on it
    kept = next(loc for loc in (locs["parent"], locs["copy"]) if loc not in deleted)
    other = locs["copy"] if kept == locs["parent"] else locs["parent"]
    k, o = catalog.get_table(kept), catalog.get_table(other)
    bad = Plan("greedy", "heuristic", 0.0, 0.0, 0.0, 0.0, (Decision(k.id, kept, "delete", o.id, other, 1.0, 10.0,
                                                                    k.num_bytes, 0.0, 0.0),), 0, 0.0, 0.0)
    bad_id = catalog.add_plan(summary={"solver": "greedy", "status": "heuristic", "objective": 0.0, "bound": 0.0,
                                       "gap": 0.0, "solve_seconds": 0.0, "savings_bytes": 0,
                                       "savings_per_month": 0.0, "deleted_tables": 1},
                              plan=json.loads(bad.to_json()), fingerprints={}, params={})
    refused = apply_plan(catalog, settings, lambda: spark, bad_id)
    assert [i.action for i in refused.items] == ["refused"] and "pinned parent" in refused.items[0].reason
    assert os.path.exists(kept)
    # reconstruct one to another path without touching anything
    out = reconstruct_to(catalog, lambda: spark, locs["sample"], str(root / "elsewhere" / "sample"))
    assert out["rows"] == 460
    result = purge(catalog, settings, older_than=timedelta(0))
    assert sorted(result.purged) == sorted(deleted) and result.kept == []
    assert not any((settings.home / "quarantine").glob("[0-9]*/*"))
    for loc in sorted(deleted):
        assert restore(catalog, settings, lambda: spark, loc) == "rebuild"
    for name, loc in locs.items():
        assert catalog.get_table(loc).status == "active"
        assert content(spark, catalog, loc) == before[name], name


def test_apply_refuses_on_drift(spark, tmp_path) -> None:
    settings, catalog, locs = setup_lake(tmp_path, spark)
    pid = deleting_plan(catalog)
    lakes.parquet(Path(locs["filter"]), {"id": [1], "grp": [2], "name": ["x"]}, name="part-9.parquet")
    shutil.rmtree(Path(locs["groups"]))
    lakes.parquet(Path(locs["groups"]), pa.table({"name": ["x"]}))
    report = apply_plan(catalog, settings, lambda: spark, pid, prepare_only=True)
    by = {Path(i.location).name: i for i in report.items}
    assert by["filter"].action == "refused" and "drift" in by["filter"].reason
    assert by["groups"].action == "refused"
    assert os.path.exists(locs["filter"]) and catalog.list_deletions() == []


def test_check_restores_children_of_a_drifted_parent(spark, tmp_path) -> None:
    settings, catalog, locs = setup_lake(tmp_path, spark)
    before = {n: content(spark, catalog, loc) for n, loc in locs.items()}
    pid = deleting_plan(catalog)
    report = apply_plan(catalog, settings, lambda: spark, pid)
    assert report.failed == []
    deleted = {i.location for i in report.items if i.action == "deleted"}
    parent = next(loc for loc in (locs["parent"], locs["copy"]) if loc not in deleted)
    # purge some, keep the others in quarantine; then the parent changes (a file is added)
    purge(catalog, settings, older_than=timedelta(0))
    some = sorted(deleted)[:3]
    for loc in sorted(deleted)[3:]:
        restore(catalog, settings, lambda: spark, loc)
    apply_plan(catalog, settings, lambda: spark, pid)  # nothing to do: drift or restored
    lakes.parquet(Path(parent), pq.read_table(Path(parent) / os.listdir(parent)[0]).slice(0, 5),
                  name="part-extra.parquet")
    drift = check(catalog, settings, lambda: spark)
    assert {i.location for i in drift.items} == set(some)
    assert {i.outcome for i in drift.items} == {"rebuilt-from-pinned-parent"}
    assert drift.at_risk == []
    for name, loc in locs.items():
        if loc in deleted:
            assert content(spark, catalog, loc) == before[name], name
