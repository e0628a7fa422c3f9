"""Compiled loops for stage 3's per-value work: XXH64 (Spark's ``xxhash64``), MinHash minima and the
canonical text of decimals; and for the row-hash sets: counting them (stage 3) and looking one up in
another (exact verification on the driver), in open-addressing tables.

Hashing a value is a few dozen integer operations; as numpy passes over arrays it cost 100-170 ns
per value on real tables (every step a pass over memory, a fixed cost per call), as compiled loops
(numba, LLVM) it costs a few ns. The loops release the GIL, so the driver's threads hash in
parallel. They are compiled once per machine and cached next to this module (numba's ``cache``;
``make install`` compiles them: ``python -m r2d2.containment.kernels``, which also builds them ahead
of time: :mod:`r2d2.containment.compiled` says which are used).

Exactness: the arithmetic is XXH64's on ``uint64`` (wrapping), checked against the ``xxhash``
package and against Spark (``tests/test_xxh64.py``), and datasketch's ``affine32`` permutations on
``uint32`` (``tests/test_minhash.py``).

Imported by Spark's Python workers: numpy and numba only.
"""

from __future__ import annotations

import sys

import numba as nb
import numpy as np

_U = np.uint64
P1 = _U(0x9E3779B185EBCA87)
P2 = _U(0xC2B2AE3D27D4EB4F)
P3 = _U(0x165667B19E3779F9)
P4 = _U(0x85EBCA77C2B2AE63)
P5 = _U(0x27D4EB2F165667C5)

_jit = nb.njit(cache=True, nogil=True)
_inline = nb.njit(inline="always")


@_inline
def _rotl(x, r):
    return (x << _U(r)) | (x >> _U(64 - r))


@_inline
def _fmix(h):
    h ^= h >> _U(33)
    h *= P2
    h ^= h >> _U(29)
    h *= P3
    h ^= h >> _U(32)
    return h


@_inline
def _round(acc, lane):
    return _rotl(acc + lane * P2, 31) * P1


@_inline
def _load64(d, p):
    # ``p`` is unsigned: numba then adds no negative-index check, and LLVM merges the byte loads into
    # one (strings hash about twice as fast)
    return (_U(d[p]) | (_U(d[p + _U(1)]) << _U(8)) | (_U(d[p + _U(2)]) << _U(16)) | (_U(d[p + _U(3)]) << _U(24))
            | (_U(d[p + _U(4)]) << _U(32)) | (_U(d[p + _U(5)]) << _U(40)) | (_U(d[p + _U(6)]) << _U(48))
            | (_U(d[p + _U(7)]) << _U(56)))


@_inline
def _load32(d, p):
    return _U(d[p]) | (_U(d[p + _U(1)]) << _U(8)) | (_U(d[p + _U(2)]) << _U(16)) | (_U(d[p + _U(3)]) << _U(24))


@_inline
def _xxh_long(v, seed):
    h = seed + P5 + _U(8)
    h ^= _rotl(v * P2, 31) * P1
    return _fmix(_rotl(h, 27) * P1 + P4)


@_inline
def _xxh_int(v, seed):
    h = seed + P5 + _U(4)
    h ^= (v & _U(0xFFFFFFFF)) * P1
    return _fmix(_rotl(h, 23) * P2 + P3)


@_inline
def _xxh_bytes(d, start, length, seed):
    p = _U(start)  # unsigned positions: see _load64
    end = _U(start + length)
    if length >= 32:
        v1 = seed + P1 + P2
        v2 = seed + P2
        v3 = seed
        v4 = seed - P1
        while p + _U(32) <= end:
            v1 = _round(v1, _load64(d, p))
            v2 = _round(v2, _load64(d, p + _U(8)))
            v3 = _round(v3, _load64(d, p + _U(16)))
            v4 = _round(v4, _load64(d, p + _U(24)))
            p += _U(32)
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        h = (h ^ _round(_U(0), v1)) * P1 + P4
        h = (h ^ _round(_U(0), v2)) * P1 + P4
        h = (h ^ _round(_U(0), v3)) * P1 + P4
        h = (h ^ _round(_U(0), v4)) * P1 + P4
    else:
        h = seed + P5
    h += _U(length)
    while p + _U(8) <= end:
        h ^= _rotl(_load64(d, p) * P2, 31) * P1
        h = _rotl(h, 27) * P1 + P4
        p += _U(8)
    if p + _U(4) <= end:
        h ^= _load32(d, p) * P1
        h = _rotl(h, 23) * P2 + P3
        p += _U(4)
    while p < end:
        h ^= _U(d[p]) * P5
        h = _rotl(h, 11) * P1
        p += _U(1)
    return _fmix(h)


