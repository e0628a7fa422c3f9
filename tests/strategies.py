"""Hypothesis strategies: small tables with real data, contained children, and their profiles.

The idea (after pyarrow's ``tests/strategies.py``): generate a parent table as rows of canonical
values, derive a child that is contained in it *by construction* (a projection and/or a row selection,
with repeated rows, reordered columns, changed name case, other integer widths / timestamp units,
-0.0 for 0.0), and profile both with :func:`build_profile`, a tiny pure-Python profiler computing
exact statistics the way the statistics contract of :mod:`r2d2.types` describes. String statistics
can be "truncated" the way writers do it. Any stage that prunes such a pair has dropped a true edge.

Row values are canonical: ``int`` for integers, dates (days) and timestamps (ns, multiples of 1 µs);
``float`` (NaN, ±0.0, ±inf included); ``decimal.Decimal``; ``str``; ``bytes``; ``bool``; ``None`` is null.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import assume
from hypothesis import strategies as st

from r2d2.types import Column, ColumnStats, Family, TableProfile, stat_order_key

StatsMode = Literal["exact", "prefix", "roundup", "unflagged"]
"""How a writer records STRING statistics: ``exact``; ``prefix`` (4-char prefix of the min, flagged
inexact when cut, max dropped when it would be cut); ``roundup`` (like ``prefix`` but the max is the
prefix with its last character incremented, inexact); ``unflagged`` (exact values, never flagged
exact, like writers that do not say)."""

STATS_MODES: tuple[StatsMode, ...] = ("exact", "prefix", "roundup", "unflagged")
PREFIX = 4
DATA_FAMILIES = (Family.INTEGER, Family.FLOAT, Family.DECIMAL, Family.STRING, Family.BINARY,
                 Family.BOOLEAN, Family.DATE, Family.TIMESTAMP)
NAMES = ("id", "Name", "ts", "amount", "flag", "d", "payload", "score")


@dataclass(frozen=True)
class ColSpec:
    name: str
    family: Family
    physical_type: str
    unit: str | None = None


@dataclass(frozen=True)
class Table:
    columns: tuple[ColSpec, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Case:
    """A parent, a child, their profiles and the expected column map (child key → parent name)."""

    parent: Table
    child: Table
    parent_profile: TableProfile
    child_profile: TableProfile
    column_map: tuple[tuple[str, str], ...]
    target: str | None = None  # for violating cases: the child column key that breaks containment


# -- values -----------------------------------------------------------------------------------------

_INT_WIDTHS = (("int8", 7), ("int16", 15), ("int32", 31), ("int64", 63))


def _values(family: Family) -> st.SearchStrategy[Any]:
    if family is Family.INTEGER:
        return st.one_of(st.integers(-128, 127), st.integers(-(2**31), 2**31 - 1),
                         st.integers(-(2**63), 2**63 - 1))
    if family is Family.FLOAT:
        return st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                         st.sampled_from([0.0, -0.0, math.nan, 1.5, -1.5]))
    if family is Family.DECIMAL:
        return st.decimals(min_value=-(10**6), max_value=10**6, places=2,
                           allow_nan=False, allow_infinity=False)
    if family is Family.STRING:
        return st.one_of(st.text(max_size=6), st.text(min_size=5, max_size=40),
                         st.text(alphabet="ab", max_size=8).map(lambda s: "abcd" + s))
    if family is Family.BINARY:
        return st.binary(max_size=12)
    if family is Family.BOOLEAN:
        return st.booleans()
    if family is Family.DATE:
        return st.integers(-719_162, 2_932_896)
    if family is Family.TIMESTAMP:
        return st.integers(-(2**52), 2**52).map(lambda us: us * 1000)
    raise ValueError(family)


def _physical(draw: st.DrawFn, family: Family, values: Sequence[Any]) -> tuple[str, str | None]:
    """A physical type able to hold ``values`` (any width that fits, for integers)."""
    if family is Family.INTEGER:
        need = max((abs(v) if v >= 0 else abs(v) - 1 for v in values if v is not None), default=0)
        fits = [name for name, bits in _INT_WIDTHS if need < 2**bits]
        return draw(st.sampled_from(fits)), None
    if family is Family.TIMESTAMP:
        unit = draw(st.sampled_from(["us", "ns"]))
        return f"timestamp[{unit}, tz=UTC]", unit
    return {Family.FLOAT: "double", Family.DECIMAL: "decimal128(12, 2)", Family.STRING: "string",
            Family.BINARY: "binary", Family.BOOLEAN: "bool", Family.DATE: "date32[day]"}[family], None


def _case_variant(draw: st.DrawFn, name: str) -> str:
    return draw(st.sampled_from([name, name.lower(), name.upper(), name.swapcase()]))


# -- profiles ---------------------------------------------------------------------------------------

def canonical(family: Family, value: Any) -> Any:
    """The canonical statistic form of one row value (see ``r2d2.types.canonical_stat``)."""
    if family is Family.DECIMAL:
        return str(value)
    if family is Family.BINARY:
        return value.hex()
    return value


def _round_up(prefix: str) -> str | None:
    code = ord(prefix[-1]) + 1
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return prefix[:-1] + chr(code)


def column_stats(family: Family, values: Sequence[Any], *, mode: StatsMode = "exact",
                 null_count: bool = True) -> ColumnStats:
    """Exact statistics of ``values`` in canonical form, then degraded as a writer in ``mode`` would."""
    nulls = sum(v is None for v in values)
    present = [canonical(family, v) for v in values
               if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if family is Family.UNSUPPORTED or not present:
        return ColumnStats(null_count=nulls if null_count else None)
    lo = min(present, key=lambda v: stat_order_key(family, v))
    hi = max(present, key=lambda v: stat_order_key(family, v))
    lo_exact = hi_exact = mode != "unflagged"
    if family is Family.STRING and mode in ("prefix", "roundup"):
        if len(lo) > PREFIX:
            lo, lo_exact = lo[:PREFIX], False
        if len(hi) > PREFIX:
            hi, hi_exact = (_round_up(hi[:PREFIX]) if mode == "roundup" else None), False
    return ColumnStats(min=lo, max=hi, min_exact=lo_exact, max_exact=hi_exact and hi is not None,
                       null_count=nulls if null_count else None)


def build_profile(location: str, table: Table, *, mode: StatsMode = "exact", null_counts: bool = True,
                  rows_known: bool = True) -> TableProfile:
    """Profile ``table`` from its data (exact statistics, then degraded according to ``mode``)."""
    columns = tuple(Column(name=c.name, physical_type=c.physical_type, family=c.family, unit=c.unit,
                           reason="struct" if c.family is Family.UNSUPPORTED else None)
                    for c in table.columns)
    stats = {col.key: column_stats(col.family, [r[i] for r in table.rows], mode=mode,
                                   null_count=null_counts)
             for i, col in enumerate(columns)}
    return TableProfile(location=location, format="parquet", fingerprint=location, columns=columns,
                        stats=stats, num_rows=len(table.rows) if rows_known else None, num_bytes=0,
                        files=())


# -- strategies -------------------------------------------------------------------------------------

@st.composite
def tables(draw: st.DrawFn, *, min_rows: int = 1, max_rows: int = 6, max_columns: int = 5,
           families: Sequence[Family] = DATA_FAMILIES) -> Table:
    """A small table: 1..max_columns columns with distinct (case-insensitive) names, real rows.
    About half of the columns are nullable (and then hold nulls about half of the time)."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=max_columns, unique=True))
    fams = [draw(st.sampled_from(families)) for _ in names]
    nrows = draw(st.integers(min_rows, max_rows))
    cells = [st.one_of(st.none(), _values(f)) if draw(st.booleans()) else _values(f) for f in fams]
    rows = tuple(tuple(draw(cell) for cell in cells) for _ in range(nrows))
    columns = []
    for i, (name, fam) in enumerate(zip(names, fams, strict=True)):
        phys, unit = _physical(draw, fam, [r[i] for r in rows])
        columns.append(ColSpec(_case_variant(draw, name), fam, phys, unit))
    return Table(tuple(columns), rows)


