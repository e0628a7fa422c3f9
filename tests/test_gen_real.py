"""The real-shaped lake generator (r2d2/gen/real.py): shape, determinism, planted truth, truth vs files."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from r2d2.gen.lake import GeneratedLake, read_table
from r2d2.gen.real import RealLakeSpec, generate_real_lake
from r2d2.gen.shape import lake_shape
from r2d2.gen.truth import Truth, canonical_family, exact_oracle
from r2d2.lake.discover import discover

SPEC = RealLakeSpec(tables=150)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> GeneratedLake:
    return generate_real_lake(tmp_path_factory.mktemp("real") / "lake", SPEC, seed=5)


@pytest.fixture(scope="module")
def contents(lake: GeneratedLake) -> dict[str, pa.Table]:
    """Every table read back from its files by the generator's own reader (pyarrow, deltalake)."""
    return {loc: read_table(loc, fmt) for loc, fmt in lake.tables.items()}


def _relative(lake: GeneratedLake) -> tuple:
    root = str(lake.root)

    def rel(loc: str) -> str:
        return loc[len(root):]

    return (
        sorted((rel(k), v) for k, v in lake.tables.items()),
        sorted((rel(e.parent), rel(e.child), e.relation, e.multiset) for e in lake.truth.edges),
        sorted((rel(a), rel(b)) for a, b in lake.planted),
        sorted((rel(a), rel(b)) for a, b in lake.near_misses),
    )


# ---------------------------------------------------------------------------------------------------
# spec


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tables": 5}, "tables must be >= 10, got 5"),
    ({"median_bytes": 10}, "median_bytes must be in [1000, 1e9], got 10"),
    ({"sigma": -1.0}, "sigma must be in [0, 4], got -1.0"),
    ({"big_tables": -1}, "big_tables must be >= 0 or None, got -1"),
    ({"big_bytes": (5, 1)}, "big_bytes must be (low, high) with 0 < low <= high, got (5, 1)"),
    ({"csv_share": 1.5}, "csv_share must be in [0, 1], got 1.5"),
    ({"csv_share": 0.5, "delta_share": 0.4, "hive_share": 0.2}, "csv_share + delta_share + hive_share must be <= 1"),
    ({"related_share": 0.9, "singleton_share": 0.2}, "related_share + singleton_share must be <= 1"),
    ({"workers": -2}, "workers must be >= 0, got -2"),
])
def test_spec_is_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        RealLakeSpec(**kwargs)
    assert str(err.value) == message


def test_spec_defaults_and_keywords() -> None:
    spec = RealLakeSpec()
    assert spec.tables == 2500 and spec.big == 3  # one table of tens of MB per 800 tables
    assert RealLakeSpec(tables=150).big == 0
    with pytest.raises(TypeError):
        RealLakeSpec(150)  # type: ignore[call-arg]  # keyword-only


def test_root_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("taken")
    with pytest.raises(FileExistsError):
        generate_real_lake(tmp_path, SPEC, seed=1)


# ---------------------------------------------------------------------------------------------------
# determinism


def test_same_seed_same_lake(lake: GeneratedLake, tmp_path: Path) -> None:
    again = generate_real_lake(tmp_path / "again", SPEC, seed=5)
    assert _relative(again) == _relative(lake)
    # the same content, file by file (Delta logs hold write times and ids, their data does not)
    for loc, fmt in list(sorted(lake.tables.items()))[::10]:
        other = str(again.root) + loc[len(str(lake.root)):]
        mine, theirs = read_table(loc, fmt), read_table(other, fmt)
        assert mine.schema == theirs.schema and mine.to_pandas().equals(theirs.to_pandas()), loc  # NaN = NaN
    different = generate_real_lake(tmp_path / "other", SPEC, seed=6)
    assert _relative(different) != _relative(lake)


# ---------------------------------------------------------------------------------------------------
# shape


