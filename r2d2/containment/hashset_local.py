"""Counting a row set's hashes in one process: what a Spark shuffle does for the largest tables.

A whole-table task (:mod:`r2d2.containment.tablework`) counts each row set's 128-bit hashes ``(a, b)``
itself: one row per distinct hash with its count, as the shuffle of
:mod:`r2d2.containment.sketch_spark` gives it (``tests/test_hashset_local.py`` checks both write the
same sets). About 0.06 s for 700,000 hashes, where a Spark shuffle and sort cost about 0.4 s of
scheduling alone.
"""

from __future__ import annotations

import json
import logging
import uuid

import numpy as np
import pandas as pd
import pyarrow as pa

from r2d2.containment import compiled
from r2d2.lake import fs as lakefs

log = logging.getLogger(__name__)

ENTRY_BYTES = 40  # bytes of one hash-set entry in Arrow memory (4 int columns, a null signature)
ROW_GROUP_BYTES = 4 << 20  # bytes per Parquet row group of a hash set: readers of a few sets skip the rest
SCHEMA = pa.schema([("tid", pa.int64()), ("col", pa.int32()), ("a", pa.int64()), ("b", pa.int64()),
                    ("sig", pa.binary()), pa.field("cnt", pa.int64(), nullable=False)])
# Dictionary-encode the repetitive columns only: the hashes are random, and trying a dictionary on
# them (Parquet's default) made writing a hash set three times slower for nothing.
DICTIONARY_COLUMNS = ["tid", "col", "sig", "cnt"]


def new_path(work_dir: str) -> str:
    """A new hash-set dataset in the work folder ``work_dir`` (a local path or a URI)."""
    return lakefs.join(str(work_dir), f"hs-{uuid.uuid4().hex}")


MANIFEST = "_manifest.json"  # readers skip names starting with "_" (Spark, Arrow datasets)


def _parts(path: str) -> dict[str, int]:
    return {rel: size for rel, size in lakefs.files_under(path) if rel.endswith(".parquet")}


def seal(path: str) -> None:
    """Record the files of the finished dataset ``path`` with their sizes (see :func:`intact`). Best
    effort: a dataset left unsealed (a store that refused the write) is trusted as long as it exists."""
    try:
        lakefs.write_bytes(lakefs.join(path, MANIFEST), json.dumps(_parts(path), sort_keys=True).encode())
    except OSError as exc:
        log.warning("hash set %s not sealed (%s): checked for existence only", path, exc)


def intact(path: str) -> bool:
    """Whether the dataset ``path`` still holds every file it was sealed with, at its size. A set whose
    file went missing would read as a set with fewer rows: a parent lacking rows its children hold, a
    child whose rows all seem in the parent. A dataset sealed by no one (older) only has to exist."""
    try:
        sealed = json.loads(lakefs.read_bytes(lakefs.join(path, MANIFEST)))
    except FileNotFoundError:
        return lakefs.exists(path)
    except (OSError, ValueError):  # a manifest that cannot be read proves nothing: the set is made again
        return False
    try:
        found = _parts(path)
    except OSError:  # not even listed: made again (and a store still unreachable then fails those tables)
        return False
    return isinstance(sealed, dict) and all(found.get(rel) == size for rel, size in sealed.items())


def count_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct row hashes ``(a, b)`` of one row set with their counts, in order of first appearance."""
    zero = np.zeros(len(a), np.int64)
    _, _, a_u, b_u, cnt = count_sets(zero, zero.astype(np.int32), a, b)
    return a_u, b_u, cnt


_MIX_TID = np.uint64(0x9E3779B97F4A7C15)
_MIX_COL = np.uint64(0xC2B2AE3D27D4EB4F)


def count_sets(tid: np.ndarray, col: np.ndarray, a: np.ndarray,
               b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``(tid, col, a, b)`` rows with their counts, in order of first appearance (so sets
    laid out one after the other stay so).

    Sets laid out one after the other (each ``(tid, col)`` in one run of rows, as a stage-3 task
    writes them) are counted run by run by a compiled loop whose table for a run stays in cache (40
    sets of 71,000 rows: 0.03 s, against 0.3-0.5 s for one hash table over all rows).
    Otherwise rows are grouped by one 64-bit key, ``a`` mixed with the set's ``(tid, col)`` (a hash
    table on one integer key is several times faster than on four), and every row is then checked
    against its group's first row: when two different rows ever share a key (a 64-bit coincidence),
    the exact four-key grouping is used instead, so the answer never depends on the shortcut."""
    if not len(a):
        return tid, col, a, b, np.empty(0, np.int64)
    runs = _runs(tid, col)
    if runs is not None:
        first, counts = np.empty(len(a), np.int64), np.empty(len(a), np.int64)
        found = compiled.kernels().count_runs(runs, _int64(a), _int64(b), first, counts)
        first = first[:found]
        return tid[first], col[first], a[first], b[first], counts[:found]
    with np.errstate(over="ignore"):
        key = a.view(np.uint64) ^ (tid.view(np.uint64) * _MIX_TID + col.astype(np.int64).view(np.uint64) * _MIX_COL)
    codes, _ = pd.factorize(key, sort=False)
    seen = np.maximum.accumulate(codes)
    first = np.flatnonzero(np.concatenate(([True], codes[1:] > seen[:-1])))  # codes come in order of appearance
    rep = first[codes]
    if not (np.array_equal(tid[rep], tid) and np.array_equal(col[rep], col) and np.array_equal(a[rep], a)
            and np.array_equal(b[rep], b)):
        grouped = (pa.table({"tid": tid, "col": col, "a": a, "b": b, "i": np.arange(len(a))})
                   .group_by(["tid", "col", "a", "b"], use_threads=False)
                   .aggregate([([], "count_all"), ("i", "min")]))
        order = np.argsort(grouped.column("i_min").to_numpy(), kind="stable")  # first appearance, as above
        return tuple(grouped.column(n).to_numpy()[order].astype(t)
                     for n, t in (("tid", np.int64), ("col", np.int32), ("a", np.int64), ("b", np.int64),
                                  ("count_all", np.int64)))
    return tid[first], col[first], a[first], b[first], np.bincount(codes, minlength=len(first)).astype(np.int64)


def _int64(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.int64)


def _runs(tid: np.ndarray, col: np.ndarray) -> np.ndarray | None:
    """The starts of the runs of equal ``(tid, col)`` (and the end), or None when a set comes in more
    than one run."""
    cuts = np.flatnonzero((tid[1:] != tid[:-1]) | (col[1:] != col[:-1])) + 1
    starts = np.concatenate(([0], cuts, [len(tid)])).astype(np.int64)
    heads = starts[:-1]
    keys = np.unique(np.stack([tid[heads].astype(np.int64), col[heads].astype(np.int64)]), axis=1)
    return starts if keys.shape[1] == len(heads) else None
