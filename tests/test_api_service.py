"""The API's service surface: readiness, problem types (RFC 9457, each documented), exact location
lookup, and the list endpoints' direct JSON rendering (the same document as the pydantic schemas)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_api import assert_problem, make_lake, no_spark, serve

import r2d2.errors as errors_module
from api import render
from api.problems import BY_STATUS, ERROR_TYPES, TYPES, problem_type_of
from api.schemas import Edge, Page, PlanSummary, Table
from r2d2.catalog.plans import PlanRecord
from r2d2.catalog.records import EdgeRecord, TableRecord
from r2d2.config import load_settings
from r2d2.errors import OperationBusyError, R2D2Error
from r2d2.scan import scan

REPO = Path(__file__).resolve().parent.parent


def _error_classes() -> list[type[R2D2Error]]:
    return [c for c in vars(errors_module).values() if isinstance(c, type) and issubclass(c, R2D2Error)]


def test_every_error_maps_to_a_documented_problem_type() -> None:
    docs = (REPO / "docs" / "api.md").read_text()
    for cls in _error_classes():
        kind = problem_type_of(cls.__new__(cls))
        assert kind.slug in TYPES, cls
    for kind in TYPES.values():
        assert f"`{kind.uri}`" in docs, f"{kind.uri} is not documented in docs/api.md"
    assert problem_type_of(OperationBusyError("destructive", {})).slug == "lock-busy"
    assert all(slug in TYPES for _cls, slug in ERROR_TYPES) and all(s in TYPES for s in BY_STATUS.values())


def test_ready_problems_and_location_lookup(tmp_path: Path) -> None:
    lake = make_lake(tmp_path / "lake")
    settings = load_settings(home=tmp_path / "home", catalog_url=f"sqlite:///{tmp_path / 'c.sqlite'}",
                             lake_roots=(str(lake),))
    with serve(settings) as api:
        scan(api.catalog, [str(lake)], spark_factory=no_spark)
        with httpx.Client(base_url=api.base) as anonymous:
            ready = anonymous.get("/ready")
            assert ready.status_code == 200 and ready.json() == {
                "status": "ready", "checks": {"catalog": "ok", "schema": "ok", "run_worker": "ok"}}
            listed = anonymous.get("/problems").json()
            assert {p["type"] for p in listed} == {t.uri for t in TYPES.values()}
            page = anonymous.get("/problems/lock-busy")
            assert page.status_code == 200 and "Retry-After" in page.text
            assert_problem(anonymous.get("/problems/no-such-type"), 404)
            unauthorized = assert_problem(anonymous.get("/tables"), 401)
            assert unauthorized["type"] == "/problems/unauthorized"
        with api.client("reader") as c:
            one = c.get("/tables", params={"location": str(lake / "b")}).json()
            assert one["total"] == 1 and [t["location"] for t in one["items"]] == [str(lake / "b")]
            assert c.get("/tables", params={"location": str(lake / "b") + "/"}).json()["total"] == 1  # normalized
            assert c.get("/tables", params={"location": str(lake)}).json()["total"] == 0  # exact, not a prefix
            missing = assert_problem(c.get("/tables/999999"), 404)
            assert missing["type"] == "/problems/not-found" and missing["title"] == "Not found"
            invalid = assert_problem(c.get("/edges", params={"limit": 0}), 422)
            assert invalid["type"] == "/problems/invalid-request"
        with api.client("operator") as c:
            outside = assert_problem(c.post("/runs/scan", json={"roots": ["/etc"]}), 403)
            assert outside["type"] == "/problems/outside-lake-roots" and outside["field"] == "roots[0]"


NOW = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)


@pytest.mark.parametrize("evidence", [{}, {"missing": 0, "nan": math.nan, "inf": -math.inf, "nested": [1.5, "x"]}])
def test_views_are_read_from_the_records(evidence: dict) -> None:
    edge = EdgeRecord(id=3, parent_id=1, child_id=2, parent_location="/l/a", child_location="/l/b",
                      parent_fingerprint="p", child_fingerprint="c", state="inferred", stage="transitive",
                      relation="contains", multiset=None, evidence=evidence, stale=False, run_id=None,
                      updated_at=NOW)
    view = json.loads(Edge.model_validate(edge).model_dump_json())
    assert (view["parent"], view["child"], view["verified"], view["deletable"]) == ("/l/a", "/l/b", True, True)
    assert (view["fraction"], view["except_columns"]) == (None, [])
    assert view["evidence"] == ({"missing": 0, "nan": "NaN", "inf": "-Infinity", "nested": [1.5, "x"]} if evidence
                                else {})
    # Report-only edges say why (issue 19's evidence, through the record's properties).
    overlap = replace(edge, relation="overlaps", state="verified", evidence={**evidence, "overlap": 0.95})
    assert (Edge.model_validate(overlap).fraction, Edge.model_validate(overlap).deletable) == (0.95, False)
    keyed = replace(edge, evidence={**evidence, "except_columns": ["row_id"]})
    assert (Edge.model_validate(keyed).except_columns, Edge.model_validate(keyed).deletable) == (["row_id"], False)

    table = TableRecord(id=1, location="/l/ä", format="parquet", status="active", fingerprint="f", num_rows=None,
                        num_bytes=10, num_files=1, first_seen=NOW, last_seen=NOW, gone_at=None, profiled_at=NOW,
                        error=None, profile=None, latency_limit_s=math.inf, access_per_day=0.5)
    plan = PlanRecord(id=2, created_at=NOW, solver="milp", status="optimal", objective=1.5, bound=math.nan,
                      gap=0.0, solve_seconds=0.25, savings_bytes=-3, savings_per_month=math.inf, deleted_tables=0,
                      plan={}, fingerprints={}, params={"latency_limit_s": None})
    # Pages encoded by orjson (GET /plans) are the document pydantic writes.
    for record, schema in ((edge, Edge), (table, Table), (plan, PlanSummary)):
        page = Page[schema](items=[schema.model_validate(record)], total=1, limit=1, offset=0)  # type: ignore[valid-type]
        fast = render.page([schema.model_validate(record).model_dump()], total=1, limit=1, offset=0)
        assert json.loads(bytes(fast.body)) == json.loads(page.model_dump_json())
    assert json.loads(PlanSummary.model_validate(plan).model_dump_json())["bound"] == "NaN"


def test_rendered_driver_rows_match_the_schemas(catalog_url: str, tmp_path: Path) -> None:
    """The list endpoints render the driver's rows (SQLite text, psycopg values) without records."""
    from r2d2.catalog import EdgeUpsert, open_catalog

    lake = make_lake(tmp_path / "lake")
    cat = open_catalog(catalog_url)
    scan(cat, [str(lake)], spark_factory=no_spark)
    a, b, c = (cat.get_table(str(lake / n)).id for n in "abc")
    cat.set_latency_limit(str(lake / "b"), math.inf)
    cat.upsert_edges([
        EdgeUpsert(parent_id=a, child_id=b, parent_fingerprint="f", child_fingerprint="f", state="verified",
                   stage="exact", multiset=True, evidence={"missing": 0, "ratio": 0.5, "ä": ["x", 1]}),
        EdgeUpsert(parent_id=b, child_id=c, parent_fingerprint="f", child_fingerprint="f", state="pruned",
                   stage="minmax", evidence={"nan": math.nan, "nested": {"inf": math.inf}}),
        EdgeUpsert(parent_id=a, child_id=c, parent_fingerprint="f", child_fingerprint="f", state="candidate",
                   stage="minhash", multiset=None, evidence={}),
        EdgeUpsert(parent_id=b, child_id=a, parent_fingerprint="f", child_fingerprint="f", state="verified",
                   stage="exact", relation="overlaps", evidence={"overlap": 0.9375, "missing": 1}),
        EdgeUpsert(parent_id=c, child_id=b, parent_fingerprint="f", child_fingerprint="f", state="verified",
                   stage="exact", multiset=False, evidence={"except_columns": ["row_id"], "missing": 0}),
    ])
    fast = render.edge_rows(cat.edge_page_rows(limit=10))
    slow = [json.loads(Edge.model_validate(r).model_dump_json()) for r in cat.edge_page(limit=10)]
    assert json.loads(render.page(fast, total=5, limit=10, offset=0).body)["items"] == slow
    assert slow[1]["evidence"] == {"nan": "NaN", "nested": {"inf": "Infinity"}}
    assert [(e["relation"], e["fraction"], e["except_columns"], e["deletable"]) for e in slow] == [
        ("contains", None, [], True), ("contains", None, [], False), ("contains", None, [], False),
        ("overlaps", 0.9375, [], False), ("contains", None, ["row_id"], False)]
    ids = cat.table_ids()
    fast_tables = render.table_rows(cat.table_rows_by_ids(ids))
    slow_tables = [json.loads(Table.model_validate(r).model_dump_json()) for r in cat.tables_by_ids(ids)]
    assert json.loads(render.page(fast_tables, total=3, limit=10, offset=0).body)["items"] == slow_tables