def _flip_zero(draw: st.DrawFn, value: Any) -> Any:
    if isinstance(value, float) and value == 0.0 and draw(st.booleans()):
        return -value
    return value


@st.composite
def contained_cases(draw: st.DrawFn, *, exact: bool = False) -> Case:
    """A parent and a child contained in it by construction, both profiled.

    ``exact=True`` profiles both sides with exact statistics and known counts (for negative tests).
    """
    parent = draw(tables())
    if not exact and draw(st.booleans()):  # a parent-only column of an unsupported type
        extra = next(n for n in ("nested", "Nested2") if n.lower() not in
                     {c.name.lower() for c in parent.columns})
        parent = Table((*parent.columns, ColSpec(extra, Family.UNSUPPORTED, "struct<a: int64>")),
                       tuple((*r, None) for r in parent.rows))
    supported = [i for i, c in enumerate(parent.columns) if c.family is not Family.UNSUPPORTED]
    picked = draw(st.permutations(supported))
    keep = picked[: draw(st.integers(1, len(picked)))]
    row_idx = draw(st.lists(st.integers(0, len(parent.rows) - 1), min_size=1, max_size=10))
    rows = tuple(tuple(_flip_zero(draw, parent.rows[r][i]) for i in keep) for r in row_idx)
    columns = []
    for j, i in enumerate(keep):
        pc = parent.columns[i]
        phys, unit = _physical(draw, pc.family, [r[j] for r in rows])
        columns.append(ColSpec(_case_variant(draw, pc.name), pc.family, phys, unit))
    child = Table(tuple(columns), rows)
    pmode: StatsMode
    cmode: StatsMode
    if exact:
        pmode = cmode = "exact"
        p_nulls = c_nulls = p_rows = c_rows = True
    else:
        pmode, cmode = draw(st.sampled_from(STATS_MODES)), draw(st.sampled_from(STATS_MODES))
        p_nulls, c_nulls, p_rows, c_rows = (draw(st.booleans()) for _ in range(4))
    return Case(
        parent=parent, child=child,
        parent_profile=build_profile("mem://parent", parent, mode=pmode, null_counts=p_nulls,
                                     rows_known=p_rows),
        child_profile=build_profile("mem://child", child, mode=cmode, null_counts=c_nulls,
                                    rows_known=c_rows),
        column_map=tuple(sorted((c.name.lower(), parent.columns[i].name)
                                for c, i in zip(columns, keep, strict=True))),
    )


