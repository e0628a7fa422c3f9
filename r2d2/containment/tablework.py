"""Stage 3's task: a group of tables, each read file by file, hashed, counted and written at once.

A task reads every file of each of its tables (:func:`r2d2.containment.filework.sketch_file`), counts
the table's row hashes per row set, and appends them to its own part file of the run's hash-set
dataset (``part-NNNNN.parquet``, rows sorted by ``(tid, col)``, a row group per table or so). What
it hands back is small: per table the merged MinHash signatures, ``(rows, distinct rows)`` of each
row set and its threshold sample — everything the probe needs, with no second pass over the set.
The driver runs tasks in threads for small work; a Spark job runs them as items
(:func:`r2d2.engine.items.map_spark`) for large work. Same function, same rows, either way; no
shuffle, because each table is counted whole by one task. (Tables too large for one task are counted
by a Spark shuffle instead: :mod:`r2d2.containment.sketch_spark`.)

Imported by Spark's Python workers: numpy, pandas, pyarrow and numpy-only R2D2 modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from r2d2.containment import minhash as mh
from r2d2.containment.filework import FileWork, TableWork, sketch_file
from r2d2.containment.hashset_local import ENTRY_BYTES, ROW_GROUP_BYTES, SCHEMA, count_pairs
from r2d2.containment.sketches import sample_limit
from r2d2.errors import describe
from r2d2.lake import fs as lakefs


@dataclass(frozen=True)
class TableTask:
    table: TableWork
    files: tuple[FileWork, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class TableSummary:
    """One table's stage-3 results: signatures by value column, and per row set ``code``: counts
    ``(rows, distinct rows)`` and the threshold sample (an ``(n, 2)`` int64 array of ``(a, b)``,
    sorted). ``failure``: why the table could not be sketched (then nothing else is set)."""

    tid: int
    signatures: dict[int, np.ndarray] = field(default_factory=dict)
    counts: dict[int, tuple[int, int]] = field(default_factory=dict)
    samples: dict[int, np.ndarray] = field(default_factory=dict)
    bytes: int = 0  # hash-set bytes of its row sets (as Arrow entries)
    failure: str | None = None


_Sets = dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]  # code -> (a, b, cnt), distinct (a, b)


def _counted(task: TableTask, perms: mh.Perms) -> tuple[dict[int, np.ndarray], _Sets]:
    signatures: dict[int, np.ndarray] = {}
    parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {code: [] for code, _ in task.table.rowsets}
    for work in task.files:
        res = sketch_file(work, perms)
        for col, sig in res.signatures.items():
            signatures[col] = sig if col not in signatures else np.minimum(signatures[col], sig)
        for code, pairs in res.rowsets.items():
            parts[code] += pairs
    sets: _Sets = {}
    for code, pairs in parts.items():
        a = np.concatenate([p[0] for p in pairs]) if pairs else np.empty(0, np.int64)
        b = np.concatenate([p[1] for p in pairs]) if pairs else np.empty(0, np.int64)
        sets[code] = count_pairs(a, b)
    return signatures, sets


def _rows(tid: int, sets: _Sets) -> pa.Table:
    codes = sorted(sets)  # col ascending: the dataset's order within a table
    a = np.concatenate([sets[c][0] for c in codes]) if codes else np.empty(0, np.int64)
    b = np.concatenate([sets[c][1] for c in codes]) if codes else np.empty(0, np.int64)
    cnt = np.concatenate([sets[c][2] for c in codes]) if codes else np.empty(0, np.int64)
    col = np.concatenate([np.full(len(sets[c][0]), c, np.int32) for c in codes]) if codes else np.empty(0, np.int32)
    n = len(a)
    return pa.Table.from_arrays([pa.array(np.full(n, tid, np.int64)), pa.array(col), pa.array(a), pa.array(b),
                                 pa.nulls(n, pa.binary()), pa.array(cnt)], schema=SCHEMA)


def _summary(tid: int, signatures: dict[int, np.ndarray], sets: _Sets,
             sample_k: int) -> TableSummary:
    out = TableSummary(tid, signatures=signatures)
    for code, (a, b, cnt) in sets.items():
        distinct = len(a)
        out.counts[code] = (int(cnt.sum()), distinct)
        keep = a <= sample_limit(distinct, sample_k)
        pairs = np.stack([a[keep], b[keep]], axis=1)
        out.samples[code] = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))] if len(pairs) else pairs
        out.bytes += ENTRY_BYTES * distinct
    return out


def run_group(tasks: Sequence[TableTask], path: str, part: int, *, perms: mh.Perms,
              sample_k: int) -> list[TableSummary]:
    """Sketch ``tasks`` in order, appending their row sets to ``path/part-NNNNN.parquet``.

    A table whose files cannot be read gets a summary with its ``failure``, and the others go on."""
    out: list[TableSummary] = []
    writer: pq.ParquetWriter | None = None
    target = lakefs.join(path, f"part-{part:05d}.parquet")
    try:
        for task in tasks:
            tid = task.table.tid
            try:
                signatures, sets = _counted(task, perms)
            except Exception as exc:
                out.append(TableSummary(tid, failure=describe(exc)))
                continue
            rows = _rows(tid, sets)
            if rows.num_rows:
                if writer is None:
                    fs, where = lakefs.resolve(target)
                    fs.create_dir(lakefs.parent(where), recursive=True)
                    writer = pq.ParquetWriter(where, SCHEMA, filesystem=fs, compression="none")
                writer.write_table(rows, row_group_size=max(1, ROW_GROUP_BYTES // ENTRY_BYTES))
            out.append(_summary(tid, signatures, sets, sample_k))
    finally:
        if writer is not None:
            writer.close()
    return out
