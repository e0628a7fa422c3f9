"""Optimizer: choose which redundant tables to delete (DESIGN, section Optimizer).

Pure functions over a :class:`Problem` (tables with bytes, access frequency and latency limit; verified
edges with the bytes a rebuild scans and the recipe size; prices; a calibrated :class:`ThroughputModel`).
:func:`solve_milp` solves the DESIGN's MILP exactly with scipy's HiGHS; :func:`solve_greedy` is a fast
heuristic for comparison and very large graphs. Both return a :class:`Plan` (per-table decisions,
objective, bound, gap, savings) that :func:`check_plan` verifies against the problem's rules. No I/O:
the catalog wiring lives elsewhere.
"""

from typing import Any

from r2d2.optimize.greedy import solve_greedy
from r2d2.optimize.model import CostDefaults, EdgeCost, Prices, Problem, TableCost, ThroughputModel
from r2d2.optimize.plan import Decision, Plan, check_plan, simple_lower_bound
from r2d2.optimize.synthetic import lake_problem

__all__ = [
    "CostDefaults",
    "Decision",
    "EdgeCost",
    "Plan",
    "Prices",
    "Problem",
    "TableCost",
    "ThroughputModel",
    "check_plan",
    "lake_problem",
    "simple_lower_bound",
    "solve_greedy",
    "solve_milp",
]


def __getattr__(name: str) -> Any:
    # scipy costs a third of a second to import: only a plan that is solved pays it, not every command
    # that reads one (apply, restore, recover)
    if name == "solve_milp":
        from r2d2.optimize.milp import solve_milp

        return solve_milp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