def _eventually(read: Callable[[], int], want: int) -> None:
    deadline = time.monotonic() + 10
    while (got := read()) != want:
        assert time.monotonic() < deadline, f"still {got}, waiting for {want}"
        time.sleep(0.01)


def test_snapshots_reload_in_the_background_while_every_request_gets_the_previous_value() -> None:
    """An expired value within its grace is served at once, to the request that starts its reload too;
    one reload per key at a time, on another thread; a failed reload keeps the previous value for
    another TTL, then the next request retries; a value past its grace is not served."""
    import threading

    from api.crud import Snapshots

    cache: Snapshots[int] = Snapshots(ttl_s=0.0, grace_s=60.0)  # always expired, still served: reloads
    assert cache.get(("k",), lambda: 1) == 1  # never loaded: waited for
    release, entered = threading.Event(), threading.Event()
    reloads: list[int] = []

    def slow() -> int:
        reloads.append(2)
        entered.set()
        assert release.wait(10)
        return 2

    assert cache.get(("k",), slow) == 1  # not waiting for the reload it starts
    assert entered.wait(10)
    assert cache.get(("k",), slow) == 1 and reloads == [2]  # no second reload meanwhile
    cache.ttl_s = 60.0  # from now on, fresh: no further reload
    release.set()
    _eventually(lambda: cache.get(("k",), lambda: 3), 2)
    assert reloads == [2] and cache.get(("other",), lambda: 4) == 4

    def broken() -> int:
        raise RuntimeError("catalog unreachable")

    flaky: Snapshots[int] = Snapshots(ttl_s=0.3, grace_s=60.0)
    assert flaky.get(("k",), lambda: 1) == 1
    time.sleep(0.3)
    failed_at = time.monotonic()  # before the reload can fail
    assert flaky.get(("k",), broken) == 1
    _eventually(lambda: flaky.get(("k",), lambda: 5), 5)  # the failed reload let a later one run
    assert time.monotonic() - failed_at >= 0.3  # ... once the previous value had been kept a TTL again

    old: Snapshots[int] = Snapshots(ttl_s=0.01, grace_s=0.01)
    assert old.get(("k",), lambda: 1) == 1
    time.sleep(0.1)
    assert old.get(("k",), lambda: 2) == 2  # past its grace: never served, the reload is waited for


