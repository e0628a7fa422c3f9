"""XXH64 of whole columns, bit for bit as Spark's ``xxhash64`` SQL function computes it.

Spark's ``xxhash64(c1, c2, ...)`` hashes each non-null argument with the previous result as its
seed (42 first) and skips nulls. Per type it hashes little-endian bytes with standard XXH64:
``bigint`` as 8 bytes (:func:`hash_long`), ``boolean`` (and ``int``) as 4 bytes (:func:`hash_int`),
``string`` and ``binary`` as their bytes (:func:`hash_bytes`). Each function takes one value per row
and one seed per row (or a ``(k, rows)`` matrix of seeds: k chains at once), and an optional
``valid`` mask: where a value is null the seed passes through unchanged, as in Spark. So a chain over
columns is a loop over columns, not rows; the rows are the compiled loops of
:mod:`r2d2.containment.kernels`.

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
_DIRECT = np.zeros(0, np.int64)  # no row index: value i is row i


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
    kernel(*args, _DIRECT, seeds2, _valid(valid), out)
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


def _rows(rows: np.ndarray, values: int, state: np.ndarray) -> np.ndarray:
    """``rows`` as the kernels take them, checked: the compiled loops do not check bounds (an empty
    array there means "value i is row i")."""
    at = np.ascontiguousarray(rows, dtype=np.int64)
    if len(at) != values:
        raise ValueError(f"{values} values but {len(at)} rows to hash them at")
    if values and (int(at.min()) < 0 or int(at.max()) >= state.shape[1]):
        raise ValueError(f"a row to hash at is outside the state's {state.shape[1]} rows")
    return at


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


# In place, at given rows: ``state[:, rows[i]]`` is the running hash of value ``i``'s row; it becomes
# that value's hash with it as the seed (unchanged where ``valid[i]`` is False). One state array then
# carries the chains of many row sets, each step touching only the rows it hashes.

def hash_long_at(values: np.ndarray, rows: np.ndarray, state: np.ndarray, valid: np.ndarray | None = None) -> None:
    """:func:`hash_long` of ``values`` into ``state`` at ``rows``."""
    st, bits = _state(state), _long_bits(values)
    _kernels().hash_long(bits, _rows(rows, len(bits), st), st, _valid(valid, len(bits)), st)


def hash_int_at(values: np.ndarray, rows: np.ndarray, state: np.ndarray, valid: np.ndarray | None = None) -> None:
    """:func:`hash_int` of ``values`` into ``state`` at ``rows``."""
    st, ints = _state(state), np.ascontiguousarray(values, dtype=np.uint32)
    _kernels().hash_int(ints, _rows(rows, len(ints), st), st, _valid(valid, len(ints)), st)


def hash_bytes_at(arr: pa.Array, rows: np.ndarray, state: np.ndarray, valid: np.ndarray | None = None) -> None:
    """:func:`hash_bytes` of ``arr`` into ``state`` at ``rows``."""
    st = _state(state)
    offsets, data = _binary_buffers(arr)
    n = len(offsets) - 1
    _kernels().hash_bytes(offsets, data, _rows(rows, n, st), st, _valid(valid, n), st)
