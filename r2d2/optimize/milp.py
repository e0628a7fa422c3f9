"""The exact solver: the DESIGN's MILP solved with scipy's HiGHS (``scipy.optimize.milp``).

Variables: ``x_i`` (keep table i) for every table, ``y_k`` (serve the child of edge k from its parent)
for every *candidate* edge (latency within the child's limit and serve cost below the child's keep
cost; other edges can never improve a plan). Constraints, built as sparse matrices:

* ``x_i + Σ_{k: child(k)=i} y_k = 1``   each table kept or served by exactly one parent;
* ``y_k − x_{parent(k)} <= 0``           the parent must be kept (no rebuild from a deleted table);
* ``x_i = 1`` for tables without a candidate edge (no parent, or every edge too slow / too costly).

Objective: ``Σ keep_i x_i + Σ (recipe_k + f_child · r_k) y_k`` (money / month). Costs are scaled
internally so HiGHS's absolute tolerances do not swamp small-money instances; the reported objective is
recomputed exactly from the decisions.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from r2d2.optimize.assign import assign_to_kept, candidate_mask
from r2d2.optimize.greedy import solve_greedy
from r2d2.optimize.model import Problem
from r2d2.optimize.plan import Plan, Status, build_plan, simple_lower_bound

MIP_REL_GAP = 1e-9
_SCALE_TARGET = 1e6  # baseline cost is scaled to this many units inside the solver


def solve_milp(problem: Problem, *, time_limit_s: float = 60.0) -> Plan:
    """Solve ``problem`` exactly (to a relative gap of 1e-9) within ``time_limit_s`` seconds.

    Status ``optimal`` when HiGHS proves optimality; ``time_limit`` when it stops at the limit with a
    solution (the best one found is used, ``gap`` says how far from proven); ``fallback_greedy`` when it
    stops without any solution — the plan is then :func:`solve_greedy`'s, with the message saying why.
    The bound is the larger of HiGHS's dual bound and :func:`simple_lower_bound`.
    """
    start = time.perf_counter()
    a = problem.arrays
    n = len(problem.tables)
    cand = np.flatnonzero(candidate_mask(problem))
    m = cand.size
    lb_simple = simple_lower_bound(problem)
    keep_all = np.ones(n, dtype=bool)
    if m == 0:  # nothing can be deleted profitably: keeping everything is optimal
        serve = assign_to_kept(problem, keep_all)
        return build_plan(
            problem,
            serve,
            solver="milp",
            status="optimal",
            bound=lb_simple,
            solve_seconds=time.perf_counter() - start,
            message="no candidate edge",
        )

    baseline = float(a.keep_cost.sum())
    scale = _SCALE_TARGET / baseline if baseline > 0 else 1.0
    cost = np.concatenate([a.keep_cost, a.serve_cost[cand]]) * scale

    parent, child = a.parent[cand], a.child[cand]
    ycols = n + np.arange(m)
    # assignment rows 0..n-1: x_i (col i) and y_k (col n+k) in row child(k)
    assign = sp.csr_array(
        (np.ones(n + m), (np.concatenate([np.arange(n), child]), np.concatenate([np.arange(n), ycols]))),
        shape=(n, n + m),
    )
    # linking rows: y_k - x_parent(k) <= 0
    link = sp.csr_array(
        (
            np.concatenate([np.ones(m), -np.ones(m)]),
            (np.concatenate([np.arange(m), np.arange(m)]), np.concatenate([ycols, parent])),
        ),
        shape=(m, n + m),
    )
    constraints = [
        LinearConstraint(assign, np.ones(n), np.ones(n)),
        LinearConstraint(link, -np.inf, np.zeros(m)),
    ]
    lower = np.zeros(n + m)
    has_candidate = np.zeros(n, dtype=bool)
    has_candidate[child] = True
    lower[:n][~has_candidate] = 1.0  # tables with no candidate edge are kept
    options = {"time_limit": max(float(time_limit_s), 1e-3), "mip_rel_gap": MIP_REL_GAP, "presolve": True}
    res = milp(
        cost,
        integrality=np.ones(n + m),
        bounds=Bounds(lower, np.ones(n + m)),
        constraints=constraints,
        options=options,
    )

    dual = getattr(res, "mip_dual_bound", None)
    bound = lb_simple
    if dual is not None and np.isfinite(dual):
        bound = max(bound, float(dual) / scale)
    if res.x is not None and res.status in (0, 1):
        keep = res.x[:n] > 0.5
        # Re-derive the assignment for the kept set: exact for an optimal x, and repairs any rounding.
        serve = assign_to_kept(problem, keep)
        status: Status = "optimal" if res.status == 0 else "time_limit"
        return build_plan(
            problem,
            serve,
            solver="milp",
            status=status,
            bound=bound,
            solve_seconds=time.perf_counter() - start,
            message="" if res.status == 0 else f"HiGHS: {res.message}",
        )
    greedy = solve_greedy(problem)
    return build_plan(
        problem,
        _serve_of(problem, greedy),
        solver="greedy",
        status="fallback_greedy",
        bound=max(bound, greedy.bound),
        solve_seconds=time.perf_counter() - start,
        message=f"MILP found no solution (status {res.status}: {res.message}); greedy plan used",
    )


def _serve_of(problem: Problem, plan: Plan) -> np.ndarray:
    a = problem.arrays
    serve = np.full(len(problem.tables), -1, dtype=np.int64)
    for d in plan.decisions:
        if d.action == "delete" and d.parent_id is not None:
            serve[a.index[d.table_id]] = a.edge_index[(d.parent_id, d.table_id)]
    return serve
