"""Stage 2, min-max / null-count pruning: one hand case per rule, and property tests that a truly
contained child is never pruned while children built to break a bound are."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import Case, contained_cases, violating_cases

from r2d2.containment.candidates import Candidate, Pair
from r2d2.containment.keys import without
from r2d2.containment.minmax import (
    CHILD_EMPTY,
    MAX_ABOVE,
    MIN_BELOW,
    NULLS,
    PARENT_ALL_NULL,
    PARENT_EMPTY,
    Digests,
    PruneResult,
    _table_facts,
    digest_without,
    prune_all,
    prune_minmax,
)
from r2d2.types import Column, ColumnStats, Family, TableProfile

INT, FLT, DEC, STR, BIN, BOOL, TS = (Family.INTEGER, Family.FLOAT, Family.DECIMAL, Family.STRING,
                                     Family.BINARY, Family.BOOLEAN, Family.TIMESTAMP)


def profile(family: Family, stats: ColumnStats, num_rows: int | None = 10, name: str = "v",
            physical: str = "x") -> TableProfile:
    col = Column(name=name, physical_type=physical, family=family)
    return TableProfile(location=f"mem://{name}", format="parquet", fingerprint="f", columns=(col,),
                        stats={col.key: stats}, num_rows=num_rows, num_bytes=0, files=())


def exact(lo: Any, hi: Any, nulls: int | None = 0) -> ColumnStats:
    return ColumnStats(min=lo, max=hi, min_exact=True, max_exact=True, null_count=nulls)


def check(family: Family, parent: ColumnStats, child: ColumnStats, *, parent_rows: int | None = 10,
          child_rows: int | None = 10) -> PruneResult:
    cand = Candidate(Pair(1, 2), (("v", "V"),))
    return prune_minmax(cand, profile(family, parent, parent_rows, name="V"),
                        profile(family, child, child_rows))


# -- bounds -----------------------------------------------------------------------------------------

def test_exact_child_min_below_parent_min_prunes() -> None:
    res = check(INT, exact(5, 9), exact(4, 6))
    assert res.pruned and res.reason == MIN_BELOW and res.column == "v"
    assert res.detail == "child exact min 4 < parent 'V' min bound 5"


def test_exact_child_max_above_parent_max_prunes() -> None:
    res = check(INT, exact(5, 9), exact(6, 10))
    assert res.pruned and res.reason == MAX_ABOVE and res.column == "v"


def test_bounds_inside_keep() -> None:
    assert check(INT, exact(5, 9), exact(5, 9)) == PruneResult(False)
    assert not check(INT, exact(-(2**63), 2**63 - 1), exact(0, 1)).pruned  # other widths, same family


def test_inexact_child_bounds_are_never_used() -> None:
    inexact = ColumnStats(min=1, max=100, min_exact=False, max_exact=False, null_count=0)
    assert not check(INT, exact(5, 9), inexact).pruned


def test_inexact_parent_bounds_are_used() -> None:
    parent = ColumnStats(min=5, max=9, min_exact=False, max_exact=False, null_count=0)
    assert check(INT, parent, exact(4, 6)).reason == MIN_BELOW
    assert check(INT, parent, exact(6, 10)).reason == MAX_ABOVE


def test_truncated_strings_on_the_parent_side() -> None:
    # Parent: true min "abcdef" written as prefix "abcd" (inexact), max dropped.
    parent = ColumnStats(min="abcd", max=None, min_exact=False, null_count=0)
    assert not check(STR, parent, exact("abcdef", "zzz")).pruned  # contained values stay
    assert not check(STR, parent, exact("abcd", "zzz")).pruned
    assert check(STR, parent, exact("abcc", "abcz")).reason == MIN_BELOW
    # Parent max rounded up from "abcdzz" to "abce": a valid, inexact upper bound.
    rounded = ColumnStats(min="abcd", max="abce", min_exact=False, max_exact=False, null_count=0)
    assert not check(STR, rounded, exact("abcdef", "abcdzz")).pruned
    assert check(STR, rounded, exact("abcdef", "abcf")).reason == MAX_ABOVE


def test_truncated_strings_on_the_child_side_are_not_used() -> None:
    # Child's min prefix "abca" (true min "abcazz") is below parent's exact min "abcb" — but a prefix
    # is not a value of the child, so it proves nothing.
    child = ColumnStats(min="abca", max=None, min_exact=False, null_count=0)
    assert not check(STR, exact("abcb", "abcz"), child).pruned
    # Same for a rounded-up child max above the parent's max.
    child = ColumnStats(min="abca", max="abcf", min_exact=False, max_exact=False, null_count=0)
    assert not check(STR, exact("abca", "abce"), child).pruned


def test_strings_compare_by_utf8_bytes() -> None:
    assert check(STR, exact("b", "é"), exact("a", "b")).reason == MIN_BELOW
    assert not check(STR, exact("a", "\U0001f600"), exact("é", "\uffff")).pruned


def test_decimals_compare_numerically_not_as_text() -> None:
    assert not check(DEC, exact("9.5", "100.00"), exact("10.0", "99.99")).pruned  # "10.0" < "9.5" as text
    assert not check(DEC, exact("1.50", "2"), exact("1.5", "2.00")).pruned
    assert check(DEC, exact("1.50", "2"), exact("1.49", "2")).reason == MIN_BELOW


def test_binary_and_timestamps() -> None:
    assert check(BIN, exact("0a", "ff"), exact("00ff", "0b")).reason == MIN_BELOW
    assert not check(BIN, exact("0a", "ff"), exact("0a00", "fe")).pruned
    assert check(TS, exact(1_000, 2_000), exact(1_000, 2_001)).reason == MAX_ABOVE


def test_negative_zero_equals_zero() -> None:
    assert not check(FLT, exact(0.0, 0.0), exact(-0.0, -0.0)).pruned
    assert not check(FLT, exact(-0.0, -0.0), exact(0.0, 0.0)).pruned


def test_nan_bounds_are_unknown() -> None:
    nan = math.nan
    assert not check(FLT, exact(nan, nan), exact(-1e9, 1e9)).pruned
    assert not check(FLT, exact(0.0, 1.0), exact(nan, nan)).pruned
    assert check(FLT, exact(0.0, 1.0), exact(-math.inf, 0.5)).reason == MIN_BELOW


def test_uncomparable_or_corrupt_values_never_prune() -> None:
    assert not check(DEC, exact("NaN", "NaN"), exact("1", "2")).pruned
    assert not check(INT, exact(5, 9), exact("a", "b")).pruned
    assert not check(BIN, exact("zz", "zz"), exact("00", "00")).pruned
    assert not check(STR, exact("b", "c"), exact(1, 2)).pruned
    assert not check(Family.UNSUPPORTED, exact(5, 9), exact(1, 2)).pruned


def test_booleans_are_not_bound_checked() -> None:
    # Family.comparable is False for BOOLEAN (writers disagree on their ordering), so no bounds rule.
    assert not check(BOOL, exact(True, True), exact(False, False)).pruned


def test_absent_child_bounds_are_unknown() -> None:
    partially_null = ColumnStats(null_count=3)
    assert not check(INT, exact(5, 9, nulls=1), partially_null).pruned


def test_all_null_child_uses_no_bounds() -> None:
    bogus = ColumnStats(min=0, max=100, min_exact=True, max_exact=True, null_count=10)
    assert not check(INT, exact(5, 9, nulls=1), bogus).pruned
    assert check(INT, exact(5, 9, nulls=0), bogus).reason == NULLS


# -- nulls and rows ---------------------------------------------------------------------------------

def test_child_nulls_into_null_free_parent_prune() -> None:
    res = check(INT, exact(5, 9, nulls=0), exact(5, 9, nulls=2))
    assert res.pruned and res.reason == NULLS and res.column == "v"


def test_null_rule_needs_both_counts_known() -> None:
    assert not check(INT, exact(5, 9, nulls=None), exact(5, 9, nulls=2)).pruned
    assert not check(INT, exact(5, 9, nulls=0), exact(5, 9, nulls=None)).pruned
    assert not check(INT, exact(5, 9, nulls=3), exact(5, 9, nulls=2)).pruned


def test_parent_all_null_column_cannot_hold_child_values() -> None:
    all_null = ColumnStats(null_count=10)
    assert check(INT, all_null, exact(5, 9, nulls=0)).reason == PARENT_ALL_NULL
    assert check(FLT, all_null, ColumnStats(null_count=2), child_rows=3).reason == PARENT_ALL_NULL
    assert not check(INT, all_null, ColumnStats(null_count=3), child_rows=3).pruned
    assert not check(INT, all_null, ColumnStats(null_count=3), child_rows=None).pruned


def test_row_counts_never_prune_but_an_empty_parent_does() -> None:
    assert not check(INT, exact(5, 9), exact(5, 9), parent_rows=2, child_rows=1_000_000).pruned
    assert not check(INT, exact(5, 9), exact(5, 9), parent_rows=None, child_rows=None).pruned
    assert check(INT, ColumnStats(null_count=0), exact(5, 9), parent_rows=0).reason == PARENT_EMPTY
    assert check(INT, exact(5, 9), ColumnStats(null_count=0), child_rows=0).reason == CHILD_EMPTY


def test_prune_all_splits_and_keeps_order() -> None:
    profiles = {1: profile(INT, exact(5, 9), name="V"), 2: profile(INT, exact(4, 6)),
                3: profile(INT, exact(6, 7)), 4: profile(INT, exact(6, 8), name="v")}
    cmap = (("v", "V"),)
    cands = [Candidate(Pair(1, 2), cmap), Candidate(Pair(1, 3), cmap),
             Candidate(Pair(4, 3), (("v", "v"),)), Candidate(Pair(4, 2), (("v", "v"),))]
    kept, pruned = prune_all(cands, profiles)
    assert kept == [cands[1], cands[2]]
    assert pruned == [(cands[0], "min_below: child column 'v', parent 'V'"),
                      (cands[3], "min_below: child column 'v', parent 'v'")]
    empty = {**profiles, 1: profile(INT, ColumnStats(null_count=0), num_rows=0, name="V")}
    assert prune_all(cands[:1], empty) == ([], [(cands[0], PARENT_EMPTY)])


# -- properties -------------------------------------------------------------------------------------

def _candidate(case: Case) -> Candidate:
    return Candidate(Pair(1, 2), case.column_map)


@settings(max_examples=400, deadline=None)
@given(contained_cases())
def test_contained_child_is_never_pruned(case: Case) -> None:
    res = prune_minmax(_candidate(case), case.parent_profile, case.child_profile)
    assert res == PruneResult(False)
    kept, _ = prune_all([_candidate(case)], {1: case.parent_profile, 2: case.child_profile})
    assert kept == [_candidate(case)]


@settings(max_examples=150, deadline=None)
@given(violating_cases("min_below"))
def test_child_value_below_parent_min_is_pruned(case: Case) -> None:
    res = prune_minmax(_candidate(case), case.parent_profile, case.child_profile)
    assert (res.pruned, res.reason, res.column) == (True, MIN_BELOW, case.target)


@settings(max_examples=150, deadline=None)
@given(violating_cases("max_above"))
def test_child_value_above_parent_max_is_pruned(case: Case) -> None:
    res = prune_minmax(_candidate(case), case.parent_profile, case.child_profile)
    assert (res.pruned, res.reason, res.column) == (True, MAX_ABOVE, case.target)


@settings(max_examples=150, deadline=None)
@given(violating_cases("nulls"))
def test_child_null_into_null_free_parent_is_pruned(case: Case) -> None:
    res = prune_minmax(_candidate(case), case.parent_profile, case.child_profile)
    assert (res.pruned, res.reason, res.column) == (True, NULLS, case.target)


@settings(max_examples=200, deadline=None)
@given(contained_cases(), st.data())
def test_a_digest_without_some_columns_is_the_digest_of_the_table_seen_without_them(case: Case, data) -> None:
    """The except pass digests a view (a table without its key columns) from its table's digest: the
    same as digesting the view itself, so min-max decides the view's pairs as it would have."""
    profile = case.parent_profile
    keys = tuple(data.draw(st.sets(st.sampled_from([c.key for c in profile.columns]))))
    facts: Digests = {}
    assert digest_without(facts, 7, profile, keys) == _table_facts(without(profile, keys))
    assert facts == {7: _table_facts(profile)}  # the table's own digest, kept for its own pairs
