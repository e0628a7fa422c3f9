"""Stage 3's task: a group of tables, read file by file, hashed together, counted and written at once.

A task reads every file of each of its tables with pyarrow, hashes all of them together
(:mod:`r2d2.containment.grouphash`: the numpy calls are per group, not per column), counts each row
set's hashes, and writes them to its own part file of the run's hash-set dataset
(``part-NNNNN.parquet``, rows sorted by ``(tid, col)``). What it hands back is small: per table the
merged MinHash signatures, ``(rows, distinct rows)`` of each row set and its threshold sample —
everything the probe needs, with no second pass over the set.
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

from r2d2.containment import arrow_hash as ah
from r2d2.containment import grouphash as gh
from r2d2.containment import hashset_memo
from r2d2.containment import minhash as mh
from r2d2.containment.filework import FileWork, TableWork
from r2d2.containment.grouphash import Member
from r2d2.containment.hashset_local import DICTIONARY_COLUMNS, ENTRY_BYTES, ROW_GROUP_BYTES, SCHEMA, count_sets
from r2d2.containment.sketches import sample_limit
from r2d2.errors import describe
from r2d2.lake import fs as lakefs
from r2d2.lake.arrow_read import read_file


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


def _member(task: TableTask) -> Member:
    """The table's rows (every file, read with pyarrow) as canonical components."""
    t = task.table
    needed = sorted({*t.values, *(i for _, cols in t.rowsets for i in cols)})
    columns = [t.columns[i] for i in needed]
    batches = [batch for work in task.files for batch in read_file(work.file, columns)]
    rows = sum(b.num_rows for b in batches)
    canons: dict[int, ah.Canon] = {}
    if rows:
        data = pa.concat_tables(batches) if len(batches) > 1 else batches[0]
        canons = {i: ah.canon(t.specs[i], data.column(t.columns[i].name)) for i in needed}
    return Member(t.tid, rows, canons, t.values if rows else (), tuple(sorted(t.rowsets)))


def part_name(part: int) -> str:
    """The file a group's row sets are written to, in its hash-set dataset."""
    return f"part-{part:05d}.parquet"


def run_group(tasks: Sequence[TableTask], path: str, part: int, *, perms: mh.Perms,
              sample_k: int) -> list[TableSummary]:
    """Sketch ``tasks`` (in table order) and write their row sets to ``path/part-NNNNN.parquet``.

    A table whose files cannot be read gets a summary with its ``failure``, and the others go on."""
    out: dict[int, TableSummary] = {}
    members: list[Member] = []
    for task in tasks:
        try:
            members.append(_member(task))
        except Exception as exc:
            out[task.table.tid] = TableSummary(task.table.tid, failure=describe(exc))
    sigs = gh.signatures(members, perms)
    sets = gh.row_hashes(members)
    lengths = np.diff(sets.starts)
    tid = np.repeat(np.array([members[m].tid for m, _ in sets.sets], np.int64), lengths)
    col = np.repeat(np.array([code for _, code in sets.sets], np.int32), lengths)
    tid, col, a, b, cnt = count_sets(tid, col, sets.a, sets.b)  # set by set, as laid out: (tid, col) order
    for m_i, m in enumerate(members):
        out[m.tid] = TableSummary(m.tid, signatures={c: sigs[(m_i, c)] for c in range(len(m.values))
                                                     if (m_i, c) in sigs})
    _summaries(out, tid, col, a, b, cnt, sample_k)
    if len(tid):
        table = pa.Table.from_arrays([pa.array(tid), pa.array(col), pa.array(a), pa.array(b),
                                      pa.nulls(len(tid), pa.binary()), pa.array(cnt)], schema=SCHEMA)
        fs, where = lakefs.resolve(lakefs.join(path, part_name(part)))
        fs.create_dir(lakefs.parent(where), recursive=True)
        pq.write_table(table, where, filesystem=fs, compression="none", use_dictionary=DICTIONARY_COLUMNS,
                       row_group_size=max(1, ROW_GROUP_BYTES // ENTRY_BYTES))
    if hashset_memo.active():  # a detect on the driver: its verification takes what was written from memory
        hashset_memo.keep(path, _by_set([(members[m].tid, code) for m, code in sets.sets], tid, col, a, b, cnt))
    return [out[task.table.tid] for task in tasks]


def _by_set(every: Sequence[tuple[int, int]], tid: np.ndarray, col: np.ndarray, a: np.ndarray, b: np.ndarray,
            cnt: np.ndarray) -> dict[tuple[int, int], hashset_memo.Set]:
    """``(tid, code) -> (a, b, cnt)`` of each set of ``every`` (empty when it has no row), from the
    counted rows, which come set by set."""
    empty = np.empty(0, np.int64)
    out: dict[tuple[int, int], hashset_memo.Set] = {key: (empty, empty, empty) for key in every}
    if len(tid):
        cuts = np.flatnonzero((tid[1:] != tid[:-1]) | (col[1:] != col[:-1])) + 1
        for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(tid)], strict=True):
            out[(int(tid[lo]), int(col[lo]))] = (a[lo:hi], b[lo:hi], cnt[lo:hi])
    return out


def _summaries(out: dict[int, TableSummary], tid: np.ndarray, col: np.ndarray, a: np.ndarray, b: np.ndarray,
               cnt: np.ndarray, sample_k: int) -> None:
    """Counts and threshold samples of every set, from its run of distinct hashes."""
    if not len(tid):
        return
    starts = np.flatnonzero(np.concatenate(([True], (tid[1:] != tid[:-1]) | (col[1:] != col[:-1]))))
    lengths = np.diff(np.append(starts, len(tid)))
    rows = np.add.reduceat(cnt, starts)
    limits = np.array([sample_limit(d, sample_k) for d in lengths.tolist()], np.int64)
    keep = a <= np.repeat(limits, lengths)
    for s, (t, c, r, d) in enumerate(zip(tid[starts].tolist(), col[starts].tolist(), rows.tolist(),
                                         lengths.tolist(), strict=True)):
        summary = out[t]
        summary.counts[c] = (r, d)
        summary.bytes += ENTRY_BYTES * d
        lo, hi = int(starts[s]), int(starts[s]) + d
        chosen = np.flatnonzero(keep[lo:hi]) + lo
        pairs = np.stack([a[chosen], b[chosen]], axis=1)
        summary.samples[c] = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))] if len(pairs) else pairs
