"""A fast heuristic beside the MILP: greedy deletion, then local improvement.

Phase 1 (greedy): every table starts kept. Tables are taken in order of saving — keep cost minus the
serve cost from their cheapest feasible *kept* parent — from a lazy heap; each parent list is sorted
by cost once and a pointer skips parents deleted since, so phase 1 is O((V + E) log(V + E)). A table
that serves a deleted table is locked (never deleted), and no table is ever served from a deleted one.
Ties are broken towards deleting the table with fewer candidate children, so in a group of mutual
duplicates the copy able to serve most stays.

Phase 2 (local improvement, a few O(V + E) passes until nothing improves): re-point each deleted table
to its cheapest kept parent; delete a kept table that serves nobody when a kept parent is cheaper;
re-keep a deleted table when the tables that could then be served from it (or deleted) gain more than
it costs; and close a kept table that serves others when it and its dependants are cheaper elsewhere.
Every move keeps the plan feasible and strictly lowers the objective.
"""

from __future__ import annotations

import heapq
import time

import numpy as np

from r2d2.optimize.assign import candidate_mask
from r2d2.optimize.model import Problem
from r2d2.optimize.plan import Plan, build_plan, simple_lower_bound

_EPS = 1e-12
_MAX_PASSES = 20


def solve_greedy(problem: Problem) -> Plan:
    """Heuristic plan for ``problem``; status ``heuristic``, bound from :func:`simple_lower_bound`."""
    start = time.perf_counter()
    serve = _greedy_serve(problem)
    return build_plan(
        problem,
        serve,
        solver="greedy",
        status="heuristic",
        bound=simple_lower_bound(problem),
        solve_seconds=time.perf_counter() - start,
    )


def _greedy_serve(problem: Problem) -> np.ndarray:
    a = problem.arrays
    n = len(problem.tables)
    cand = np.flatnonzero(candidate_mask(problem))
    tol = _EPS * max(float(a.keep_cost.sum()), 1e-300)

    # In-lists (per child, ascending cost) and out-lists (per parent), flattened with offsets.
    order = np.lexsort((cand, a.serve_cost[cand], a.child[cand]))
    in_edge_arr = cand[order]
    in_start = np.searchsorted(a.child[in_edge_arr], np.arange(n + 1)).tolist()
    in_edge = in_edge_arr.tolist()
    in_par = a.parent[in_edge_arr].tolist()
    in_cost = a.serve_cost[in_edge_arr].tolist()
    out_edge_arr = cand[np.argsort(a.parent[cand], kind="stable")]
    out_start = np.searchsorted(a.parent[out_edge_arr], np.arange(n + 1)).tolist()
    out_edge = out_edge_arr.tolist()
    edge_child = a.child.tolist()
    edge_parent = a.parent.tolist()
    edge_cost = a.serve_cost.tolist()
    keep_cost = a.keep_cost.tolist()
    out_deg = [out_start[i + 1] - out_start[i] for i in range(n)]

    keep = [True] * n
    serve = [-1] * n  # edge serving i, -1 when kept
    nserved = [0] * n  # how many deleted tables each table serves
    cur = keep_cost[:]  # current monthly cost of each table

    # ---- phase 1: greedy deletion with a lazy heap --------------------------------------------
    ptr = in_start[:n]
    heap = [
        (-(keep_cost[i] - in_cost[in_start[i]]), out_deg[i], i)
        for i in range(n)
        if in_start[i] < in_start[i + 1]
    ]
    heapq.heapify(heap)
    while heap:
        neg_saving, deg, i = heapq.heappop(heap)
        if not keep[i] or nserved[i]:
            continue
        p, end = ptr[i], in_start[i + 1]
        while p < end and not keep[in_par[p]]:
            p += 1
        ptr[i] = p
        if p == end:
            continue
        saving = keep_cost[i] - in_cost[p]
        if saving < -neg_saving - tol:  # stale key: a better parent was deleted since
            heapq.heappush(heap, (-saving, deg, i))
            continue
        keep[i] = False
        serve[i] = in_edge[p]
        nserved[in_par[p]] += 1
        cur[i] = in_cost[p]

    # ---- phase 2: local improvement -------------------------------------------------------
    def best_kept(i: int, exclude: int = -1) -> int:
        """Position in the in-list of i's cheapest kept parent other than ``exclude``, or -1."""
        for p in range(in_start[i], in_start[i + 1]):
            q = in_par[p]
            if keep[q] and q != exclude:
                return p
        return -1

    def set_serve(i: int, p: int) -> None:  # delete / re-point i to in-list position p
        if serve[i] >= 0:
            nserved[edge_parent[serve[i]]] -= 1
        keep[i] = False
        serve[i] = in_edge[p]
        nserved[in_par[p]] += 1
        cur[i] = in_cost[p]

    def set_keep(i: int) -> None:
        if serve[i] >= 0:
            nserved[edge_parent[serve[i]]] -= 1
        keep[i] = True
        serve[i] = -1
        cur[i] = keep_cost[i]

    for _ in range(_MAX_PASSES):
        improved = False
        # (a) re-point deleted tables; (b) delete kept tables that serve nobody
        for i in range(n):
            if in_start[i] == in_start[i + 1] or (keep[i] and nserved[i]):
                continue
            p = best_kept(i, exclude=i)
            if p >= 0 and in_cost[p] < cur[i] - tol:
                set_serve(i, p)
                improved = True
        # (c) re-keep a deleted table when what it could serve gains more than it costs
        for i in range(n):
            if keep[i]:
                continue
            delta = keep_cost[i] - cur[i]
            gains: list[tuple[int, int]] = []
            for q in range(out_start[i], out_start[i + 1]):
                k = out_edge[q]
                c = edge_child[k]
                if keep[c] and nserved[c]:
                    continue
                g = cur[c] - edge_cost[k]
                if g > tol:
                    delta -= g
                    gains.append((c, k))
            if delta < -tol:
                set_keep(i)
                for c, k in gains:
                    if serve[c] >= 0:
                        nserved[edge_parent[serve[c]]] -= 1
                    keep[c] = False
                    serve[c] = k
                    nserved[i] += 1
                    cur[c] = edge_cost[k]
                improved = True
        # (d) close a kept table that serves others: it and its dependants move to other kept parents
        deps: list[list[int]] = [[] for _ in range(n)]
        for c in range(n):
            if serve[c] >= 0:
                deps[edge_parent[serve[c]]].append(c)
        for j in range(n):
            if not keep[j] or not nserved[j] or in_start[j] == in_start[j + 1]:
                continue
            pj = best_kept(j, exclude=j)
            if pj < 0:
                continue
            delta = in_cost[pj] - keep_cost[j]
            moves: list[tuple[int, int]] = []
            for d in deps[j]:
                if serve[d] < 0 or edge_parent[serve[d]] != j:
                    continue
                pd = best_kept(d, exclude=j)
                alt = in_cost[pd] if pd >= 0 else keep_cost[d]
                delta += alt - cur[d]
                moves.append((d, pd))
                if delta > tol:  # dependants rarely get cheaper elsewhere: give up early
                    break
            if delta < -tol and len(moves) == nserved[j]:
                for d, pd in moves:
                    if pd >= 0:
                        set_serve(d, pd)
                    else:
                        set_keep(d)
                set_serve(j, pj)
                improved = True
        if not improved:
            break
    return np.asarray(serve, dtype=np.int64)
