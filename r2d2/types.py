"""Shared vocabulary of R2D2: type families, table references and profiles.

These are frozen value types. They carry no I/O; the lake layer produces them and the catalog stores
them (``to_json`` / ``from_json`` give a stable, JSON-safe form).

Statistics contract (what makes min-max pruning sound)
-------------------------------------------------------
For a column's :class:`ColumnStats`:

* ``min`` is ``None`` (unknown) or a *valid lower bound* of the column's non-null, non-NaN values.
  ``min_exact`` is true only when that value is attained by some row (an exact statistic).
* ``max`` likewise is ``None`` or a valid upper bound; ``max_exact`` when attained.
* ``null_count`` is ``None`` when unknown, otherwise exact.

A profiler that cannot guarantee a value is a valid bound (a string max truncated to a prefix without
rounding up, say) must drop it, not flag it inexact. Values are stored in the canonical comparable
form of :func:`canonical_stat`: integers as ``int``, floats as ``float``, decimals as ``str`` of a
:class:`~decimal.Decimal`, strings as ``str``, binary as hex ``str``, booleans as ``bool``, dates as
days since 1970-01-01 (``int``) and timestamps as nanoseconds since the epoch, UTC (``int``).
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal, NamedTuple

TableFormat = Literal["parquet", "csv", "delta"]


class Family(StrEnum):
    """Logical type family: columns match only within one family (DESIGN, containment semantics)."""

    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    STRING = "string"
    BINARY = "binary"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    UNSUPPORTED = "unsupported"  # nested, interval, uint64, ...: never matched

    @property
    def comparable(self) -> bool:
        """Whether min/max of this family are ordered consistently across writers."""
        return self not in (Family.BOOLEAN, Family.UNSUPPORTED)


_FAMILIES = {f.value: f for f in Family}  # a dictionary lookup: Family(value) costs ten times more


class FileEntry(NamedTuple):
    """One data file of a table: its path relative to the table location, size and mtime (a named tuple:
    a walk makes one per file, and a re-scan of a lake of small tables is mostly that)."""

    path: str
    size: int
    mtime_ns: int
    partition: tuple[tuple[str, str | None], ...] = ()  # hive key=value pairs, in path order


@dataclass(frozen=True)
class Column:
    """One column of a table's schema."""

    name: str  # as written by the writer (case preserved)
    physical_type: str  # Arrow type string, e.g. "int32", "timestamp[us, tz=UTC]"
    family: Family
    nullable: bool = True
    unit: str | None = None  # timestamp unit ("s", "ms", "us", "ns") when family is TIMESTAMP
    reason: str | None = None  # why the column is UNSUPPORTED

    @cached_property  # in the instance's dict once read: the schema stages read it about 200,000 times
    def key(self) -> str:
        """Case-insensitive name used for matching."""
        return self.name.lower()


@dataclass(frozen=True)
class ColumnStats:
    """Min/max/null-count of one column over the whole table (see the module docstring)."""

    min: Any = None
    max: Any = None
    min_exact: bool = False
    max_exact: bool = False
    null_count: int | None = None


@dataclass(frozen=True)
class Issue:
    """A non-fatal problem found while profiling (e.g. an unsupported column)."""

    code: str
    message: str


