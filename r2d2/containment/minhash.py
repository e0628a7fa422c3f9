"""Column MinHash signatures in datasketch's format, computed in bulk.

We use datasketch's ``affine32`` scheme (its default since 2.0): each 32-bit input hash ``h`` is
pre-mixed with the MurmurHash3 finalizer, then permutation ``i`` maps it to ``a_i * h + b_i`` modulo
2^32 with datasketch's own parameters ``(a, b)`` for the seed. The signature of a set is the
element-wise minimum over its values. Computing this with numpy on whole arrays gives exactly the
hash values ``datasketch.MinHash.update`` would (see ``tests/test_minhash.py``), without a Python
call per value; signatures are stored as ``LeanMinHash`` bytes (datasketch's documented format, read
and written here with ``struct``; ``tests/test_minhash.py`` checks datasketch reads ours and we read
its own).

This module is imported by every new Spark Python worker of stage 3, so it imports only numpy:
datasketch (which pulls in scipy, ~0.5-1 s) is imported only to get the permutation parameters,
once per machine when they are cached (:func:`permutations`); the workers get them from the driver.

Dominance (the sound pruning rule): if X ⊆ Y then for every permutation, min over Y ≤ min over X.
So ``sig(parent)[i] > sig(child)[i]`` for any ``i`` proves the child's value set is not contained.
This holds whatever the hash function, collisions included, so the screen has no false negatives.
"""

from __future__ import annotations

import os
import struct
import threading
from importlib.metadata import version
from pathlib import Path

import numpy as np

Perms = tuple[np.ndarray, np.ndarray]  # permutation parameters (a, b), uint32 arrays of num_perm

SCHEME = "affine32"
EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's empty-sketch value for affine32
_CHUNK = 1 << 14  # values per block: the (permutations x values) block, 8 MB, stays in cache (1.5x faster than 4x that)


def permutations(num_perm: int, seed: int, *, cache_dir: Path | None = None) -> Perms:
    """datasketch's permutation parameters ``(a, b)`` (uint32 arrays) for ``num_perm`` and ``seed``.

    Importing datasketch pulls in scipy (about a second): with ``cache_dir``, the parameters are kept
    in a file named by scheme, size, seed and datasketch's version, so that later processes (a CLI
    run, a detect in a fresh service) get them without the import."""
    key = (num_perm, seed)
    if key in _perms:
        return _perms[key]
    path = None
    if cache_dir is not None:
        path = cache_dir / f"{SCHEME}-{num_perm}-{seed}-datasketch{version('datasketch')}.npy"
        if path.exists():
            try:
                both = np.load(path)
            except (OSError, ValueError):  # a torn write of another process: recomputed below
                both = None
            if both is not None and both.shape == (2, num_perm):
                _perms[key] = (both[0].astype(np.uint32), both[1].astype(np.uint32))
                return _perms[key]
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    _perms[key] = (np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, np.stack(_perms[key]))
        os.replace(tmp, path)  # atomic: readers see the whole file or none
    return _perms[key]


_perms: dict[tuple[int, int], Perms] = {}


def empty_signature(num_perm: int) -> np.ndarray:
    return np.full(num_perm, EMPTY, dtype=np.uint32)


