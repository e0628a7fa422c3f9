"""The lake generator, its planted truth and the exact oracle."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from r2d2.gen.beyond import beyond_oracle, full_oracle
from r2d2.gen.evaluate import score_kinds
from r2d2.gen.lake import (
    BEYOND_CASES,
    CASES,
    SNAPSHOT_BEYOND_CASES,
    SNAPSHOT_CASES,
    GeneratedLake,
    LakeSpec,
    generate_lake,
    read_table,
)
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
                         ExpectedEdge("/a", "/c", "duplicate", False)}),
              overlaps=frozenset({ExpectedEdge("/a", "/d", "overlaps", False, fraction=2 / 3)}),
              excepts=frozenset({ExpectedEdge("/a", "/e", "contains", True, except_columns=("row", "idx"))}))
    t.save(tmp_path / "t.json")
    back = Truth.load(tmp_path / "t.json")
    assert back == t
    assert back.holds("/c", "/a") and back.holds("/a", "/b") and not back.holds("/b", "/a")
    # overlaps and containments except keys are not containments
    assert not back.holds("/a", "/d") and not back.holds("/a", "/e") and len(back) == 2
    # a truth of exact edges only keeps its old JSON shape, and old files load
    exact_only = Truth(t.edges)
    assert set(exact_only.to_json()) == {"edges"} and Truth.from_json(exact_only.to_json()) == exact_only


# ---------------------------------------------------------------------------------------------------
# oracle beyond exact containment, on hand-made tables


def test_beyond_oracle_overlap_fraction_counts_distinct_rows() -> None:
    p = pa.table({"a": [1, 2, 3, 4, None, 6, 7, 8, 9, 10], "b": ["x"] * 10})
    # 10 rows, 9 distinct (a repeated row counts once); 8 of them in p (null = null), (11, x) is not
    c = pa.table({"A": pa.array([1, 1, 2, 3, 4, None, 6, 7, 8, 11], pa.int16()), "b": ["x"] * 10})
    truth = full_oracle({"p": p, "c": c}, overlap_threshold=0.8)
    assert truth.edges == frozenset() and truth.excepts == frozenset()
    # and the other way round, 8 of p's 10 distinct rows are in c
    assert truth.overlaps == {ExpectedEdge("p", "c", "overlaps", False, fraction=8 / 9),
                              ExpectedEdge("c", "p", "overlaps", False, fraction=0.8)}
    assert full_oracle({"p": p, "c": c}, overlap_threshold=0.9).overlaps == frozenset()  # below τ
    assert full_oracle({"p": p, "c": c}, overlap_threshold=0).overlaps == frozenset()  # off
    # a child with a column the parent lacks is never an overlap (the other way round it may be)
    wider = full_oracle({"p": p, "c": c.append_column("z", pa.array([0] * 10))}, overlap_threshold=0.5)
    assert {(e.parent, e.child) for e in wider.overlaps} == {("c", "p")}
    # nor one of another type family
    assert full_oracle({"p": p, "c": c.set_column(1, "b", pa.array([1.0] * 10))},
                       overlap_threshold=0.5).overlaps == set()


def test_beyond_oracle_containment_except_generated_keys() -> None:
    names = [f"n{i % 7}" for i in range(40)]  # n0..n4 six times, n5 and n6 five times
    p = pa.table({"row": list(range(1, 41)), "name": names, "v": [i % 5 for i in range(40)]})
    picked = list(range(0, 40, 3))  # each name twice
    renumbered = pa.table({"row": list(range(1, len(picked) + 1)), "name": [names[i] for i in picked],
                           "v": [i % 5 for i in picked]})
    gapped = renumbered.set_column(0, "row", pa.array([2 * r for r in range(len(picked))]))  # not a dense key
    indexed = pa.table({"name": [names[i] for i in picked], "idx": list(range(len(picked)))})
    twice = pa.table({"name": [names[i] for i in picked] * 2, "idx": list(range(2 * len(picked)))})  # names 4x
    truth = full_oracle({"p": p, "r": renumbered, "g": gapped, "i": indexed, "twice": twice})
    got = {(e.parent, e.child, e.except_columns, e.multiset) for e in truth.excepts}
    assert got == {("p", "r", ("row",), True), ("g", "r", ("row",), True),
                   ("p", "i", ("idx",), True), ("r", "i", ("idx",), True), ("g", "i", ("idx",), True),
                   # twice holds `indexed` exactly (its first rows): no exception needed, none reported
                   ("p", "twice", ("idx",), True), ("r", "twice", ("idx",), False),
                   ("g", "twice", ("idx",), False), ("i", "twice", ("idx",), False)}
    assert {(e.parent, e.child, e.relation) for e in truth.edges} == {("twice", "i", "contains")}
    assert not truth.overlaps
    assert beyond_oracle({"p": p, "r": renumbered}, Truth(), except_keys=False) == Truth()


def test_score_kinds_match_fractions_and_columns() -> None:
    """Each kind is scored apart; an overlap with another fraction, or an exception on other columns,
    is both a false positive and a miss; the exact kind is scored as before."""
    exact = {ExpectedEdge("/a", "/b", "contains", True)}
    truth = Truth(frozenset(exact), frozenset({ExpectedEdge("/a", "/c", "overlaps", False, fraction=0.95),
                                               ExpectedEdge("/a", "/d", "overlaps", False, fraction=0.9)}),
                  frozenset({ExpectedEdge("/a", "/e", "contains", True, except_columns=("row",))}))
    detected = Truth(frozenset({ExpectedEdge("/a", "/b", "contains", False)}),
                     frozenset({ExpectedEdge("/a", "/c", "overlaps", False, fraction=0.95),
                                ExpectedEdge("/a", "/d", "overlaps", False, fraction=0.91)}),
                     frozenset({ExpectedEdge("/a", "/e", "contains", True, except_columns=("idx",))}))
    s = score_kinds(detected, truth)
    assert (s.exact.precision, s.exact.recall, len(s.exact.wrong_flags)) == (1.0, 1.0, 1)
    assert s.overlaps.true_positives == 1 and s.overlaps.precision == 0.5 and s.overlaps.recall == 0.5
    assert [e.fraction for e in s.overlaps.false_positives] == [0.91]
    assert [e.fraction for e in s.overlaps.false_negatives] == [0.9]
    assert s.excepts.true_positives == 0 and [e.except_columns for e in s.excepts.false_negatives] == [("row",)]
    assert not s.perfect and score_kinds(truth, truth).perfect


# ---------------------------------------------------------------------------------------------------
# small lake


def test_small_lake_shape(small_lake: GeneratedLake) -> None:
    assert small_lake.seconds > 0  # recorded; generation speed is not asserted on a shared machine
    assert 35 <= len(small_lake.tables) <= 55
    assert small_lake.bytes < 20 * 2**20
    assert set(small_lake.tables.values()) == {"parquet", "csv", "delta"}
    for case in (*CASES, *SNAPSHOT_CASES, *BEYOND_CASES, *SNAPSHOT_BEYOND_CASES):
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
    oracle = full_oracle(tables)
    only_truth, only_oracle = small_lake.truth.diff(oracle)
    assert not only_truth and not only_oracle, (only_truth, only_oracle)
    assert small_lake.truth.overlaps == oracle.overlaps and small_lake.truth.excepts == oracle.excepts
    assert score_kinds(oracle, small_lake.truth).perfect


def test_small_lake_plants_overlaps_and_key_exceptions(small_lake: GeneratedLake) -> None:
    """Children with 2-3% of their rows changed are overlaps with their exact fraction (15% changed:
    below τ, no edge); renumbered and added dense keys give containments except those columns."""
    truth, cases = small_lake.truth, small_lake.cases
    overlaps = {(e.parent, e.child): e.fraction for e in truth.overlaps}
    planted = {(p, c): f for p, c, f in small_lake.overlaps}
    assert len(planted) == 3
    for (p, c), fraction in planted.items():
        rows = read_table(c, small_lake.tables[c]).num_rows  # every row distinct: unique ids
        if c == cases["overlap_below_threshold"][1]:
            assert 0.84 < fraction < 0.86 and (p, c) not in overlaps
        else:
            assert 0.96 <= fraction <= 0.98 and overlaps[(p, c)] == fraction
            assert round((1 - fraction) * rows) in (round(0.03 * rows), round(0.02 * rows))
        assert not truth.holds(p, c)
    excepts = {(e.parent, e.child): e.except_columns for e in truth.excepts}
    assert len(small_lake.excepts) == 4
    for p, c, keys in small_lake.excepts:
        assert excepts[(p, c)] == keys and not truth.holds(p, c)
    assert small_lake.tables[cases["except_added_index"][1]] == "delta"
    assert small_lake.tables[cases["snapshot_except_renumbered_key"][1]] == "csv"
    # the report-only kinds never overlap each other, nor an exact edge
    assert not {(e.parent, e.child) for e in truth.overlaps} & set(excepts)
    assert not ({(e.parent, e.child) for e in truth.overlaps} | set(excepts)) & truth.pairs


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
    assert {(e.parent, e.child, e.fraction) for e in one.truth.overlaps} == {
        (e.parent.replace(str(two.root), str(one.root)), e.child.replace(str(two.root), str(one.root)), e.fraction)
        for e in two.truth.overlaps}
    assert len(one.tables) == 12 + 12 + 1
    tables = {loc: read_table(loc, fmt) for loc, fmt in one.tables.items()}
    assert full_oracle(tables) == one.truth
    # without the cases beyond exact containment: the same exact tables and exact truth (drawn first)
    exact = generate_lake(tmp_path / "exact", replace(spec, beyond_exact=False), seed=3)
    assert not exact.truth.overlaps and not exact.truth.excepts
    extra = {Path(loc).relative_to(one.root) for loc in one.tables} - {
        Path(loc).relative_to(exact.root) for loc in exact.tables}
    assert {p.name for p in extra} == {"overlap", "renumbered"}
    assert {(Path(e.parent).relative_to(exact.root), Path(e.child).relative_to(exact.root), e.relation, e.multiset)
            for e in exact.truth} == {r for r in rel if not {r[0], r[1]} & extra}


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
