"""Small helpers that write test tables (Parquet, partitioned Parquet, Delta, CSV)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def parquet(path: Path, table: pa.Table | dict, *, name: str = "part-0.parquet", **kw) -> Path:
    if isinstance(table, dict):
        table = pa.table(table)
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path / name, **kw)
    return path


def partitioned(path: Path, table: pa.Table | dict, partition_cols: list[str]) -> Path:
    if isinstance(table, dict):
        table = pa.table(table)
    pq.write_to_dataset(table, str(path), partition_cols=partition_cols)
    return path


def delta(path: Path, table: pa.Table | dict, *, mode: str = "append", partition_by=None) -> Path:
    from deltalake import write_deltalake

    if isinstance(table, dict):
        table = pa.table(table)
    write_deltalake(str(path), table, mode=mode, partition_by=partition_by)
    return path


def csv(path: Path, text: str, *, name: str = "part-0.csv") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(text, encoding="utf-8")
    return path


def upload(local: Path, location: str) -> str:
    """Copy the local folder ``local`` to ``location`` (an object-store prefix); returns it."""
    from r2d2.lake import fs as lakefs

    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        lakefs.copy_file(str(path), lakefs.join(location, str(path.relative_to(local))))
    return location