@_jit
def hash_long(values: np.ndarray, seeds: np.ndarray, valid: np.ndarray, out: np.ndarray) -> None:
    """``out[j, i] = xxh64(values[i], seeds[j, i])`` where ``valid[i]``, else ``seeds[j, i]`` (``valid``
    empty: every value is present). ``values``: uint64 bits of the 64-bit values.

    Chain by chain over whole rows, with selects for branches: loops LLVM turns into vector
    instructions where the processor multiplies 64-bit lanes (AVX-512: about 7x faster)."""
    all_valid = valid.shape[0] == 0
    for j in range(seeds.shape[0]):
        src = seeds[j]
        dst = out[j]
        if all_valid:
            for i in range(values.shape[0]):
                dst[i] = _xxh_long(values[i], src[i])
        else:
            for i in range(values.shape[0]):
                dst[i] = _xxh_long(values[i], src[i]) if valid[i] else src[i]


@_jit
def hash_int(values: np.ndarray, seeds: np.ndarray, valid: np.ndarray, out: np.ndarray) -> None:
    """As :func:`hash_long`, for 32-bit values (Spark's ``hashInt``: booleans, the null flags)."""
    all_valid = valid.shape[0] == 0
    for j in range(seeds.shape[0]):
        for i in range(values.shape[0]):
            if all_valid or valid[i]:
                out[j, i] = _xxh_int(_U(values[i]), seeds[j, i])
            else:
                out[j, i] = seeds[j, i]


@_jit
def hash_bytes(offsets: np.ndarray, data: np.ndarray, seeds: np.ndarray, valid: np.ndarray, out: np.ndarray) -> None:
    """As :func:`hash_long`, for the byte strings ``data[offsets[i]:offsets[i + 1]]``."""
    all_valid = valid.shape[0] == 0
    for j in range(seeds.shape[0]):
        for i in range(offsets.shape[0] - 1):
            if all_valid or valid[i]:
                out[j, i] = _xxh_bytes(data, offsets[i], offsets[i + 1] - offsets[i], seeds[j, i])
            else:
                out[j, i] = seeds[j, i]


# The row-hash step of one column, in place, over runs of rows: ``state`` is a (k, rows) array of running
# hashes, and value ``i`` belongs to the ``i``-th row of the runs ``first[s] .. first[s] + sizes[s] - 1``
# taken in order (the rows of many row sets at once, with no index per value). With ``flag``, the value's
# null flag (Spark's ``c IS NULL``: 1 or 0, hashed as an int) is hashed first; then the value, where
# present. One pass does what took a flag pass and a value pass per chain.

@_jit
def fold_long(values: np.ndarray, first: np.ndarray, sizes: np.ndarray, state: np.ndarray, valid: np.ndarray,
              flag: bool) -> None:
    """The step for 64-bit values (uint64 bits): run by run and chain by chain, in vector loops as
    :func:`hash_long`'s."""
    all_valid = valid.shape[0] == 0
    i = 0
    for s in range(first.shape[0]):
        n = sizes[s]
        vals = values[i:i + n]
        ok = valid[i:i + n]  # empty when every value is present
        for j in range(state.shape[0]):
            seg = state[j, first[s]:first[s] + n]
            if all_valid:
                if flag:
                    for t in range(n):
                        seg[t] = _xxh_long(vals[t], _xxh_int(_U(0), seg[t]))
                else:
                    for t in range(n):
                        seg[t] = _xxh_long(vals[t], seg[t])
            else:
                for t in range(n):
                    h = _xxh_int(_U(1) - _U(ok[t]), seg[t]) if flag else seg[t]
                    seg[t] = _xxh_long(vals[t], h) if ok[t] else h
        i += n


