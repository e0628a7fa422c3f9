"""``POST /lookups`` and ``POST /lookups/upload`` against a live uvicorn server on a small real lake
(tests/lakes.py ``beyond``), compared with what detect reports; refusals are RFC 9457 problems.

Small tables are answered at once without Spark; the background path (a table above
``local_read_bytes``) runs with the session's Spark, once."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import lakes
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from test_api import PROBLEM, assert_problem, no_spark, serve, wait_run

from r2d2.config import load_settings
from r2d2.containment.pipeline import detect
from r2d2.containment.report import DetectResult
from r2d2.scan import scan


def _expected(result: DetectResult, location: str) -> set[tuple[str, str, str, bool | None, float | None, tuple]]:
    """Detect's edges of ``location`` as lookup matches (location, role, relation, multiset, fraction,
    except_columns)."""
    out = set()
    for e in result.edges:
        if location not in (e.parent, e.child):
            continue
        other = e.child if e.parent == location else e.parent
        role = "duplicate" if e.relation == "duplicate" else ("child" if e.parent == location else "parent")
        out.add((other, role, e.relation, e.multiset, e.fraction, tuple(e.except_columns)))
    return out


def _got(answer: dict[str, Any]) -> set[tuple[str, str, str, bool | None, float | None, tuple]]:
    return {(m["location"], m["role"], m["relation"], m["multiset"], m["fraction"], tuple(m["except_columns"]))
            for key in ("duplicates", "parents", "children") for m in answer[key]}


@pytest.fixture
def api(tmp_path: Path):
    lake = tmp_path / "lake"
    tables = lakes.beyond(lake)
    settings = load_settings(home=tmp_path / "home", catalog_url=f"sqlite:///{tmp_path / 'c.sqlite'}",
                             lake_roots=(str(lake),))
    with serve(settings, spark=no_spark) as served:
        scan(served.catalog, [str(lake)], spark_factory=no_spark)
        yield served, tables, detect(served.catalog, settings, no_spark)


def test_lookup_answers_what_detect_reports(api) -> None:
    served, t, detected = api
    with served.client("reader") as c:
        for name in ("base", "child", "near", "renum"):
            answer = c.post("/lookups", json={"location": t[name]})
            assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
            body = answer.json()
            assert _got(body) == _expected(detected, t[name]), name
            assert body["table_id"] == served.catalog.get_table(t[name]).id and not body["registered"]
            run = c.get(f"/runs/{body['run_id']}").json()
            assert (run["kind"], run["status"], run["params"]) == ("lookup", "succeeded",
                                                                  {"location": t[name], "register": False})
        base = c.post("/lookups", json={"location": t["base"] + "/"}).json()  # normalized as a scan stores it
        assert base["location"] == t["base"]
        assert base["duplicates"] == [{"location": t["dup"], "role": "duplicate", "relation": "duplicate",
                                       "multiset": True, "fraction": None, "except_columns": []}]
        assert [s["name"] for s in base["stages"]] == ["schema", "minmax", "minhash", "probe", "exact", "except"]
        assert {(m["location"], m["relation"], m["fraction"] is not None, tuple(m["except_columns"]))
                for m in base["children"]} == {(t["child"], "contains", False, ()), (t["near"], "overlaps", True, ()),
                                               (t["renum"], "contains", False, ("rownames",))}
        assert {r["kind"] for r in c.get("/runs", params={"kind": "lookup"}).json()["items"]} == {"lookup"}


def test_a_new_table_is_registered_only_by_an_operator(api) -> None:
    served, t, _ = api
    copy = Path(t["base"]).parent / "incoming" / "child_copy"
    shutil.copytree(t["child"], copy)
    tables = served.catalog.count_tables()
    with served.client("reader") as c:
        answer = c.post("/lookups", json={"location": str(copy)}).json()
        assert answer["table_id"] is None and not answer["registered"]
        assert {(m["location"], m["role"]) for m in answer["duplicates"] + answer["parents"] + answer["children"]} == {
            (t["child"], "duplicate"), (t["base"], "parent"), (t["dup"], "parent"), (t["near"], "parent")}
        refused = assert_problem(c.post("/lookups", json={"location": str(copy), "register": True}), 403)
        assert refused["type"] == "/problems/forbidden" and "operator" in refused["detail"]
    assert served.catalog.count_tables() == tables
    with served.client("operator") as c:
        registered = c.post("/lookups", json={"location": str(copy), "register": True}).json()
    assert registered["registered"] and registered["table_id"] == served.catalog.get_table(str(copy)).id
    assert _got(registered) == _got(answer) and served.catalog.count_tables() == tables + 1


def test_locations_outside_the_roots_are_refused(api, tmp_path: Path) -> None:
    served, t, _ = api
    with served.client("reader") as c:
        several = assert_problem(c.post("/lookups", json={"location": str(Path(t["base"]).parent)}), 422)
        assert "not one table" in several["detail"] and several["errors"][0]["field"] == "location"
    outside = lakes.parquet(tmp_path / "elsewhere" / "t", {"id": [3, 6]})
    os.symlink(outside, Path(t["base"]).parent / "linked")  # a link in the lake to a table outside it
    leaky = Path(t["base"]).parent / "leaky"
    leaky.mkdir()
    os.symlink(outside / "part-0.parquet", leaky / "part-0.parquet")  # a table whose file leaves it
    with served.client("reader") as c:
        for location in (str(outside), str(Path(t["base"]).parent / "linked"), t["base"] + "/../../elsewhere/t"):
            response = c.post("/lookups", json={"location": location})
            problem = assert_problem(response, 403)
            assert response.headers["content-type"] == PROBLEM
            assert problem["type"] == "/problems/outside-lake-roots" and problem["field"] == "location", location
        escape = assert_problem(c.post("/lookups", json={"location": str(leaky)}), 403)
        assert escape["type"] == "/problems/path-escape" and "part-0.parquet" in escape["detail"]
        assert assert_problem(c.post("/lookups", json={"location": "lake/base"}), 422)["field"] == "location"
        missing = assert_problem(c.post("/lookups", json={"location": t["base"] + "_gone"}), 404)
        assert missing["type"] == "/problems/not-found"
        extra = assert_problem(c.post("/lookups", json={"location": t["base"], "bogus": 1}), 422)
        assert extra["type"] == "/problems/invalid-request"
    with served.client() as anonymous:
        assert assert_problem(anonymous.post("/lookups", json={"location": t["base"]}), 401)


def _parquet_bytes(location: str) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pq.read_table(location), buffer)
    return buffer.getvalue()


def test_uploads_are_looked_up_and_removed(api) -> None:
    served, t, detected = api
    uploads = served.settings.work_dir / "uploads"
    with served.client("reader") as c:
        answer = c.post("/lookups/upload", files={"file": ("child.parquet", _parquet_bytes(t["child"]))})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["location"] == "child.parquet" and body["table_id"] is None and not body["registered"]
        assert _got(body) == _expected(detected, t["child"]) | {(t["child"], "duplicate", "duplicate", True, None, ())}
        csv = io.BytesIO()
        pacsv.write_csv(pq.read_table(t["base"]), csv)
        as_csv = c.post("/lookups/upload", files={"file": ("base.csv", csv.getvalue(), "text/csv")}).json()
        # the same values in another format: canonical hashing makes it a duplicate of both Parquet copies
        assert sorted(m["location"] for m in as_csv["duplicates"]) == [t["base"], t["dup"]]
        assert _got(as_csv) - {m for m in _got(as_csv) if m[1] == "duplicate"} == {
            m for m in _expected(detected, t["base"]) if m[1] != "duplicate"}  # overlaps and key exceptions too
        assert as_csv["location"] == "base.csv"
        wrong = assert_problem(c.post("/lookups/upload", files={"file": ("notes.txt", b"hello")}), 422)
        assert wrong["errors"][0]["field"] == "file"
        broken = assert_problem(c.post("/lookups/upload", files={"file": ("bad.parquet", b"not parquet")}), 422)
        assert broken["type"] == "/problems/invalid-request" and "bad.parquet" in broken["detail"]
        assert assert_problem(c.post("/lookups/upload"), 422)["errors"][0]["field"] == "file"
    assert list(uploads.iterdir()) == []  # every upload removed, answered or refused
    assert served.catalog.count_tables() == 5


def test_openapi_documents_lookups_and_the_edge_vocabulary(api) -> None:
    served, _, _ = api
    with served.client() as c:
        spec = c.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    post = spec["paths"]["/lookups"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/LookupRequest")
    assert {"200", "202", "401", "403", "404", "409", "422"} <= set(post["responses"])
    assert post["responses"]["403"]["content"]["application/problem+json"]
    upload = spec["paths"]["/lookups/upload"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"] and "413" in upload["responses"]
    match = schemas["LookupMatch"]["properties"]
    assert {"duplicate", "contains", "overlaps"} <= set(match["relation"]["enum"])
    assert {"fraction", "except_columns", "multiset"} <= set(match)
    edge = schemas["Edge"]["properties"]
    assert "overlaps" in edge["relation"]["enum"] and {"fraction", "except_columns"} <= set(edge)


def test_a_large_table_is_looked_up_in_a_background_run(spark: Any, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    t = lakes.beyond(lake)
    small = load_settings(home=tmp_path / "home", catalog_url=f"sqlite:///{tmp_path / 'c.sqlite'}",
                          lake_roots=(str(lake),))
    settings = small.model_copy(update={"local_read_bytes": 1000})  # every table is "large" for this server
    with serve(settings, spark=lambda: spark) as served:
        scan(served.catalog, [str(lake)], spark_factory=no_spark)
        detected = detect(served.catalog, small, no_spark)  # the same edges as with Spark, sooner
        with served.client("reader") as c:
            started = c.post("/lookups", json={"location": t["base"]})
            assert started.status_code == 202 and started.headers["location"] == f"/runs/{started.json()['id']}"
            run = wait_run(c, started.json()["id"])
            assert run["kind"] == "lookup" and run["status"] == "succeeded"
            assert _got(run["summary"]) == _expected(detected, t["base"])
            big = assert_problem(c.post("/lookups/upload", files={"file": ("base.parquet",
                                                                           _parquet_bytes(t["base"]))}), 413)
            assert big["type"] == "/problems/too-large"
        assert list((settings.work_dir / "uploads").iterdir()) == []
