"""The pyarrow floor: read every data file of a lake once, in one process, with pyarrow.

Any method that looks at all of a lake's content costs at least this much, without Spark or any
per-table machinery: tables are found by :func:`r2d2.lake.discover.discover` (a Delta table's files
are the ones its log lists for the current version; an overwritten version's files are not read),
then every file is decoded whole -- Parquet and Delta files with ``pyarrow.parquet``, CSV files with
``pyarrow.csv`` under the CSV rule (an empty field is null). Bytes are the data files' sizes on disk;
the Delta log and footers read during discovery are not counted, their time is (``discover_seconds``).

Reproduce::

    .venv/bin/python bench/pyarrow_floor.py /path/to/lake [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

if __package__ in (None, ""):  # run as a script: make `bench` and `r2d2` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from r2d2.lake import fs as lakefs
from r2d2.lake.arrow_read import CSV_BLOCK, FALSE_VALUES, TRUE_VALUES
from r2d2.lake.discover import DiscoveredTable, discover

__all__ = ["FloorResult", "read_every_file"]

_CSV_CONVERT = pacsv.ConvertOptions(null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
                                    true_values=TRUE_VALUES, false_values=FALSE_VALUES)


@dataclass
class FloorResult:
    seconds: float  # discovery + reads
    bytes_read: int
    files: int
    tables: int
    rows: int
    discover_seconds: float = 0.0
    read_seconds: float = 0.0
    threads: int = 1
    by_format: dict[str, dict[str, int]] = field(default_factory=dict)  # format -> files, bytes, tables
    errors: list[str] = field(default_factory=list)  # discovery errors (those tables are not read)


def _read(path: str, fmt: str) -> int:
    """Decode one file whole; its row count."""
    fs, p = lakefs.resolve(path)
    if fmt == "csv":
        with fs.open_input_stream(p, compression="gzip" if p.lower().endswith(".gz") else None) as stream:
            reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK),
                                    convert_options=_CSV_CONVERT)
            return reader.read_all().num_rows
    with fs.open_input_file(p) as handle:
        return pq.ParquetFile(handle).read().num_rows


def read_tables(tables: Sequence[DiscoveredTable], *, threads: int = 1) -> tuple[int, int, int, dict]:
    """Read every file of ``tables`` once; (files, bytes, rows, per-format counts)."""
    items = [(lakefs.join(t.location, f.path), t.format, f.size) for t in tables for f in t.files]
    if threads > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            rows = sum(pool.map(lambda it: _read(it[0], it[1]), items))
    else:
        rows = sum(_read(path, fmt) for path, fmt, _ in items)
    by_format: dict[str, Counter[str]] = {}
    for t in tables:
        c = by_format.setdefault(t.format, Counter())
        c["tables"] += 1
        c["files"] += len(t.files)
        c["bytes"] += sum(f.size for f in t.files)
    return len(items), sum(size for _, _, size in items), rows, {k: dict(v) for k, v in sorted(by_format.items())}


def read_every_file(roots: Sequence[str], *, threads: int = 1) -> FloorResult:
    """Discover the tables under ``roots`` and read each of their data files once.

    ``threads`` > 1 reads that many files at a time (pyarrow decodes each file with its own thread
    pool either way).
    """
    t0 = time.perf_counter()
    found = discover([str(r) for r in roots])
    t1 = time.perf_counter()
    files, size, rows, by_format = read_tables(found.tables, threads=threads)
    t2 = time.perf_counter()
    return FloorResult(seconds=t2 - t0, bytes_read=size, files=files, tables=len(found.tables), rows=rows,
                       discover_seconds=t1 - t0, read_seconds=t2 - t1, threads=threads, by_format=by_format,
                       errors=[f"{e.location}: {e.message}" for e in found.errors])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("roots", nargs="+", help="lake root folders")
    ap.add_argument("--threads", type=int, default=1, help="files read at a time (default 1)")
    ap.add_argument("--json", type=Path, help="write the result as JSON here")
    args = ap.parse_args(argv)
    result = read_every_file(args.roots, threads=args.threads)
    print(f"tables {result.tables}  files {result.files}  rows {result.rows}  bytes {result.bytes_read:,}")
    print(f"seconds {result.seconds:.2f} (discover {result.discover_seconds:.2f}, read {result.read_seconds:.2f}), "
          f"{result.bytes_read / max(result.read_seconds, 1e-9) / 1e6:.1f} MB/s")
    for e in result.errors:
        print(f"skipped: {e}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=1))
    return 1 if result.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
