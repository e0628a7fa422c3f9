"""What stage 3 is asked for and what it gives back: requests, table sketches, row-set samples.

A *hash set* is a Parquet dataset in the work folder with rows ``(tid, col, a, b, sig, cnt)``: for a
value column ``col >= 0`` of table ``tid``, partial MinHash signatures ``sig`` (one per file, ``a`` the
file's number; merged by element-wise minimum); for a row set ``col < 0``, each distinct 128-bit row
hash ``(a, b)`` with its count ``cnt`` — ``col = ROW`` over all the table's columns, ``-2, -3, ...`` over
one projection each. Rows are sorted by ``(tid, col)`` so a reader of a few sets skips the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np

from r2d2.types import TableProfile

ROW = -1  # `col` of full-row hash entries; projections use -2, -3, ...
ERROR = -(2**31)  # `col` of a work item's failure (``sig``: the reason, UTF-8); never a row set anyone reads
ALL = (1 << 63) - 1  # a sample limit that takes every hash


class RowSample(Sequence[tuple[int, int]]):
    """Row hashes ``(a, b)`` of a threshold sample, held as an ``(n, 2)`` int64 array and made into
    Python pairs on first use: a detect loads the cached samples of every table in a fresh pair, the
    probe reads a few of them (turning all of them into tuples was 4% of an incremental detect)."""

    __slots__ = ("_array", "_pairs")

    def __init__(self, array: np.ndarray | None = None) -> None:
        self._array = np.empty((0, 2), np.int64) if array is None else array.reshape(-1, 2)
        self._pairs: list[tuple[int, int]] | None = None

    @classmethod
    def from_bytes(cls, payload: bytes) -> RowSample:
        """From little-endian int64 ``a, b`` pairs (the sketch cache's form: :meth:`to_bytes`)."""
        return cls(np.frombuffer(payload, dtype="<i8").astype(np.int64))

    def to_bytes(self) -> bytes:
        return self._array.astype("<i8").tobytes()

    def _list(self) -> list[tuple[int, int]]:
        if self._pairs is None:
            self._pairs = list(zip(self._array[:, 0].tolist(), self._array[:, 1].tolist(), strict=True))
        return self._pairs

    def __len__(self) -> int:
        return len(self._array)

    @overload
    def __getitem__(self, i: int) -> tuple[int, int]: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple[int, int]]: ...
    def __getitem__(self, i: int | slice) -> tuple[int, int] | list[tuple[int, int]]:
        return self._list()[i]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RowSample | list | tuple):
            return self._list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists: unhashable like them

    def __repr__(self) -> str:
        return f"RowSample({self._list()!r})"


@dataclass(frozen=True)
class SketchRequest:
    """What stage 3 needs of one table: MinHash of ``columns``; a row set when it is a child; and
    a row set per projection (column names, in the hash order verification uses) it is a parent on."""

    table_id: int
    profile: TableProfile
    columns: tuple[str, ...]
    rowset: bool
    projections: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ProjectionSet:
    """Where a table's row hashes over one projection are (dataset, ``col`` code, bytes taken), and
    its threshold sample: every hash of the set whose ``a`` is at most ``limit``."""

    path: str
    code: int
    bytes: int = 0
    limit: int = ALL
    sample: Sequence[tuple[int, int]] = ()


@dataclass
class TableSketch:
    table_id: int
    fingerprint: str
    minhash: dict[str, np.ndarray] = field(default_factory=dict)  # column key → signature
    sample: Sequence[tuple[int, int]] = field(default_factory=list)  # every row hash with a <= sample_limit, sorted
    sample_limit: int | None = None  # None: no sample (not a child, or an old cache entry)
    rows: int | None = None
    distinct_rows: int | None = None
    rowset_path: str | None = None  # hash-set dataset holding this table's row hashes
    rowset_code: int = ROW  # their ``col`` there (a derived table's rows: a projection set of its source)
    rowset_bytes: int = 0  # bytes of that dataset taken by this table's row hashes
    projections: dict[tuple[str, ...], ProjectionSet] = field(default_factory=dict)


@dataclass(frozen=True)
class SketchOutcome:
    sketches: dict[int, TableSketch]
    failures: dict[int, str]
    bytes_read: int
    jobs: int
    local: bool = False  # computed on the driver, without Spark


def sample_limit(distinct: int, k: int) -> int:
    """Threshold on ``a`` that keeps about ``2k`` of ``distinct`` uniform row hashes (all if fewer)."""
    return min(ALL, -(1 << 63) + ((1 << 64) * 2 * k) // max(distinct, 1))


def projection_codes(batch: Sequence[SketchRequest]) -> dict[tuple[str, ...], int]:
    """``col`` code of every distinct projection of a batch: -2, -3, ..."""
    names = sorted({p for req in batch for p in req.projections})
    return {p: ROW - 1 - i for i, p in enumerate(names)}
