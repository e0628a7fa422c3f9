"""Hash many small tables at once: the numpy calls are made per group of tables, not per column.

Hashing a column costs a few dozen numpy calls whatever its length; on a lake of small tables (a
median of 20 KB, a dozen columns) those fixed costs are most of the work. So a task puts the values
of all its tables side by side and hashes them together, with the same per-value arithmetic as
:mod:`r2d2.containment.arrow_hash` (the bits are the same; ``tests/test_hashset_local.py`` compares
this path with the file-by-file one):

* value hashes (MinHash input): the columns of every table, grouped by the *kind* of their canonical
  components (one 64-bit integer; two of them, for timestamps; a boolean; bytes), each kind hashed by
  one chain over the concatenation;
* row hashes: every row set of every table (full rows, projections) gets a slice of one state array;
  column ``k`` of each set is folded in at step ``k``, for all sets at once, again one chain per kind;
* MinHash: one grouped-signature pass over every column's value hashes.

Imported by Spark's Python workers: numpy, pyarrow and numpy-only R2D2 modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from r2d2.containment import arrow_hash as ah
from r2d2.containment import minhash as mh
from r2d2.containment import xxh64

_MASK32 = np.uint64(0xFFFFFFFF)


@dataclass
class Member:
    """One table of the group: its rows' canonical components (``canons[i]`` for column ``i`` of its
    work, None where not read), what it needs, and its row count."""

    tid: int
    rows: int
    canons: dict[int, ah.Canon]
    values: tuple[int, ...]  # value column ``col`` is column ``values[col]``
    rowsets: tuple[tuple[int, tuple[int, ...]], ...]  # (code, column indexes in hash order)


def _kind(c: ah.Canon) -> tuple[str, ...]:
    return tuple(kind for kind, _ in c.parts)


def _concat(parts: Sequence[object], kind: str) -> object:
    if kind == "bytes":
        arrays = [p if isinstance(p, pa.Array) else p.combine_chunks() for p in parts]  # type: ignore[attr-defined]
        return pa.concat_arrays([a.cast(pa.large_binary()) for a in arrays])
    return np.concatenate(parts)  # type: ignore[arg-type]


def _valid(canons: Sequence[ah.Canon], lengths: Sequence[int]) -> np.ndarray | None:
    if all(c.valid is None for c in canons):
        return None
    return np.concatenate([c.valid if c.valid is not None else np.ones(n, bool)
                           for c, n in zip(canons, lengths, strict=True)])


def _chain(kinds: tuple[str, ...], canons: Sequence[ah.Canon], lengths: Sequence[int],
           seed: np.ndarray) -> np.ndarray:
    """The components of ``canons`` (all of kind ``kinds``, concatenated) folded into ``seed``,
    a value that is null leaving its row's seed as it is (Spark skips null arguments)."""
    valid = _valid(canons, lengths)
    h = seed
    for p, kind in enumerate(kinds):
        h = ah.step(kind, _concat([c.parts[p][1] for c in canons], kind), h, valid)
    return h


def value_hashes(members: Sequence[Member]) -> dict[tuple[int, int], np.ndarray]:
    """``(member, col) -> uint32 hashes of the column's non-null values``."""
    by_kind: dict[tuple[str, ...], list[tuple[int, int, ah.Canon, int]]] = {}
    for m_i, m in enumerate(members):
        for col, i in enumerate(m.values):
            c = m.canons[i]
            by_kind.setdefault(_kind(c), []).append((m_i, col, c, m.rows))
    out: dict[tuple[int, int], np.ndarray] = {}
    for kinds, cols in by_kind.items():
        lengths = [n for *_, n in cols]
        total = sum(lengths)
        h = _chain(kinds, [ah.Canon(None, c.parts) for _, _, c, _ in cols], lengths, xxh64.seeds(total))
        h32 = (h & _MASK32).astype(np.uint32)
        start = 0
        for (m_i, col, c, n) in cols:
            part = h32[start: start + n]
            out[(m_i, col)] = part if c.valid is None else part[c.valid]
            start += n
    return out


def signatures(members: Sequence[Member], perms: mh.Perms) -> dict[tuple[int, int], np.ndarray]:
    """``(member, col) -> MinHash signature`` of every value column that has a value."""
    hashes = value_hashes(members)
    keys = [k for k, v in hashes.items() if len(v)]
    if not keys:
        return {}
    bounds = np.concatenate(([0], np.cumsum([len(hashes[k]) for k in keys]))).astype(np.int64)
    sigs = mh.consecutive_signatures(np.concatenate([hashes[k] for k in keys]), bounds, perms)
    return {k: sigs[j] for j, k in enumerate(keys)}


@dataclass(frozen=True)
class RowSets:
    """Row hashes of every row set of a group: set ``s`` is ``(member, code)`` = ``sets[s]`` and its
    hashes are ``a[starts[s]:starts[s + 1]]``, ``b[...]``."""

    sets: list[tuple[int, int]]
    starts: np.ndarray
    a: np.ndarray
    b: np.ndarray


def row_hashes(members: Sequence[Member]) -> RowSets:
    """The 128-bit row hash of every row of every row set (the chain of :func:`ah.row_hashes`)."""
    sets: list[tuple[int, int, tuple[int, ...]]] = [(m_i, code, cols) for m_i, m in enumerate(members)
                                                    for code, cols in m.rowsets]
    lengths = np.array([members[m_i].rows for m_i, _, _ in sets], np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    h = ah.row_seeds(int(starts[-1]))
    depth = max((len(cols) for *_, cols in sets), default=0)
    for k in range(depth):
        by_kind: dict[tuple[str, ...], list[int]] = {}
        for s, (m_i, _, cols) in enumerate(sets):
            if len(cols) > k and lengths[s]:
                by_kind.setdefault(_kind(members[m_i].canons[cols[k]]), []).append(s)
        for kinds, chosen in by_kind.items():
            runs = starts[chosen], lengths[chosen]  # in place, set by set: no gather and scatter of the state
            canons = [members[sets[s][0]].canons[sets[s][2][k]] for s in chosen]
            valid = _valid(canons, [int(n) for n in lengths[chosen]])
            for p, kind in enumerate(kinds):
                ah.fold(kind, _concat([c.parts[p][1] for c in canons], kind), h, runs, valid, flag=p == 0)
    return RowSets([(m_i, code) for m_i, code, _ in sets], starts, h[0].view(np.int64), h[1].view(np.int64))
