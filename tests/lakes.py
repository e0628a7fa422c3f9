"""Small helpers that write test tables (Parquet, partitioned Parquet, Delta, CSV)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def parquet(path: Path, table: pa.Table | dict, *, name: str = "part-0.parquet", **kw) -> Path:
    if isinstance(table, dict):
        table = pa.table(table)
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path / name, **kw)
    return path


def parent_child_bad(root: Path) -> Path:
    """Three Parquet tables under ``root``: ``parent`` (ids 0-999 with a name) holds ``child`` (its first
    300 rows), which holds ``bad`` (its first 200)."""
    data = pa.table({"id": pa.array(range(1000), pa.int64()), "name": [f"n{i}" for i in range(1000)]})
    for name, rows in (("parent", 1000), ("child", 300), ("bad", 200)):
        parquet(root / name, data.slice(0, rows))
    return root


def flaky(path: Path, table: dict) -> Callable[[], None]:
    """A Parquet table at ``path`` whose file reads as garbage until the returned function is called:
    then it holds ``table``, with the same size and modification time (the same fingerprint, as after
    a transient failure: a copy in progress with its times kept, a store that timed out...)."""
    good = parquet(path, table) / "part-0.parquet"
    data, st = good.read_bytes(), good.stat()
    good.write_bytes(b"\0" * len(data))
    os.utime(good, ns=(st.st_atime_ns, st.st_mtime_ns))

    def fixed() -> None:
        good.write_bytes(data)
        os.utime(good, ns=(st.st_atime_ns, st.st_mtime_ns))

    return fixed


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


def beyond(root: Path) -> dict[str, str]:
    """A small lake with one case of each relation around ``base`` (200 rows; ids not dense, so no column
    of ``base`` looks like a generated key): ``dup`` (the same rows in another file), ``child`` (a
    projection of its first 100 rows), ``near`` (its first 100 rows and one row it lacks, inside its
    min-max ranges: an overlap of 100/101) and ``renum`` (50 of its rows on two columns, plus a
    ``rownames`` 1..50: contained except that generated key). Returns name → location."""
    n = 200
    ids = [3 * i for i in range(1, n + 1)]
    city = [f"c{i % 7}" for i in range(1, n + 1)]
    amount = [i * 1.5 for i in range(1, n + 1)]
    parquet(root / "base", {"id": ids, "city": city, "amount": amount})
    parquet(root / "dup", {"id": ids, "city": city, "amount": amount}, name="other.parquet")
    parquet(root / "child", {"id": ids[:100], "city": city[:100]})
    parquet(root / "near", {"id": [*ids[:100], 30], "city": [*city[:100], "c1"], "amount": [*amount[:100], 7.77]})
    parquet(root / "renum", {"rownames": list(range(1, 51)), "id": ids[100:150], "city": city[100:150]})
    return {name: str(root / name) for name in ("base", "dup", "child", "near", "renum")}
