"""Bulk MinHash equals datasketch's own, and the dominance screen is sound."""

from __future__ import annotations

import numpy as np
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from r2d2.containment import minhash as mh


def _datasketch(values: list[int], num_perm: int, seed: int) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=lambda v: v)
    m.update_batch(values)
    return np.asarray(m.hashvalues, dtype=np.uint32)


def test_signature_equals_datasketch_update() -> None:
    rng = np.random.default_rng(7)
    values = rng.integers(0, 2**32, size=5000, dtype=np.uint64)
    ours = mh.signature(values.astype(np.uint32), num_perm=64, seed=3)
    assert np.array_equal(ours, _datasketch([int(v) for v in values], 64, 3))


def test_compiled_minima_give_datasketch_values_for_every_width_and_extreme() -> None:
    rng = np.random.default_rng(11)
    values = np.concatenate([rng.integers(0, 2**32, size=40_000, dtype=np.uint64), [0, 2**32 - 1]])
    for num_perm in (16, 64, 128):
        expected = _datasketch([int(v) for v in values], num_perm, 5)
        assert np.array_equal(mh.signature(values.astype(np.uint32), num_perm=num_perm, seed=5), expected)
    assert np.array_equal(mh.signature(np.zeros(0, np.uint32), num_perm=8, seed=5), mh.empty_signature(8))


def test_consecutive_signatures_equal_per_set_signatures_across_block_borders() -> None:
    rng = np.random.default_rng(1)
    sizes = [70_000, 1, 0, 3 * (1 << 16) + 123, 17]  # sets straddle the kernel's blocks; one is empty
    hashes = rng.integers(0, 2**32, size=sum(sizes), dtype=np.uint64).astype(np.uint32)
    bounds = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    sigs = mh.consecutive_signatures(hashes, bounds, mh.permutations(32, 1))
    for i, sig in enumerate(sigs):
        expected = mh.signature(hashes[bounds[i]:bounds[i + 1]], num_perm=32, seed=1)
        assert np.array_equal(sig, expected)
    assert np.array_equal(sigs[2], mh.empty_signature(32))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**32 - 1) | st.sampled_from([0, 7, 2**32 - 1]), max_size=40),
                max_size=8))
def test_consecutive_signatures_are_set_signatures(sets: list[list[int]]) -> None:
    """Sets laid out one after the other (the empty ones included) get the signatures of their values."""
    hashes = np.array([h for values in sets for h in values], dtype=np.uint64).astype(np.uint32)
    bounds = np.concatenate(([0], np.cumsum([len(v) for v in sets]))).astype(np.int64)
    sigs = mh.consecutive_signatures(hashes, bounds, mh.permutations(16, 2))
    assert sigs.shape == (len(sets), 16)
    for values, sig in zip(sets, sigs, strict=True):
        assert np.array_equal(sig, mh.signature(np.array(values, np.uint64).astype(np.uint32), num_perm=16, seed=2))
        if values:  # duplicates do not matter: datasketch's signature of the distinct values
            assert np.array_equal(sig, _datasketch(sorted(set(values)), 16, 2))


def test_lean_bytes_are_datasketch_bytes() -> None:
    from datasketch import LeanMinHash

    sig = mh.signature(np.arange(50, dtype=np.uint32), num_perm=16, seed=7)
    lean = LeanMinHash(seed=7, hashvalues=sig, scheme=mh.SCHEME)
    buf = bytearray(lean.bytesize())
    lean.serialize(buf)
    assert mh.to_bytes(sig, seed=7) == bytes(buf)  # ours are datasketch's bytes
    assert np.array_equal(LeanMinHash.deserialize(mh.to_bytes(sig, seed=7)).hashvalues, sig)
    assert np.array_equal(mh.from_bytes(bytes(buf)), sig)


