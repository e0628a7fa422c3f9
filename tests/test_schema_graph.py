"""Stage 1, the schema containment graph: hand cases, a brute-force oracle, contained tables, scale."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import Case, contained_cases, schema_lakes, schema_profile

from r2d2.containment.candidates import Candidate, Pair
from r2d2.containment.schema_graph import _intersect, schema_candidates
from r2d2.types import Family, TableProfile

INT, F, S, U = Family.INTEGER, Family.FLOAT, Family.STRING, Family.UNSUPPORTED


def edges(profiles: Mapping[int, TableProfile]) -> dict[tuple[int, int], dict[str, str]]:
    return {(c.parent, c.child): c.columns() for c in schema_candidates(profiles).candidates}


def reasons(profiles: Mapping[int, TableProfile]) -> dict[int, str]:
    return {e.table_id: e.reason.split(":")[0] for e in schema_candidates(profiles).exclusions}


# -- hand cases -------------------------------------------------------------------------------------

def test_projection_child_with_case_change_maps_to_parent_names() -> None:
    lake = {1: schema_profile([("Id", INT), ("Name", S), ("score", F)]),
            2: schema_profile([("ID", INT), ("name", S)])}
    assert edges(lake) == {(1, 2): {"id": "Id", "name": "Name"}}
    cand = schema_candidates(lake).candidates[0]
    assert cand == Candidate(Pair(1, 2), (("id", "Id"), ("name", "Name")))


def test_equal_schemas_give_both_directions_and_no_self_edge() -> None:
    lake = {1: schema_profile([("a", INT), ("b", S)]), 2: schema_profile([("B", S), ("A", INT)]),
            3: schema_profile([("a", INT), ("b", S)])}
    assert set(edges(lake)) == {(1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2)}


def test_family_must_match() -> None:
    lake = {1: schema_profile([("a", INT), ("b", S)]), 2: schema_profile([("a", F)]),
            3: schema_profile([("b", INT)])}
    assert edges(lake) == {}


def test_unrelated_tables_and_disjoint_columns() -> None:
    lake = {1: schema_profile([("a", INT)]), 2: schema_profile([("b", INT)]),
            3: schema_profile([("a", INT), ("c", INT)])}
    assert set(edges(lake)) == {(3, 1)}


def test_ambiguous_table_takes_part_in_no_edge() -> None:
    lake = {1: schema_profile([("ID", INT), ("id", INT)]), 2: schema_profile([("id", INT)]),
            3: schema_profile([("id", INT), ("x", S)])}
    assert set(edges(lake)) == {(3, 2)}
    assert reasons(lake) == {1: "ambiguous"}
    assert "'ID' and 'id'" in schema_candidates(lake).exclusions[0].reason


def test_empty_tables_are_excluded_and_unknown_row_counts_are_eligible() -> None:
    lake = {1: schema_profile([("a", INT)], num_rows=0), 2: schema_profile([("a", INT)], num_rows=None),
            3: schema_profile([("a", INT)], num_rows=5), 4: schema_profile([], num_rows=5)}
    assert set(edges(lake)) == {(2, 3), (3, 2)}
    assert reasons(lake) == {1: "empty", 4: "empty"}


def test_unsupported_column_makes_a_parent_only() -> None:
    lake = {1: schema_profile([("a", INT), ("blob", U)]), 2: schema_profile([("a", INT)]),
            3: schema_profile([("blob", U)]), 4: schema_profile([("a", INT), ("blob", U)])}
    # 1 and 4 contain 2 (on "a"); neither is a child; 3 has nothing comparable.
    assert set(edges(lake)) == {(1, 2), (4, 2)}
    assert reasons(lake) == {1: "unsupported", 3: "unsupported", 4: "unsupported"}
    texts = {e.table_id: e.reason for e in schema_candidates(lake).exclusions}
    assert "can only be a parent" in texts[1] and "no column of a supported type" in texts[3]


def test_output_sorted_by_child_then_parent() -> None:
    lake = {i: schema_profile([("a", INT)] + [(f"x{j}", S) for j in range(i % 3)]) for i in range(9)}
    got = [(c.child, c.parent) for c in schema_candidates(lake).candidates]
    assert got == sorted(got)
    assert len(got) == len(set(got))


def test_empty_lake() -> None:
    assert schema_candidates({}) == ([], [])


def test_intersect_rarest_first_and_early_exit() -> None:
    big = set(range(1000))
    assert _intersect([big, {3, 5, 2000}, {5, 3}]) == [3, 5]
    assert _intersect([big, set(), {1}]) == []
    assert _intersect([{1}, {2}, big]) == []
    assert _intersect([{7}]) == [7]


# -- properties -------------------------------------------------------------------------------------

def oracle(profiles: Mapping[int, TableProfile]) -> set[tuple[int, int, tuple[tuple[str, str], ...]]]:
    """All-pairs definition of the schema graph, written independently of the index."""
    def usable(p: TableProfile) -> bool:
        keys = [c.name.lower() for c in p.columns]
        return (len(set(keys)) == len(keys) and p.num_rows != 0
                and any(c.family is not U for c in p.columns))

    out = set()
    for pid, parent in profiles.items():
        if not usable(parent):
            continue
        by_term = {(c.name.lower(), c.family): c.name for c in parent.columns if c.family is not U}
        for cid, child in profiles.items():
            if cid == pid or not usable(child) or any(c.family is U for c in child.columns):
                continue
            if all((c.name.lower(), c.family) in by_term for c in child.columns):
                out.add((pid, cid, tuple(sorted((c.name.lower(), by_term[(c.name.lower(), c.family)])
                                                for c in child.columns))))
    return out


@settings(max_examples=300, deadline=None)
@given(schema_lakes())
def test_matches_all_pairs_oracle(lake: dict[int, TableProfile]) -> None:
    got = {(c.parent, c.child, c.column_map) for c in schema_candidates(lake).candidates}
    assert got == oracle(lake)


@settings(max_examples=200, deadline=None)
@given(schema_lakes(), st.randoms(use_true_random=False))
def test_restricted_children_and_parents_are_a_filter_of_the_whole_graph(lake: dict[int, TableProfile],
                                                                          rnd: random.Random) -> None:
    """``children_only`` / ``parents_only`` (the except pass: views as children, tables as parents) give
    exactly the whole graph's pairs with such ends, in the same order."""
    children = {t for t in lake if rnd.random() < 0.5}
    parents = {t for t in lake if rnd.random() < 0.5}
    whole = schema_candidates(lake).candidates
    got = schema_candidates(lake, children_only=children, parents_only=parents).candidates
    assert got == [c for c in whole if c.pair.child in children and c.pair.parent in parents]