@_jit
def fold_bytes(offsets: np.ndarray, data: np.ndarray, first: np.ndarray, sizes: np.ndarray, state: np.ndarray,
               valid: np.ndarray, flag: bool) -> None:
    """The step for the byte strings ``data[offsets[i]:offsets[i + 1]]`` (and for 32-bit values as their
    4 little-endian bytes: XXH64 of 4 bytes is Spark's ``hashInt``)."""
    all_valid = valid.shape[0] == 0
    i = 0
    for s in range(first.shape[0]):
        r = first[s]
        for _ in range(sizes[s]):
            present = all_valid or valid[i]
            for j in range(state.shape[0]):
                h = state[j, r]
                if flag:
                    h = _xxh_int(_U(0) if present else _U(1), h)
                if present:
                    h = _xxh_bytes(data, offsets[i], offsets[i + 1] - offsets[i], h)
                state[j, r] = h
            r += 1
            i += 1


@_jit
def decimal_text(unscaled: np.ndarray, scale: int, offsets: np.ndarray, data: np.ndarray) -> int:
    """The plain text of each decimal ``unscaled[i] / 10^scale`` without trailing fractional zeros
    ("1.50" -> "1.5", "2.00" -> "2", "-0.0" -> "0"; never an exponent), as Spark's ``CAST(d AS STRING)``
    with :mod:`r2d2.containment.canonical`'s regexes gives it, into ``data`` at ``offsets`` (n + 1 of
    them); returns the bytes written. |unscaled| < 10^18 (precision <= 18): ``data`` needs 21 bytes a
    value at most (18 digits, a leading "0", the sign and the point)."""
    digits = np.empty(20, np.uint8)
    p = 0
    offsets[0] = 0
    for i in range(unscaled.shape[0]):
        v = unscaled[i]
        m = -v if v < 0 else v
        k = scale  # fractional digits left once the trailing zeros are gone
        while k > 0 and m % 10 == 0:
            m //= 10
            k -= 1
        n = 0  # the digits of m, last first, at least k + 1 of them (a "0" before the point)
        while True:
            digits[n] = 48 + m % 10
            m //= 10
            n += 1
            if m == 0 and n > k:
                break
        if v < 0:
            data[p] = 45  # "-"
            p += 1
        for j in range(n - 1, k - 1, -1):
            data[p] = digits[j]
            p += 1
        if k > 0:
            data[p] = 46  # "."
            p += 1
            for j in range(k - 1, -1, -1):
                data[p] = digits[j]
                p += 1
        offsets[i + 1] = p
    return p


_M32 = _U(0xFFFFFFFF)


@_inline
def _fmix32(x):
    # in uint64 with explicit masks: numba widens 32-bit scalar arithmetic instead of wrapping it
    h = _U(x)
    h ^= h >> _U(16)
    h = (h * _U(0x85EBCA6B)) & _M32
    h ^= h >> _U(13)
    h = (h * _U(0xC2B2AE35)) & _M32
    h ^= h >> _U(16)
    return h