def _fmix(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, datasketch's pre-mix (``datasketch.minhash._fmix(hv, 32)``)."""
    with np.errstate(over="ignore"):  # uint32 multiplication wraps: mod 2^32
        hv = hv ^ (hv >> np.uint32(16))
        hv = hv * np.uint32(0x85EBCA6B)
        hv = hv ^ (hv >> np.uint32(13))
        hv = hv * np.uint32(0xC2B2AE35)
        return hv ^ (hv >> np.uint32(16))


_scratch = threading.local()  # per thread: the block buffer below


def _block(num_perm: int, n: int) -> np.ndarray:
    """A ``(num_perm, n)`` view of this thread's reused block buffer (``n <= _CHUNK``).

    A fresh 8 MB array per chunk comes from newly mapped memory, and its page faults cost two to
    three times the arithmetic done in it; the buffer is allocated once per thread instead."""
    buf = getattr(_scratch, "block", None)
    if buf is None or buf.shape[0] != num_perm or buf.shape[1] < n:
        buf = _scratch.block = np.empty((num_perm, max(n, _CHUNK)), dtype=np.uint32)
    return buf[:, :n]


def _permuted(hashes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(num_perm, n)`` matrix of permuted hashes (``n <= _CHUNK``): one row per permutation, so that
    the minimum runs over contiguous memory (about 15x faster than the ``(n, num_perm)`` layout).
    The matrix is the thread's reused buffer: valid until the next call."""
    mixed = _fmix(hashes.astype(np.uint32, copy=False))
    block = _block(len(a), len(mixed))
    with np.errstate(over="ignore"):  # uint32 arithmetic wraps: mod 2^32
        np.multiply(a[:, None], mixed[None, :], out=block)
        np.add(block, b[:, None], out=block)
    return block


def signature(hashes: np.ndarray, *, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signature of the set of 32-bit ``hashes`` (values in [0, 2^32))."""
    return _signature(hashes, permutations(num_perm, seed))


def signature_of(hashes: np.ndarray, perms: Perms) -> np.ndarray:
    """MinHash signature of the set of 32-bit ``hashes`` with ``perms`` (:func:`permutations`)."""
    return _signature(hashes, perms)


def _signature(hashes: np.ndarray, perms: Perms) -> np.ndarray:
    # Duplicates are permuted too: they do not change a minimum, and dropping them first (a sort)
    # costs several times more than permuting them.
    a, b = perms
    sig = empty_signature(len(a))
    for start in range(0, len(hashes), _CHUNK):
        block = _permuted(hashes[start : start + _CHUNK], a, b)
        np.minimum(sig, block.min(axis=1), out=sig)
    return sig


def grouped_signatures(groups: np.ndarray, hashes: np.ndarray, perms: Perms) -> tuple[np.ndarray, np.ndarray]:
    """Signatures of many sets at once: ``groups[i]`` names the set that ``hashes[i]`` belongs to;
    ``perms``: :func:`permutations` (computed on the driver, passed to workers).

    Returns ``(group_ids, signatures)`` with one row of ``signatures`` per distinct group id.
    """
    a, b = perms
    num_perm = len(a)
    if len(groups) and groups[0] == groups[-1] and bool((groups == groups[0]).all()):
        return groups[:1].copy(), _signature(hashes, perms)[None, :]  # one set, the usual batch: no sort
    order = np.argsort(groups, kind="stable")
    groups, hashes = groups[order], hashes[order]
    ids, starts = np.unique(groups, return_index=True)
    out = np.empty((len(ids), num_perm), dtype=np.uint32)
    if len(ids) == 0:
        return ids, out
    bounds = [*starts.tolist(), len(groups)]
    for start in range(0, len(hashes), _CHUNK):
        stop = min(start + _CHUNK, len(hashes))
        block = _permuted(hashes[start:stop], a, b)
        first = int(np.searchsorted(starts, start, side="right")) - 1
        last = int(np.searchsorted(starts, stop - 1, side="right")) - 1
        for g in range(first, last + 1):
            lo, hi = max(bounds[g], start) - start, min(bounds[g + 1], stop) - start
            part = block[:, lo:hi].min(axis=1)
            out[g] = part if lo + start == bounds[g] else np.minimum(out[g], part)
    return ids, out


def dominated(parent_sig: np.ndarray, child_sig: np.ndarray) -> bool:
    """True when the parent's signature is ≤ the child's everywhere (containment still possible)."""
    return bool(np.all(parent_sig <= child_sig))


# datasketch's LeanMinHash byte format for the affine schemes: seed, the negated number of values, a
# scheme code (1: affine32), then the values, native byte order and alignment (its ``serialize``).
_AFFINE32_CODE = 1


def _lean_format(n: int) -> str:
    return f"@qiB{n}I"


def to_bytes(sig: np.ndarray, *, seed: int) -> bytes:
    """Serialise as datasketch ``LeanMinHash`` bytes (its format, written without importing it)."""
    return struct.pack(_lean_format(len(sig)), seed, -len(sig), _AFFINE32_CODE, *sig.tolist())


def from_bytes(data: bytes) -> np.ndarray:
    """Signature array from ``LeanMinHash`` bytes of the affine32 scheme."""
    _, negated, code = struct.unpack_from("@qiB", data, 0)
    if negated >= 0 or code != _AFFINE32_CODE:
        raise ValueError(f"not an affine32 LeanMinHash (values {negated}, scheme code {code})")
    n = -negated
    offset = struct.calcsize(_lean_format(n)) - 4 * n
    return np.frombuffer(data, dtype=np.uint32, count=n, offset=offset).copy()
