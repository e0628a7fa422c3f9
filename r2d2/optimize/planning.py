"""Make a plan from the catalog: build the problem, solve it, check it, store it.

The one entry point shared by the CLI (`r2d2 plan`), the batch job (`jobs/plan.py`) and the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from r2d2.catalog import Catalog
from r2d2.errors import PlanError
from r2d2.optimize.greedy import solve_greedy
from r2d2.optimize.milp import solve_milp
from r2d2.optimize.model import CostDefaults, Prices
from r2d2.optimize.plan import check_plan
from r2d2.optimize.stored import build_problem, store_plan

Solver = Literal["milp", "greedy"]


@dataclass(frozen=True, kw_only=True)
class PlanRequest:
    latency_limit_s: float = math.inf  # default limit for tables without their own
    access_default: float = 1.0  # accesses per month for tables without a record
    solver: Solver = "milp"
    time_limit_s: float = 60.0
    storage_price: float = Prices().storage_per_gb_month
    compute_price: float = Prices().compute_per_hour

    def params(self) -> dict[str, object]:
        return {"latency_limit_s": None if math.isinf(self.latency_limit_s) else self.latency_limit_s,
                "access_default": self.access_default, "solver": self.solver, "time_limit_s": self.time_limit_s,
                "storage_price": self.storage_price, "compute_price": self.compute_price}


def create_plan(catalog: Catalog, request: PlanRequest) -> int:
    """Solve and store a plan; returns its id. Raises PlanError if the solver's plan breaks a rule."""
    built = build_problem(catalog, prices=Prices(request.storage_price, request.compute_price),
                          defaults=CostDefaults(request.access_default, request.latency_limit_s))
    if request.solver == "milp":
        result = solve_milp(built.problem, time_limit_s=request.time_limit_s)
    else:
        result = solve_greedy(built.problem)
    errors = check_plan(built.problem, result)
    if errors:
        raise PlanError("the solver returned an unsound plan: " + "; ".join(errors[:5]))
    return store_plan(catalog, built, result, request.params())
