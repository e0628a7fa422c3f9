"""Catalog → :class:`Problem`, and storing a solved :class:`Plan` back in the catalog.

Tables: every active, profiled table. Edges: verified and inferred edges between active tables whose
stored fingerprints are both still current, closed transitively (A ⊇ B ⊇ C gives A ⊇ C; sound for set
containment, which is all a rebuild needs: a recipe reproduces the child's exact multiset from the
parent's distinct rows). A ``duplicate`` pair gives an edge each way. A table that is the pinned
parent of a live deletion (quarantined or purged child) gets no incoming edge, so it is always kept.

Per edge: ``scan_bytes`` = bytes of the parent's columns the child needs (column chunks when known);
``recipe_bytes`` = :data:`PREDICATE_RECIPE_BYTES` when the child is a whole-parent projection
(a duplicate, or same row count and the evidence shows no repeated or missing rows), else
:data:`HASH_BYTES_PER_ROW` × the child's distinct rows (edge evidence from exact verification, the
row-sample sketch, or the row count). The estimate is conservative: apply may find a cheaper
predicate recipe.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from r2d2.catalog import Catalog, EdgeFilter
from r2d2.catalog.journal import LIVE_STATES
from r2d2.optimize.model import CostDefaults, EdgeCost, Prices, Problem, TableCost, ThroughputModel
from r2d2.optimize.plan import Plan
from r2d2.types import TableProfile

HASH_BYTES_PER_ROW = 24
PREDICATE_RECIPE_BYTES = 1024
DAYS_PER_MONTH = 365.25 / 12
DEFAULT_THROUGHPUT = ThroughputModel(bytes_per_s=50e6, overhead_s=5.0)


@dataclass(frozen=True)
class BuiltProblem:
    problem: Problem
    profiles: dict[int, TableProfile]
    fingerprints: dict[int, str]
    model_source: str  # "calibration <id> (<date>)" or "default (never calibrated)"
    closure_edges: int  # edges added by transitive closure


def current_model(catalog: Catalog) -> tuple[ThroughputModel, str]:
    """The newest calibrated throughput model, or the default one (and a note saying which)."""
    cal = catalog.latest_calibration()
    if cal is None:
        return DEFAULT_THROUGHPUT, "default (never calibrated: run `r2d2 calibrate`)"
    return (ThroughputModel(bytes_per_s=cal.bytes_per_s, overhead_s=cal.overhead_s),
            f"calibration {cal.id} ({cal.created_at:%Y-%m-%d %H:%M} UTC, {cal.engine})")


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


def build_problem(catalog: Catalog, *, prices: Prices | None = None, defaults: CostDefaults | None = None,
                  throughput: ThroughputModel | None = None) -> BuiltProblem:
    defaults = defaults or CostDefaults()
    model, source = (throughput, "given") if throughput is not None else current_model(catalog)
    # Ordered by location, not id: two catalogs of the same lake (ids follow scan order) give the
    # same problem, so the solver breaks ties (e.g. which of two duplicates to keep) the same way.
    records = sorted((r for r in catalog.list_tables(status="active") if r.profile is not None and r.fingerprint),
                     key=lambda r: r.location)
    by_id = {r.id: r for r in records}
    protected = {catalog.get_recipe(d.recipe_id).parent_id for d in catalog.list_deletions(states=LIVE_STATES)}
    tables = []
    for r in records:
        per_day = r.access_per_day
        tables.append(TableCost.with_defaults(
            r.id, r.location, r.num_bytes, None if per_day is None else per_day * DAYS_PER_MONTH,
            r.latency_limit_s, defaults))
    direct: dict[tuple[int, int], Any] = {}
    for e in catalog.list_edges(EdgeFilter(verified=True)):
        p, c = by_id.get(e.parent_id), by_id.get(e.child_id)
        if p is None or c is None or e.parent_fingerprint != p.fingerprint \
                or e.child_fingerprint != c.fingerprint or not e.deletable:
            continue
        direct[(e.parent_id, e.child_id)] = e
        if e.relation == "duplicate":
            direct.setdefault((e.child_id, e.parent_id), e)
    pairs = transitive_closure(direct)
    edges = []
    for parent, child in sorted(pairs, key=lambda pc: (by_id[pc[0]].location, by_id[pc[1]].location)):
        if child in protected:
            continue
        pp, cp = by_id[parent].profile, by_id[child].profile
        assert pp is not None and cp is not None
        names = [pp.column(c.key).name for c in cp.columns if _has(pp, c.key)]
        if len(names) != len(cp.columns):
            continue  # cannot happen for a true containment; never serve from such a parent
        edges.append(EdgeCost(parent, child, pp.scan_bytes(names),
                              _recipe_bytes(direct.get((parent, child)), pp, cp, catalog, child)))
    problem = Problem(tables=tuple(tables), edges=tuple(edges), prices=prices or Prices(), throughput=model)
    return BuiltProblem(problem, {r.id: r.profile for r in records if r.profile},
                        {r.id: str(r.fingerprint) for r in records}, source, len(pairs) - len(direct))


def _has(profile: TableProfile, key: str) -> bool:
    try:
        profile.column(key)
    except KeyError:
        return False
    return True


def _recipe_bytes(edge: Any, parent: TableProfile, child: TableProfile, catalog: Catalog, child_id: int) -> int:
    evidence = dict(edge.evidence) if edge is not None else {}
    if edge is not None and edge.relation == "duplicate":
        return PREDICATE_RECIPE_BYTES
    distinct = evidence.get("distinct_rows")
    if distinct is None:
        sk = catalog.get_sketches(child_id, child.fingerprint, "rowsample").get("")
        if sk is not None:
            distinct = sk[1].get("distinct_rows")
    if distinct is None:
        distinct = child.num_rows or 0
    if (child.num_rows is not None and child.num_rows == parent.num_rows == distinct
            and evidence.get("missing") == 0 and evidence.get("rows_over_count") == 0):
        return PREDICATE_RECIPE_BYTES  # same rows: a projection of the whole parent
    return PREDICATE_RECIPE_BYTES + HASH_BYTES_PER_ROW * int(distinct)


def store_plan(catalog: Catalog, built: BuiltProblem, plan: Plan, params: dict[str, Any]) -> int:
    """Store ``plan`` with the fingerprints of every table involved; returns the plan id."""
    data = json_safe(plan)
    involved = {d.table_id for d in plan.decisions} | {d.parent_id for d in plan.deleted if d.parent_id}
    summary = {"solver": plan.solver, "status": plan.status, "objective": plan.objective,
               "bound": plan.bound, "gap": plan.gap, "solve_seconds": plan.solve_seconds,
               "savings_bytes": plan.savings_bytes, "savings_per_month": plan.savings_per_month,
               "deleted_tables": len(plan.deleted)}
    params = {**params, "model": built.model_source,
              "throughput": {"bytes_per_s": built.problem.throughput.bytes_per_s,
                             "overhead_s": built.problem.throughput.overhead_s},
              "edges": len(built.problem.edges), "closure_edges": built.closure_edges}
    return catalog.add_plan(summary=summary, plan=data,
                            fingerprints={str(t): built.fingerprints[t] for t in sorted(involved)},
                            params=params)


def json_safe(plan: Plan) -> dict[str, Any]:
    import json

    return dict(json.loads(plan.to_json()))


def load_plan(data: dict[str, Any]) -> Plan:
    import json

    return Plan.from_json(json.dumps(data))


def parse_duration(text: str) -> float:
    """Seconds of ``30s``, ``5m``, ``2h``, ``7d``, ``1.5`` (seconds) or ``inf``."""
    t = text.strip().lower()
    if t in ("inf", "none", "unlimited"):
        return math.inf
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
    for suffix in sorted(units, key=len, reverse=True):
        if t.endswith(suffix):
            return float(t[: -len(suffix)]) * units[suffix]
    return float(t)
