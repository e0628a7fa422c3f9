"""Canonical hashes of Arrow columns with numpy: the same bits as the Spark SQL of :mod:`canonical`.

:mod:`r2d2.containment.canonical` defines the canonical components of a value and the two hashes
built on them (a 32-bit value hash for MinHash, a 128-bit row hash) as Spark SQL; this module
computes the very same numbers from Arrow arrays, with :mod:`r2d2.containment.xxh64`, so a table read
by pyarrow (on the driver, or in a Spark Python worker) hashes exactly as one read by Spark's own
reader. ``tests/test_arrow_hash.py`` checks every family against Spark.

Per family, the components (each hashed as Spark hashes its SQL type):

========== ===================================================================================
integer    int64 (8 bytes)
float      float64 bits, with every NaN as Java's canonical NaN and -0.0 as 0.0 (8 bytes)
decimal    the plain decimal text without trailing fractional zeros, "-0" as "0" (UTF-8 bytes)
string     UTF-8 bytes; binary: the bytes; boolean: 1 or 0 (4 bytes)
date       days since 1970-01-01 as int64
timestamp  (microseconds since the epoch, nanoseconds within the microsecond) as two int64
========== ===================================================================================

Imported by Spark's Python workers: numpy, pyarrow, the xxh64 module and the kernels only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.types as pat

from r2d2.containment import compiled, xxh64

SECOND_HASH_SALT = 0x5BD1E9955BD1E995  # must equal canonical._SECOND_HASH_SALT
_JAVA_NAN = np.uint64(0x7FF8000000000000)  # Double.doubleToLongBits(NaN)
_MASK32 = np.uint64(0xFFFFFFFF)
_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


@dataclass(frozen=True)
class ColumnSpec:
    """What hashing needs of a column: its family and, for raw-integer timestamps, the unit."""

    family: str  # a :class:`r2d2.types.Family` value
    unit: str | None = None


@dataclass
class Canon:
    """A column's canonical components and where its values are present (None: no null)."""

    valid: np.ndarray | None
    parts: list[tuple[str, object]]  # ("long", uint64 array) | ("int", uint32 array) | ("bytes", binary array)


def _plain(arr: pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    if pat.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def _int64(arr: pa.Array) -> np.ndarray:
    """The values as int64 bits (uint64 view), nulls read as 0."""
    if arr.type != pa.int64():
        arr = arr.cast(pa.int64(), safe=False)
    if arr.null_count:
        arr = arr.fill_null(0)
    return arr.to_numpy(zero_copy_only=False).view(np.uint64)


def _decimal_text(arr: pa.Array) -> pa.Array:
    """Plain decimal text without trailing fractional zeros ("1.50" -> "1.5", "2.00" -> "2", never an
    exponent): what Spark's ``CAST(d AS STRING)`` and the regexes of :mod:`canonical` give."""
    t = arr.type
    if t.scale < 0:
        raise ValueError(f"decimal type {t} has a negative scale: not supported")
    if t.precision > 18:
        return pa.array([None if v is None else _plain_decimal(v) for v in arr.to_pylist()], pa.string())
    raw, fits = _unscaled_int64(arr)
    if t.scale > t.precision or not fits:
        # a scale beyond the precision, or a value its writer let past the precision: too long for the
        # compiled loop's buffers, so written as Python writes it
        return pa.array([None if v is None else _plain_decimal(v) for v in arr.to_pylist()], pa.string())
    offsets = np.empty(len(raw) + 1, np.int64)
    data = np.empty(21 * len(raw), np.uint8)
    written = compiled.kernels().decimal_text(raw, t.scale, offsets, data)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data[:written])]
    return pa.Array.from_buffers(pa.large_string(), len(raw), buffers)


def _unscaled_int64(arr: pa.Array) -> tuple[np.ndarray, bool]:
    """The unscaled integers of a decimal array of precision <= 18 (nulls read as 0), and whether every
    one is within that precision (a writer may have let a larger one through)."""
    arr = arr.cast(pa.decimal128(arr.type.precision, arr.type.scale))
    words = np.frombuffer(arr.buffers()[1], dtype="<i8")[2 * arr.offset: 2 * (arr.offset + len(arr))]
    out = words[0::2].copy()  # low 64 bits: the value itself, two's complement, when it fits
    high = words[1::2].copy()
    if arr.null_count:
        nulls = ~arr.is_valid().to_numpy(zero_copy_only=False)
        out[nulls] = 0
        high[nulls] = 0
    fits = bool(np.all(high == (out >> 63)) and np.all((out > -(10**18)) & (out < 10**18)))
    return out, fits


