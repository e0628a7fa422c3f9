"""The optimizer's output: a :class:`Plan` of per-table decisions, and :func:`check_plan`.

A plan says, for every table of the problem, whether it is kept or deleted and, when deleted, the
kept parent it is rebuilt from and the estimated rebuild latency. Money is per month (see
:mod:`r2d2.optimize.model` for units). ``check_plan`` re-derives every rule from the problem, so a
plan read back from JSON (or edited) can be checked before it is applied.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from r2d2.optimize.model import Problem

Solver = Literal["milp", "greedy"]
Status = Literal["optimal", "time_limit", "fallback_greedy", "heuristic"]
Action = Literal["keep", "delete"]

PLAN_FORMAT = 1
OBJECTIVE_RTOL = 1e-6


@dataclass(frozen=True)
class Decision:
    """What happens to one table.

    ``action``: ``keep`` or ``delete``. For a deleted table: ``parent_id`` / ``parent_location`` of the
    kept parent it is rebuilt from, ``est_latency_s`` (seconds) of that rebuild and ``recipe_bytes``.
    ``monthly_storage_cost``: storage of the table when kept, of its recipe when deleted.
    ``monthly_access_cost``: accesses/month × cost of one rebuild (0 when kept).
    """

    table_id: int
    location: str
    action: Action
    parent_id: int | None
    parent_location: str | None
    est_latency_s: float | None
    latency_limit_s: float
    bytes: int
    monthly_storage_cost: float
    monthly_access_cost: float
    recipe_bytes: int = 0

    @property
    def monthly_cost(self) -> float:
        return self.monthly_storage_cost + self.monthly_access_cost


@dataclass(frozen=True)
class Plan:
    """A solved plan.

    ``solver``: the solver whose decisions these are. ``status``: ``optimal`` (MILP proven within
    ``gap``), ``time_limit`` (MILP stopped at its time limit; best solution found, ``gap`` reported),
    ``fallback_greedy`` (MILP found no solution in time; greedy decisions, see ``message``),
    ``heuristic`` (greedy asked for directly). ``objective``: money/month of the plan;
    ``bound``: a proven lower bound on the optimum (MILP dual bound, or the simple per-table bound for
    greedy); ``gap`` = (objective − bound) / max(|objective|, tiny). ``solve_seconds``: wall time
    including model building. ``baseline_cost``: money/month of keeping everything;
    ``savings_per_month`` = baseline − objective; ``savings_bytes`` = bytes of deleted tables − recipe
    bytes.
    """

    solver: Solver
    status: Status
    objective: float
    bound: float
    gap: float
    solve_seconds: float
    decisions: tuple[Decision, ...]
    savings_bytes: int
    savings_per_month: float
    baseline_cost: float
    message: str = ""

    @property
    def deleted(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.action == "delete")

    def to_json(self) -> str:
        """Serialise to a JSON string (infinite latency limits are written as ``null``)."""
        data = asdict(self)
        data["format"] = PLAN_FORMAT
        for d in data["decisions"]:
            if math.isinf(d["latency_limit_s"]):
                d["latency_limit_s"] = None
        return json.dumps(data, allow_nan=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Inverse of :meth:`to_json`."""
        data: dict[str, Any] = json.loads(text)
        if data.pop("format", PLAN_FORMAT) != PLAN_FORMAT:
            from r2d2.errors import PlanError

            raise PlanError(f"unsupported plan format; expected {PLAN_FORMAT}")
        decisions = []
        for d in data.pop("decisions"):
            if d["latency_limit_s"] is None:
                d["latency_limit_s"] = math.inf
            decisions.append(Decision(**d))
        return cls(decisions=tuple(decisions), **data)


def relative_gap(objective: float, bound: float) -> float:
    """``(objective − bound) / max(|objective|, 1e-12)``, clipped at 0."""
    return max(0.0, (objective - bound) / max(abs(objective), 1e-12))


def simple_lower_bound(problem: Problem) -> float:
    """A valid lower bound on the optimum: each table pays at least min(keep, cheapest feasible serve).

    It relaxes "the parent must be kept"; cheap (O(V + E)) and used to give greedy plans a gap.
    """
    a = problem.arrays
    best = a.keep_cost.copy()
    f = a.feasible
    np.minimum.at(best, a.child[f], a.serve_cost[f])
    return float(best.sum())


