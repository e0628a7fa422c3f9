"""REST API against a real uvicorn server on 127.0.0.1, driven by httpx, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import lakes
import pytest
from fastapi import FastAPI

from api.jobs import ApplyOptions, RunJobs
from api.main import STALE_RUN_REASON, create_app
from api.testing import live_server
from r2d2.catalog import Catalog, EdgeUpsert, open_catalog
from r2d2.catalog.locks import exclusive
from r2d2.config import Settings, load_settings
from r2d2.optimize.planning import PlanRequest, create_plan
from r2d2.runs import recorded_run
from r2d2.scan import scan

ROLES = ("reader", "operator", "admin")
PROBLEM = "application/problem+json"


# --- helpers ----------------------------------------------------------------------------------------

def make_lake(root: Path) -> Path:
    """Three Parquet tables: a ⊇ b ⊇ c (same columns, nested row sets)."""
    for name, n in (("a", 100), ("b", 50), ("c", 10)):
        lakes.parquet(root / name, {"x": list(range(n)), "y": [f"v{i}" for i in range(n)]})
    return root


def no_spark() -> Any:
    raise AssertionError("Parquet scans need no Spark session")


@dataclass
class Api:
    base: str
    catalog: Catalog
    settings: Settings
    tokens: dict[str, str]

    def client(self, role: str | None = None, *, token: str | None = None) -> httpx.Client:
        headers = {}
        secret = token or (self.tokens[role] if role else None)
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


@contextmanager
def serve(settings: Settings, **kwargs: Any) -> Iterator[Api]:
    catalog = open_catalog(settings.resolved_catalog_url)
    tokens = {role: catalog.create_token(f"test-{role}", role)[1] for role in ROLES}
    with live_server(create_app(settings, **kwargs)) as base:
        yield Api(base, catalog, settings, tokens)


class Gate:
    """Fake scan/detect/apply jobs that record real runs; detect and apply wait until the gate opens."""

    def __init__(self, linger_s: float = 0.0) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.linger_s = linger_s  # detect's time between recording its end and returning

    def jobs(self) -> RunJobs:
        def scan_job(catalog: Catalog, roots: Sequence[str], _retry_errors: bool) -> None:
            with recorded_run(catalog, "scan", {"roots": list(roots)}) as run:
                run.tables(1, 1)
                run.finish(summary={"found": 0})

        def detect_job(catalog: Catalog) -> None:
            with recorded_run(catalog, "detect") as run:
                run.message("schema: 2 candidate pairs")
                self.entered.set()
                assert self.open.wait(60)
                run.finish(summary={"stages": [
                    {"name": "schema", "candidates_in": 6, "candidates_out": 2, "seconds": 0.0, "bytes_read": 0}]})
            time.sleep(self.linger_s)

        def apply_job(catalog: Catalog, opts: ApplyOptions) -> None:
            with recorded_run(catalog, "apply", {"plan_id": opts.plan_id}) as run:
                self.entered.set()
                assert self.open.wait(60)
                run.finish(summary={"plan_id": opts.plan_id, "items": []})

        return RunJobs(scan=scan_job, detect=detect_job, apply=apply_job)


def wait_run(client: httpx.Client, run_id: int, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = client.get(f"/runs/{run_id}").json()
        if run["status"] != "running":
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still running after {timeout_s} s")


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and isinstance(body["detail"], str)
    return body


def _fresh_url(request: pytest.FixtureRequest, folder: Path, backend: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'catalog.sqlite'}"
    from pgdb import create_database

    base: str = request.getfixturevalue("postgres_url")
    return create_database(base, f"api_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}")


# --- a shared server with a scanned lake and one edge (auth matrix, reads, errors) ------------------

@dataclass
class Shared:
    api: Api
    lake: Path
    ids: dict[str, int]
    victim_token: int


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    folder = tmp_path_factory.mktemp(f"api-{request.param}")
    lake = make_lake(folder / "lake")
    settings = load_settings(home=folder / "home", catalog_url=_fresh_url(request, folder, request.param),
                             lake_roots=(str(lake),))
    catalog = open_catalog(settings.resolved_catalog_url)
    summary = scan(catalog, [str(lake)], spark_factory=no_spark)
    ids = {p.rsplit("/", 1)[1]: catalog.get_table(p).id for p in (str(lake / n) for n in "abc")}
    catalog.upsert_edges([
        EdgeUpsert(parent_id=ids["a"], child_id=ids["b"], parent_fingerprint="f", child_fingerprint="f",
                   state="verified", stage="exact", multiset=True, evidence={"missing": 0}),
        EdgeUpsert(parent_id=ids["b"], child_id=ids["c"], parent_fingerprint="f", child_fingerprint="f",
                   state="pruned", stage="minmax", evidence={"reason": "x: max 9 > 8", "nan": float("nan")}),
    ])
    ids["run"] = summary.run_id
    ids["plan"] = create_plan(catalog, PlanRequest(solver="greedy"))
    victim, _ = catalog.create_token("victim", "reader")
    gate = Gate()
    gate.open.set()  # fake runs finish at once
    with serve(settings, jobs=gate.jobs()) as api:
        yield Shared(api, lake, ids, victim)


# Every endpoint: method, path, least role (None = public), JSON body, success status.
ENDPOINTS: list[tuple[str, str, str | None, Any, int]] = [
    ("GET", "/health", None, None, 200),
    ("GET", "/ready", None, None, 200),
    ("GET", "/metrics", None, None, 200),
    ("GET", "/problems", None, None, 200),
    ("GET", "/problems/lock-busy", None, None, 200),
    ("GET", "/openapi.json", None, None, 200),
    ("GET", "/docs", None, None, 200),
    ("GET", "/tables", "reader", None, 200),
    ("GET", "/tables/{a}", "reader", None, 200),
    ("GET", "/tables/{b}/parents", "reader", None, 200),
    ("GET", "/tables/{a}/children", "reader", None, 200),
    ("GET", "/edges", "reader", None, 200),
    ("GET", "/runs", "reader", None, 200),
    ("GET", "/runs/{run}", "reader", None, 200),
    ("POST", "/runs/scan", "operator", {"roots": ["{lake}"]}, 202),
    ("POST", "/runs/detect", "operator", {}, 202),
    ("GET", "/tokens", "admin", None, 200),
    ("POST", "/tokens", "admin", {"name": "made-by-test", "role": "reader"}, 201),
    ("DELETE", "/tokens/{victim}", "admin", None, 200),
    ("GET", "/plans", "reader", None, 200),
    ("GET", "/plans/{plan}", "reader", None, 200),
    ("POST", "/plans", "operator", {"solver": "greedy"}, 202),
    ("POST", "/plans/{plan}/apply", "operator", {"dry_run": True}, 200),
    ("POST", "/plans/{plan}/apply", "operator", {}, 202),
    ("POST", "/tables/{a}/restore", "operator", {}, 409),        # a is not deleted: past auth, refused
    ("GET", "/tables/{a}/reconstruct", "operator", None, 409),   # a has no recipe: past auth, refused
    ("POST", "/access/import", "operator", {"rows": [{"location": "{lake}/c", "count": 3}]}, 200),
    ("POST", "/maintenance/check", "admin", {"restore_at_risk": False}, 202),
    ("POST", "/maintenance/recover", "admin", None, 200),
    ("POST", "/maintenance/purge", "admin", {}, 200),
]
RANK = {None: -1, "reader": 0, "operator": 1, "admin": 2}


def _fill(shared: Shared, value: Any) -> Any:
    subs = {**{k: str(v) for k, v in shared.ids.items()}, "lake": str(shared.lake),
            "victim": str(shared.victim_token)}
    if isinstance(value, str):
        for k, v in subs.items():
            value = value.replace("{" + k + "}", v)
        return value
    if isinstance(value, dict):
        return {k: _fill(shared, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(shared, v) for v in value]
    return value


@pytest.mark.parametrize("who", ["none", "invalid", *ROLES])
@pytest.mark.parametrize(("method", "path", "least", "body", "ok"), ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS])
def test_auth_matrix(shared: Shared, who: str, method: str, path: str, least: str | None, body: Any,
                     ok: int) -> None:
    if who == "none":
        client = shared.api.client()
    elif who == "invalid":
        client = shared.api.client(token="r2d2_" + "A" * 43)
    else:
        client = shared.api.client(who)
    with client:
        for _ in range(200):  # a background run from the previous case may still hold the locks
            response = client.request(method, _fill(shared, path), json=_fill(shared, body))
            if response.status_code != 409 or (ok == 409 and "holder" not in response.json()):
                break
            time.sleep(0.02)
    if least is None:
        assert response.status_code == ok
    elif who in ("none", "invalid"):
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    elif RANK[who] < RANK[least]:
        body_ = assert_problem(response, 403)
        assert least in body_["detail"]
    else:
        assert response.status_code == ok, response.text


def test_tables_filters_and_pagination(shared: Shared) -> None:
    with shared.api.client("reader") as c:
        page = c.get("/tables", params={"limit": 2}).json()
        assert page["total"] == 3 and len(page["items"]) == 2 and page["limit"] == 2
        rest = c.get("/tables", params={"limit": 2, "offset": 2}).json()
        locations = [t["location"] for t in page["items"] + rest["items"]]
        assert locations == sorted(str(shared.lake / n) for n in "abc")
        assert c.get("/tables", params={"prefix": str(shared.lake / "b")}).json()["total"] == 1
        assert c.get("/tables", params={"status": "gone"}).json()["total"] == 0
        assert c.get("/tables", params={"format": "parquet"}).json()["total"] == 3
        big = c.get("/tables", params={"min_bytes": 10**12}).json()
        assert big == {"items": [], "total": 0, "limit": 100, "offset": 0, "next_after_id": None}
        one = c.get(f"/tables/{shared.ids['a']}").json()
        assert one["num_rows"] == 100 and [col["name"] for col in one["profile"]["columns"]] == ["x", "y"]
        assert "profile" not in page["items"][0]


def test_edges_filters_parents_children(shared: Shared) -> None:
    a, b, c_ = shared.ids["a"], shared.ids["b"], shared.ids["c"]
    with shared.api.client("reader") as c:
        assert c.get("/edges").json()["total"] == 2
        verified = c.get("/edges", params={"verified": True}).json()
        assert [(e["parent_id"], e["child_id"], e["verified"]) for e in verified["items"]] == [(a, b, True)]
        assert c.get("/edges", params={"verified": False}).json()["items"][0]["state"] == "pruned"
        assert c.get("/edges", params={"stage": "minmax"}).json()["total"] == 1
        assert c.get("/edges", params={"relation": "duplicate"}).json()["total"] == 0
        pruned = c.get("/edges", params={"state": "pruned"}).json()["items"][0]
        assert pruned["evidence"]["nan"] == "NaN"  # non-finite floats survive as strict JSON
        paged = c.get("/edges", params={"limit": 1, "offset": 1}).json()
        assert paged["total"] == 2 and len(paged["items"]) == 1
        parents = c.get(f"/tables/{b}/parents").json()["items"]
        expected = [(str(shared.lake / "a"), str(shared.lake / "b"))]
        assert [(e["parent"], e["child"]) for e in parents] == expected
        assert c.get(f"/tables/{c_}/parents").json()["total"] == 0
        assert c.get(f"/tables/{c_}/parents", params={"include_unverified": True}).json()["total"] == 1
        assert c.get(f"/tables/{a}/children").json()["items"][0]["child_id"] == b
        assert_problem(c.get("/tables/999999/parents"), 404)
        # Exact locations, as the CLI's `r2d2 edges --parent/--child/--table` (one EdgeFilter); a trailing
        # slash is normalized away as a scan does.
        by_parent = c.get("/edges", params={"parent": str(shared.lake / "a") + "/"}).json()
        assert [(e["parent_id"], e["child_id"]) for e in by_parent["items"]] == [(a, b)]
        assert [e["parent_id"] for e in c.get("/edges", params={"child": str(shared.lake / "c")}).json()["items"]] \
            == [b]
        assert c.get("/edges", params={"table": str(shared.lake / "b")}).json()["total"] == 2
        assert c.get("/edges", params={"table": str(shared.lake / "c"), "verified": True}).json()["total"] == 0
        assert c.get("/edges", params={"parent": str(shared.lake / "nowhere")}).json()["total"] == 0


def test_keyset_pagination(shared: Shared) -> None:
    with shared.api.client("reader") as c:
        seen, after = [], 0
        while after is not None:
            page = c.get("/edges", params={"limit": 1, "after_id": after}).json()
            assert page["total"] == 2 and len(page["items"]) <= 1
            seen += [e["id"] for e in page["items"]]
            after = page["next_after_id"]
        assert seen == sorted(seen) and len(seen) == 2
        assert seen == [e["id"] for e in c.get("/edges").json()["items"]]
        tables = c.get("/tables", params={"limit": 2, "after_id": 0}).json()
        ids = [t["id"] for t in tables["items"]]
        assert ids == sorted(ids) and tables["next_after_id"] == ids[-1] and tables["total"] == 3
        rest = c.get("/tables", params={"limit": 2, "after_id": tables["next_after_id"]}).json()
        assert len(rest["items"]) == 1 and rest["next_after_id"] is None
        assert sorted([*ids, rest["items"][0]["id"]]) == sorted(shared.ids[n] for n in "abc")
        assert c.get("/tables", params={"limit": 2}).json()["next_after_id"] is None  # location order
        b = shared.ids["b"]
        parents = c.get(f"/tables/{b}/parents", params={"after_id": 0}).json()
        assert [e["parent_id"] for e in parents["items"]] == [shared.ids["a"]]
        assert assert_problem(c.get("/edges", params={"after_id": -1}), 422)["errors"][0]["field"] == "after_id"


def test_plans_read_and_validation(shared: Shared) -> None:
    with shared.api.client("operator") as c:
        plan = c.get(f"/plans/{shared.ids['plan']}").json()
        assert plan["id"] == shared.ids["plan"] and plan["solver"] == "greedy"
        assert isinstance(plan["decisions"], list) and plan["decisions"]
        assert {d["location"] for d in plan["decisions"]} <= {str(shared.lake / n) for n in "abc"}
        listed = c.get("/plans").json()
        assert shared.ids["plan"] in [p["id"] for p in listed["items"]] and "decisions" not in listed["items"][0]
        assert listed["total"] >= 1 and listed["limit"] == 20 and listed["offset"] == 0
        one = c.get("/plans", params={"limit": 1, "offset": listed["total"] - 1}).json()
        assert [p["id"] for p in one["items"]] == [listed["items"][-1]["id"]]
        assert_problem(c.get("/plans/999999"), 404)
        assert_problem(c.post("/plans/999999/apply", json={"dry_run": True}), 404)
        bad = assert_problem(c.post("/plans", json={"solver": "magic"}), 422)
        assert bad["errors"][0]["field"] == "solver"
        bad = assert_problem(c.post("/plans", json={"latency_limit_s": -1}), 422)
        assert bad["errors"][0]["field"] == "latency_limit_s"
        for _ in range(200):  # a background run of another case may still hold the run lock
            made = c.post("/plans", json={"solver": "milp", "latency_limit_s": None, "time_limit_s": 5})
            if made.status_code != 409:
                break
            time.sleep(0.02)
        assert made.status_code == 202, made.text
        run = made.json()
        assert made.headers["location"] == f"/runs/{run['id']}" and run["kind"] == "plan"
        done = wait_run(c, run["id"])
        assert done["status"] == "succeeded", done
        plan_id = done["summary"]["plan_id"]
        assert c.get(f"/plans/{plan_id}").json()["params"]["latency_limit_s"] is None
        dry = c.post(f"/plans/{plan_id}/apply", json={"dry_run": True})
        assert dry.status_code == 200 and dry.json()["dry_run"] is True
        dry_run = c.get("/runs", params={"kind": "apply"}).json()["items"][0]  # recorded like any apply
        assert dry_run["params"]["plan_id"] == plan_id and dry_run["params"]["dry_run"] is True


def test_access_import(shared: Shared) -> None:
    a = str(shared.lake / "a")
    rows = [{"location": a, "count": 30, "window_days": 10}, {"location": a + "/", "count": 6},
            {"location": "/nowhere/t", "count": 1}]
    with shared.api.client("operator") as c:
        done = c.post("/access/import", json={"rows": rows})
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["rows"] == 3 and body["updated"] == [a] and body["unknown"] == ["/nowhere/t"]
        assert body["access_per_day"][a] == pytest.approx(3.2)  # 30/10 + 6/30 (default window)
        assert c.get(f"/tables/{shared.ids['a']}").json()["access_per_day"] == pytest.approx(3.2)
        bad = assert_problem(c.post("/access/import", json={"rows": [{"location": a, "count": -1}]}), 422)
        assert bad["errors"][0]["field"] == "rows[0].count"
        bad = assert_problem(c.post("/access/import", json={"rows": [{"location": "rel/t", "count": 1}]}), 422)
        assert bad["errors"][0]["field"] == "rows[0].location"
        assert_problem(c.post("/access/import", json={"rows": []}), 422)


def test_problem_details(shared: Shared) -> None:
    with shared.api.client("reader") as c:
        assert_problem(c.get("/no/such/path"), 404)
        assert "999999" in assert_problem(c.get("/tables/999999"), 404)["detail"]
        assert_problem(c.get("/runs/999999"), 404)
        assert_problem(c.delete("/tables"), 405)
        body = assert_problem(c.get("/edges", params={"limit": 0}), 422)
        assert body["errors"][0]["field"] == "limit" and "limit" in body["detail"]
        bad = assert_problem(c.get("/tables", params={"status": "nope"}), 422)
        assert bad["errors"][0]["field"] == "status"
        assert_problem(c.get("/tables/abc"), 422)
        assert_problem(c.get("/tables", params={"prefix": "a\x00b"}), 422)
    with shared.api.client("admin") as c:
        bad = assert_problem(c.post("/tokens", json={"name": "x", "role": "root"}), 422)
        assert bad["errors"][0]["field"] == "role"
        bad = assert_problem(c.post("/runs/scan", json={"roots": []}), 422)
        assert bad["errors"][0]["field"] == "roots"
        assert_problem(c.post("/runs/scan", content=b"{not json",
                              headers={"content-type": "application/json"}), 422)
        assert_problem(c.delete("/tokens/999999"), 404)


def test_metrics(shared: Shared) -> None:
    with shared.api.client("reader") as c:
        c.get("/tables")
        c.get(f"/tables/{shared.ids['a']}")
    with shared.api.client() as c:  # no token: scrapers have none
        response = c.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    from prometheus_client.parser import text_string_to_metric_families

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text) for s in family.samples}
    assert samples[("r2d2_http_requests_total", (("method", "GET"), ("route", "/tables"), ("status", "200")))] >= 1
    routes = {dict(labels).get("route") for _name, labels in samples}
    assert "/tables/{table_id}" in routes and str(shared.ids["a"]) not in "".join(map(str, routes))  # templates
    assert samples[("r2d2_http_request_duration_seconds_bucket",
                    (("le", "+Inf"), ("method", "GET"), ("route", "/tables")))] >= 1
    assert samples[("r2d2_tables", (("status", "active"),))] == 3
    assert samples[("r2d2_edges", (("state", "verified"),))] == 1
    assert samples[("r2d2_edges", (("state", "pruned"),))] == 1
    assert samples[("r2d2_runs", (("status", "succeeded"),))] >= 1
    assert ("r2d2_run_in_progress", ()) in samples
    # Job metrics, from the recorded runs (whoever started them) and the newest plan.
    assert {r: samples[("r2d2_verified_edges", (("relation", r),))] for r in ("contains", "duplicate", "overlaps")} \
        == {"contains": 1, "duplicate": 0, "overlaps": 0}
    scanned = shared.api.catalog.last_successes()["scan"]
    assert scanned.finished_at is not None
    ended = samples[("r2d2_last_success_timestamp_seconds", (("operation", "scan"),))]
    assert ended == pytest.approx(scanned.finished_at.timestamp())
    assert samples[("r2d2_last_success_duration_seconds", (("operation", "scan"),))] == pytest.approx(
        (scanned.finished_at - scanned.started_at).total_seconds())
    labelled = {dict(labels)["operation"] for name, labels in samples if name == "r2d2_last_success_timestamp_seconds"}
    assert labelled == set(shared.api.catalog.last_successes())  # an operation that never succeeded has none
    assert samples[("r2d2_reclaimable_bytes", ())] == shared.api.catalog.newest_plan_savings()


def test_token_lifecycle_over_http(shared: Shared) -> None:
    with shared.api.client("admin") as admin:
        created = admin.post("/tokens", json={"name": "ci", "role": "operator"})
        assert created.status_code == 201
        token = created.json()["token"]
        listed = admin.get("/tokens").json()
        assert all("token" not in t and "token_hash" not in t for t in listed)
        with shared.api.client(token=token) as op:
            assert op.get("/tables").status_code == 200
            assert admin.delete(f"/tokens/{created.json()['id']}").json()["revoked_at"] is not None
            assert_problem(op.get("/tables"), 401)
        assert any(t["name"] == "test-admin" and t["last_used_at"] for t in admin.get("/tokens").json())


# --- lake-root safety --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def outside(shared: Shared) -> Path:
    target = shared.lake.parent / "outside"
    lakes.parquet(target, {"x": [1]})
    link = shared.lake / "escape"
    if not link.exists():
        link.symlink_to(target, target_is_directory=True)
    return target


@pytest.mark.parametrize(("root", "status"), [
    ("{lake}/../outside", 403),
    ("{lake}/a/../../outside", 403),
    ("{lake}/..", 403),
    ("{parent}/outside", 403),
    ("{lake}-sibling", 403),          # a prefix of the root name is not inside the root
    ("{lake}/escape", 403),           # a symlink inside the lake pointing outside
    ("{lake}/escape/part-0.parquet", 403),
    ("/", 403),
    ("/etc/passwd", 403),
    ("file:///etc", 403),
    ("file://{lake}/../outside", 403),
    ("s3://bucket/lake", 403),
    ("relative/path", 422),
    ("{lake}/a\x00", 422),
])
def test_scan_roots_outside_lake_are_refused(shared: Shared, outside: Path, root: str, status: int) -> None:
    root = root.replace("{lake}", str(shared.lake)).replace("{parent}", str(shared.lake.parent))
    with shared.api.client("operator") as c:
        before = c.get("/runs").json()["total"]
        assert_problem(c.post("/runs/scan", json={"roots": [str(shared.lake / "a"), root]}), status)
        assert c.get("/runs").json()["total"] == before  # nothing started


def test_scan_without_lake_roots_is_refused(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, catalog_url=f"sqlite:///{tmp_path / 'c.sqlite'}")
    with serve(settings) as api, api.client("operator") as c:
        refused = assert_problem(c.post("/runs/scan", json={"roots": [str(tmp_path)]}), 403)
        assert "lake roots" in refused["detail"]


# --- background runs ---------------------------------------------------------------------------------

def test_scan_run_lifecycle(catalog_url: str, tmp_path: Path) -> None:
    lake = make_lake(tmp_path / "lake")
    settings = load_settings(home=tmp_path / "home", catalog_url=catalog_url, lake_roots=(str(lake),))
    with serve(settings) as api, api.client("operator") as c:
        started = c.post("/runs/scan", json={"roots": [str(lake)]})
        assert started.status_code == 202, started.text
        run = started.json()
        assert started.headers["location"] == f"/runs/{run['id']}"
        assert run["kind"] == "scan" and run["params"]["roots"] == [str(lake)]
        done = wait_run(c, run["id"])
        assert done["status"] == "succeeded", done
        assert done["summary"]["found"] == 3 and done["summary"]["new"] == 3
        assert done["progress"] == {"done": 3, "total": 3, "unit": "tables"}
        assert c.get("/tables").json()["total"] == 3
        assert c.get("/runs", params={"kind": "scan"}).json()["items"][0]["id"] == run["id"]


def test_a_scan_run_can_retry_the_tables_that_failed(catalog_url: str, tmp_path: Path) -> None:
    """``retry_errors`` in the body profiles again a failed table whose files did not change."""
    lake = make_lake(tmp_path / "lake")
    fixed = lakes.flaky(lake / "flaky", {"x": [1, 2]})
    settings = load_settings(home=tmp_path / "home", catalog_url=catalog_url, lake_roots=(str(lake),))
    with serve(settings) as api, api.client("operator") as c:
        first = wait_run(c, c.post("/runs/scan", json={"roots": [str(lake)]}).json()["id"])
        assert (first["summary"]["new"], first["summary"]["failed"]) == (3, 1)
        fixed()
        again = c.post("/runs/scan", json={"roots": [str(lake)], "retry_errors": True}).json()
        assert again["params"] == {"roots": [str(lake)], "retry_errors": True}
        done = wait_run(c, again["id"])
        assert (done["summary"]["changed"], done["summary"]["unchanged"], done["summary"]["failed"]) == (1, 3, 0)
        assert c.get("/tables", params={"status": "error"}).json()["total"] == 0


@pytest.mark.slow
def test_detect_run_lifecycle(catalog_url: str, tmp_path: Path, spark: Any) -> None:
    lake = make_lake(tmp_path / "lake")
    settings = load_settings(home=tmp_path / "home", catalog_url=catalog_url, lake_roots=(str(lake),),
                             spark_master="local[2]")
    with serve(settings) as api, api.client("operator") as c:
        scanned = c.post("/runs/scan", json={"roots": [str(lake)]}).json()
        assert wait_run(c, scanned["id"])["status"] == "succeeded"
        run = c.post("/runs/detect")
        assert run.status_code == 202, run.text
        done = wait_run(c, run.json()["id"], timeout_s=300)
        assert done["status"] == "succeeded", done
        assert [s["name"] for s in done["stages"]][:2] == ["schema", "minmax"]
        assert done["progress"]["messages"]
        edges = c.get("/edges", params={"verified": True}).json()["items"]
        pairs = {(e["parent"].rsplit("/", 1)[1], e["child"].rsplit("/", 1)[1]) for e in edges}
        assert {("a", "b"), ("b", "c"), ("a", "c")} <= pairs


def test_reads_stay_fast_during_a_run_and_second_run_gets_409(catalog_url: str, tmp_path: Path) -> None:
    lake = make_lake(tmp_path / "lake")
    settings = load_settings(home=tmp_path / "home", catalog_url=catalog_url, lake_roots=(str(lake),))
    scan(open_catalog(catalog_url), [str(lake)], spark_factory=no_spark)
    gate = Gate(linger_s=0.5)
    with serve(settings, jobs=gate.jobs()) as api, api.client("operator") as c:
        run_id = c.post("/runs/detect").json()["id"]
        assert gate.entered.wait(10)
        running = c.get(f"/runs/{run_id}").json()
        assert running["status"] == "running" and running["progress"]["stage"] == "schema"

        def read(path: str) -> int:
            # The run is parked at its gate: a read that waited for it would time out here. (Latency
            # figures belong to bench/api_bench.py, not to a test on a shared machine.)
            with api.client("reader") as r:
                return r.get(path, timeout=60).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(read, ["/tables", "/edges", f"/runs/{run_id}", "/metrics"] * 10))
        assert codes == [200] * 40
        assert c.get(f"/runs/{run_id}").json()["status"] == "running"  # served while the run still holds
        for path, body in (("/runs/detect", None), ("/runs/scan", {"roots": [str(lake)]})):
            conflict = assert_problem(c.post(path, json=body), 409)
            assert f"detect run {run_id}" in conflict["detail"]
            assert conflict["holder"]["operation"] == f"detect run {run_id}"
            assert conflict["holder"]["pid"] == os.getpid() and conflict["holder"]["started_at"]
        assert "r2d2_run_in_progress 1.0" in c.get("/metrics").text
        gate.open.set()
        done = wait_run(c, run_id)
        assert done["status"] == "succeeded" and done["stages"][0]["candidates_out"] == 2
        # The run's end is recorded but its worker is still returning: the next run waits, no 409.
        assert c.post("/runs/scan", json={"roots": [str(lake)]}).status_code == 202


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_runs_are_failed_at_startup(catalog_url: str, tmp_path: Path) -> None:
    from sqlalchemy import update

    from r2d2.catalog.models import RunRow

    catalog = open_catalog(catalog_url)
    stale = catalog.start_run("detect")  # left running by a server that died
    alive = catalog.start_run("scan")  # running in a live process of this host (a CLI scan)
    finished = catalog.start_run("scan")
    catalog.finish_run(finished, status="succeeded")
    with catalog._write() as conn:
        conn.execute(update(RunRow).where(RunRow.id == stale).values(pid=_dead_pid()))
    settings = load_settings(home=tmp_path, catalog_url=catalog_url)
    with serve(settings) as api, api.client("reader") as c:
        run = c.get(f"/runs/{stale}").json()
        assert run["status"] == "failed" and run["finished_at"] is not None
        assert run["errors"][-1]["error"] == STALE_RUN_REASON
        assert c.get(f"/runs/{finished}").json()["status"] == "succeeded"
        assert [r["id"] for r in c.get("/runs", params={"status": "running"}).json()["items"]] == [alive]


# --- serialization of destructive operations; internal errors --------------------------------------

def _test_routes(release: threading.Event, entered: threading.Event,
                 catalog: Catalog | None = None) -> Callable[[FastAPI], None]:
    def configure(app: FastAPI) -> None:
        @app.post("/_test/destructive")
        def fake_destructive() -> dict[str, str]:
            assert catalog is not None
            with exclusive(catalog, "destructive", "fake apply"):  # as the library's destructive calls do
                entered.set()
                assert release.wait(30)
                return {"done": datetime.now(UTC).isoformat()}

        @app.get("/_test/boom")
        def boom() -> None:
            raise RuntimeError("secret detail /srv/r2d2/api/secret.py line 42")

    return configure


def test_destructive_operations_are_serialized(catalog_url: str, tmp_path: Path) -> None:
    """Two requests holding the catalog's destructive lock: the second gets 409 naming the first; the
    lock is released before the first's answer is sent (the next call at once succeeds)."""
    release, entered = threading.Event(), threading.Event()
    settings = load_settings(home=tmp_path, catalog_url=catalog_url)
    catalog = open_catalog(catalog_url)
    with serve(settings, configure=_test_routes(release, entered, catalog)) as api, api.client() as c:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(c.post, "/_test/destructive")
            assert entered.wait(10)
            second = c.post("/_test/destructive")
            body = assert_problem(second, 409)
            assert body["lock"] == "destructive" and second.headers["retry-after"]
            assert body["holder"]["operation"] == "fake apply" and body["holder"]["pid"] == os.getpid()
            assert "fake apply" in body["detail"] and f"pid {os.getpid()}" in body["detail"]
            release.set()
            assert first.result().status_code == 200
        assert c.post("/_test/destructive").status_code == 200  # released before the answer was sent
    assert catalog.lock_holder("destructive") is None