def _profile(location: str) -> Any:
    from r2d2.types import Column, ColumnStats, Family, FileEntry, TableProfile

    cols = (Column(name="id", physical_type="int64", family=Family.INTEGER),)
    return TableProfile(location=location, format="parquet", fingerprint=f"fp-{location}", columns=cols,
                        stats={"id": ColumnStats(min=0, max=9, min_exact=True, max_exact=True, null_count=0)},
                        num_rows=10, num_bytes=100, files=(FileEntry(path="p.parquet", size=100, mtime_ns=1),))


def test_edge_pages_fill_locations_from_memory_as_the_join_would(catalog_url: str) -> None:
    """Edge pages read the edges alone and add their tables' locations from the server's memory: the
    same rows as the joined query, offset and keyset pages alike, a table new since the memory was filled
    included, and everything read again once its time is up."""
    from api.crud import ApiQueries
    from r2d2.catalog import EdgeUpsert, open_catalog
    from r2d2.catalog.edges import CURRENT_EDGES

    catalog = open_catalog(catalog_url)
    now = datetime.now(UTC)
    for i in range(12):
        catalog.save_profile(_profile(f"/lake/t{i:02d}"), seen_at=now)
    ids = {r.location: r.id for r in catalog.list_tables(with_profile=False)}

    def edges(pairs: list[tuple[str, str]]) -> None:
        catalog.upsert_edges([EdgeUpsert(parent_id=ids[p], child_id=ids[c], parent_fingerprint="f",
                                         child_fingerprint="f", state="verified" if n % 3 else "pruned",
                                         stage="exact" if n % 3 else "minmax", relation="contains",
                                         multiset=True if n % 3 else None, evidence={"n": n})
                              for n, (p, c) in enumerate(pairs, start=1)])

    edges([(f"/lake/t{i:02d}", f"/lake/t{j:02d}") for i in range(12) for j in range(12) if (i * 7 + j) % 5 == 0
           and i != j])
    queries = ApiQueries(catalog)

    def joined(after_id: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        return _document(catalog.edge_page_rows(CURRENT_EDGES, after_id=after_id, limit=7, offset=offset))

    def served(after_id: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        return _document(queries.edge_page(CURRENT_EDGES, after_id=after_id, limit=7, offset=offset)[0])

    total = catalog.count_edges()
    assert total > 14
    for offset in range(0, total, 7):
        assert served(offset=offset) == joined(offset=offset) and served(offset=offset)
    first = served(after_id=0)
    assert first == joined(after_id=0) and served(after_id=first[-1]["id"]) == joined(after_id=first[-1]["id"])
    assert {(e["parent"], e["child"]) for e in first} == {
        (loc_p, loc_c) for e in first for loc_p, loc_c in [(_loc(ids, e["parent_id"]), _loc(ids, e["child_id"]))]}

    catalog.save_profile(_profile("/lake/new"), seen_at=now)  # after the memory was filled
    ids = {r.location: r.id for r in catalog.list_tables(with_profile=False)}
    edges([("/lake/new", "/lake/t00")])
    last = max(r.id for r in catalog.list_edges())
    assert [(e["parent"], e["child"]) for e in served(after_id=last - 1)] == [("/lake/new", "/lake/t00")]

    # Keyset pages under filters (an or_ of both ends, verified, a state) against the edges listed whole.
    from r2d2.catalog.edges import EdgeFilter

    t03 = ids["/lake/t03"]
    for where in (EdgeFilter(table_id=t03), EdgeFilter(verified=True), EdgeFilter(state="pruned"),
                  EdgeFilter(table="/lake/t00")):
        every = [e.id for e in catalog.list_edges(where)]
        for after in (0, *every[:3]):
            page = _document(queries.edge_page(where, after_id=after, limit=2)[0])
            assert [e["id"] for e in page] == [i for i in every if i > after][:2], (where, after)
    tables = [t.id for t in catalog.list_tables(with_profile=False, prefix="/lake/t0", order="id")]
    page_rows = queries.table_page(prefix="/lake/t0", after_id=tables[2], limit=3)[0]
    assert page_rows.column("id") == tables[3:6]

    queries._locations.size = 1  # more kept than allowed: the memory starts over, the pages stay right
    assert served(offset=7) == joined(offset=7)
    page_tables = {t for e in served(offset=7) for t in (e["parent_id"], e["child_id"])}
    assert set(queries._locations._known) == page_tables
    queries._locations.size = 10**6

    queries._locations.ttl_s = 0.0  # time is up at once: every page reads its locations again
    assert served(after_id=0) == joined(after_id=0)
    assert len(queries._locations._known) <= 14  # the page's tables only, read afresh
    catalog.close()


def _document(raw: Any) -> list[dict[str, Any]]:
    """The page's items as the API sends them (the evidence is embedded as stored: compared as JSON)."""
    import orjson

    return list(orjson.loads(orjson.dumps(render.edge_rows(raw), option=orjson.OPT_UTC_Z)))


def _loc(ids: dict[str, int], table_id: int) -> str:
    return next(loc for loc, i in ids.items() if i == table_id)