def test_shape_is_real(lake: GeneratedLake) -> None:
    shape = lake_shape(lake)
    assert shape["tables"] == shape["tables_discovered"] == 150 and shape["discovery_errors"] == 0
    assert shape["bytes"] == lake.bytes
    assert shape["median_bytes"] <= 30_000
    assert shape["max_bytes"] > 10 * shape["median_bytes"]  # a long tail of larger tables
    formats = shape["formats"]
    assert set(formats) == {"parquet", "csv", "delta"}
    assert 0.03 <= formats["csv"] / 150 <= 0.12
    assert 0.05 <= formats["delta"] / 150 <= 0.14
    assert 0.03 <= shape["hive_tables"] / 150 <= 0.14
    assert 1.2 <= shape["files_per_table"] <= 1.8
    assert shape["single_file_tables"] >= 0.6 * 150
    files = Counter(len(t.files) for t in discover([str(lake.root)]).tables)
    assert files[2] > 0 and sum(n for k, n in files.items() if k >= 3) > 0  # some tables of several files
    assert 0.12 <= shape["share_in_an_edge"] <= 0.35
    assert shape["edges_by_relation"].get("duplicate", 0) > 0 and shape["edges_by_relation"]["contains"] > 0


def test_tables_live_in_their_own_folders(lake: GeneratedLake) -> None:
    locations = sorted(lake.tables)
    for a, b in itertools.pairwise(locations):
        assert not b.startswith(a + "/"), (a, b)
    assert all(Path(loc).is_absolute() and Path(loc).is_dir() for loc in locations)
    hive = [p for p in lake.root.rglob("*=*") if p.is_dir()]
    assert hive and all("=" not in p.parent.name for p in hive)  # key=value folders only directly under tables


def test_many_schemas_shared_by_families(lake: GeneratedLake, contents: dict[str, pa.Table]) -> None:
    prefixes = Counter(t.column_names[0].split("_", 1)[0].lower() for t in contents.values() if t.num_columns)
    assert len(prefixes) >= 30  # many unrelated schemas
    shared = sum(n for n in prefixes.values() if n > 1)
    assert shared >= 0.6 * len(contents)  # most tables share their schema with others


def test_every_type_family_and_tricky_value(contents: dict[str, pa.Table]) -> None:
    types: set[str] = set()
    families: set[str | None] = set()
    seen: Counter[str] = Counter()
    for t in contents.values():
        for col in t.columns:
            typ = col.type
            types.add(str(typ))
            families.add(canonical_family(typ))
            seen["nulls"] += col.null_count > 0
            if pa.types.is_floating(typ) and len(col):
                f = pc.fill_null(col.cast(pa.float64()), 1.0).to_numpy()
                seen["nan"] += bool(np.isnan(f).any())
                seen["negzero"] += bool(((f == 0.0) & np.signbit(f)).any())
            if pa.types.is_string(typ) and len(col):
                seen["long_strings"] += (pc.max(pc.utf8_length(col)).as_py() or 0) > 64
    assert families >= {"integer", "float", "decimal", "string", "binary", "boolean", "date", "timestamp", None}
    for name in ("int8", "int16", "int32", "int64", "float", "double", "timestamp[ms]", "timestamp[us]",
                 "timestamp[ns]", "timestamp[us, tz=UTC]", "date32[day]", "bool", "binary"):
        assert name in types, name
    assert any(t.startswith("decimal128(") for t in types)
    assert any(t.startswith("timestamp[") and "tz=" in t and "UTC" not in t for t in types)  # other zones
    assert all(seen[k] > 0 for k in ("nulls", "nan", "negzero", "long_strings")), seen


def test_csv_tables_read_back_in_their_families(lake: GeneratedLake, contents: dict[str, pa.Table]) -> None:
    csv = [loc for loc, fmt in lake.tables.items() if fmt == "csv"]
    assert csv
    for loc in csv:
        text = "".join(p.read_text() for p in Path(loc).glob("*.csv"))
        assert '""' not in text.replace('"""', "")  # no empty string: an empty field is only ever a null
        if contents[loc].num_rows == 0:
            continue  # a header without rows types nothing
        fams = {canonical_family(f.type) for f in contents[loc].schema}
        assert fams <= {"integer", "float", "string", "boolean", "date", "timestamp"}, (loc, contents[loc].schema)


# ---------------------------------------------------------------------------------------------------
# truth


def test_planted_relations_hold_and_near_misses_do_not(lake: GeneratedLake) -> None:
    assert len(lake.planted) >= 20 and len(lake.near_misses) >= 3
    for parent, child in lake.planted:
        assert lake.truth.holds(parent, child), (parent, child)
    for parent, child in lake.near_misses:
        assert not lake.truth.holds(parent, child), (parent, child)
    roles = set(lake.cases)
    assert {"copy", "projection", "filter", "projection_filter"} <= roles, roles
    assert roles & {"near_changed", "near_extra_row", "near_repaired", "near_shifted"}