@_jit
def grouped_minhash(hashes: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out[g]`` = element-wise minimum over ``hashes[starts[g]:starts[g + 1]]`` of datasketch's
    affine32 permutations ``a * fmix32(h) + b`` (mod 2^32); ``out`` starts as the empty value.

    The inner loop runs over the permutations (``a``, ``b``: uint32 arrays) for a block of 8 values,
    each result truncated to 32 bits, which LLVM turns into vector instructions; the running minima
    are loaded and stored once a block instead of once a value (about 2.5 ns a value for 64
    permutations, against 6 value by value and 50 with the loops the other way round). A block
    that runs past its group repeats the group's value: a value seen twice leaves the minima as they are."""
    num_perm = a.shape[0]
    row = np.empty(num_perm, np.uint32)
    mixed = np.empty(8, np.uint32)
    for g in range(starts.shape[0] - 1):
        for p in range(num_perm):
            row[p] = out[g, p]
        i = starts[g]
        end = starts[g + 1]
        while i < end:
            k = min(8, end - i)
            for j in range(8):
                mixed[j] = np.uint32(_fmix32(hashes[i + j if j < k else i]))
            m0, m1, m2, m3 = mixed[0], mixed[1], mixed[2], mixed[3]
            m4, m5, m6, m7 = mixed[4], mixed[5], mixed[6], mixed[7]
            for p in range(num_perm):
                ap = a[p]
                bp = b[p]
                x = min(min(np.uint32(ap * m0 + bp), np.uint32(ap * m1 + bp)),
                        min(np.uint32(ap * m2 + bp), np.uint32(ap * m3 + bp)))
                y = min(min(np.uint32(ap * m4 + bp), np.uint32(ap * m5 + bp)),
                        min(np.uint32(ap * m6 + bp), np.uint32(ap * m7 + bp)))
                row[p] = min(row[p], min(x, y))
            i += k
        for p in range(num_perm):
            out[g, p] = row[p]


@_inline
def _home(a, mask):
    """The first slot an open-addressing table of row hashes tries for hash half ``a`` (its low bits,
    mixed with its high ones; ``mask``: the table's length - 1). Every table built and probed here uses it."""
    key = _U(a)
    return (key ^ (key >> _U(32))) & mask


@_jit
def count_runs(starts: np.ndarray, a: np.ndarray, b: np.ndarray, first: np.ndarray, counts: np.ndarray) -> int:
    """The distinct pairs ``(a[i], b[i])`` of each run ``starts[r]:starts[r + 1]`` with their counts:
    ``first[k]`` the row of distinct pair ``k`` (run by run, in order of first appearance) and
    ``counts[k]`` how many rows of its run equal it; returns how many there are.

    One open-addressing table per run (``a`` is a row hash: its low bits pick the slot), sized to the
    run, so a run of a small table's rows stays in the processor's cache; pairs are compared whole."""
    longest = 0
    for r in range(starts.shape[0] - 1):
        longest = max(longest, starts[r + 1] - starts[r])
    size = 1
    while size < 2 * longest:
        size <<= 1
    slots = np.full(size, -1, np.int64)
    found = 0
    for r in range(starts.shape[0] - 1):
        lo, hi = starts[r], starts[r + 1]
        cap = 1
        while cap < 2 * (hi - lo):
            cap <<= 1
        mask = _U(cap - 1)
        for i in range(lo, hi):
            s = _home(a[i], mask)
            while True:
                k = slots[s]
                if k < 0:
                    slots[s] = found
                    first[found] = i
                    counts[found] = 1
                    found += 1
                    break
                j = first[k]
                if a[j] == a[i] and b[j] == b[i]:
                    counts[k] += 1
                    break
                s = (s + _U(1)) & mask
        for x in range(cap):
            slots[x] = -1
    return found


@_jit
def index_pairs(a: np.ndarray, b: np.ndarray, slots: np.ndarray) -> None:
    """Fill ``slots`` (a power-of-two length of at least ``2 * len(a)``) with an open-addressing table
    of the distinct pairs ``(a[i], b[i])``: a slot holds the first row of its pair, or -1.

    ``a`` is a row hash: its low bits pick the slot; pairs are compared whole."""
    mask = _U(slots.shape[0] - 1)
    for x in range(slots.shape[0]):
        slots[x] = -1
    for i in range(a.shape[0]):
        s = _home(a[i], mask)
        while True:
            k = slots[s]
            if k < 0:
                slots[s] = i
                break
            if a[k] == a[i] and b[k] == b[i]:
                break
            s = (s + _U(1)) & mask


@_jit
def probe_pairs(slots: np.ndarray, a: np.ndarray, b: np.ndarray, cnt: np.ndarray, ca: np.ndarray, cb: np.ndarray,
                ccnt: np.ndarray, out: np.ndarray) -> None:
    """Look each pair ``(ca[i], cb[i])`` up in the table :func:`index_pairs` built on ``(a, b)``:
    ``out[0]`` counts those it does not hold, ``out[1]`` those whose count ``ccnt[i]`` exceeds the
    count ``cnt`` of their pair's (first) row, 0 when absent."""
    mask = _U(slots.shape[0] - 1)
    missing = 0
    over = 0
    for i in range(ca.shape[0]):
        s = _home(ca[i], mask)
        matched = 0
        while True:
            k = slots[s]
            if k < 0:
                missing += 1
                break
            if a[k] == ca[i] and b[k] == cb[i]:
                matched = cnt[k]
                break
            s = (s + _U(1)) & mask
        if ccnt[i] > matched:
            over += 1
    out[0] = missing
    out[1] = over


# Argument types of each kernel, for the ahead-of-time build (what :mod:`xxh64` and :mod:`minhash` pass):
# C-contiguous arrays only, which lets LLVM vectorize the loops as numba's own compilation does (any
# layout: MinHash 4x slower). pycc does not check the layout of what it is given: the callers make
# every array contiguous (``tests/test_xxh64.py`` passes them strided views).
SIGNATURES = {
    "hash_long": "void(uint64[::1], uint64[:,::1], boolean[::1], uint64[:,::1])",
    "hash_int": "void(uint32[::1], uint64[:,::1], boolean[::1], uint64[:,::1])",
    "hash_bytes": "void(int64[::1], uint8[::1], uint64[:,::1], boolean[::1], uint64[:,::1])",
    "fold_long": "void(uint64[::1], int64[::1], int64[::1], uint64[:,::1], boolean[::1], boolean)",
    "fold_bytes": "void(int64[::1], uint8[::1], int64[::1], int64[::1], uint64[:,::1], boolean[::1], boolean)",
    "grouped_minhash": "void(uint32[::1], int64[::1], uint32[::1], uint32[::1], uint32[:,::1])",
    "decimal_text": "int64(int64[::1], int64, int64[::1], uint8[::1])",
    "count_runs": "int64(int64[::1], int64[::1], int64[::1], int64[::1], int64[::1])",
    "index_pairs": "void(int64[::1], int64[::1], int32[::1])",
    "probe_pairs": "void(int32[::1], int64[::1], int64[::1], int64[::1], int64[::1], int64[::1], int64[::1], "
                   "int64[::1])",
}


def warm() -> None:
    """Compile (or load from numba's cache) every kernel for the types stage 3 uses."""
    from r2d2.containment import compiled

    compiled.exercise(sys.modules[__name__])


def build_aot(name: str, output_dir: str, *, for_host: bool = True) -> None:
    """Compile the kernels ahead of time into the extension module ``name`` (numba's ``pycc``): it loads
    in milliseconds without numba, where numba's first call to a cached kernel costs 0.5-0.9 s a process.
    ``for_host``: for this processor's instructions, else for a generic one of its architecture."""
    import llvmlite.binding as ll
    from numba.pycc import CC

    from r2d2.containment.compiled import host_cpu

    cc = CC(name)
    cc.output_dir = output_dir
    cc.verbose = False
    if for_host and host_cpu() != "generic":  # this processor's instructions (pycc's default is a generic x86-64)
        cc.target_cpu = ll.get_host_cpu_name()  # checked by agrees_with_jit: a VM may hide some of them
    for fn_name, signature in SIGNATURES.items():
        cc.export(fn_name, signature)(globals()[fn_name].py_func)
    cc.compile()


def agrees_with_jit() -> bool:
    """Whether the ahead-of-time module gives numba's results, bit for bit, on arrays long enough for the
    vector loops. Run in a child process after a build: a processor model's instruction that this
    machine's hypervisor hides kills the child (SIGILL), not the build."""
    import numpy as np

    from r2d2.containment import compiled

    aot = compiled.aot()
    if aot is None:
        return False
    rng = np.random.default_rng(7)
    n = 10_000
    values = rng.integers(0, 1 << 63, n, dtype=np.uint64)
    offsets = np.concatenate([[0], np.cumsum(rng.integers(0, 40, n))]).astype(np.int64)
    data = rng.integers(0, 256, int(offsets[-1]), dtype=np.uint8)
    runs = np.array([n - 3, 0, 0, 4_000], np.int64), np.array([3, 0, 4_000, n - 4_003], np.int64)  # every row
    valid = rng.random(n) < 0.9
    hashes = rng.integers(0, 1 << 32, n, dtype=np.uint32)
    starts = np.array([0, 17, 17, 4_000, n], np.int64)
    a, b = (rng.integers(1, 1 << 32, 64, dtype=np.uint32) for _ in range(2))
    outs: list[list[np.ndarray]] = []
    for module in (aot, sys.modules[__name__]):
        seeds = rng.integers(0, 1 << 63, (2, n), dtype=np.uint64) if not outs else outs[0][0].copy()
        got = [seeds.copy()]
        for kernel, args in ((module.hash_long, (values,)), (module.hash_int, (values.astype(np.uint32),)),
                             (module.hash_bytes, (offsets, data))):
            out = np.empty_like(seeds)
            kernel(*args, seeds, valid, out)
            got.append(out)
        for kernel, args in ((module.fold_long, (values,)), (module.fold_bytes, (offsets, data))):
            for flag in (True, False):
                out = seeds.copy()
                kernel(*args, *runs, out, valid, flag)
                got.append(out)
        minima = np.full((len(starts) - 1, len(a)), 0xFFFFFFFF, np.uint32)
        module.grouped_minhash(hashes, starts, a, b, minima)
        text_offsets, text = np.empty(n + 1, np.int64), np.zeros(21 * n, np.uint8)
        written = module.decimal_text(values.view(np.int64) % (10**18) - 5 * 10**17, 7, text_offsets, text)
        pairs = values.view(np.int64) % 1000  # many equal pairs
        first, counts = np.empty(n, np.int64), np.empty(n, np.int64)
        distinct = module.count_runs(starts, pairs, pairs // 7, first, counts)
        slots, probed = np.empty(1 << 15, np.int32), np.empty(2, np.int64)
        module.index_pairs(pairs[: n // 2], pairs[: n // 2] // 7, slots)
        module.probe_pairs(slots, pairs[: n // 2], pairs[: n // 2] // 7, pairs[: n // 2] % 5 + 1, pairs,
                           pairs // 11, pairs % 3 + 1, probed)
        outs.append([*got, minima, text_offsets, text[:written], first[:distinct], counts[:distinct], slots, probed])
    return all(np.array_equal(x, y) for x, y in zip(*outs, strict=True))


if __name__ == "__main__":
    import subprocess
    import warnings
    from pathlib import Path

    from r2d2.containment import compiled

    def built_and_checked(for_host: bool) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pycc's deprecation notice
            build_aot(compiled.aot_name(), str(Path(__file__).parent), for_host=for_host)
        check = "from r2d2.containment.kernels import agrees_with_jit; raise SystemExit(0 if agrees_with_jit() else 3)"
        checked = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
        if checked.returncode != 0:
            for built in Path(__file__).parent.glob(f"{compiled.aot_name()}.*"):
                built.unlink()
            raise RuntimeError(f"the built module failed its check (exit {checked.returncode}) and was removed: "
                               f"{checked.stderr.strip()[-300:]}")

    warm()
    try:
        try:
            built_and_checked(for_host=True)
        except RuntimeError as exc:  # an instruction of the processor's model hidden here: generic code
            print(f"r2d2: {exc}; building for a generic processor instead", file=sys.stderr)
            built_and_checked(for_host=False)
    except Exception as exc:  # no C compiler, say: stage 3 still works, with numba's slower start
        print(f"r2d2: ahead-of-time kernels not built ({type(exc).__name__}: {exc}); numba compiles them "
              "on first use instead", file=sys.stderr)
