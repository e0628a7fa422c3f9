"""Transitive inference: A ⊇ B and B ⊇ C give A ⊇ C without another scan.

Soundness: if every row of C (projected on C's columns) is a row of B projected on those columns,
and every row of B is a row of A projected on B's columns (a superset of C's), then every row of C
is a row of A projected on C's columns. Columns match by key and family at each step, so the
composed column map equals the direct one.

Multiset flags compose too: writing n_X(r) for the count of row r in X projected on C's columns,
n_C(s) ≤ n_B(s) = Σ n_B(r) over B rows r that project to s ≤ Σ n_A(r) = n_A(s). A step that is not
multiset gives no bound, so inference follows only all-multiset paths; a pair reachable only
through a non-multiset step is verified directly to learn its flag.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping

from r2d2.containment.candidates import Pair


def split_waves(pairs: Iterable[Pair]) -> tuple[list[Pair], list[Pair]]:
    """Split candidate pairs into those to verify first and those that a path A→B→C may imply."""
    pairs = list(pairs)
    out_edges: dict[int, set[int]] = defaultdict(set)
    for p in pairs:
        out_edges[p.parent].add(p.child)
    direct, deferred = [], []
    for p in pairs:
        via = out_edges[p.parent] - {p.parent, p.child}
        if any(p.child in out_edges[b] for b in via):
            deferred.append(p)
        else:
            direct.append(p)
    return direct, deferred


def implied(verified: Mapping[Pair, bool], wanted: Iterable[Pair]) -> dict[Pair, list[int]]:
    """Pairs of ``wanted`` implied by verified multiset edges, each with the path that implies it.

    ``verified`` maps a verified pair to its multiset flag. Only multiset edges are followed, so an
    implied pair is contained *and* multiset.
    """
    graph: dict[int, list[int]] = defaultdict(list)
    for pair, multiset in verified.items():
        if multiset:
            graph[pair.parent].append(pair.child)
    by_parent: dict[int, set[int]] = defaultdict(set)
    for p in wanted:
        by_parent[p.parent].add(p.child)
    found: dict[Pair, list[int]] = {}
    for parent, targets in by_parent.items():
        prev: dict[int, int] = {parent: parent}
        queue = deque([parent])
        while queue:
            node = queue.popleft()
            for nxt in graph.get(node, ()):
                if nxt not in prev:
                    prev[nxt] = node
                    queue.append(nxt)
        for child in targets:
            if child in prev and child != parent:
                path, node = [child], child
                while node != parent:
                    node = prev[node]
                    path.append(node)
                found[Pair(parent, child)] = path[::-1]
    return found