@settings(max_examples=200, deadline=None)
@given(contained_cases(), schema_lakes(max_tables=5))
def test_contained_pair_is_always_a_candidate(case: Case, noise: dict[int, TableProfile]) -> None:
    lake = {k + 10: v for k, v in noise.items()}
    lake[1], lake[2] = case.parent_profile, case.child_profile
    cands = [c for c in schema_candidates(lake).candidates if c.pair == Pair(1, 2)]
    assert cands == [Candidate(Pair(1, 2), case.column_map)]


# -- scale ------------------------------------------------------------------------------------------

def synthetic_lake(n_tables: int, seed: int = 7) -> tuple[dict[int, TableProfile], list[list[int]]]:
    """``n_tables`` schema-only profiles in families of 20–50 tables sharing a schema.

    Each family has a private key column plus 2–7 columns from a small global vocabulary (whose names
    recur across families with various types, so posting sets of common names are huge). A member
    has the key, then either the full schema (half of them) or a random subset, names in random
    case. A few members have no rows, an unsupported column, or two colliding names.
    """
    rng = random.Random(seed)
    vocab = [f"c{i}" for i in range(40)]
    fams = (INT, F, S, Family.DATE, Family.TIMESTAMP)
    lake: dict[int, TableProfile] = {}
    groups: list[list[int]] = []
    tid = 0
    f = 0
    while tid < n_tables:
        key = (f"key_{f}", INT)
        shared = [(n, rng.choice(fams)) for n in rng.sample(vocab, rng.randint(2, 7))]
        members = []
        for _ in range(min(rng.randint(20, 50), n_tables - tid)):
            cols = shared if rng.random() < 0.5 else [c for c in shared if rng.random() < 0.5]
            cols = [key, *cols]
            if rng.random() < 0.5:
                cols = [(n.upper(), fam) for n, fam in cols]
            rows: int | None = rng.choice([3, 10, 1000, None])
            r = rng.random()
            if r < 0.01:
                rows = 0
            elif r < 0.02:
                cols = [*cols, ("blob", U)]
            elif r < 0.025:
                cols = [*cols, (key[0].upper() if cols[0][0].islower() else key[0], S)]
            lake[tid] = schema_profile(cols, rows, f"mem://{tid}")
            members.append(tid)
            tid += 1
        groups.append(members)
        f += 1
    return lake, groups


def expected_count(lake: Mapping[int, TableProfile], groups: list[list[int]]) -> int:
    """Number of edges, counted per family from signature multiplicities (no index, no pair list)."""
    total = 0
    for members in groups:
        as_child: Counter[frozenset[tuple[str, Family]]] = Counter()
        as_parent: Counter[frozenset[tuple[str, Family]]] = Counter()
        both = 0
        for tid in members:
            p = lake[tid]
            keys = [c.name.lower() for c in p.columns]
            if len(set(keys)) < len(keys) or p.num_rows == 0:
                continue
            sig = frozenset((c.name.lower(), c.family) for c in p.columns if c.family is not U)
            as_parent[sig] += 1
            if all(c.family is not U for c in p.columns):
                as_child[sig] += 1
                both += 1
        total += sum(nc * np for s, nc in as_child.items() for t, np in as_parent.items() if s <= t)
        total -= both  # a table is not its own parent
    return total


def test_scale_100k_profiles() -> None:
    lake, groups = synthetic_lake(100_000)
    start = time.perf_counter()
    graph = schema_candidates(lake)
    seconds = time.perf_counter() - start
    cands = graph.candidates
    print(f"\nschema graph: {len(lake)} profiles, {len(cands)} candidates, "
          f"{len(graph.exclusions)} exclusions, {seconds:.2f} s")
    assert len(cands) == expected_count(lake, groups)
    # Spot checks: a sample of candidates is right, and a sample of children gets exactly its parents.
    rng = random.Random(1)
    family_of = {tid: i for i, members in enumerate(groups) for tid in members}
    for cand in rng.sample(cands, 200):
        parent, child = lake[cand.parent], lake[cand.child]
        assert family_of[cand.parent] == family_of[cand.child] and cand.parent != cand.child
        names = {(c.name.lower(), c.family): c.name for c in parent.columns}
        assert cand.column_map == tuple(sorted((c.name.lower(), names[(c.name.lower(), c.family)])
                                               for c in child.columns))
    by_child: dict[int, set[int]] = {}
    for cand in cands:
        by_child.setdefault(cand.child, set()).add(cand.parent)
    for members in rng.sample(groups, 20):
        sub = {tid: lake[tid] for tid in members}
        want: dict[int, set[int]] = {}
        for pid, cid, _ in oracle(sub):
            want.setdefault(cid, set()).add(pid)
        for cid in members:
            assert by_child.get(cid, set()) == want.get(cid, set())
