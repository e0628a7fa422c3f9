"""Thin typed wrapper over delta-rs (``deltalake``): the current snapshot of a Delta table.

Only the log is read here (never data: delta-rs' own data reader can abort the process at exit).
The snapshot gives the version, the Arrow schema, the partition columns and the add actions with
their statistics; data files are read elsewhere with pyarrow or Spark.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

from r2d2.errors import TableReadError, UnsupportedTableError
from r2d2.lake import fs as lakefs

_UNSUPPORTED_READER_FEATURES = {"columnMapping": "column mapping"}

log = logging.getLogger("r2d2.lake.delta")


def _engine_error(location: str, what: str, exc: BaseException) -> TableReadError:
    """A delta-rs error as one line (its first): the rest — often a Rust backtrace — goes to the log only,
    never into the catalog, a run's errors or the JSON output."""
    text = str(exc).strip()
    first = text.splitlines()[0].strip() if text else type(exc).__name__
    if text != first:
        log.warning("%s: %s: %s", location, what, text)
    return TableReadError(f"{location}: {what}: {first}", location=location)


@dataclass(frozen=True)
class AddAction:
    """One data file of the snapshot, with the statistics the log carries for it."""

    path: str  # relative to the table (URL-decoded), or an absolute URI
    size: int
    modification_time_ms: int
    partition_values: dict[str, str | None]
    num_records: int | None
    min_values: dict[str, Any]  # column name -> Python value (None when absent)
    max_values: dict[str, Any]
    null_count: dict[str, int | None]


@dataclass(frozen=True)
class DeltaSnapshot:
    location: str
    version: int
    table_id: str
    schema: pa.Schema
    partition_columns: tuple[str, ...]
    adds: tuple[AddAction, ...]
    log_bytes: int = 0


def _table_uri(location: str) -> str:
    return location


def _check_supported(dt: Any, location: str) -> None:
    protocol = dt.protocol()
    features = set(protocol.reader_features or ())
    config = dt.metadata().configuration or {}
    mode = config.get("delta.columnMapping.mode", "none")
    if mode not in ("none", None) or "columnMapping" in features:
        raise UnsupportedTableError(
            f"{location}: Delta column mapping (mode {mode}) is not supported", location=location
        )
    if "deletionVectors" in features:
        try:
            dvs = pa.table(dt.deletion_vectors())
            has_dv = dvs.num_rows > 0
        except Exception:
            has_dv = True
        if has_dv:
            raise UnsupportedTableError(
                f"{location}: Delta deletion vectors are not supported", location=location
            )
    known = {
        "deletionVectors",
        "columnMapping",
        "timestampNtz",
        "v2Checkpoint",
        "vacuumProtocolCheck",
        "typeWidening",
        "typeWidening-preview",
    }
    unknown = features - known
    if unknown:
        raise UnsupportedTableError(
            f"{location}: unsupported Delta reader features: {', '.join(sorted(unknown))}", location=location
        )


def _struct_dict(row: dict[str, Any], key: str) -> dict[str, Any]:
    value = row.get(key)
    return dict(value) if isinstance(value, dict) else {}


def _partition_text(value: Any) -> str | None:
    """A partition value as the log writes it (text): delta-rs hands them over typed."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # the zone, if any, is UTC
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _partition_values(row: dict[str, Any]) -> dict[str, str | None]:
    return {k: _partition_text(v) for k, v in _struct_dict(row, "partition").items()}


def _decode_path(path: str) -> str:
    return path if lakefs.is_uri(path) else unquote(path)


def snapshot(location: str, version: int | None = None) -> DeltaSnapshot:
    """Read the current (or given) snapshot of the Delta table at ``location`` from its log."""
    from deltalake import DeltaTable

    try:
        dt = DeltaTable(_table_uri(location), version=version)
    except Exception as exc:
        raise _engine_error(location, "cannot read the Delta log", exc) from exc
    _check_supported(dt, location)
    try:
        schema = pa.schema(dt.schema().to_arrow())
        meta = dt.metadata()
        adds_table = pa.table(dt.get_add_actions(flatten=False))
    except Exception as exc:
        raise _engine_error(location, "cannot read the Delta snapshot", exc) from exc
    adds = []
    for row in adds_table.to_pylist():
        adds.append(
            AddAction(
                path=_decode_path(row["path"]),
                size=int(row["size_bytes"]),
                modification_time_ms=int(row["modification_time"]),
                partition_values=_partition_values(row),
                num_records=row.get("num_records"),
                min_values=_struct_dict(row, "min"),
                max_values=_struct_dict(row, "max"),
                null_count=_struct_dict(row, "null_count"),
            )
        )
    return DeltaSnapshot(
        location=location,
        version=int(dt.version()),
        table_id=str(meta.id),
        schema=schema,
        partition_columns=tuple(meta.partition_columns),
        adds=tuple(adds),
        log_bytes=_log_bytes(location),
    )


def _log_bytes(location: str) -> int:
    """Bytes of the log files (an upper bound on what reading the snapshot needed)."""
    try:
        fs, path = lakefs.resolve(location)
        return sum(e.size for e in lakefs.list_dir(fs, path + "/_delta_log") if e.is_file)
    except Exception:
        return 0