def test_cross_format_copies_and_repeated_rows(lake: GeneratedLake) -> None:
    copies = lake.cases["copy"]
    pairs = list(zip(copies[::2], copies[1::2], strict=True))
    assert any(lake.tables[a] != lake.tables[b] for a, b in pairs)  # a copy in another format
    assert all(lake.truth.edge(a, b) is not None and lake.truth.edge(a, b).relation == "duplicate"  # type: ignore[union-attr]
               for a, b in pairs)
    assert any(not e.multiset for e in lake.truth.edges)  # repeated rows: set containment only


def test_truth_equals_oracle_on_files_read_back(lake: GeneratedLake, contents: dict[str, pa.Table]) -> None:
    # the whole small lake at once: also proves that no containment crosses families
    oracle = exact_oracle(contents)
    only_truth, only_files = lake.truth.diff(oracle)
    assert not only_truth and not only_files, (only_truth[:5], only_files[:5])


def test_truth_covers_zero_row_tables(lake: GeneratedLake, contents: dict[str, pa.Table]) -> None:
    empty = {loc for loc, t in contents.items() if t.num_rows == 0}
    ends = {loc for e in lake.truth.edges for loc in (e.parent, e.child)}
    assert not empty & ends


def test_oracle_canonical_float_and_time_rules() -> None:
    # the rules the truth relies on for cross-format copies: float32 widened, -0.0, NaN, ms vs us UTC
    f32 = pa.table({"x": pa.array([1.25, -0.0, math.nan], pa.float32()),
                    "t": pa.array([1_000, 2_000, 3_000], pa.timestamp("ms", tz="Europe/Berlin"))})
    csv_like = pa.table({"X": pa.array([math.nan, 0.0, 1.25]),
                         "T": pa.array([3_000_000, 2_000_000, 1_000_000], pa.timestamp("us", tz="UTC"))})
    assert Truth(exact_oracle({"a": f32, "b": csv_like}).edges).holds("a", "b")


def test_one_column_csv_keeps_only_rows_a_reader_sees(tmp_path: Path) -> None:
    """A null in a one-column CSV is a blank line, which CSV readers skip: the truth must not count it."""
    from r2d2.gen.real_write import TableOut, as_written, write_table

    data = pa.table({"device": pa.array(["tv", None, "mobile", None, "tv"])})
    written = as_written(data, "csv")
    assert written.column("device").to_pylist() == ["tv", "mobile", "tv"]
    write_table(TableOut(tmp_path / "t", "csv", written, files=1))
    back = read_table(tmp_path / "t", "csv")
    assert back.column("device").to_pylist() == ["tv", "mobile", "tv"]
    two = as_written(pa.table({"a": pa.array([None, "x"]), "b": pa.array([None, "y"])}), "csv")
    assert two.num_rows == 2  # a row of nulls in two columns is a line of commas, read as nulls


def test_tables_derived_from_a_one_column_csv_start_from_what_it_reads_back(tmp_path: Path) -> None:
    """A chain whose middle link is a one-column CSV with nulls (seed 1's 25,000-table lake, family
    ``hr/absences_raw_96``): the next link is cut from the rows the CSV reads back, so the planted
    ``stage2 ⊇ stage3`` holds (the generator checks every planted edge and raised here before)."""
    from r2d2.gen.real import _Family, plan_lake

    spec = RealLakeSpec(tables=25_000)
    plans = plan_lake(np.random.default_rng(np.random.SeedSequence(1)), tables=spec.tables,
                      median_bytes=spec.median_bytes, sigma=spec.sigma, big_tables=spec.big,
                      big_bytes=spec.big_bytes, related_share=spec.related_share,
                      singleton_share=spec.singleton_share,
                      shares={"csv": spec.csv_share, "delta": spec.delta_share, "hive": spec.hive_share,
                              "parquet": 1.0 - spec.csv_share - spec.delta_share - spec.hive_share})
    stage2 = "hr/absences_raw_96/absences_20230518_stage2"
    (plan,) = [p for p in plans if any(str(t.path) == stage2 for t in p.tables)]
    assert {str(t.path): (t.role, t.fmt) for t in plan.tables}[stage2] == ("chain_b", "csv")
    family = _Family(tmp_path, plan).build()
    middle, last = str(tmp_path / stage2), str(tmp_path / stage2.replace("stage2", "stage3"))
    assert (middle, last) in family.planted and family.truth.holds(middle, last)
    assert read_table(Path(middle), "csv").num_columns == 1
