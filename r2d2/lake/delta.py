"""Thin typed wrapper over delta-rs (``deltalake``): the current snapshot of a Delta table.

Only the log is read here (never data: delta-rs' own data reader can abort the process at exit).
The snapshot gives the version, the Arrow schema, the partition columns and the add actions with
their statistics; data files are read elsewhere with pyarrow or Spark.

* Deletion vectors: a file's deleted rows (from delta-rs' selection vectors) travel with its add
  action; its row count leaves them out, and its min/max/null-count statistics — computed when the
  file was written, deleted rows included — are dropped (unknown), since they would no longer be
  exact. Readers of the file skip the deleted rows (:mod:`r2d2.lake.arrow_read`).
* Column mapping (``name`` or ``id`` mode): the schema keeps logical names; each column's physical
  name (what the Parquet files call it) is in :attr:`DeltaSnapshot.physical`, and statistics are
  keyed by logical names.
* Object stores: the store's options (:func:`r2d2.lake.fs.delta_options`) are handed to delta-rs.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

from r2d2.errors import TableReadError, UnsupportedTableError
from r2d2.lake import fs as lakefs

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
    deleted: tuple[int, ...] = ()  # positions of the rows a deletion vector removes (sorted)


@dataclass(frozen=True)
class DeltaSnapshot:
    location: str
    version: int
    table_id: str
    schema: pa.Schema
    partition_columns: tuple[str, ...]
    adds: tuple[AddAction, ...]
    log_bytes: int = 0
    physical: dict[str, str] = field(default_factory=dict)  # logical -> physical name (column mapping)

    @property
    def has_deletions(self) -> bool:
        return any(a.deleted for a in self.adds)


def _table_uri(location: str) -> str:
    return lakefs.delta_uri(location)


def open_table(location: str, version: int | None = None) -> Any:
    """delta-rs' table at ``location`` (the given version, else the current one), with the store's options."""
    from deltalake import DeltaTable

    return DeltaTable(_table_uri(location), version=version, storage_options=lakefs.delta_options(location))


def _check_supported(dt: Any, location: str) -> None:
    protocol = dt.protocol()
    features = set(protocol.reader_features or ())
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


_PHYSICAL = b"delta.columnMapping.physicalName"


def _physical_names(schema: pa.Schema) -> dict[str, str]:
    """Logical -> physical name of each top-level column that column mapping renamed."""
    out = {}
    for f in schema:
        physical = (f.metadata or {}).get(_PHYSICAL)
        if physical is not None and physical.decode() != f.name:
            out[f.name] = physical.decode()
    return out


def _deletions(dt: Any, location: str) -> dict[str, tuple[int, ...]]:
    """Deleted row positions by file (relative path, as in the add actions) of files with a deletion vector."""
    import numpy as np

    def plain(uri: str) -> str:  # file:///x -> /x; other URIs in their one spelling
        return lakefs.normalize_location("/" + uri[len("file://"):].lstrip("/") if uri.startswith("file://") else uri)

    table = pa.table(dt.deletion_vectors())
    base = plain(dt.table_uri).rstrip("/") + "/"
    out = {}
    for uri, keep in zip(table.column("filepath").to_pylist(), table.column("selection_vector"), strict=True):
        mask = np.asarray(keep.values.to_numpy(zero_copy_only=False), dtype=bool)
        full = plain(uri)
        rel = unquote(full[len(base):]) if full.startswith(base) else full
        out[rel] = tuple(np.flatnonzero(~mask).tolist())
    return out


def _logical(stats: dict[str, Any], logical_of: dict[str, str]) -> dict[str, Any]:
    return {logical_of.get(k, k): v for k, v in stats.items()} if logical_of else stats


def snapshot(location: str, version: int | None = None) -> DeltaSnapshot:
    """Read the current (or given) snapshot of the Delta table at ``location`` from its log."""
    try:
        dt = open_table(location, version)
    except Exception as exc:
        raise _engine_error(location, "cannot read the Delta log", exc) from exc
    _check_supported(dt, location)
    try:
        schema = pa.schema(dt.schema().to_arrow())
        meta = dt.metadata()
        adds_table = pa.table(dt.get_add_actions(flatten=False))
        deleted = _deletions(dt, location) if "deletionVectors" in set(dt.protocol().reader_features or ()) else {}
    except Exception as exc:
        raise _engine_error(location, "cannot read the Delta snapshot", exc) from exc
    physical = _physical_names(schema)
    logical_of = {v: k for k, v in physical.items()}
    adds = []
    for row in adds_table.to_pylist():
        path = _decode_path(row["path"])
        gone = deleted.get(path, ())
        records = row.get("num_records")
        stats = {"min_values": _logical(_struct_dict(row, "min"), logical_of),
                 "max_values": _logical(_struct_dict(row, "max"), logical_of),
                 "null_count": _logical(_struct_dict(row, "null_count"), logical_of)}
        if gone:  # statistics of the file as written: deleted rows included, so no longer exact
            stats = {"min_values": {}, "max_values": {}, "null_count": {}}
            records = None if records is None else int(records) - len(gone)
        adds.append(
            AddAction(
                path=path,
                size=int(row["size_bytes"]),
                modification_time_ms=int(row["modification_time"]),
                partition_values=_logical(_partition_values(row), logical_of),
                num_records=records,
                deleted=gone,
                **stats,
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
        physical=physical,
    )


@dataclass(frozen=True)
class ReadLayout:
    """What a reader of the snapshot's files needs beyond their paths."""

    physical: dict[str, str]  # logical -> physical column name
    deleted: dict[str, tuple[int, ...]]  # file (as in the add actions) -> deleted row positions


_layouts: dict[tuple[str, int | None], ReadLayout] = {}


def read_layout(location: str, version: int | None) -> ReadLayout:
    """Column mapping and deletion vectors of a snapshot (cached per process: snapshots do not change)."""
    key = (location, version)
    if key not in _layouts:
        try:
            dt = open_table(location, version)
            schema = pa.schema(dt.schema().to_arrow())
            features = set(dt.protocol().reader_features or ())
            deleted = _deletions(dt, location) if "deletionVectors" in features else {}
        except Exception as exc:
            raise _engine_error(location, "cannot read the Delta log", exc) from exc
        if len(_layouts) > 256:
            _layouts.clear()
        _layouts[key] = ReadLayout(_physical_names(schema), deleted)
    return _layouts[key]


def _log_bytes(location: str) -> int:
    """Bytes of the log files (an upper bound on what reading the snapshot needed)."""
    try:
        fs, path = lakefs.resolve(location)
        return sum(e.size for e in lakefs.list_dir(fs, path + "/_delta_log") if e.is_file)
    except Exception:
        return 0
