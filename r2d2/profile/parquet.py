"""Profile a Parquet table from its footers only (no data read).

Footers of the table's files are read in parallel; per column, statistics are aggregated over every
file and row group (see :mod:`r2d2.profile.stats`). Parquet has no portable "exact" flag for string
statistics in pyarrow 26 (``Statistics`` exposes no ``is_min_exact``), so a string/binary bound of
64 bytes or more is treated as possibly truncated: the min stays as an inexact lower bound, the max is
dropped. INT96 timestamps carry no usable statistics (their sort order is undefined): unknown.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.types as pat

from r2d2.errors import TableReadError
from r2d2.lake import fs as lakefs
from r2d2.lake.discover import DiscoveredTable
from r2d2.profile.families import column_of
from r2d2.profile.partitions import partition_columns, partition_stats
from r2d2.profile.stats import Bound, StatsAccumulator, canonical, string_bounds
from r2d2.types import Column, ColumnStats, Family, Issue, TableProfile

MAX_THREADS = 16


# pyarrow (Arrow C++ ``ParquetFileReader``) reads the last min(size, 64 KiB) of a file in one go, and
# reads the footer again on its own when it is longer than that.
FOOTER_READ_SIZE = 64 * 1024
# Footers of a table with at most this many files are read one after the other: a thread pool per
# small table costs more than it saves (the profiler already runs tables in parallel).
SEQUENTIAL_FILES = 4


@dataclass(frozen=True)
class Footer:
    path: str  # relative path of the file
    metadata: pq.FileMetaData
    schema: pa.Schema
    footer_bytes: int  # bytes read from the file to get the footer (not only the footer's length)


def footer_bytes_read(file_size: int, metadata_len: int) -> int:
    """Bytes pyarrow reads to parse the footer of a file: its tail (up to 64 KiB), plus the whole footer
    again when it did not fit in that tail."""
    tail = min(file_size, FOOTER_READ_SIZE)
    return tail + (metadata_len if metadata_len + 8 > tail else 0)


def read_footer(location: str, relpath: str) -> Footer:
    full = lakefs.join(location, relpath)
    shown = lakefs.printable(full)
    try:
        fs, path = lakefs.resolve(full)
        with fs.open_input_file(path) as handle:
            size = handle.size()
            meta = pq.ParquetFile(handle).metadata
            schema = meta.schema.to_arrow_schema()
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TableReadError(
            f"{location}: cannot read Parquet footer of {shown}: {reason}", location=location, path=full
        ) from exc
    return Footer(path=relpath, metadata=meta, schema=schema,
                  footer_bytes=footer_bytes_read(size, meta.serialized_size))


def read_footers(location: str, relpaths: Sequence[str], max_workers: int = MAX_THREADS) -> list[Footer]:
    """Footers of ``relpaths``, in order (in a thread pool only for tables of many files)."""
    if len(relpaths) <= SEQUENTIAL_FILES or max_workers <= 1:
        return [read_footer(location, p) for p in relpaths]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(relpaths))) as pool:
        return list(pool.map(lambda p: read_footer(location, p), relpaths))


def _same_schema(a: pa.Schema, b: pa.Schema) -> str | None:
    """None when the schemas agree on names and types, else what differs."""
    an = [(f.name, f.type) for f in a]
    bn = [(f.name, f.type) for f in b]
    if an == bn:
        return None
    amap, bmap = dict(an), dict(bn)
    for name, t in an:
        if name in bmap and bmap[name] != t:
            return f"column {name} is {t} in one and {bmap[name]} in the other"
    missing = sorted(set(amap) ^ set(bmap))
    if missing:
        return f"columns differ ({', '.join(missing)})"
    return "column order differs"


def _unit(logical: Any) -> str | None:
    try:
        info = json.loads(logical.to_json())
    except Exception:
        return None
    return {"milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}.get(info.get("timeUnit"))


def _float(value: Any) -> Any:
    if isinstance(value, bytes) and len(value) == 2:  # float16 stored as FIXED_LEN_BYTE_ARRAY(2)
        return struct.unpack("<e", value)[0]
    return value


def _bounds(col: Column, stats: Any, physical: str, unit: str | None) -> tuple[Bound | None, Bound | None]:
    if stats is None or not stats.has_min_max:
        return None, None
    fam = col.family
    if fam in (Family.STRING, Family.BINARY):
        low, high = stats.min_raw, stats.max_raw
        if fam is Family.STRING:
            try:
                low = low.decode("utf-8") if isinstance(low, bytes) else low
                high = high.decode("utf-8") if isinstance(high, bytes) else high
            except UnicodeDecodeError:
                return None, None  # a truncated multi-byte prefix: not usable
        return string_bounds(fam, low, high)
    if fam is Family.TIMESTAMP:
        if physical == "INT96" or unit is None:
            return None, None
        return Bound(canonical(fam, stats.min_raw, unit), True), Bound(
            canonical(fam, stats.max_raw, unit), True
        )
    if fam is Family.DATE:
        return Bound(canonical(fam, stats.min), True), Bound(canonical(fam, stats.max), True)
    if fam is Family.FLOAT:
        lo, hi = canonical(fam, _float(stats.min)), canonical(fam, _float(stats.max))
        return Bound(lo, True) if lo is not None else None, Bound(hi, True) if hi is not None else None
    return Bound(canonical(fam, stats.min), True), Bound(canonical(fam, stats.max), True)


def _leaf_index(footer: Footer) -> dict[str, int]:
    """Leaf column index of each top-level column's name (a nested column's leaves are ``name.child``)."""
    schema = footer.schema
    meta = footer.metadata
    flat = meta.num_columns == len(schema.types) and not any(
        pat.is_nested(t) or isinstance(t, pa.ExtensionType) for t in schema.types)
    if flat:  # leaf j is field j, and its path its name (an extension type may store a struct: not flat)
        return {name: j for j, name in enumerate(schema.names)}
    return {meta.schema.column(j).path: j for j in range(meta.num_columns)}


def _aggregate(
    columns: Sequence[Column], footers: Sequence[Footer]
) -> tuple[dict[str, ColumnStats], dict[str, int]]:
    """Statistics and compressed sizes of ``columns`` over every row group of ``footers``, files of one
    schema (the caller checked it): the leaf index and timestamp units are worked out once."""
    accs = {c.key: StatsAccumulator(c.family) for c in columns}
    sizes = dict.fromkeys(accs, 0)
    if not footers:
        return {c.key: accs[c.key].result() for c in columns}, sizes
    first = footers[0].metadata.schema
    index = _leaf_index(footers[0])
    # Per column: (column, its key, leaf index, timestamp unit, accumulator or None when unsupported).
    flat: list[tuple[Column, str, int, str | None, StatsAccumulator | None]] = []
    nested: list[tuple[str, list[int]]] = []
    for col in columns:
        key = col.key
        j = index.get(col.name)
        if j is None:  # nested column: only its compressed size is known, the sum of its leaves'
            nested.append((key, [i for path, i in index.items() if path.split(".", 1)[0] == col.name]))
            continue
        unit = _unit(first.column(j).logical_type) if col.family is Family.TIMESTAMP else None
        flat.append((col, key, j, unit, None if col.family is Family.UNSUPPORTED else accs[key]))
    for footer in footers:
        meta = footer.metadata
        for r in range(meta.num_row_groups):
            rg = meta.row_group(r)
            rows = rg.num_rows
            for col, key, j, unit, acc in flat:
                chunk = rg.column(j)
                sizes[key] += chunk.total_compressed_size
                if acc is None:
                    continue
                stats = chunk.statistics if chunk.is_stats_set else None
                try:
                    low, high = _bounds(col, stats, chunk.physical_type, unit)
                except (ValueError, TypeError, UnicodeDecodeError, OverflowError):
                    low, high = None, None
                nulls = stats.null_count if stats is not None and stats.has_null_count else None
                acc.add(rows=rows, nulls=nulls, low=low, high=high)
            for key, leaves in nested:
                sizes[key] += sum(rg.column(j).total_compressed_size for j in leaves)
    stats = {
        c.key: accs[c.key].result() if c.family is not Family.UNSUPPORTED else ColumnStats() for c in columns
    }
    return stats, sizes


def unsupported_issues(location: str, columns: Sequence[Column]) -> tuple[Issue, ...]:
    return tuple(
        Issue(
            "unsupported-column",
            f"{location}: column {c.name} has unsupported type {c.physical_type}; "
            "the table can only be a parent, never a child",
        )
        for c in columns
        if c.family is Family.UNSUPPORTED
    )


def profile_parquet(table: DiscoveredTable, max_workers: int = MAX_THREADS) -> TableProfile:
    """Profile a Parquet table (footers only)."""
    loc = table.location
    if not table.files:
        raise TableReadError(f"{loc}: no data file", location=loc)
    footers = read_footers(loc, [f.path for f in table.files], max_workers)
    first = footers[0]
    for other in footers[1:]:
        diff = _same_schema(first.schema, other.schema)
        if diff:
            a, b = (lakefs.printable(lakefs.join(loc, f.path)) for f in (first, other))
            raise TableReadError(f"{loc}: schema mismatch between {a} and {b}: {diff}", location=loc, path=b)
    part_cols = partition_columns(table.files, table.partition_columns)
    part_keys = {c.key for c in part_cols}
    data_cols = [column_of(f) for f in first.schema if f.name.lower() not in part_keys]
    stats, sizes = _aggregate(data_cols, footers)
    rows = [f.metadata.num_rows for f in footers]
    stats.update(partition_stats(part_cols, table.files, rows))
    columns = tuple(data_cols + part_cols)
    return TableProfile(
        location=loc,
        format="parquet",
        fingerprint=table.fingerprint,
        columns=columns,
        stats=stats,
        num_rows=sum(rows),
        num_bytes=sum(f.size for f in table.files),
        files=table.files,
        partition_columns=table.partition_columns,
        bytes_read=sum(f.footer_bytes for f in footers),
        column_bytes=sizes,
        issues=unsupported_issues(loc, columns),
    )
