"""Cost inputs and plan storage: access import, tag, plan via the CLI (MILP and greedy), calibrate."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from r2d2.catalog import EdgeUpsert, open_catalog
from r2d2.cli.main import _register_subcommands, cli
from r2d2.durations import seconds
from r2d2.optimize.access import read_access_file
from r2d2.optimize.build import transitive_closure
from r2d2.optimize.model import DAYS_PER_MONTH
from r2d2.optimize.stored import build_problem
from r2d2.types import Column, ColumnStats, Family, FileEntry, TableProfile

_register_subcommands()
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def profile(location: str, rows: int, nbytes: int, cols: tuple[str, ...] = ("id", "v")) -> TableProfile:
    columns = tuple(Column(n, "int64", Family.INTEGER) for n in cols)
    return TableProfile(location=location, format="parquet", fingerprint=f"fp-{location}", columns=columns,
                        stats={c.key: ColumnStats(0, 9, True, True, 0) for c in columns}, num_rows=rows,
                        num_bytes=nbytes, files=(FileEntry("part-0.parquet", nbytes, 1),),
                        column_bytes={c.key: nbytes // len(cols) for c in columns})


@pytest.fixture
def catalog(tmp_path: Path, catalog_url: str):
    cat = open_catalog(catalog_url)
    for loc, rows, nbytes in (("/lake/a", 1000, 10**9), ("/lake/b", 500, 5 * 10**8), ("/lake/c", 100, 10**8),
                              ("/lake/d", 1000, 10**9), ("/lake/lonely", 10, 10**6)):
        cat.save_profile(profile(loc, rows, nbytes), seen_at=NOW)
    t = {r.location: r for r in cat.list_tables()}

    def edge(p: str, c: str, relation: str = "contains") -> EdgeUpsert:
        return EdgeUpsert(t[p].id, t[c].id, t[p].fingerprint, t[c].fingerprint, "verified", "exact",
                          relation, True, {"distinct_rows": t[c].num_rows})

    # a ⊇ b ⊇ c (a ⊇ c only by closure), a == d (duplicate, stored once)
    cat.upsert_edges([edge("/lake/a", "/lake/b"), edge("/lake/b", "/lake/c"), edge("/lake/a", "/lake/d", "duplicate")])
    yield cat
    cat.close()


def invoke(tmp_path: Path, url: str, *args: str):
    return CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "--catalog", url, *args])


def test_closure_and_duplicates_in_problem(catalog) -> None:
    assert transitive_closure({(1, 2), (2, 3), (3, 1)}) == {(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2)}
    built = build_problem(catalog)
    locs = {t.id: t.location for t in built.problem.tables}
    pairs = {(locs[e.parent], locs[e.child]) for e in built.problem.edges}
    assert ("/lake/a", "/lake/c") in pairs  # by closure
    assert {("/lake/a", "/lake/d"), ("/lake/d", "/lake/a")} <= pairs  # duplicate: both ways
    assert ("/lake/d", "/lake/b") in pairs  # d == a ⊇ b
    assert built.model_source.startswith("default")


def test_access_import_and_tag(tmp_path: Path, catalog, catalog_url: str) -> None:
    csv = tmp_path / "access.csv"
    csv.write_text("location,count,window_days\n/lake/a,300,30\n/lake/a,60,30\n/lake/b,7,7\n/nowhere,1,1\n")
    assert read_access_file(csv).rates["/lake/a"] == pytest.approx(12.0)
    result = invoke(tmp_path, catalog_url, "access", "import", str(csv))
    assert result.exit_code == 1 and "unknown" in result.output  # /nowhere is not in the catalog
    js = tmp_path / "access.json"
    js.write_text(json.dumps([{"location": "/lake/c", "count": 30, "window": "15d"}]))
    assert invoke(tmp_path, catalog_url, "access", "import", str(js)).exit_code == 0
    assert catalog.get_table("/lake/a").access_per_day == pytest.approx(12.0)
    assert catalog.get_table("/lake/c").access_per_day == pytest.approx(2.0)
    result = invoke(tmp_path, catalog_url, "tag", "/lake/b", "--latency-limit", "30s")
    assert result.exit_code == 0, result.output
    assert catalog.get_table("/lake/b").latency_limit_s == 30.0
    built = build_problem(catalog)
    by_loc = {t.location: t for t in built.problem.tables}
    assert by_loc["/lake/a"].accesses_per_month == pytest.approx(12.0 * DAYS_PER_MONTH)
    assert by_loc["/lake/b"].latency_limit_s == 30.0
    assert by_loc["/lake/d"].accesses_per_month == 1.0  # default
    assert seconds("2h") == 7200 and seconds("7d") == 604800 and seconds("1h30m") == 5400
    assert seconds("1.5") == 1.5 and seconds("250ms") == 0.25 and seconds(" inf ") == math.inf
    for bad in ("soon", "-5s", ""):
        with pytest.raises(ValueError, match="is not a duration"):
            seconds(bad)


@pytest.mark.parametrize("solver", ["milp", "greedy"])
def test_plan_cli_stores_plan(tmp_path: Path, catalog, catalog_url: str, solver: str) -> None:
    result = invoke(tmp_path, catalog_url, "plan", "--solver", solver, "--latency-limit", "1h",
                    "--access-default", "0", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    stored = catalog.get_plan(data["id"])
    assert stored.solver == solver and stored.objective == pytest.approx(data["objective"])
    deleted = {d["location"] for d in stored.plan["decisions"] if d["action"] == "delete"}
    kept = {d["location"] for d in stored.plan["decisions"] if d["action"] == "keep"}
    assert "/lake/lonely" in kept  # no parent: always kept
    assert len({"/lake/a", "/lake/d"} & kept) == 1  # duplicates: exactly one copy kept
    assert {"/lake/b", "/lake/c"} <= deleted
    for d in stored.plan["decisions"]:
        if d["action"] == "delete":
            assert d["parent_location"] in kept
    assert set(stored.fingerprints) >= {str(catalog.get_table(loc).id) for loc in deleted}
    assert stored.params["model"].startswith("default") and stored.gap >= 0
    listing = invoke(tmp_path, catalog_url, "plans")
    assert listing.exit_code == 0 and str(data["id"]) in listing.output
    # a tight latency limit forbids every rebuild (default model: 5 s overhead)
    tight = invoke(tmp_path, catalog_url, "plan", "--solver", solver, "--latency-limit", "1s",
                   "--access-default", "0", "--format", "json")
    assert json.loads(tight.output)["deleted_tables"] == 0


def test_calibrate_fits_and_plan_uses_it(spark, tmp_path: Path) -> None:
    from r2d2.config import load_settings
    from r2d2.reconstruct.calibrate import calibrate

    settings = load_settings(home=tmp_path / "home", spark_master="local[2]")
    cat = open_catalog(settings.resolved_catalog_url)
    model, samples, cid = calibrate(cat, settings, lambda: spark, samples=3, source="generated")
    assert len(samples) == 3 and model.bytes_per_s > 0
    assert len({s["bytes"] for s in samples}) == 3
    cal = cat.latest_calibration()
    assert cal is not None and cal.id == cid and cal.bytes_per_s == model.bytes_per_s
    assert build_problem(cat).model_source.startswith(f"calibration {cid}")


def test_recipe_sizes_from_evidence_a_row_sample_or_row_counts(catalog) -> None:
    """A recipe keeps the child's distinct rows: from the edge's evidence, else (an edge only the closure
    makes) from the child's row-sample sketch, which the catalog side reads for the pure build."""
    from r2d2.optimize.build import HASH_BYTES_PER_ROW, PREDICATE_RECIPE_BYTES

    t = {r.location: r for r in catalog.list_tables()}
    catalog.put_sketches(t["/lake/c"].id, t["/lake/c"].fingerprint, "rowsample", {"": (b"", {"distinct_rows": 37})})
    built = build_problem(catalog)
    locs = {tt.id: tt.location for tt in built.problem.tables}
    size = {(locs[e.parent], locs[e.child]): e.recipe_bytes for e in built.problem.edges}
    assert size[("/lake/b", "/lake/c")] == PREDICATE_RECIPE_BYTES + HASH_BYTES_PER_ROW * 100  # evidence
    assert size[("/lake/a", "/lake/c")] == PREDICATE_RECIPE_BYTES + HASH_BYTES_PER_ROW * 37  # closure: sketch
    assert size[("/lake/a", "/lake/d")] == PREDICATE_RECIPE_BYTES  # a duplicate: the whole parent
