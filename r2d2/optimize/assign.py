"""Helpers shared by the solvers: useful edges, and the best assignment for a given set of kept tables."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from r2d2.optimize.model import Problem


def candidate_mask(problem: Problem) -> NDArray[np.bool_]:
    """Edges worth considering: within the child's latency limit and cheaper than keeping the child.

    Dropping an edge whose serve cost is >= the child's keep cost never loses optimality: keeping the
    child instead is feasible (a kept table needs nothing) and no more expensive.
    """
    a = problem.arrays
    return a.feasible & (a.serve_cost < a.keep_cost[a.child])


def assign_to_kept(problem: Problem, keep: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Best plan for a fixed keep set: each other table served from its cheapest kept candidate parent.

    Returns ``serve_edge`` (edge position per table, -1 = kept). A table with no kept candidate parent
    is kept, so the result is always feasible and never costs more than the keep set implies.
    """
    a = problem.arrays
    n = len(problem.tables)
    serve = np.full(n, -1, dtype=np.int64)
    ok = candidate_mask(problem) & keep[a.parent] & ~keep[a.child]
    ks = np.flatnonzero(ok)
    if ks.size:
        order = np.lexsort((ks, a.serve_cost[ks], a.child[ks]))  # by child, then cost (stable tie-break)
        ks = ks[order]
        children = a.child[ks]
        first = np.ones(ks.size, dtype=bool)
        first[1:] = children[1:] != children[:-1]
        serve[children[first]] = ks[first]
    return serve