def _below(family: Family, v: Any) -> Any:
    """A value of ``family`` strictly below ``v`` (row form), or None when there is none."""
    if family in (Family.INTEGER, Family.DATE):
        return v - 1
    if family is Family.TIMESTAMP:
        return v - 1000
    if family is Family.FLOAT:
        return None if v == -math.inf else math.nextafter(v, -math.inf)
    if family is Family.DECIMAL:
        return v - 1
    if family is Family.STRING:
        return "" if v != "" else None
    if family is Family.BINARY:
        return b"" if v != b"" else None
    return None


def _above(family: Family, v: Any) -> Any:
    """A value of ``family`` strictly above ``v`` (row form), or None when there is none."""
    if family in (Family.INTEGER, Family.DATE):
        return v + 1
    if family is Family.TIMESTAMP:
        return v + 1000
    if family is Family.FLOAT:
        return None if v == math.inf else math.nextafter(v, math.inf)
    if family is Family.DECIMAL:
        return v + 1
    if family is Family.STRING:
        return v + "z"
    if family is Family.BINARY:
        return v + b"\x00"
    return None


def _row_form_extreme(family: Family, values: Sequence[Any], pick: Any) -> Any:
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not present:
        return None
    return pick(present, key=lambda v: stat_order_key(family, canonical(family, v)))


@st.composite
def violating_cases(draw: st.DrawFn, kind: Literal["min_below", "max_above", "nulls"]) -> Case:
    """A contained case (exact statistics) plus one child row that breaks containment on ``target``:
    a value below the parent's min, above its max, or a null where the parent has none."""
    base = draw(contained_cases(exact=True))
    child, parent = base.child, base.parent
    parent_index = {c.name.lower(): i for i, c in enumerate(parent.columns)}
    options: list[tuple[int, Any]] = []
    for j, col in enumerate(child.columns):
        pvals = [r[parent_index[col.name.lower()]] for r in parent.rows]
        if kind == "nulls":
            if all(v is not None for v in pvals):
                options.append((j, None))
            continue
        if not col.family.comparable:
            continue
        extreme = _row_form_extreme(col.family, pvals, min if kind == "min_below" else max)
        if extreme is None:
            continue
        bad = (_below if kind == "min_below" else _above)(col.family, extreme)
        if bad is not None:
            options.append((j, bad))
    assume(options)
    j, bad = draw(st.sampled_from(options))
    row = list(draw(st.sampled_from(child.rows)))
    row[j] = bad
    columns = child.columns
    if columns[j].family is Family.INTEGER:  # the new value may need a wider type
        columns = (*columns[:j], ColSpec(columns[j].name, Family.INTEGER, "int64"), *columns[j + 1:])
    at = draw(st.integers(0, len(child.rows)))
    rows = (*child.rows[:at], tuple(row), *child.rows[at:])
    bad_child = Table(columns, rows)
    return Case(parent=parent, child=bad_child, parent_profile=base.parent_profile,
                child_profile=build_profile("mem://child", bad_child),
                column_map=base.column_map, target=child.columns[j].name.lower())



# -- schema-only profiles (stage 1) -----------------------------------------------------------------

_SCHEMA_FAMILIES = (Family.INTEGER, Family.INTEGER, Family.FLOAT, Family.STRING, Family.UNSUPPORTED)


@functools.lru_cache(maxsize=4096)
def _column(name: str, family: Family) -> Column:
    return Column(name=name, physical_type="int64" if family is Family.INTEGER else str(family),
                  family=family, reason="struct" if family is Family.UNSUPPORTED else None)


def schema_profile(columns: Sequence[tuple[str, Family]], num_rows: int | None = 1,
                   location: str = "mem://t") -> TableProfile:
    """A profile with a schema and a row count only (no statistics)."""
    cols = tuple(_column(n, f) for n, f in columns)
    return TableProfile(location=location, format="parquet", fingerprint=location, columns=cols,
                        stats={}, num_rows=num_rows, num_bytes=0, files=())


@st.composite
def schema_lakes(draw: st.DrawFn, max_tables: int = 12) -> dict[int, TableProfile]:
    """Small sets of schema-only profiles drawn from a tiny vocabulary, so that schemas overlap a lot
    and every eligibility case shows up (name collisions, no rows, no columns, unsupported types)."""
    ids = draw(st.lists(st.integers(0, 10**6), max_size=max_tables, unique=True))
    lake = {}
    for tid in ids:
        cols = draw(st.lists(st.tuples(st.sampled_from(["a", "A", "b", "c", "B", "d"]),
                                       st.sampled_from(_SCHEMA_FAMILIES)), max_size=4))
        rows = draw(st.sampled_from([None, 0, 1, 10]))
        lake[tid] = schema_profile(cols, rows, f"mem://{tid}")
    return lake
