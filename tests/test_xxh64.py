"""numpy XXH64: the xxhash package's digests, and Spark's ``xxhash64`` chains, bit for bit."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pyarrow as pa
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from r2d2.containment import xxh64


def _ref(data: bytes, seed: int) -> int:
    return xxhash.xxh64_intdigest(data, seed)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.binary(max_size=80), st.binary(min_size=1000, max_size=1100)), max_size=60),
       seed=st.integers(0, 2**64 - 1))
def test_bytes_match_the_xxhash_package(values: list[bytes], seed: int) -> None:
    seeds = np.full(len(values), seed, np.uint64)
    got = xxh64.hash_bytes(pa.array(values, pa.binary()), seeds)
    assert got.tolist() == [_ref(v, seed) for v in values]


@pytest.mark.parametrize("length", [*range(0, 70), 95, 96, 97, 128, 1023, 1024, 1025, 5000])
def test_every_length_and_a_seed_per_row(length: int) -> None:
    rng = random.Random(length)
    values = [rng.randbytes(length) for _ in range(5)]
    seeds = np.array([rng.getrandbits(64) for _ in values], np.uint64)
    got = xxh64.hash_bytes(pa.array(values, pa.binary()), seeds)
    assert got.tolist() == [_ref(v, int(s)) for v, s in zip(values, seeds, strict=True)]


def test_many_seeds_at_once_slices_and_string_types() -> None:
    rng = random.Random(3)
    texts = ["", "a", "é", "x" * 40, "mixed 🙂 text", *(rng.choice(["ab", "cde" * 20]) for _ in range(3000))]
    arr = pa.array(texts, pa.string()).slice(2)  # a sliced array: offsets do not start at 0
    seeds = np.stack([np.full(len(arr), 1, np.uint64), np.arange(len(arr), dtype=np.uint64)])
    got = xxh64.hash_bytes(arr, seeds)
    for k in range(2):
        assert got[k].tolist() == [_ref(t.encode(), int(s)) for t, s in zip(texts[2:], seeds[k], strict=True)]
    for typ in (pa.large_string(), pa.string_view()):
        assert xxh64.hash_bytes(arr.cast(typ), seeds).tolist() == got.tolist()


def test_long_and_int_match_the_xxhash_package() -> None:
    rng = random.Random(5)
    values = np.array([rng.getrandbits(64) for _ in range(500)], np.uint64)
    seeds = np.array([rng.getrandbits(64) for _ in range(500)], np.uint64)
    assert xxh64.hash_long(values, seeds).tolist() == [
        _ref(int(v).to_bytes(8, "little"), int(s)) for v, s in zip(values, seeds, strict=True)]
    small = values & np.uint64(0xFFFFFFFF)
    assert xxh64.hash_int(small, seeds).tolist() == [
        _ref(int(v).to_bytes(4, "little"), int(s)) for v, s in zip(small, seeds, strict=True)]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), rows=st.integers(0, 40), chains=st.integers(1, 2), flag=st.booleans())
def test_fold_over_runs_equals_hashing_the_gathered_seeds(data: st.DataObject, rows: int, chains: int,
                                                          flag: bool) -> None:
    """``fold_*`` updates only the rows of its runs, each as ``hash_*`` of that row's seed would (after
    ``hash_int`` of the null flag, with ``flag``)."""
    rng = np.random.default_rng(rows)
    state = rng.integers(0, 2**63, size=(chains, rows), dtype=np.int64).view(np.uint64).copy()
    cuts = sorted(data.draw(st.lists(st.integers(0, rows), max_size=6)))
    bounds = [0, *cuts, rows]
    runs = [(lo, hi - lo) for lo, hi in itertools.pairwise(bounds)
            if data.draw(st.booleans())]  # some runs, of any size (0 too), in an order of their own
    runs = data.draw(st.permutations(runs))
    first = np.array([lo for lo, _ in runs], np.int64)
    sizes = np.array([n for _, n in runs], np.int64)
    at = np.array([r for lo, n in runs for r in range(lo, lo + n)], np.int64)
    valid = np.array(data.draw(st.lists(st.booleans(), min_size=len(at), max_size=len(at))), bool)
    longs = rng.integers(0, 2**63, size=len(at), dtype=np.int64)
    ints = rng.integers(0, 2**32, size=len(at), dtype=np.uint64).astype(np.uint32)
    strings = pa.array([rng.bytes(int(n)) for n in rng.integers(0, 40, size=len(at))], pa.binary())
    cases = [(xxh64.hash_long, xxh64.fold_long, longs), (xxh64.hash_int, xxh64.fold_int, ints),
             (xxh64.hash_bytes, xxh64.fold_bytes, strings)]
    for hashed, fold, values in cases:
        want = state.copy()
        seeds = state[:, at]
        if flag:
            seeds = xxh64.hash_int((~valid).astype(np.uint32), seeds)
        want[:, at] = hashed(values, seeds, valid)  # type: ignore[operator]
        got = state.copy()
        fold(values, got, (first, sizes), valid, flag=flag)  # type: ignore[operator]
        assert np.array_equal(got, want)


def test_fold_refuses_what_the_compiled_loops_would_not_check() -> None:
    state = np.zeros((2, 4), np.uint64)
    one = np.zeros(1, np.int64), np.ones(1, np.int64)
    with pytest.raises(ValueError, match="C-contiguous"):
        xxh64.fold_long(np.zeros(1, np.uint64), state[:, ::2], one)
    with pytest.raises(ValueError, match="2 values but runs of"):
        xxh64.fold_long(np.zeros(2, np.uint64), state, one)
    with pytest.raises(ValueError, match="outside"):
        xxh64.fold_int(np.zeros(2, np.uint32), state, (np.array([3]), np.array([2])))
    with pytest.raises(ValueError, match="outside"):
        xxh64.fold_int(np.zeros(1, np.uint32), state, (np.array([-1]), np.array([1])))
    with pytest.raises(ValueError, match="validity flags"):
        xxh64.fold_bytes(pa.array([b"a"]), state, one, np.zeros(2, bool))


def test_chains_match_spark(spark) -> None:
    rows = [(1, "a", True), (-5, "", False), (2**62, "long string " * 9, True), (0, "é", False)]
    df = spark.createDataFrame(rows, "x long, s string, f boolean")
    expected = [r[0] for r in df.selectExpr("xxhash64(x, s, f)").collect()]
    n = len(rows)
    h = xxh64.hash_long(np.array([r[0] for r in rows], np.int64).view(np.uint64), xxh64.seeds(n))
    h = xxh64.hash_bytes(pa.array([r[1] for r in rows]), h)
    h = xxh64.hash_int(np.array([int(r[2]) for r in rows], np.uint32), h)
    assert h.view(np.int64).tolist() == expected


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(0, 30))
def test_ahead_of_time_kernels_agree_with_numba(data: st.DataObject, n: int) -> None:
    """``make install`` builds the ahead-of-time module for the current source (r2d2.containment.compiled);
    each of its kernels gives numba's bits, and the folds over runs of rows too."""
    from r2d2.containment import compiled
    from r2d2.containment import kernels as jit

    aot = compiled.aot()
    assert aot is not None, "run `make install`: it builds the ahead-of-time kernels"
    rng = np.random.default_rng(n)
    seeds = rng.integers(0, 2**63, size=(2, n), dtype=np.int64).view(np.uint64)
    valid = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool) if n and data.draw(
        st.booleans()) else np.zeros(0, bool)
    cut = data.draw(st.integers(0, n))
    first, sizes = np.array([cut, 0], np.int64), np.array([n - cut, cut], np.int64)  # the rows, out of order
    lengths = rng.integers(0, 40, size=n)
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    blob = np.frombuffer(rng.bytes(int(offsets[-1])), np.uint8)  # read-only, as Arrow buffers are
    calls = [("hash_long", (rng.integers(0, 2**63, size=n, dtype=np.int64).view(np.uint64),)),
             ("hash_int", (rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32),)),
             ("hash_bytes", (offsets, blob))]
    for name, args in calls:
        outs = []
        for module in (aot, jit):
            out = seeds.copy()
            getattr(module, name)(*args, out, valid, out)
            outs.append(out)
            for flag in (True, False):
                if name != "hash_int":  # (32-bit values fold as 4-byte strings)
                    folded = seeds.copy()
                    getattr(module, name.replace("hash_", "fold_"))(*args, first, sizes, folded, valid, flag)
                    outs.append(folded)
        half = len(outs) // 2
        assert all(np.array_equal(x, y) for x, y in zip(outs[:half], outs[half:], strict=True)), name
    groups = np.sort(rng.integers(0, 4, size=n))
    starts = np.searchsorted(groups, np.arange(5)).astype(np.int64)
    hashes = rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
    a, b = (rng.integers(0, 2**32, size=16, dtype=np.uint64).astype(np.uint32) for _ in range(2))
    minima = []
    for module in (aot, jit):
        out = np.full((4, 16), 0xFFFFFFFF, np.uint32)
        module.grouped_minhash(hashes, starts, a, b, out)
        minima.append(out)
    assert np.array_equal(*minima)
    unscaled = rng.integers(-(10**18) + 1, 10**18, size=n, dtype=np.int64)
    scale = data.draw(st.integers(0, 18))
    texts = []
    for module in (aot, jit):
        offsets, text = np.empty(n + 1, np.int64), np.zeros(21 * n, np.uint8)
        texts.append((offsets, text[:module.decimal_text(unscaled, scale, offsets, text)]))
    assert all(np.array_equal(x, y) for x, y in zip(*texts, strict=True))


