"""XXH64 of whole columns, bit for bit as Spark's ``xxhash64`` SQL function computes it.

Spark's ``xxhash64(c1, c2, ...)`` hashes each non-null argument with the previous result as its
seed (42 first) and skips nulls. Per type it hashes little-endian bytes with standard XXH64:
``bigint`` as 8 bytes (:func:`hash_long`), ``boolean`` (and ``int``) as 4 bytes (:func:`hash_int`),
``string`` and ``binary`` as their bytes (:func:`hash_bytes`). Each function takes one value per row
and one seed per row (or a ``(k, rows)`` matrix of seeds: k chains at once), and an optional
``valid`` mask: where a value is null the seed passes through unchanged, as in Spark. So a chain over
columns is a loop over columns, not rows; the rows are the compiled loops of
:mod:`r2d2.containment.kernels`. The ``fold_*`` functions take a chain one column further in place,
over runs of rows of a state array, the column's null flag first if asked: a row hash's column step.

The ``xxhash`` package's digests are the reference in the tests, and Spark itself for the chains
(``tests/test_xxh64.py``). Imported by Spark's Python workers: numpy, pyarrow and numba only.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import pyarrow as pa

SPARK_SEED = 42  # the seed of Spark's xxhash64 before its first argument
_NONE = np.zeros(0, np.bool_)
Runs = tuple[np.ndarray, np.ndarray]  # (first row, rows) of each run of a state's rows, in value order


def _kernels() -> ModuleType:
    """The compiled loops (:mod:`r2d2.containment.compiled`), loaded on the first hash: a process that
    only reads cached hash sets (a lookup, an incremental detect) never loads them."""
    from r2d2.containment import compiled

    return compiled.kernels()


def seeds(n: int, seed: int = SPARK_SEED) -> np.ndarray:
    """``n`` copies of ``seed`` as the uint64 seed vector of a new chain."""
    return np.full(n, seed & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)


def _run(kernel: Callable[..., None], args: tuple, seed: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    seeds2 = np.ascontiguousarray(np.atleast_2d(np.asarray(seed, dtype=np.uint64)))
    out = np.empty_like(seeds2)
    kernel(*args, seeds2, _valid(valid), out)
    return out[0] if np.ndim(seed) == 1 else out


def _valid(valid: np.ndarray | None, values: int | None = None) -> np.ndarray:
    if valid is None:
        return _NONE
    if values is not None and len(valid) != values:
        raise ValueError(f"{values} values but {len(valid)} validity flags")
    return np.ascontiguousarray(valid, dtype=np.bool_)


def _state(state: np.ndarray) -> np.ndarray:
    if state.dtype != np.uint64 or state.ndim != 2 or not state.flags.c_contiguous:
        raise ValueError("a chain state must be a C-contiguous (k, rows) uint64 array")
    return state


def _runs(runs: Runs, values: int, state: np.ndarray) -> Runs:
    """``runs`` as the kernels take them, checked: the compiled loops do not check bounds."""
    first = np.ascontiguousarray(runs[0], dtype=np.int64)
    sizes = np.ascontiguousarray(runs[1], dtype=np.int64)
    if len(first) != len(sizes) or int(sizes.sum()) != values or (len(sizes) and int(sizes.min()) < 0):
        raise ValueError(f"{values} values but runs of {sizes.tolist()[:8]} rows")
    used = sizes > 0
    if used.any() and (int(first[used].min()) < 0 or int((first + sizes)[used].max()) > state.shape[1]):
        raise ValueError(f"a run of rows to hash is outside the state's {state.shape[1]} rows")
    return first, sizes


def _long_bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values).view(np.uint64) if values.dtype.itemsize == 8 else values.astype(np.uint64)


def _binary_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets as int64, from 0; the data bytes)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if not isinstance(arr, pa.LargeBinaryArray):
        arr = arr.cast(pa.large_binary())
    _, offs_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offs_buf, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    start = int(offsets[0]) if len(offsets) else 0
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return offsets - start, data[start:]


def hash_long(values: np.ndarray, seed: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """XXH64 of each 64-bit value (8 little-endian bytes) with its row's seed (Spark ``hashLong``)."""
    return _run(_kernels().hash_long, (_long_bits(values),), seed, valid)


def hash_int(values: np.ndarray, seed: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """XXH64 of each 32-bit value (4 little-endian bytes) with its row's seed (Spark ``hashInt``)."""
    return _run(_kernels().hash_int, (np.ascontiguousarray(values, dtype=np.uint32),), seed, valid)


def hash_bytes(arr: pa.Array, seed: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """XXH64 of each value's bytes (string: UTF-8) with its row's seed (Spark ``hashUnsafeBytes``).
    Without ``valid``, a null entry hashes as the empty string."""
    return _run(_kernels().hash_bytes, _binary_buffers(arr), seed, valid)


def fold_long(values: np.ndarray, state: np.ndarray, runs: Runs, valid: np.ndarray | None = None, *,
              flag: bool = False) -> None:
    """:func:`hash_long` of ``values`` into ``state`` (k, rows) in place, value by value over the rows of
    ``runs``; with ``flag``, each value's null flag (1 null, 0 present) hashed as an int first."""
    st, bits = _state(state), _long_bits(values)
    _kernels().fold_long(bits, *_runs(runs, len(bits), st), st, _valid(valid, len(bits)), flag)


def fold_int(values: np.ndarray, state: np.ndarray, runs: Runs, valid: np.ndarray | None = None, *,
             flag: bool = False) -> None:
    """:func:`fold_long` for 32-bit values, hashed as their 4 little-endian bytes (what ``hashInt`` hashes)."""
    st, ints = _state(state), np.ascontiguousarray(values, dtype="<u4")
    offsets = np.arange(0, 4 * len(ints) + 1, 4, dtype=np.int64)
    _kernels().fold_bytes(offsets, ints.view(np.uint8), *_runs(runs, len(ints), st), st, _valid(valid, len(ints)),
                          flag)


def fold_bytes(arr: pa.Array, state: np.ndarray, runs: Runs, valid: np.ndarray | None = None, *,
               flag: bool = False) -> None:
    """:func:`fold_long` for byte strings."""
    st = _state(state)
    offsets, data = _binary_buffers(arr)
    n = len(offsets) - 1
    _kernels().fold_bytes(offsets, data, *_runs(runs, n, st), st, _valid(valid, n), flag)
