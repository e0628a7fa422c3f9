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

import contextlib
import os
import struct
from importlib.metadata import version
from pathlib import Path

import numpy as np

Perms = tuple[np.ndarray, np.ndarray]  # permutation parameters (a, b), uint32 arrays of num_perm

SCHEME = "affine32"
EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's empty-sketch value for affine32


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
            except (OSError, ValueError, EOFError):  # a torn or damaged file: recomputed below
                both = None
            if both is not None and both.shape == (2, num_perm):
                _perms[key] = (both[0].astype(np.uint32), both[1].astype(np.uint32))
                return _perms[key]
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    _perms[key] = (np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32))
    if path is not None:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npy")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(tmp, np.stack(_perms[key]))
            os.replace(tmp, path)  # atomic: readers see the whole file or none
        except OSError:  # a cache folder that cannot be written (a read-only home): only slower next time
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return _perms[key]


_perms: dict[tuple[int, int], Perms] = {}


def empty_signature(num_perm: int) -> np.ndarray:
    return np.full(num_perm, EMPTY, dtype=np.uint32)


def signature(hashes: np.ndarray, *, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signature of the set of 32-bit ``hashes`` (values in [0, 2^32))."""
    return signature_of(hashes, permutations(num_perm, seed))


def signature_of(hashes: np.ndarray, perms: Perms) -> np.ndarray:
    """MinHash signature of the set of 32-bit ``hashes`` with ``perms`` (:func:`permutations`)."""
    return _minima(np.asarray(hashes, dtype=np.uint32), np.array([0, len(hashes)], np.int64), perms)[0]


def _minima(hashes: np.ndarray, starts: np.ndarray, perms: Perms) -> np.ndarray:
    from r2d2.containment import compiled

    a, b = perms
    out = np.full((len(starts) - 1, len(a)), EMPTY, dtype=np.uint32)
    compiled.kernels().grouped_minhash(np.ascontiguousarray(hashes, dtype=np.uint32),
                                       np.ascontiguousarray(starts, dtype=np.int64),
                            np.ascontiguousarray(a, dtype=np.uint32), np.ascontiguousarray(b, dtype=np.uint32), out)
    return out


def consecutive_signatures(hashes: np.ndarray, bounds: np.ndarray, perms: Perms) -> np.ndarray:
    """Signatures of sets laid out one after the other: set ``i`` is ``hashes[bounds[i]:bounds[i + 1]]``
    (one row per set, in order; an empty set has the empty signature)."""
    return _minima(hashes, bounds, perms)


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
