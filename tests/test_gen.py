"""The lake generator, its planted truth and the exact oracle."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from r2d2.gen.lake import CASES, SNAPSHOT_CASES, GeneratedLake, LakeSpec, generate_lake, read_table
from r2d2.gen.truth import ExpectedEdge, Truth, exact_oracle


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> GeneratedLake:
    root = tmp_path_factory.mktemp("small") / "lake"
    start = time.perf_counter()
    lake = generate_lake(root, LakeSpec.small(), seed=7)
    lake.seconds = time.perf_counter() - start
    return lake


# ---------------------------------------------------------------------------------------------------
# oracle on hand-made tables


def _edges(tables: dict[str, pa.Table]) -> set[tuple[str, str, str, bool]]:
    return {(e.parent, e.child, e.relation, e.multiset) for e in exact_oracle(tables)}


def test_oracle_null_nan_negzero() -> None:
    p = pa.table({"x": pa.array([1.0, None, math.nan, -0.0, 2.5])})
    c = pa.table({"x": pa.array([0.0, math.nan, None])})
    assert _edges({"p": p, "c": c}) == {("p", "c", "contains", True)}
    # a NaN with another payload is still NaN
    odd = np.array([math.nan]).view(np.uint64)
    odd[0] = np.uint64(0x7FF8000000000777)
    c2 = pa.table({"x": pa.array(odd.view(np.float64))})
    assert _edges({"p": p, "c2": c2}) == {("p", "c2", "contains", True)}
    # null is not NaN, and NaN is not null
    assert _edges({"a": pa.table({"x": [None, 1.0]}), "b": pa.table({"x": [math.nan, 1.0]})}) == set()


def test_oracle_int_widths_names_and_timestamps() -> None:
    p = pa.table({"ID": pa.array([1, 2, 3], pa.int64()),
                  "ts": pa.array([1_000_000, 2_000_000, 3_000_000], pa.timestamp("us"))})
    c = pa.table({"id": pa.array([3, 1], pa.int8()), "Ts": pa.array([3_000, 1_000], pa.timestamp("ms"))})
    assert _edges({"p": p, "c": c}) == {("p", "c", "contains", True)}
    # int vs float, string vs date never match
    assert _edges({"p": p, "f": pa.table({"id": [1.0]})}) == set()
    d = pa.table({"d": pa.array([1], pa.date32())})
    assert _edges({"d": d, "s": pa.table({"d": ["1970-01-02"]})}) == set()


def test_oracle_decimals_normalised() -> None:
    from decimal import Decimal

    p = pa.table({"v": pa.array([Decimal("1.50"), Decimal("-0.00"), Decimal("7.00")],
                                pa.decimal128(10, 2))})
    c = pa.table({"v": pa.array([Decimal("1.500"), Decimal("0.000"), Decimal("7.000")],
                                pa.decimal128(12, 3))})
    assert _edges({"p": p, "c": c}) == {("c", "p", "duplicate", True)}


def test_oracle_multiset_and_repeated_child_rows() -> None:
    p = pa.table({"a": [1, 1, 2], "b": ["x", "y", "z"]})
    proj = pa.table({"a": [1, 1, 2]})  # projection with repeats: counts equal
    more = pa.table({"a": [1, 1, 1, 2]})  # more repeats than the parent: set-contained only
    got = _edges({"p": p, "proj": proj, "more": more})
    assert ("p", "proj", "contains", True) in got
    assert ("p", "more", "contains", False) in got
    # proj and more have the same column set and the same row set: duplicates, reported once, with the
    # smaller location as parent and multiset computed in that orientation
    assert ("more", "proj", "duplicate", True) in got
    assert len(got) == 3
    assert ("a", "b", "duplicate", False) in _edges({"a": proj, "b": more})


def test_oracle_duplicate_once_zero_rows_and_nested() -> None:
    a = pa.table({"k": [1, 2, 3], "v": ["a", "b", "c"]})
    b = pa.table({"V": ["c", "b", "a"], "K": [3, 2, 1]})
    empty = a.slice(0, 0)
    nested = pa.table({"k": [1, 2, 3], "v": ["a", "b", "c"],
                       "s": pa.array([{"q": 1}, {"q": 2}, {"q": 3}])})
    got = _edges({"b": b, "a": a, "empty": empty, "nested": nested, "nocols": pa.table({})})
    assert ("a", "b", "duplicate", True) in got
    assert all("empty" not in e[:2] and "nocols" not in e[:2] for e in got)
    assert all(e[1] != "nested" for e in got)  # a nested column never matches: never a child
    assert ("nested", "a", "contains", True) in got
    assert len(got) == 3


def test_truth_json_roundtrip(tmp_path: Path) -> None:
    t = Truth(frozenset({ExpectedEdge("/a", "/b", "contains", True),
                         ExpectedEdge("/a", "/c", "duplicate", False)}))
    t.save(tmp_path / "t.json")
    back = Truth.load(tmp_path / "t.json")
    assert back == t
    assert back.holds("/c", "/a") and back.holds("/a", "/b") and not back.holds("/b", "/a")


# ---------------------------------------------------------------------------------------------------
# small lake


def test_small_lake_shape(small_lake: GeneratedLake) -> None:
    assert small_lake.seconds > 0  # recorded; generation speed is not asserted on a shared machine
    assert 35 <= len(small_lake.tables) <= 55
    assert small_lake.bytes < 20 * 2**20
    assert set(small_lake.tables.values()) == {"parquet", "csv", "delta"}
    for case in (*CASES, *SNAPSHOT_CASES):
        assert small_lake.cases.get(case), case
        for loc in small_lake.cases[case]:
            assert loc in small_lake.tables
            assert Path(loc).is_absolute() and Path(loc).is_dir()
    for loc in small_lake.tables:  # one table per folder: no table folder inside another
        assert not any(other != loc and other.startswith(loc + "/") for other in small_lake.tables)


def test_small_lake_layout_details(small_lake: GeneratedLake) -> None:
    cases = small_lake.cases
    hive = Path(cases["hive_partitioned"][1])
    assert any(p.name.startswith("sales_store=") for p in hive.iterdir())
    over = Path(cases["delta_overwritten"][1])
    assert len(list(over.glob("*.parquet"))) >= 2  # stale files of the overwritten version remain
    assert read_table(over, "delta").column("sales_id").to_numpy().min() >= 0
    csv_dir = Path(cases["csv"][1])
    text = next(csv_dir.glob("*.csv")).read_text()
    assert ",," in text or ",\n" in text  # nulls are empty fields
    assert '""' not in text  # and there are no empty strings


def test_small_lake_truth_matches_oracle_on_files(small_lake: GeneratedLake) -> None:
    tables = {loc: read_table(loc, fmt) for loc, fmt in small_lake.tables.items()}
    oracle = exact_oracle(tables)
    only_truth, only_oracle = small_lake.truth.diff(oracle)
    assert not only_truth and not only_oracle, (only_truth, only_oracle)


def test_small_lake_planted_cases(small_lake: GeneratedLake) -> None:
    truth, cases = small_lake.truth, small_lake.cases

    def edge(p: str, c: str) -> ExpectedEdge:
        e = truth.edge(p, c)
        assert e is not None, (p, c)
        return e

    base = cases["base"][0]
    assert edge(*cases["exact_copy"]).relation == "duplicate"
    assert edge(*cases["column_reorder"]).relation == "duplicate"
    a, b, c = cases["chain"]
    assert truth.holds(a, b) and truth.holds(b, c) and truth.holds(a, c)
    assert edge(*cases["projection_nested"]).relation == "contains"
    assert edge(base, cases["projection"][1]).multiset  # repeated rows, same counts
    dup = edge(*cases["duplicate_rows_child"])
    assert dup.relation == "contains" and not dup.multiset
    for name in ("row_subset", "projection_subset", "int_width", "name_case", "timestamp_unit", "delta",
                 "delta_overwritten", "csv", "csv_parent", "nan_null_negzero"):
        assert edge(*cases[name]).relation == "contains", name
    for child in cases["hive_partitioned"][1:]:
        assert edge(base, child).relation == "contains"
    # a projection of the base is also contained in a copy of the base (accidental, but true)
    assert truth.holds(cases["exact_copy"][1], cases["projection"][2])
    involved = {loc for e in truth.edges for loc in (e.parent, e.child)}
    assert not set(cases["zero_rows"]) & involved
    assert all(e.child != cases["nested_column"][0] for e in truth.edges)
    for name in ("near_miss_same_stats", "near_miss_row_pairing", "near_miss_extra_row", "near_miss_minmax"):
        p, c = cases[name]
        assert not truth.holds(p, c) and not truth.holds(c, p), name
    for p, c in small_lake.planted:
        assert truth.holds(p, c)
    for p, c in small_lake.near_misses:
        assert not truth.holds(p, c)


def test_small_lake_near_miss_construction(small_lake: GeneratedLake) -> None:
    import pyarrow.compute as pc

    base_loc, same = small_lake.cases["near_miss_same_stats"]
    base = read_table(base_loc, "parquet")
    near = read_table(same, "parquet")
    for col in base.column_names:  # same min / max / null count in every column
        if pa.types.is_floating(base.column(col).type) or pa.types.is_boolean(base.column(col).type):
            continue
        assert pc.min_max(base.column(col)).as_py() == pc.min_max(near.column(col)).as_py(), col
        assert base.column(col).null_count == near.column(col).null_count
    _, pairing = small_lake.cases["near_miss_row_pairing"]
    paired = read_table(pairing, "parquet")
    for col in base.column_names:  # same per-column value sets
        if col == "sales_amount":
            continue
        assert set(base.column(col).to_pylist()) == set(paired.column(col).to_pylist()), col


def test_generation_is_deterministic(tmp_path: Path, small_lake: GeneratedLake) -> None:
    spec = LakeSpec(case_rows=0, snapshot_families=1, snapshots_per_family=12, snapshot_rows=300,
                    noise_tables=1)
    one = generate_lake(tmp_path / "one", spec, seed=3)
    two = generate_lake(tmp_path / "two", spec, seed=3)
    rel = {(Path(e.parent).relative_to(one.root), Path(e.child).relative_to(one.root), e.relation, e.multiset)
           for e in one.truth}
    rel2 = {(Path(e.parent).relative_to(two.root), Path(e.child).relative_to(two.root), e.relation,
             e.multiset) for e in two.truth}
    assert rel == rel2
    assert len(one.tables) == 12 + 10 + 1
    tables = {loc: read_table(loc, fmt) for loc, fmt in one.tables.items()}
    assert exact_oracle(tables) == one.truth


def test_shaped_spec(tmp_path: Path) -> None:
    spec = LakeSpec.shaped(1000, 2 * 10**9)
    sizes = spec.snapshots_per_family
    assert isinstance(sizes, tuple)
    assert all(s + 10 >= 20 for s in sizes)
    assert 29 + sum(sizes) + 10 * len(sizes) == 1000
    lake = generate_lake(tmp_path / "shaped", LakeSpec.shaped(80, 8 * 10**6), seed=5)
    assert len(lake.tables) == 80
    assert 4 * 10**6 < lake.bytes < 16 * 10**6
    for case in SNAPSHOT_CASES:
        assert lake.cases[case], case
    for p, c in lake.near_misses:
        assert not lake.truth.holds(p, c)


def test_shaped_spec_with_plain_families(tmp_path: Path) -> None:
    spec = LakeSpec.shaped(1000, 2 * 10**9, related=0.2)
    sizes = spec.snapshots_per_family
    assert isinstance(sizes, tuple)
    assert spec.plain_families > 3 * len(sizes) > 0
    assert 29 + sum(sizes) + 10 * len(sizes) + 25 * spec.plain_families == 1000
    lake = generate_lake(tmp_path / "plain", LakeSpec.shaped(130, 6 * 10**6, related=0.25), seed=5)
    assert len(lake.tables) == 130
    plain = [loc for loc in lake.tables if Path(loc).parent.name.startswith("p")]
    assert len(plain) == 75
    # plain families share one schema per family, yet no table of theirs is in any true edge
    assert not any(e.parent in plain or e.child in plain for e in lake.truth)
    for case in SNAPSHOT_CASES:
        assert lake.cases[case], case


def test_tpch_lake(tmp_path: Path) -> None:
    from r2d2.gen.tpch import generate_tpch_lake

    lake = generate_tpch_lake(tmp_path / "tpch", scale_factor=0.01)
    assert len(lake.tables) == 13
    for p, c in lake.planted:
        assert lake.truth.holds(p, c)
    copy = lake.truth.edge(str(lake.root / "tpch" / "nation"), str(lake.root / "derived" / "nation_copy"))
    assert copy is not None and copy.relation == "duplicate"
    orders = read_table(lake.root / "derived" / "orders_finished", "parquet")
    assert 0 < orders.num_rows < read_table(lake.root / "tpch" / "orders", "parquet").num_rows