def test_permutations_are_cached_per_machine(tmp_path) -> None:
    from datasketch import MinHash

    a, b = MinHash(num_perm=24, seed=9, scheme=mh.SCHEME).permutations
    first = mh.permutations(24, 9, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("affine32-24-9-datasketch*.npy")
    mh._perms.clear()  # a new process: only the file remains
    again = mh.permutations(24, 9, cache_dir=tmp_path)
    for got in (first, again):
        assert np.array_equal(got[0], np.asarray(a, np.uint32)) and np.array_equal(got[1], np.asarray(b, np.uint32))
    assert cached.stat().st_size > 0


def test_a_damaged_or_unwritable_permutation_cache_only_costs_time(tmp_path) -> None:
    """An empty cache file (a disk that filled up) is recomputed and replaced; a cache folder that
    cannot be made (here its parent is a file) is done without: the parameters are datasketch's."""
    expected = mh.permutations(24, 11)
    mh._perms.clear()
    mh.permutations(24, 11, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("*.npy")
    cached.write_bytes(b"")
    mh._perms.clear()
    assert all(np.array_equal(x, y) for x, y in zip(mh.permutations(24, 11, cache_dir=tmp_path), expected, strict=True))
    assert cached.stat().st_size > 0
    (tmp_path / "file").write_bytes(b"x")
    mh._perms.clear()
    got = mh.permutations(24, 11, cache_dir=tmp_path / "file" / "cache")
    assert all(np.array_equal(x, y) for x, y in zip(got, expected, strict=True))


def test_lean_bytes_round_trip() -> None:
    sig = mh.signature(np.arange(100, dtype=np.uint32), num_perm=16, seed=1)
    assert np.array_equal(mh.from_bytes(mh.to_bytes(sig, seed=1)), sig)


def test_empty_set_is_dominated_by_everything() -> None:
    parent = mh.signature(np.array([5, 6], dtype=np.uint32), num_perm=16, seed=1)
    assert mh.dominated(parent, mh.empty_signature(16))


@settings(max_examples=200, deadline=None)
@given(parent=st.sets(st.integers(0, 2**32 - 1), min_size=1, max_size=60), take=st.integers(0, 60))
def test_dominance_never_prunes_a_subset(parent: set[int], take: int) -> None:
    child = sorted(parent)[:take]
    p_sig = mh.signature(np.array(sorted(parent), dtype=np.uint32), num_perm=32, seed=1)
    c_sig = mh.signature(np.array(child, dtype=np.uint32), num_perm=32, seed=1)
    assert mh.dominated(p_sig, c_sig)


def test_values_outside_the_parent_are_detected() -> None:
    rng = np.random.default_rng(11)
    parent = rng.choice(2**32, size=1000, replace=False).astype(np.uint32)
    outside = np.setdiff1d(rng.choice(2**32, size=50, replace=False).astype(np.uint32), parent)
    child = np.concatenate([parent[:500], outside[:20]])
    p_sig = mh.signature(parent, num_perm=64, seed=1)
    assert not mh.dominated(p_sig, mh.signature(child, num_perm=64, seed=1))


def test_stage3_worker_closure_loads_without_heavy_imports(tmp_path) -> None:
    """A new Spark Python worker unpickles stage 3's task body; what that imports is paid per worker
    (datasketch pulls in scipy: ~0.5 s; pydantic and SQLAlchemy come with R2D2's settings and
    catalog), so only numpy-level modules may come with it. (pandas is left out of the check:
    pyarrow imports it on its first conversion to numpy, and the local worker daemon has it.)"""
    import subprocess
    import sys

    import lakes
    from pyspark import cloudpickle

    from r2d2.containment.filework import work_entries
    from r2d2.containment.sketch_job import plan_works
    from r2d2.containment.sketches import SketchRequest
    from r2d2.lake.discover import discover
    from r2d2.profile.profiler import profile_tables

    lakes.parquet(tmp_path / "t", {"x": [1, 2]})
    (outcome,) = profile_tables(discover([str(tmp_path / "t")]).tables, spark_factory=lambda: None)  # type: ignore[arg-type,return-value]
    works = plan_works([SketchRequest(1, outcome.profile, ("x",), rowset=True)])
    perms = mh.permutations(16, 1)
    data = cloudpickle.dumps((lambda w: work_entries(w, perms), works))
    code = ("import pickle, sys; fn, works = pickle.loads(sys.stdin.buffer.read()); "
            "batch = list(fn(works[0]))[0]; assert batch.num_rows == 3, batch; "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('datasketch', 'scipy', 'pydantic', 'sqlalchemy', 'r2d2'))))")
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True)
    loaded = set(out.stdout.decode().split())
    assert "r2d2.containment.filework" in loaded  # the closure really was loaded and run
    # (pyspark itself unpickles the closure: a worker has it, SQL layer included, in any case)
    # (numba imports scipy's small core, 20 ms; datasketch would bring scipy.integrate and more)
    assert not {m for m in loaded if m.split(".")[0] in ("datasketch", "pydantic", "sqlalchemy")
                or m.startswith(("scipy.integrate", "scipy.optimize", "scipy.sparse"))}
    assert "r2d2.containment.sketch_job" not in loaded