def test_kernels_from_older_source_are_never_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's name carries the source's digest: with none built for it, numba's kernels serve."""
    from r2d2.containment import compiled
    from r2d2.containment import kernels as jit

    monkeypatch.setattr(compiled, "aot_name", lambda: "_kernels_aot_000000000000")
    monkeypatch.setattr(compiled, "_loaded", [])
    monkeypatch.setattr(compiled, "_threads", {"on": False})
    assert compiled.aot() is None
    assert compiled.kernels() is jit


def test_one_thread_gets_the_ahead_of_time_kernels_and_many_get_numbas(monkeypatch: pytest.MonkeyPatch) -> None:
    from r2d2.containment import compiled
    from r2d2.containment import kernels as jit

    monkeypatch.setattr(compiled, "_loaded", [])
    monkeypatch.setattr(compiled, "_threads", {"on": False})
    assert compiled.kernels() is compiled.aot() is not None
    compiled.for_threads()
    assert compiled.kernels() is jit


def test_the_wrappers_hand_the_ahead_of_time_kernels_contiguous_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ahead-of-time kernels are compiled for C-contiguous arrays and pycc checks no layout: every
    wrapper makes its arrays contiguous, so strided views hash as their contiguous copies do."""
    from r2d2.containment import compiled, minhash

    monkeypatch.setattr(compiled, "_loaded", [])
    monkeypatch.setattr(compiled, "_threads", {"on": False})
    assert compiled.kernels() is compiled.aot() is not None
    rng = np.random.default_rng(5)
    wide = rng.integers(0, 2**63, size=(3, 400), dtype=np.int64).view(np.uint64)
    values = wide[1, ::2]  # strided views: every other value, runs (150, 50) and (0, 150), every other flag
    first, sizes = np.array([150, 9, 0, 9])[::2], np.array([50, 9, 150, 9])[::2]
    valid = (rng.random(400) < 0.8)[::2]
    assert not (values.flags.c_contiguous or first.flags.c_contiguous or valid.flags.c_contiguous)
    strided, copied = (np.full((2, 200), 42, np.uint64) for _ in range(2))
    xxh64.fold_long(values, strided, (first, sizes), valid, flag=True)
    xxh64.fold_long(values.copy(), copied, (first.copy(), sizes.copy()), valid.copy(), flag=True)
    assert np.array_equal(strided, copied)
    ints = wide[2, ::4].astype(np.uint32)[::-1]
    seeds = xxh64.seeds(len(ints))
    assert np.array_equal(xxh64.hash_int(ints, seeds), xxh64.hash_int(ints.copy(), seeds))
    hashes = wide[0].astype(np.uint32)[::3]
    assert not hashes.flags.c_contiguous
    starts = np.array([0, 50, 100, len(hashes)], np.int64)
    perms = minhash.permutations(32, seed=3)
    got = minhash._minima(hashes, np.repeat(starts, 2)[::2], perms)
    assert np.array_equal(got, minhash._minima(hashes.copy(), starts.copy(), perms))


def test_the_ahead_of_time_module_is_named_for_this_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled for the processor it was built on: another processor (or none known) looks for another name."""
    from r2d2.containment import compiled

    here = compiled.aot_name()
    monkeypatch.setattr(compiled, "host_cpu", lambda: "vendor_id: another\nflags: sse2")
    assert compiled.aot_name() != here and compiled.aot() is None
