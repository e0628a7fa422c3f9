"""XXH64, vectorised with numpy, bit for bit as Spark's ``xxhash64`` SQL function computes it.

Spark's ``xxhash64(c1, c2, ...)`` hashes each non-null argument with the previous result as its
seed (42 first) and skips nulls. Per type it hashes little-endian bytes with standard XXH64:
``bigint`` as 8 bytes (:func:`hash_long`), ``boolean`` (and ``int``) as 4 bytes (:func:`hash_int`),
``string`` and ``binary`` as their bytes (:func:`hash_bytes`). These functions take one value per row
and one seed per row, so a chain over columns is a loop over columns, not rows.

Why not the ``xxhash`` package: it hashes one value per Python call (about 0.35 µs); here a column of a
million values costs a few dozen numpy passes. Its digests are the reference in the tests, and Spark
itself is the reference for the chains (``tests/test_xxh64.py``).

Imported by Spark's Python workers: numpy and pyarrow only.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

P1 = np.uint64(0x9E3779B185EBCA87)
P2 = np.uint64(0xC2B2AE3D27D4EB4F)
P3 = np.uint64(0x165667B19E3779F9)
P4 = np.uint64(0x85EBCA77C2B2AE63)
P5 = np.uint64(0x27D4EB2F165667C5)
SPARK_SEED = 42  # the seed of Spark's xxhash64 before its first argument

_U64 = np.uint64


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << _U64(r)) | (x >> _U64(64 - r))


def _rotl_(x: np.ndarray, r: int, tmp: np.ndarray) -> None:
    """Rotate ``x`` left by ``r`` in place (``tmp``: scratch of the same shape)."""
    np.right_shift(x, _U64(64 - r), out=tmp)
    x <<= _U64(r)
    x |= tmp


def _fmix(h: np.ndarray) -> np.ndarray:
    """XXH64's avalanche, in place (``h`` is the caller's own array)."""
    tmp = h >> _U64(33)
    h ^= tmp
    h *= P2
    np.right_shift(h, _U64(29), out=tmp)
    h ^= tmp
    h *= P3
    np.right_shift(h, _U64(32), out=tmp)
    h ^= tmp
    return h


def _round(acc: np.ndarray, lane: np.ndarray) -> np.ndarray:
    acc = acc + lane * P2
    return _rotl(acc, 31) * P1


def _merge(h: np.ndarray, v: np.ndarray) -> np.ndarray:
    h = h ^ _round(np.zeros_like(v), v)
    return h * P1 + P4


def seeds(n: int, seed: int = SPARK_SEED) -> np.ndarray:
    """``n`` copies of ``seed`` as the uint64 seed vector of a new chain."""
    return np.full(n, seed & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)


def hash_long(values: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """XXH64 of each 64-bit value (8 little-endian bytes) with its row's seed (Spark ``hashLong``).

    Written with in-place operations: each step is one pass over arrays that stay in cache."""
    with np.errstate(over="ignore"):
        k = values.astype(np.uint64, copy=True)
        k *= P2
        tmp = np.empty_like(k)
        _rotl_(k, 31, tmp)
        k *= P1
        h = seed + (P5 + _U64(8))  # broadcasts to seed's shape (one chain per row, or several)
        h ^= k
        tmp = np.empty_like(h) if h.shape != k.shape else tmp
        _rotl_(h, 27, tmp)
        h *= P1
        h += P4
        return _fmix(h)


def hash_int(values: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """XXH64 of each 32-bit value (4 little-endian bytes) with its row's seed (Spark ``hashInt``)."""
    with np.errstate(over="ignore"):
        k = values.astype(np.uint32, copy=False).astype(np.uint64)
        k *= P1
        h = seed + (P5 + _U64(4))
        h ^= k
        _rotl_(h, 23, np.empty_like(h))
        h *= P2
        h += P3
        return _fmix(h)


