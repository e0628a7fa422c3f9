"""Profile a Delta table from its log (delta-rs): schema from the log, statistics from add actions.

Rules on top of :mod:`r2d2.profile.stats`:

* strings: Delta writers truncate string statistics (delta-spark to 32 characters; delta-rs keeps the
  Parquet writer's 64-byte prefix, the max rounded up). A min of 32 characters or more is kept as an
  inexact lower bound. A max of 32 characters or more is kept (inexact) only when it ends with the
  tie-breaker delta-spark appends (U+FFFF or U+10FFFF), which makes it an upper bound; else dropped.
* timestamps: the log stores them as ISO strings with millisecond precision, i.e. truncated. A
  truncated min is at most the true min (a valid lower bound, not exact); a truncated max is below the
  true max, so 1 ms is added to make it an upper bound (not exact). Dates and numbers are exact.
* a file without statistics makes the bound unknown; partition values come from the log: exact.
* an empty table (no data file) has zero rows and the schema of the log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from r2d2.lake.delta import AddAction, DeltaSnapshot, snapshot
from r2d2.lake.discover import DiscoveredTable
from r2d2.profile.families import column_of
from r2d2.profile.parquet import unsupported_issues
from r2d2.profile.stats import Bound, StatsAccumulator, canonical, datetime_ns
from r2d2.types import Column, ColumnStats, Family, TableProfile

DELTA_STRING_PREFIX = 32
_TIE_BREAKERS = ("\uffff", "\U0010ffff")
_MS = 1_000_000


def _string_bounds(low: Any, high: Any) -> tuple[Bound | None, Bound | None]:
    lo = hi = None
    if low is not None:
        lo = Bound(str(low), len(low) < DELTA_STRING_PREFIX)
    if high is not None:
        if len(high) < DELTA_STRING_PREFIX:
            hi = Bound(str(high), True)
        elif high.endswith(_TIE_BREAKERS):
            hi = Bound(str(high), False)
    return lo, hi


def _timestamp_ns(value: Any, unit: str | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return datetime_ns(value)
    return canonical(Family.TIMESTAMP, value, unit)


def _bounds(col: Column, add: AddAction) -> tuple[Bound | None, Bound | None]:
    low, high = add.min_values.get(col.name), add.max_values.get(col.name)
    fam = col.family
    if fam is Family.STRING:
        return _string_bounds(low, high)
    if fam is Family.TIMESTAMP:
        lo_ns, hi_ns = _timestamp_ns(low, col.unit), _timestamp_ns(high, col.unit)
        # ms-truncated (towards -inf or towards 0): widen both sides when the direction is not safe
        lo = None if lo_ns is None else Bound(lo_ns - (_MS if lo_ns < 0 else 0), False)
        hi = None if hi_ns is None else Bound(hi_ns + _MS, False)
        return lo, hi
    if fam in (Family.BINARY, Family.BOOLEAN, Family.UNSUPPORTED):
        return None, None
    lo = canonical(fam, low)
    hi = canonical(fam, high)
    return (Bound(lo, True) if lo is not None else None), (Bound(hi, True) if hi is not None else None)


def _partition_value(col: Column, raw: str | None) -> Any:
    if raw is None:
        return None
    fam = col.family
    if fam is Family.INTEGER:
        return int(raw)
    if fam is Family.FLOAT:
        return float(raw)
    if fam is Family.BOOLEAN:
        return raw.lower() == "true"
    if fam is Family.DATE:
        return canonical(fam, dt.date.fromisoformat(raw))
    if fam is Family.TIMESTAMP:
        value = dt.datetime.fromisoformat(raw.replace(" ", "T").rstrip("Z"))
        return datetime_ns(value)
    if fam in (Family.STRING, Family.DECIMAL):
        return canonical(fam, raw)
    return None


def _column_stats(col: Column, adds: Sequence[AddAction], partitioned: bool) -> ColumnStats:
    acc = StatsAccumulator(col.family)
    for add in adds:
        if partitioned:
            raw = add.partition_values.get(col.name)
            if raw is None:
                acc.add_nulls(add.num_records)
                continue
            try:
                value = _partition_value(col, raw)
            except ValueError:
                value = None
            bound = Bound(value, add.num_records is not None) if value is not None else None
            acc.add(rows=add.num_records, nulls=0, low=bound, high=bound)
            continue
        nulls = add.null_count.get(col.name) if add.num_records is not None else None
        low, high = _bounds(col, add)
        acc.add(rows=add.num_records, nulls=nulls, low=low, high=high)
    return acc.result()


def profile_delta(table: DiscoveredTable) -> TableProfile:
    """Profile a Delta table from its log only."""
    snap: DeltaSnapshot = table.delta_snapshot or snapshot(table.location, table.delta_version)
    parts = {p.lower() for p in snap.partition_columns}
    columns = tuple(column_of(f) for f in snap.schema)
    stats = {}
    for col in columns:
        if col.family is Family.UNSUPPORTED:
            stats[col.key] = ColumnStats()
        else:
            stats[col.key] = _column_stats(col, snap.adds, col.key in parts)
    counts = [a.num_records for a in snap.adds]
    num_rows = None if any(c is None for c in counts) else sum(c for c in counts if c is not None)
    return TableProfile(
        location=table.location,
        format="delta",
        fingerprint=table.fingerprint,
        columns=columns,
        stats=stats,
        num_rows=num_rows,
        num_bytes=sum(a.size for a in snap.adds),
        files=table.files,
        partition_columns=snap.partition_columns,
        delta_version=snap.version,
        delta_plain=not snap.physical and not snap.has_deletions,
        bytes_read=snap.log_bytes,
        issues=unsupported_issues(table.location, columns),
    )
