"""The threshold-sample probe (stage 4) is one-sided: it never rules out a true containment."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from r2d2.containment.candidates import Candidate, Pair
from r2d2.containment.sketches import ProjectionSet, TableSketch, sample_limit
from r2d2.containment.verify_job import PairResult, _probe
from r2d2.types import Column, Family, TableProfile

_I64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
_HASH = st.tuples(_I64, st.integers(min_value=0, max_value=3))  # few b values: (a, b) pairs collide on a


def _profile(tid: int, columns: list[str]) -> TableProfile:
    return TableProfile(location=f"/lake/t{tid}", format="parquet", fingerprint=f"fp{tid}",
                        columns=tuple(Column(name=c, physical_type="int64", family=Family.INTEGER) for c in columns),
                        stats={}, num_rows=1, num_bytes=1, files=())


def _sample(hashes: set[tuple[int, int]], k: int) -> tuple[int, list[tuple[int, int]]]:
    limit = sample_limit(len(hashes), k)
    return limit, sorted(h for h in hashes if h[0] <= limit)


def _run(parent_set: set, child_set: set, k_parent: int, k_child: int, projection: bool) -> list[PairResult]:
    pcols = ["a", "b", "c"] if projection else ["a", "b"]
    parent, child = _profile(1, pcols), _profile(2, ["a", "b"])
    p_limit, p_sample = _sample(parent_set, k_parent)
    c_limit, c_sample = _sample(child_set, k_child)
    psk = TableSketch(1, "fp1")
    if projection:
        psk.projections[("a", "b")] = ProjectionSet("/w/hs", -2, 0, p_limit, tuple(p_sample))
    else:
        psk.rowset_path, psk.sample, psk.sample_limit = "/w/hs", p_sample, p_limit
    csk = TableSketch(2, "fp2", sample=c_sample, sample_limit=c_limit, rowset_path="/w/hs")
    cand = Candidate(Pair(1, 2), (("a", "a"), ("b", "b")))
    results: list[PairResult] = []
    survivors = _probe((1, ("a", "b")), [cand], {1: parent, 2: child}, {1: psk, 2: csk}, results)
    assert len(survivors) + len(results) == 1
    return results


@settings(max_examples=300, deadline=None)
@given(st.sets(_HASH, min_size=1, max_size=400), st.data(), st.integers(1, 50), st.integers(1, 50), st.booleans())
def test_probe_never_prunes_a_contained_child(parent_set, data, k_parent, k_child, projection) -> None:
    child_set = data.draw(st.sets(st.sampled_from(sorted(parent_set)), min_size=1))
    assert _run(parent_set, child_set, k_parent, k_child, projection) == []


@settings(max_examples=200, deadline=None)
@given(st.sets(_HASH, min_size=1, max_size=200), _HASH, st.booleans())
def test_probe_prunes_an_extra_row_it_can_see(parent_set, extra, projection) -> None:
    """With samples holding whole sets (k large), a child row missing from the parent is always seen."""
    child_set = set(list(parent_set)[: len(parent_set) // 2]) | {extra}
    results = _run(parent_set, child_set, 10_000, 10_000, projection)
    if extra in parent_set:
        assert results == []
    else:
        assert len(results) == 1 and results[0].stage == "probe" and results[0].evidence["missing"] == 1
