"""Canonical statistic values and their aggregation over files / row groups.

Aggregation keeps the contract of :mod:`r2d2.types`: min-of-mins and max-of-maxes over every part
(file or row group) that has rows; a part with rows but without a bound makes that bound unknown
(``None``), a part whose rows are all null contributes nothing; a bound is exact only when every
contributing part's winning bound is exact.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from dataclasses import dataclass
from typing import Any

from r2d2.types import ColumnStats, Family, stat_order_key

NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
EPOCH_DATE = dt.date(1970, 1, 1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Writers may truncate string/binary statistics to a prefix: at this length a bound may be truncated.
TRUNCATION_BYTES = 64


def date_days(value: Any) -> int:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return (value - EPOCH_DATE).days
    return int(value)


def datetime_ns(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def canonical(family: Family, value: Any, unit: str | None = None) -> Any:
    """Canonical comparable form of one statistic value (None when it cannot be represented)."""
    if value is None:
        return None
    if family is Family.INTEGER:
        return int(value)
    if family is Family.FLOAT:
        f = float(value)
        return None if math.isnan(f) else f
    if family is Family.DECIMAL:
        return str(decimal.Decimal(value))
    if family is Family.STRING:
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        return str(value)
    if family is Family.BINARY:
        if isinstance(value, str):
            value = value.encode("utf-8")
        return bytes(value).hex()
    if family is Family.BOOLEAN:
        return bool(value)
    if family is Family.DATE:
        return date_days(value)
    if family is Family.TIMESTAMP:
        if isinstance(value, dt.datetime):
            return datetime_ns(value)
        return int(value) * NS_PER_UNIT[unit or "us"]
    return None


@dataclass(frozen=True)
class Bound:
    """A bound of one part: value (canonical) or None = unknown; exact when attained."""

    value: Any
    exact: bool


class StatsAccumulator:
    """Aggregates per-part statistics of one column."""

    def __init__(self, family: Family) -> None:
        self.family = family
        self.min: Bound | None = None
        self.max: Bound | None = None
        self.min_unknown = False
        self.max_unknown = False
        self.null_count: int | None = 0

    def _key(self, value: Any) -> Any:
        return stat_order_key(self.family, value)

    def add(self, *, rows: int | None, nulls: int | None, low: Bound | None, high: Bound | None) -> None:
        """One part: ``rows`` (None if unknown), null count, and its min/max bounds (None = missing)."""
        if rows == 0:  # an empty part has no nulls and bounds nothing, whatever its statistics say
            if self.null_count is not None and nulls:
                self.null_count += nulls
            return
        if self.null_count is not None:
            self.null_count = None if nulls is None else self.null_count + nulls
        all_null = rows is not None and nulls is not None and nulls >= rows
        if all_null:
            return
        if low is None or low.value is None:
            self.min_unknown = True
        elif self._better(low, self.min, -1):
            self.min = low
        if high is None or high.value is None:
            self.max_unknown = True
        elif self._better(high, self.max, 1):
            self.max = high

    def add_nulls(self, nulls: int | None) -> None:
        """A part whose rows are all null (e.g. a null partition value); ``None`` = row count unknown."""
        if self.null_count is not None:
            self.null_count = None if nulls is None else self.null_count + nulls

    def _better(self, new: Bound, cur: Bound | None, sign: int) -> bool:
        """Whether ``new`` replaces ``cur`` (lower for min, sign -1; higher for max, sign 1)."""
        if cur is None:
            return True
        a, b = self._key(new.value), self._key(cur.value)
        if a == b:
            return new.exact and not cur.exact
        return (a > b) if sign > 0 else (a < b)

    def result(self) -> ColumnStats:
        comparable = self.family not in (Family.UNSUPPORTED,)
        lo = None if self.min_unknown or not comparable else self.min
        hi = None if self.max_unknown or not comparable else self.max
        return ColumnStats(
            min=lo.value if lo else None,
            max=hi.value if hi else None,
            min_exact=bool(lo and lo.exact),
            max_exact=bool(hi and hi.exact),
            null_count=self.null_count,
        )


def string_bounds(
    family: Family,
    low: Any,
    high: Any,
    *,
    limit: int = TRUNCATION_BYTES,
    low_exact: bool | None = None,
    high_exact: bool | None = None,
) -> tuple[Bound | None, Bound | None]:
    """Bounds of a string/binary part whose writer may have truncated them at ``limit`` bytes.

    A possibly truncated min (a prefix) is still a lower bound: kept, inexact. A possibly truncated max
    is not an upper bound unless the writer rounded it up, which cannot be told: dropped, unless the
    writer flagged it exact.
    """

    def size(v: Any) -> int:
        if isinstance(v, bytes):
            return len(v)
        return len(str(v).encode("utf-8", "surrogatepass"))

    lo = hi = None
    if low is not None:
        exact = low_exact if low_exact is not None else size(low) < limit
        lo = Bound(canonical(family, low), exact)
    if high is not None:
        exact = high_exact if high_exact is not None else size(high) < limit
        hi = Bound(canonical(family, high), True) if exact else None
    return lo, hi
