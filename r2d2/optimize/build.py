"""Tables and verified edges → :class:`Problem` (pure: the catalog is read by :mod:`r2d2.optimize.stored`).

Edges are closed transitively (A ⊇ B ⊇ C gives A ⊇ C; sound for set containment, which is all a
rebuild needs: a recipe reproduces the child's exact multiset from the parent's distinct rows). A
``duplicate`` pair gives an edge each way. A table that is the pinned parent of a live deletion
(quarantined or purged child) gets no incoming edge, so it is always kept.

Per edge: ``scan_bytes`` = bytes of the parent's columns the child needs (column chunks when known);
``recipe_bytes`` = :data:`PREDICATE_RECIPE_BYTES` when the child is a whole-parent projection
(a duplicate, or same row count and the evidence shows no repeated or missing rows), else
:data:`HASH_BYTES_PER_ROW` × the child's distinct rows (edge evidence from exact verification, the
row-sample sketch, or the row count). The estimate is conservative: apply may find a cheaper
predicate recipe.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from r2d2.optimize.model import (
    DAYS_PER_MONTH,
    CostDefaults,
    EdgeCost,
    Prices,
    Problem,
    TableCost,
    ThroughputModel,
)
from r2d2.types import TableProfile

HASH_BYTES_PER_ROW = 24
PREDICATE_RECIPE_BYTES = 1024
DEFAULT_THROUGHPUT = ThroughputModel(bytes_per_s=50e6, overhead_s=5.0)


@dataclass(frozen=True)
class TableInput:
    """An active, profiled table as the problem sees it."""

    id: int
    location: str
    num_bytes: int
    profile: TableProfile
    access_per_day: float | None = None
    latency_limit_s: float | None = None


@dataclass(frozen=True)
class EdgeInput:
    """A verified, deletable edge between current tables (fingerprints checked by the caller)."""

    parent_id: int
    child_id: int
    relation: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


def transitive_closure(edges: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """All pairs (a, c) reachable by a path of edges, without self pairs."""
    out: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        out[a].add(b)
    closed: set[tuple[int, int]] = set()
    for start in list(out):
        seen: set[int] = set()
        stack = list(out[start])
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            stack.extend(out.get(node, ()))
        closed |= {(start, n) for n in seen if n != start}
    return closed


def direct_edges(edges: Iterable[EdgeInput]) -> dict[tuple[int, int], EdgeInput]:
    """Edges by ``(parent, child)``; a duplicate also the other way."""
    direct: dict[tuple[int, int], EdgeInput] = {}
    for e in edges:
        direct[(e.parent_id, e.child_id)] = e
        if e.relation == "duplicate":
            direct.setdefault((e.child_id, e.parent_id), e)
    return direct


def needs_sampled_rows(edge: EdgeInput | None) -> bool:
    """Whether the recipe size of an edge needs the child's distinct rows from elsewhere (its
    row-sample sketch): an inferred pair, or evidence without them."""
    return not (edge is not None and (edge.relation == "duplicate" or edge.evidence.get("distinct_rows") is not None))


def recipe_bytes(edge: EdgeInput | None, parent: TableProfile, child: TableProfile,
                 sampled_distinct: int | None = None) -> int:
    """Bytes of the child's recipe from this parent (see the module docstring)."""
    evidence = dict(edge.evidence) if edge is not None else {}
    if edge is not None and edge.relation == "duplicate":
        return PREDICATE_RECIPE_BYTES
    distinct = evidence.get("distinct_rows")
    if distinct is None:
        distinct = sampled_distinct
    if distinct is None:
        distinct = child.num_rows or 0
    if (child.num_rows is not None and child.num_rows == parent.num_rows == distinct
            and evidence.get("missing") == 0 and evidence.get("rows_over_count") == 0):
        return PREDICATE_RECIPE_BYTES  # same rows: a projection of the whole parent
    return PREDICATE_RECIPE_BYTES + HASH_BYTES_PER_ROW * int(distinct)


def _has(profile: TableProfile, key: str) -> bool:
    try:
        profile.column(key)
    except KeyError:
        return False
    return True


def problem_of(tables: Sequence[TableInput], direct: Mapping[tuple[int, int], EdgeInput], *,
               protected: Iterable[int] = (), sampled_distinct: Mapping[int, int] | None = None,
               prices: Prices | None = None, defaults: CostDefaults | None = None,
               throughput: ThroughputModel = DEFAULT_THROUGHPUT) -> tuple[Problem, int]:
    """The problem of ``tables`` (in the order given) and the closure of ``direct``; also how many
    edges the closure added. ``sampled_distinct``: children's distinct rows from their row-sample
    sketches, where :func:`needs_sampled_rows`."""
    defaults = defaults or CostDefaults()
    sampled = sampled_distinct or {}
    keep = set(protected)
    by_id = {t.id: t for t in tables}
    costs = [TableCost.with_defaults(t.id, t.location, t.num_bytes,
                                     None if t.access_per_day is None else t.access_per_day * DAYS_PER_MONTH,
                                     t.latency_limit_s, defaults) for t in tables]
    pairs = transitive_closure(direct)
    edges = []
    for parent, child in sorted(pairs, key=lambda pc: (by_id[pc[0]].location, by_id[pc[1]].location)):
        if child in keep:
            continue
        pp, cp = by_id[parent].profile, by_id[child].profile
        names = [pp.column(c.key).name for c in cp.columns if _has(pp, c.key)]
        if len(names) != len(cp.columns):
            continue  # cannot happen for a true containment; never serve from such a parent
        edges.append(EdgeCost(parent, child, pp.scan_bytes(names),
                              recipe_bytes(direct.get((parent, child)), pp, cp, sampled.get(child))))
    problem = Problem(tables=tuple(costs), edges=tuple(edges), prices=prices or Prices(), throughput=throughput)
    return problem, len(pairs) - len(direct)