@dataclass(frozen=True)
class TableProfile:
    """What is known about one table from metadata (and, for CSV, one data pass)."""

    location: str
    format: TableFormat
    fingerprint: str
    columns: tuple[Column, ...]
    stats: Mapping[str, ColumnStats]  # keyed by Column.key
    num_rows: int | None
    num_bytes: int
    files: tuple[FileEntry, ...]
    partition_columns: tuple[str, ...] = ()
    delta_version: int | None = None
    # A Delta snapshot without column mapping or deletion vectors: a reader of its files needs nothing
    # from the log (False when unknown, as in profiles stored before this field: the log is read).
    delta_plain: bool = False
    data_read: bool = False  # True when profiling read data (CSV), not only metadata
    bytes_read: int = 0  # bytes read to build this profile (footers, log, or data for CSV)
    column_bytes: Mapping[str, int] = field(default_factory=dict)  # compressed bytes per Column.key
    issues: tuple[Issue, ...] = ()

    @property
    def num_files(self) -> int:
        return len(self.files)

    def column(self, key: str) -> Column:
        for col in self.columns:
            if col.key == key:
                return col
        raise KeyError(key)

    def scan_bytes(self, names: Sequence[str]) -> int:
        """Bytes a read of the columns ``names`` takes: their column chunks when the profile knows
        them (Parquet, Delta), else the whole table (CSV)."""
        if self.format == "csv" or not self.column_bytes:
            return self.num_bytes
        keys = {n.lower() for n in names}
        return sum(size for key, size in self.column_bytes.items() if key in keys)

    @property
    def supported_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.family is not Family.UNSUPPORTED)

    def to_json(self) -> dict[str, Any]:
        """The profile as plain dicts, lists kept as tuples (what ``dataclasses.asdict`` gives, built
        directly: this runs once per table on every scan)."""
        return {
            "location": self.location,
            "format": self.format,
            "fingerprint": self.fingerprint,
            "columns": tuple(
                {"name": c.name, "physical_type": c.physical_type, "family": c.family,
                 "nullable": c.nullable, "unit": c.unit, "reason": c.reason}
                for c in self.columns
            ),
            "stats": {
                k: {"min": v.min, "max": v.max, "min_exact": v.min_exact, "max_exact": v.max_exact,
                    "null_count": v.null_count}
                for k, v in self.stats.items()
            },
            "num_rows": self.num_rows,
            "num_bytes": self.num_bytes,
            "files": tuple(
                {"path": f.path, "size": f.size, "mtime_ns": f.mtime_ns,
                 "partition": tuple((k, v) for k, v in f.partition)}
                for f in self.files
            ),
            "partition_columns": tuple(self.partition_columns),
            "delta_version": self.delta_version,
            "delta_plain": self.delta_plain,
            "data_read": self.data_read,
            "bytes_read": self.bytes_read,
            "column_bytes": dict(self.column_bytes),
            "issues": tuple({"code": i.code, "message": i.message} for i in self.issues),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TableProfile:
        return cls(
            location=data["location"],
            format=data["format"],
            fingerprint=data["fingerprint"],
            columns=tuple(
                Column(c["name"], c["physical_type"], _FAMILIES.get(c["family"]) or Family(c["family"]),
                       c.get("nullable", True), c.get("unit"), c.get("reason"))
                for c in data["columns"]
            ),
            stats={k: ColumnStats(**v) for k, v in data["stats"].items()},
            num_rows=data["num_rows"],
            num_bytes=data["num_bytes"],
            files=tuple(
                FileEntry(
                    path=f["path"],
                    size=f["size"],
                    mtime_ns=f["mtime_ns"],
                    partition=tuple((k, v) for k, v in f.get("partition", ())),
                )
                for f in data["files"]
            ),
            partition_columns=tuple(data.get("partition_columns", ())),
            delta_version=data.get("delta_version"),
            delta_plain=data.get("delta_plain", False),
            data_read=data.get("data_read", False),
            bytes_read=data.get("bytes_read", 0),
            column_bytes=dict(data.get("column_bytes", {})),
            issues=tuple(Issue(**i) for i in data.get("issues", ())),
        )


def stat_order_key(family: Family, value: Any) -> Any:
    """Key that orders canonical statistic values of ``family`` the way the data orders them."""
    if family is Family.DECIMAL:
        return decimal.Decimal(value)
    if family is Family.BINARY:
        return bytes.fromhex(value)
    if family is Family.STRING:
        # Parquet and Delta order strings by UTF-8 bytes, which differs from Python's code-point
        # order only for surrogates; compare bytes to match the writers.
        return value.encode("utf-8", "surrogatepass")
    return value