def build_plan(
    problem: Problem,
    serve_edge: NDArray[np.int64],
    *,
    solver: Solver,
    status: Status,
    bound: float,
    solve_seconds: float,
    message: str = "",
) -> Plan:
    """Turn an assignment into a Plan; ``serve_edge[i]`` = edge position serving table i, or -1 (kept).

    The objective is recomputed from the problem's costs (not taken from a solver) so that it is exact.
    """
    a = problem.arrays
    decisions: list[Decision] = []
    objective = 0.0
    savings_bytes = 0
    for i, t in enumerate(problem.tables):
        k = int(serve_edge[i])
        if k < 0:
            storage = float(a.keep_cost[i])
            decisions.append(
                Decision(t.id, t.location, "keep", None, None, None, t.latency_limit_s, t.bytes, storage, 0.0)
            )
            objective += storage
        else:
            e = problem.edges[k]
            p = problem.tables[int(a.parent[k])]
            storage, access = float(a.recipe_cost[k]), float(a.access_cost[k])
            decisions.append(
                Decision(
                    t.id,
                    t.location,
                    "delete",
                    p.id,
                    p.location,
                    float(a.latency[k]),
                    t.latency_limit_s,
                    t.bytes,
                    storage,
                    access,
                    e.recipe_bytes,
                )
            )
            objective += storage + access
            savings_bytes += t.bytes - e.recipe_bytes
    baseline = problem.baseline_cost()
    bound = min(bound, objective)
    return Plan(
        solver=solver,
        status=status,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        solve_seconds=solve_seconds,
        decisions=tuple(decisions),
        savings_bytes=savings_bytes,
        savings_per_month=baseline - objective,
        baseline_cost=baseline,
        message=message,
    )


def plan_objective(problem: Problem, plan: Plan) -> float:
    """The objective of ``plan``'s decisions, recomputed from ``problem`` (ignores unknown edges)."""
    a = problem.arrays
    total = 0.0
    for d in plan.decisions:
        i = a.index.get(d.table_id)
        if i is None:
            continue
        if d.action == "keep":
            total += float(a.keep_cost[i])
        elif d.parent_id is not None and (k := a.edge_index.get((d.parent_id, d.table_id))) is not None:
            total += float(a.serve_cost[k])
    return total


def check_plan(problem: Problem, plan: Plan) -> list[str]:
    """Every rule ``plan`` violates against ``problem``; an empty list means the plan is sound.

    Rules: one decision per table of the problem, no unknown table; a kept table has no parent; a
    deleted table has a parent, the edge parent → child is in the problem, the parent is kept, the
    estimated latency (recomputed) is within the child's limit; a table without incoming edges is kept;
    the plan's objective matches the recomputed one within 1e-6 relative.
    """
    a = problem.arrays
    errors: list[str] = []
    has_parent = np.zeros(len(problem.tables), dtype=bool)
    has_parent[a.child] = True
    seen: dict[int, str] = {}
    for d in plan.decisions:
        if d.table_id in seen:
            errors.append(f"table {d.table_id}: more than one decision")
        seen[d.table_id] = d.action
    for t in problem.tables:
        if t.id not in seen:
            errors.append(f"table {t.id} ({t.location}): no decision")
    for d in plan.decisions:
        name = f"table {d.table_id} ({d.location})"
        i = a.index.get(d.table_id)
        if i is None:
            errors.append(f"{name}: not a table of the problem")
            continue
        if d.action == "keep":
            if d.parent_id is not None:
                errors.append(f"{name}: kept but names parent {d.parent_id}")
            continue
        if d.action != "delete":
            errors.append(f"{name}: unknown action {d.action!r}")
            continue
        if not has_parent[i]:
            errors.append(f"{name}: deleted but has no incoming edge (tables without a parent are kept)")
        if d.parent_id is None:
            errors.append(f"{name}: deleted with no parent")
            continue
        if seen.get(d.parent_id) != "keep":
            errors.append(f"{name}: parent {d.parent_id} is not kept")
        k = a.edge_index.get((d.parent_id, d.table_id))
        if k is None:
            errors.append(f"{name}: edge {d.parent_id} -> {d.table_id} is not in the problem")
            continue
        limit = problem.tables[i].latency_limit_s
        if not a.feasible[k]:
            errors.append(
                f"{name}: estimated latency {a.latency[k]:.3f} s from parent {d.parent_id} "
                f"is above its limit {limit} s"
            )
        if d.est_latency_s is not None and not math.isclose(d.est_latency_s, a.latency[k], rel_tol=1e-9):
            errors.append(
                f"{name}: plan latency {d.est_latency_s} s differs from the estimate {a.latency[k]} s"
            )
    expected = plan_objective(problem, plan)
    if abs(plan.objective - expected) > OBJECTIVE_RTOL * max(abs(expected), 1e-12):
        errors.append(f"objective {plan.objective!r} differs from recomputed {expected!r}")
    return errors


def json_safe(plan: Plan) -> dict[str, Any]:
    """The plan as stored in the catalog (JSON values)."""
    return dict(json.loads(plan.to_json()))


def load_plan(data: dict[str, Any]) -> Plan:
    """A plan stored by :func:`json_safe`."""
    return Plan.from_json(json.dumps(data))