def _plain_decimal(value: object) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def canon(spec: ColumnSpec, arr: pa.Array) -> Canon:
    """The canonical components of one column's values (see the module docstring)."""
    arr = _plain(arr)
    valid = arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else None
    fam = spec.family
    if fam == "integer":
        return Canon(valid, [("long", _int64(arr))])
    if fam == "float":
        if arr.type != pa.float64():
            arr = arr.cast(pa.float64())
        d = (arr.fill_null(0.0) if arr.null_count else arr).to_numpy(zero_copy_only=False)
        bits = (d + 0.0).view(np.uint64)  # a new array; + 0.0 turns -0.0 into 0.0
        bits[np.isnan(d)] = _JAVA_NAN
        return Canon(valid, [("long", bits)])
    if fam == "decimal":
        return Canon(valid, [("bytes", _decimal_text(arr))])
    if fam in ("string", "binary"):
        return Canon(valid, [("bytes", arr)])
    if fam == "boolean":
        flags = arr.cast(pa.uint32())
        return Canon(valid, [("int", (flags.fill_null(0) if arr.null_count else flags).to_numpy(zero_copy_only=False))])
    if fam == "date":
        days = arr.cast(pa.int32()) if pat.is_date32(arr.type) else arr.cast(pa.date32()).cast(pa.int32())
        return Canon(valid, [("long", _int64(days))])
    if fam == "timestamp":
        # raw integers (Spark reads nanosecond Parquet timestamps as long) have the profile's unit
        unit = arr.type.unit if pat.is_timestamp(arr.type) else (spec.unit or "ns")
        values = _int64(arr.cast(pa.int64()) if pat.is_timestamp(arr.type) else arr).view(np.int64)
        if unit == "ns":
            micros, nanos = np.divmod(values, 1000)
        else:
            micros, nanos = values * (_UNIT_NS[unit] // 1000), np.zeros(len(values), np.int64)
        return Canon(valid, [("long", micros.view(np.uint64)), ("long", nanos.view(np.uint64))])
    raise ValueError(f"family {fam} cannot be hashed")


def step(kind: str, part: object, seed: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """One component of ``kind`` hashed with the running hash ``seed`` as its seed (where ``valid``)."""
    if kind == "long":
        return xxh64.hash_long(part, seed, valid)  # type: ignore[arg-type]
    if kind == "int":
        return xxh64.hash_int(part, seed, valid)  # type: ignore[arg-type]
    return xxh64.hash_bytes(part, seed, valid)


def fold(kind: str, part: object, state: np.ndarray, runs: xxh64.Runs, valid: np.ndarray | None = None, *,
         flag: bool = False) -> None:
    """One component of ``kind`` folded into the chains of ``state`` in place (:func:`xxh64.fold_long`)."""
    if kind == "long":
        xxh64.fold_long(part, state, runs, valid, flag=flag)  # type: ignore[arg-type]
    elif kind == "int":
        xxh64.fold_int(part, state, runs, valid, flag=flag)  # type: ignore[arg-type]
    else:
        xxh64.fold_bytes(part, state, runs, valid, flag=flag)


def fold_column(c: Canon, state: np.ndarray, runs: xxh64.Runs) -> None:
    """A row hash's step for one column: its null flag, then its components where present."""
    for p, (kind, part) in enumerate(c.parts):
        fold(kind, part, state, runs, c.valid, flag=p == 0)


def _chain(c: Canon, seed: np.ndarray) -> np.ndarray:
    """Spark's ``xxhash64(components...)`` continued from ``seed`` (rows x k), nulls skipped."""
    h = seed
    for kind, part in c.parts:
        h = step(kind, part, h, c.valid)
    return h


def value_hashes(c: Canon) -> pa.Array:
    """Spark's ``xxhash64(components) & 0xFFFFFFFF`` of each value (uint32), null where the value is."""
    n = len(c.valid) if c.valid is not None else _rows(c)
    h = _chain(Canon(None, c.parts), xxh64.seeds(n)) & _MASK32
    mask = None if c.valid is None else ~c.valid
    return pa.array(h.astype(np.uint32), mask=mask)


def _rows(c: Canon) -> int:
    return len(c.parts[0][1])  # type: ignore[arg-type]


def row_hashes(columns: Sequence[Canon], rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The 128-bit row hash ``(a, b)`` (two int64) over ``columns``, in the order given.

    ``a`` is ``xxhash64((c IS NULL), components of c, ...)`` from Spark's seed, ``b`` the same chain
    started from the hash of the salt (Spark's ``xxhash64(salt, ...)``)."""
    h = row_seeds(rows)
    runs = np.zeros(1, np.int64), np.array([rows], np.int64)
    for c in columns:
        fold_column(c, h, runs)
    return h[0].view(np.int64), h[1].view(np.int64)


def row_seeds(rows: int) -> np.ndarray:
    """The (2, rows) state the two chains of a row hash start from."""
    start = xxh64.seeds(rows)
    return np.stack([start, xxh64.hash_long(np.full(rows, SECOND_HASH_SALT, np.uint64), start)])


def canon_all(specs: Mapping[str, ColumnSpec], table: pa.Table) -> dict[str, Canon]:
    """Components of every column of ``specs`` (by name) in ``table``."""
    return {name: canon(spec, table.column(name)) for name, spec in specs.items()}
