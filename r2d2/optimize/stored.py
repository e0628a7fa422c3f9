"""The optimizer's catalog side: read the problem's inputs from the catalog, store a solved plan.

Tables: every active, profiled table. Edges: verified, deletable edges between active tables whose
stored fingerprints are both still current (:func:`r2d2.optimize.build.problem_of` closes them). The
pinned parents of live deletions are protected. Children whose recipe size needs their distinct rows
from a row-sample sketch get them here, so that the problem itself is built without I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from r2d2.catalog import Catalog, EdgeFilter
from r2d2.catalog.journal import LIVE_STATES
from r2d2.optimize.build import (
    DEFAULT_THROUGHPUT,
    EdgeInput,
    TableInput,
    direct_edges,
    needs_sampled_rows,
    problem_of,
    transitive_closure,
)
from r2d2.optimize.model import CostDefaults, Prices, Problem, ThroughputModel
from r2d2.optimize.plan import Plan, json_safe
from r2d2.types import TableProfile


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


def build_problem(catalog: Catalog, *, prices: Prices | None = None, defaults: CostDefaults | None = None,
                  throughput: ThroughputModel | None = None) -> BuiltProblem:
    model, source = (throughput, "given") if throughput is not None else current_model(catalog)
    # Ordered by location, not id: two catalogs of the same lake (ids follow scan order) give the
    # same problem, so the solver breaks ties (e.g. which of two duplicates to keep) the same way.
    records = sorted((r for r in catalog.list_tables(status="active") if r.profile is not None and r.fingerprint),
                     key=lambda r: r.location)
    by_id = {r.id: r for r in records}
    tables = [TableInput(r.id, r.location, r.num_bytes, r.profile, r.access_per_day, r.latency_limit_s)
              for r in records if r.profile is not None]
    protected = {catalog.get_recipe(d.recipe_id).parent_id for d in catalog.list_deletions(states=LIVE_STATES)}
    current = []
    for e in catalog.list_edges(EdgeFilter(verified=True)):
        p, c = by_id.get(e.parent_id), by_id.get(e.child_id)
        if p is None or c is None or e.parent_fingerprint != p.fingerprint \
                or e.child_fingerprint != c.fingerprint or not e.deletable:
            continue
        current.append(EdgeInput(e.parent_id, e.child_id, e.relation, dict(e.evidence)))
    direct = direct_edges(current)
    sampled: dict[int, int] = {}
    for parent, child in transitive_closure(direct):
        if child in sampled or child in protected or not needs_sampled_rows(direct.get((parent, child))):
            continue
        sketch = catalog.get_sketches(child, str(by_id[child].fingerprint), "rowsample").get("")
        if sketch is not None and sketch[1].get("distinct_rows") is not None:
            sampled[child] = int(sketch[1]["distinct_rows"])
    problem, closure = problem_of(tables, direct, protected=protected, sampled_distinct=sampled,
                                  prices=prices, defaults=defaults, throughput=model)
    return BuiltProblem(problem, {t.id: t.profile for t in tables},
                        {r.id: str(r.fingerprint) for r in records}, source, closure)


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