def _words(data64: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The 8 bytes starting at each byte offset ``pos`` of a buffer viewed as little-endian words."""
    q = pos >> 3
    r = (pos & 7).astype(np.uint64) << _U64(3)
    lo, hi = data64[q], data64[q + 1]
    # (hi << 1) << (63 - r) is hi << (64 - r), and 0 when r == 0 (a shift by 64 is undefined)
    return (lo >> r) | ((hi << _U64(1)) << (_U64(63) - r))


def _binary_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets as int64, data padded with zero bytes to whole words and a few spare ones)."""
    if not isinstance(arr, pa.LargeBinaryArray):
        arr = arr.cast(pa.large_binary())
    _, offs_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offs_buf, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    start, stop = int(offsets[0]), int(offsets[-1])
    raw = np.frombuffer(data_buf, dtype=np.uint8)[start:stop] if data_buf is not None else np.empty(0, np.uint8)
    words = (len(raw) + 7) // 8 + 6  # reads past a value (kept by np.where or not) stay inside
    padded = np.zeros(words * 8, dtype=np.uint8)
    padded[: len(raw)] = raw
    return offsets - start, padded


BLOCK = 1 << 14  # rows per block: a block's (seeds x rows) arrays stay in cache through the op chain
HUGE = 1 << 10  # values at least this long are hashed one call each by the xxhash package (its C loop)


def hash_bytes(arr: pa.Array, seed: np.ndarray) -> np.ndarray:
    """XXH64 of each value's bytes (string: UTF-8) with its row's seed (Spark ``hashUnsafeBytes``).

    ``seed`` is one seed per row, or a ``(k, rows)`` matrix: k hashes of each value at once (the
    bytes are loaded once for all of them). Null entries hash as the empty string: callers keep the
    seed where the value is null. Rows go by blocks; in a block, values of 32 bytes or more first go
    through XXH64's 32-byte stripes (in order of decreasing stripe count, so each step works on a
    prefix of them), then every value's last ``len % 32`` bytes are consumed as up to three 8-byte
    words, a 4-byte word and up to three single bytes, computed for every row and kept with
    ``np.where``. Values of ``HUGE`` bytes or more are left to the xxhash package.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    seeds2 = np.atleast_2d(np.asarray(seed, dtype=np.uint64))
    n = len(arr)
    out = np.empty((seeds2.shape[0], n), dtype=np.uint64)
    if n:
        offsets, padded = _binary_buffers(arr)
        data64 = padded.view("<u8")
        lens = np.diff(offsets)
        with np.errstate(over="ignore"):
            for lo in range(0, n, BLOCK):
                hi = min(n, lo + BLOCK)
                out[:, lo:hi] = _block(seeds2[:, lo:hi], data64, offsets[lo:hi], lens[lo:hi])
        huge = np.flatnonzero(lens >= HUGE)
        if len(huge):
            _huge(out, seeds2, padded, offsets, huge)
    return out[0] if np.ndim(seed) == 1 else out


def _block(seed: np.ndarray, data64: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    h = seed + P5
    idx = np.flatnonzero((lens >= 32) & (lens < HUGE))
    if len(idx):
        h[:, idx] = _stripes(seed[:, idx], data64, starts[idx], lens[idx] // 32)
    return _tail(h, data64, starts, lens)


def _stripes(seed: np.ndarray, data64: np.ndarray, starts: np.ndarray, stripes: np.ndarray) -> np.ndarray:
    """XXH64's state after the 32-byte stripes of values with ``stripes`` (>= 1) of them."""
    order = np.argsort(-stripes, kind="stable")
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    s, at, stripes = seed[:, order], starts[order], stripes[order]
    v1, v2, v3, v4 = s + P1 + P2, s + P2, s.copy(), s - P1
    more = len(order) - np.cumsum(np.bincount(stripes))  # values with more than k stripes, per k
    for k in range(int(stripes[0])):
        m = int(more[k])
        p = at[:m] + 32 * k
        v1[:, :m] = _round(v1[:, :m], _words(data64, p))
        v2[:, :m] = _round(v2[:, :m], _words(data64, p + 8))
        v3[:, :m] = _round(v3[:, :m], _words(data64, p + 16))
        v4[:, :m] = _round(v4[:, :m], _words(data64, p + 24))
    acc = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
    for v in (v1, v2, v3, v4):
        acc = _merge(acc, v)
    return acc[:, back]


def _tail(h: np.ndarray, data64: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Finish XXH64 of one block of values: length, the last ``len % 32`` bytes, avalanche."""
    rest = lens & 31
    pos = starts + (lens - rest)
    h = h + lens.astype(np.uint64)
    words = rest >> 3
    top = int(words.max()) if len(words) else 0
    for j in range(top):
        k1 = _rotl(_words(data64, pos + 8 * j) * P2, 31) * P1
        h = np.where(words > j, _rotl(h ^ k1, 27) * P1 + P4, h)
    pos = pos + (words << 3)
    four = (rest & 4) != 0
    if four.any():
        w = _words(data64, pos) & _U64(0xFFFFFFFF)
        h = np.where(four, _rotl(h ^ (w * P1), 23) * P2 + P3, h)
        pos = pos + (four.astype(np.int64) << 2)
    ones = rest & 3
    if ones.any():
        w = _words(data64, pos)
        for j in range(int(ones.max())):
            b = (w >> _U64(8 * j)) & _U64(0xFF)
            h = np.where(ones > j, _rotl(h ^ (b * P5), 11) * P1, h)
    return _fmix(h)


def _huge(out: np.ndarray, seed: np.ndarray, data: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> None:
    import xxhash

    buf = data.tobytes()
    for i in rows.tolist():
        value = buf[offsets[i]: offsets[i + 1]]
        for k in range(seed.shape[0]):
            out[k, i] = xxhash.xxh64_intdigest(value, int(seed[k, i]))
