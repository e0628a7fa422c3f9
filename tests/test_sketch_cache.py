"""The cached row sample's byte format: little-endian int64 pairs, read back as the same pairs."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from r2d2.containment.sketch_cache import _pairs, _payload

_INT64 = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_INT64, _INT64), max_size=50))
def test_pairs_round_trip_in_the_stored_format(pairs: list[tuple[int, int]]) -> None:
    payload = _payload(pairs)
    assert payload == b"".join(struct.pack("<qq", a, b) for a, b in pairs)
    assert _pairs(payload) == pairs
