"""Stage 3's unit of work: one data file of one table, read with pyarrow and hashed with numpy.

A :class:`FileWork` names a file and what its table needs: 32-bit value hashes of some columns,
turned into a partial MinHash signature per column right away, and 128-bit row hashes over the full
row and over each projection a candidate edge compares the table on. :func:`sketch_file` does it; the
result is the same whichever process runs it (the driver, for small work, or a Spark Python worker),
so a hash set does not depend on the path that made it.

As hash-set entries (:func:`entries`), a file gives rows ``(tid, col, a, b, sig, cnt)``: for each
value column ``col >= 0`` one partial signature (``a`` the file's number in its table, ``b = 0``,
``cnt = 1``), and for each row set ``col < 0`` one row per data row with ``sig`` null and ``cnt = 1``;
the aggregation then counts equal row hashes (:mod:`r2d2.containment.sketches`). A file that cannot be
read gives one ``col = ERROR`` row carrying the reason instead, so one bad file fails its table, not
the Spark job.

Imported by Spark's Python workers: numpy, pyarrow and numpy-only R2D2 modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from r2d2.containment import arrow_hash as ah
from r2d2.containment import minhash as mh
from r2d2.containment.sketches import ERROR
from r2d2.errors import describe
from r2d2.lake.arrow_read import FileRead, ReadColumn, read_file

ENTRY_SCHEMA = pa.schema([("tid", pa.int64()), ("col", pa.int32()), ("a", pa.int64()), ("b", pa.int64()),
                          ("sig", pa.binary()), ("cnt", pa.int64())])


@dataclass(frozen=True)
class TableWork:
    """What stage 3 computes for one table (shared by the work items of its files)."""

    tid: int
    columns: tuple[ReadColumn, ...]  # what is read
    specs: tuple[ah.ColumnSpec, ...]  # how each of ``columns`` hashes
    values: tuple[int, ...] = ()  # indexes into ``columns``: value column ``col`` is ``columns[values[col]]``
    rowsets: tuple[tuple[int, tuple[int, ...]], ...] = ()  # (col code < 0, column indexes in hash order)


@dataclass(frozen=True)
class FileWork:
    table: TableWork
    file: FileRead
    index: int  # the file's number in its table
    size: int = 0  # bytes of the file (to balance work between tasks)


@dataclass
class FileResult:
    tid: int
    index: int
    signatures: dict[int, np.ndarray] = field(default_factory=dict)  # col -> partial signature
    rowsets: dict[int, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)  # code -> [(a, b)]
    rows: int = 0


def sketch_file(work: FileWork, perms: mh.Perms) -> FileResult:
    """Read the file batch by batch; partial signatures and row hashes of all its rows."""
    t = work.table
    out = FileResult(t.tid, work.index)
    needed = sorted({i for i in t.values} | {i for _, cols in t.rowsets for i in cols})
    for batch in read_file(work.file, [t.columns[i] for i in needed]):
        n = batch.num_rows
        out.rows += n
        if n == 0:
            continue
        canons = {i: ah.canon(t.specs[i], batch.column(t.columns[i].name)) for i in needed}
        for col, i in enumerate(t.values):
            hashes = ah.value_hashes(canons[i]).drop_null().to_numpy(zero_copy_only=False)
            if not len(hashes):
                continue
            sig = mh.signature_of(hashes, perms)
            prior = out.signatures.get(col)
            out.signatures[col] = sig if prior is None else np.minimum(prior, sig)
        for code, cols in t.rowsets:
            a, b = ah.row_hashes([canons[i] for i in cols], n)
            out.rowsets.setdefault(code, []).append((a, b))
    return out


def entries(result: FileResult) -> pa.RecordBatch:
    """A file's result as hash-set entries (module docstring)."""
    sig_cols = sorted(result.signatures)
    tids = [np.full(len(sig_cols), result.tid, np.int64)]
    cols = [np.asarray(sig_cols, np.int32)]
    a_parts = [np.full(len(sig_cols), result.index, np.int64)]
    b_parts = [np.zeros(len(sig_cols), np.int64)]
    sigs: list[bytes | None] = [result.signatures[c].tobytes() for c in sig_cols]
    for code in sorted(result.rowsets, reverse=True):
        for a, b in result.rowsets[code]:
            tids.append(np.full(len(a), result.tid, np.int64))
            cols.append(np.full(len(a), code, np.int32))
            a_parts.append(a)
            b_parts.append(b)
    rows = sum(len(x) for x in a_parts)
    sigs += [None] * (rows - len(sig_cols))
    return pa.RecordBatch.from_arrays(
        [pa.array(np.concatenate(tids)), pa.array(np.concatenate(cols)), pa.array(np.concatenate(a_parts)),
         pa.array(np.concatenate(b_parts)), pa.array(sigs, pa.binary()), pa.array(np.ones(rows, np.int64))],
        schema=ENTRY_SCHEMA)


def failure(work: FileWork, message: str) -> pa.RecordBatch:
    """The one entry that reports a failed work item."""
    return pa.RecordBatch.from_arrays(
        [pa.array([work.table.tid], pa.int64()), pa.array([ERROR], pa.int32()), pa.array([work.index], pa.int64()),
         pa.array([0], pa.int64()), pa.array([message.encode("utf-8", "replace")], pa.binary()),
         pa.array([1], pa.int64())], schema=ENTRY_SCHEMA)


def file_entries(work: FileWork, perms: mh.Perms) -> pa.RecordBatch:
    """Entries of one work item, or its failure (the driver's loop)."""
    try:
        return entries(sketch_file(work, perms))
    except Exception as exc:
        return failure(work, describe(exc))


def work_entries(work: FileWork, perms: mh.Perms) -> Iterator[pa.RecordBatch]:
    """:func:`file_entries` as a Spark task's generator."""
    yield file_entries(work, perms)