def test_internal_error_is_a_generic_problem(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, catalog_url=f"sqlite:///{tmp_path / 'c.sqlite'}")
    configure = _test_routes(threading.Event(), threading.Event())
    with serve(settings, configure=configure) as api, api.client() as c:
        response = c.get("/_test/boom")
    body = assert_problem(response, 500)
    for leak in ("Traceback", "secret", "RuntimeError", ".py", "line 42"):
        assert leak not in response.text
    assert body["detail"] == "internal error; see the server log"


def test_openapi_and_docs_are_public(shared: Shared) -> None:
    with shared.api.client() as c:
        spec = c.get("/openapi.json").json()
        assert "text/html" in c.get("/docs").headers["content-type"]
    assert {"/tables", "/tables/{table_id}", "/tables/{table_id}/parents", "/tables/{table_id}/children",
            "/edges", "/runs", "/runs/{run_id}", "/runs/scan", "/runs/detect", "/health", "/metrics",
            "/tokens", "/tokens/{token_id}", "/plans", "/plans/{plan_id}", "/plans/{plan_id}/apply",
            "/tables/{table_id}/restore", "/tables/{table_id}/reconstruct", "/access/import",
            "/maintenance/check", "/maintenance/recover", "/maintenance/purge"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "401" not in spec["paths"]["/health"]["get"]["responses"]
    assert "application/problem+json" in spec["paths"]["/tables"]["get"]["responses"]["422"]["content"]


def test_startup_loads_the_hashing_kernels_in_the_background(tmp_path: Path) -> None:
    """Request threads hash with numba's kernels, whose import and cached code take most of a second: the
    server loads them after start-up, with no request, so that the first lookup or detect does not."""
    import json
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import json, sys, time
        from pathlib import Path
        from api.main import create_app
        from api.testing import live_server
        from r2d2.config import load_settings

        def no_spark():
            raise AssertionError("start-up needs no Spark")

        with live_server(create_app(load_settings(home=Path(sys.argv[1])), spark=no_spark)):
            from r2d2.containment import kernels  # (compiles nothing by itself)
            deadline = time.monotonic() + 30
            while not (kernels.fold_bytes.signatures and kernels.grouped_minhash.signatures):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            print(json.dumps({"loaded": bool(kernels.fold_bytes.signatures and kernels.grouped_minhash.signatures),
                              "numba": "numba" in sys.modules}))
    """)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["loaded"] and got["numba"]
