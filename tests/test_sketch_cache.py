"""The sketch cache: the row sample's byte format (little-endian int64 pairs, read back as the same
pairs, lazily); what is served from it (signatures of the settings' seed and size only; damaged rows dropped)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2d2.containment.sketch_cache import _payload
from r2d2.containment.sketches import RowSample

_INT64 = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_INT64, _INT64), max_size=50))
def test_pairs_round_trip_in_the_stored_format(pairs: list[tuple[int, int]]) -> None:
    payload = _payload(pairs)
    assert payload == b"".join(struct.pack("<qq", a, b) for a, b in pairs)
    sample = RowSample.from_bytes(payload)  # read back lazily, as the same pairs
    assert len(sample) == len(pairs) and sample == pairs and list(sample) == pairs
    assert _payload(sample) == payload and sample.to_bytes() == payload
    computed = RowSample(np.array(pairs, np.int64).reshape(-1, 2))  # as stage 3 makes it
    assert computed == sample and _payload(computed) == payload and [tuple(h) for h in computed] == pairs


def _catalog_with_one_table(tmp_path):
    from r2d2.catalog import open_catalog
    from r2d2.types import Column, Family, TableProfile

    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.db'}")
    profile = TableProfile(location=str(tmp_path / "t"), format="parquet", fingerprint="fp1",
                           columns=(Column(name="x", physical_type="int64", family=Family.INTEGER),),
                           stats={}, num_rows=3, num_bytes=10, files=())
    catalog.save_profile(profile, seen_at=datetime.now(UTC))
    tid = catalog.get_table(profile.location).id
    return catalog, tid, profile


def _sketch_of(tid: int, seed_sig: int = 3):
    import numpy as np

    from r2d2.containment.sketches import TableSketch

    sk = TableSketch(tid, "fp1")
    sk.minhash["x"] = np.arange(8, dtype=np.uint32) + seed_sig
    return sk


def test_signatures_of_another_seed_or_size_are_not_reused(tmp_path) -> None:
    """A seed or a signature size changed in the settings: the cached signatures (made with the old
    ones) are not comparable with new ones, so they are not served (stage 3 makes them again)."""
    from r2d2.containment.sketch_cache import load_cached_many, store_many

    catalog, tid, profile = _catalog_with_one_table(tmp_path)
    store_many(catalog, [_sketch_of(tid)], seed=1)
    same = load_cached_many(catalog, {tid: profile}, num_perm=8, seed=1)
    assert list(same[tid].minhash["x"]) == list(range(3, 11))
    assert load_cached_many(catalog, {tid: profile}, num_perm=8, seed=2)[tid].minhash == {}
    assert load_cached_many(catalog, {tid: profile}, num_perm=16, seed=1)[tid].minhash == {}


def test_a_damaged_cached_sketch_is_dropped_not_fatal(tmp_path, caplog) -> None:
    """A cached row that cannot be decoded (a signature cut short) makes the table's cache absent, with a
    warning naming it, and is deleted: detect makes it again instead of failing on every run."""
    from r2d2.containment.sketch_cache import MINHASH, load_cached_many, store_many

    catalog, tid, profile = _catalog_with_one_table(tmp_path)
    store_many(catalog, [_sketch_of(tid)], seed=1)
    catalog.put_sketches(tid, "fp1", MINHASH, {"x": (b"\x01\x02", {"seed": 1, "hash_version": 2})})
    assert load_cached_many(catalog, {tid: profile}, num_perm=8, seed=1) == {}
    assert profile.location in caplog.text and "made again" in caplog.text
    assert catalog.get_sketches(tid, "fp1", MINHASH) == {}


@pytest.mark.parametrize("payload", [b"\x01\x02\x03", b"\x00" * 8, b"\x00" * 24])
def test_a_damaged_row_sample_is_dropped_when_loaded_not_when_probed(tmp_path, caplog, payload: bytes) -> None:
    """A cached row sample is made into pairs only when the probe reads it, but its bytes are checked
    when it is loaded: one that is not whole ``(a, b)`` pairs (cut short, an odd count) drops the table's
    cache there, with the warning, instead of failing the probe later."""
    from r2d2.containment.sketch_cache import ROWSAMPLE, load_cached_many, store_many

    catalog, tid, profile = _catalog_with_one_table(tmp_path)
    store_many(catalog, [_sketch_of(tid)], seed=1)
    catalog.put_sketches(tid, "fp1", ROWSAMPLE, {"": (payload, {
        "hash_version": 2, "limit": 5, "rows": 3, "distinct_rows": 3, "rowset_path": "/w/hs-1"})})
    assert load_cached_many(catalog, {tid: profile}, num_perm=8, seed=1) == {}
    assert profile.location in caplog.text and "made again" in caplog.text
