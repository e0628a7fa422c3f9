"""Optimizer: the MILP against brute force, the greedy heuristic, plan rules, validation, calibration."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2d2.errors import PlanError
from r2d2.optimize import (
    CostDefaults,
    EdgeCost,
    Plan,
    Prices,
    Problem,
    TableCost,
    ThroughputModel,
    check_plan,
    lake_problem,
    solve_greedy,
    solve_milp,
)
from r2d2.optimize import milp as milp_module

GB = 10**9


# ---------------------------------------------------------------------------------------------
# random small instances and brute force


def random_problem(seed: int, n_max: int = 12) -> Problem:
    """A small random instance mixing the shapes the optimizer must get right.

    ``closed``: tables are (row set, column set) pairs, so edges are containment, closed transitively,
    with duplicate groups (equal sets → edges both ways) and chains. ``arbitrary``: random edges with
    random costs, cycles included (the MILP must be exact on any graph). Access frequencies include 0
    and huge values; latency limits forbid some edges.
    """
    rng = random.Random(seed)
    n = rng.randint(1, n_max)
    tp = ThroughputModel(bytes_per_s=rng.choice([50e6, 200e6, 1e9]), overhead_s=rng.choice([0.0, 5.0, 30.0]))
    prices = Prices(
        storage_per_gb_month=rng.choice([0.023, 0.1, 1.0]), compute_per_hour=rng.choice([0.5, 3.0])
    )

    def freq() -> float:
        r = rng.random()
        return 0.0 if r < 0.2 else (1e9 if r < 0.3 else rng.uniform(0, 200))

    edges: list[EdgeCost] = []
    if rng.random() < 0.7:  # closed
        base = rng.choice([1, 10, 100]) * GB
        sets: list[tuple[int, int]] = []
        for i in range(n):
            if i == 0 or rng.random() < 0.15:
                rows, cols = 0b111111, 0b1111
            else:
                brows, bcols = rng.choice(sets)
                if rng.random() < 0.3:
                    rows, cols = brows, bcols  # duplicate
                else:
                    rows = brows & rng.randrange(1, 64) or brows
                    cols = bcols & rng.randrange(1, 16) or bcols
            sets.append((rows, cols))
        nbytes = [base * r.bit_count() * c.bit_count() // 24 for r, c in sets]
        for p, c in itertools.permutations(range(n), 2):
            (pr, pc), (cr, cc) = sets[p], sets[c]
            if cr & ~pr == 0 and cc & ~pc == 0:
                scan = base * pr.bit_count() * cc.bit_count() // 24
                recipe = 64 if cr == pr else rng.choice([256, nbytes[c] // 10])
                edges.append(EdgeCost(p, c, scan, recipe))
    else:  # arbitrary graph
        nbytes = [rng.randint(0, 50) * GB for _ in range(n)]
        for p, c in itertools.permutations(range(n), 2):
            if rng.random() < 0.3:
                edges.append(EdgeCost(p, c, rng.randint(0, 60) * GB, rng.randint(0, 5) * GB))
    latencies = sorted(tp.latency(e.scan_bytes) for e in edges) or [1.0]
    tables = []
    for i in range(n):
        r = rng.random()
        limit = math.inf if r < 0.3 else rng.choice(latencies) * rng.choice([0.5, 1.0, 1.5])
        tables.append(TableCost(i, f"/lake/t{i}", nbytes[i], freq(), limit))
    return Problem(tuple(tables), tuple(edges), prices, tp)


def brute_force(problem: Problem) -> float:
    """Optimum by enumerating every keep set; deleted tables take their cheapest feasible kept parent."""
    a = problem.arrays
    n = len(problem.tables)
    masks = np.arange(1 << n)
    keep = (masks[:, None] >> np.arange(n)[None, :]) & 1 == 1  # (2^n, n)
    serve_best = np.full((1 << n, n), np.inf)
    for k in np.flatnonzero(a.feasible):
        p, c = a.parent[k], a.child[k]
        cost = np.where(keep[:, p], a.serve_cost[k], np.inf)
        serve_best[:, c] = np.minimum(serve_best[:, c], cost)
    total = np.where(keep, a.keep_cost[None, :], serve_best).sum(axis=1)
    return float(total.min())


def assert_rules(problem: Problem, plan: Plan) -> None:
    assert check_plan(problem, plan) == []
    a = problem.arrays
    by_id = {d.table_id: d for d in plan.decisions}
    for d in plan.decisions:
        if d.action == "delete":
            assert d.parent_id is not None
            assert by_id[d.parent_id].action == "keep"
            k = a.edge_index[(d.parent_id, d.table_id)]
            assert a.latency[k] <= d.latency_limit_s
            assert d.est_latency_s == pytest.approx(a.latency[k])
    children = {e.child for e in problem.edges}
    for t in problem.tables:
        if t.id not in children:
            assert by_id[t.id].action == "keep"


@pytest.mark.parametrize("seed", range(70))
def test_milp_equals_brute_force_and_greedy_is_feasible(seed: int) -> None:
    problem = random_problem(seed)
    exact = brute_force(problem)
    plan = solve_milp(problem)
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(exact, rel=1e-9, abs=1e-12)
    assert_rules(problem, plan)
    assert plan.gap <= 1e-6
    assert plan.bound <= plan.objective + 1e-12
    greedy = solve_greedy(problem)
    assert_rules(problem, greedy)
    assert greedy.objective >= plan.objective - 1e-9
    assert greedy.bound <= exact * (1 + 1e-9) + 1e-12
    assert plan.savings_per_month == pytest.approx(plan.baseline_cost - plan.objective)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_rules_hold_on_random_instances(seed: int) -> None:
    problem = random_problem(seed, n_max=10)
    for plan in (solve_milp(problem), solve_greedy(problem)):
        assert_rules(problem, plan)


def test_brute_force_shapes_are_covered() -> None:
    """The random instances do contain duplicates, forbidden edges, zero and huge access frequency."""
    dup = forbidden = zero = huge = 0
    for seed in range(70):
        p = random_problem(seed)
        pairs = {(e.parent, e.child) for e in p.edges}
        dup += any((c, q) in pairs for q, c in pairs)
        forbidden += int(not p.arrays.feasible.all())
        zero += any(t.accesses_per_month == 0 for t in p.tables)
        huge += any(t.accesses_per_month >= 1e9 for t in p.tables)
    assert min(dup, forbidden, zero, huge) >= 5


# ---------------------------------------------------------------------------------------------
# targeted cases


def _dups(k: int, *, freq: float = 0.0) -> Problem:
    tables = tuple(TableCost(i, f"/d{i}", 10 * GB, freq, math.inf) for i in range(k))
    edges = tuple(EdgeCost(p, c, 10 * GB, 64) for p, c in itertools.permutations(range(k), 2))
    return Problem(tables, edges)


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_duplicates_keep_exactly_one_copy(k: int) -> None:
    problem = _dups(k)
    for plan in (solve_milp(problem), solve_greedy(problem)):
        assert_rules(problem, plan)
        assert sum(d.action == "keep" for d in plan.decisions) == 1
        assert plan.savings_bytes == (k - 1) * (10 * GB - 64)


def test_duplicates_hot_tables_are_all_kept() -> None:
    problem = _dups(3, freq=1e9)
    for plan in (solve_milp(problem), solve_greedy(problem)):
        assert all(d.action == "keep" for d in plan.decisions)
        assert plan.savings_per_month == 0


def test_chain_is_served_from_kept_root_not_deleted_middle() -> None:
    # A ⊇ B ⊇ C with the transitive edge A → C: B and C both deleted, both served from A.
    tables = (
        TableCost(0, "/a", 100 * GB, 0.0, math.inf),
        TableCost(1, "/b", 50 * GB, 0.0, math.inf),
        TableCost(2, "/c", 20 * GB, 0.0, math.inf),
    )
    edges = (EdgeCost(0, 1, 100 * GB, 100), EdgeCost(1, 2, 50 * GB, 100), EdgeCost(0, 2, 100 * GB, 100))
    problem = Problem(tables, edges)
    for plan in (solve_milp(problem), solve_greedy(problem)):
        assert_rules(problem, plan)
        got = {d.table_id: (d.action, d.parent_id) for d in plan.decisions}
        assert got == {0: ("keep", None), 1: ("delete", 0), 2: ("delete", 0)}


def test_latency_limit_forbids_slow_parent() -> None:
    tp = ThroughputModel(bytes_per_s=1e9, overhead_s=10.0)  # 100 GB scan: 110 s
    tables = (TableCost(0, "/a", 100 * GB, 0.0, math.inf), TableCost(1, "/b", 10 * GB, 0.0, 60.0))
    problem = Problem(tables, (EdgeCost(0, 1, 100 * GB, 0),), throughput=tp)
    for plan in (solve_milp(problem), solve_greedy(problem)):
        assert all(d.action == "keep" for d in plan.decisions)
    relaxed = dataclasses.replace(
        problem, tables=(tables[0], dataclasses.replace(tables[1], latency_limit_s=120))
    )
    plan = solve_milp(relaxed)
    assert plan.decisions[1].action == "delete"
    assert plan.decisions[1].est_latency_s == pytest.approx(110.0)


def test_cost_units() -> None:
    prices = Prices(storage_per_gb_month=0.02, compute_per_hour=3.6)
    tp = ThroughputModel(bytes_per_s=1e9, overhead_s=0.0)
    tables = (TableCost(0, "/a", 1000 * GB, 0, math.inf), TableCost(1, "/b", 500 * GB, 2.0, math.inf))
    problem = Problem(tables, (EdgeCost(0, 1, 1000 * GB, 10 * GB),), prices, tp)
    plan = solve_milp(problem)
    d = plan.decisions[1]
    assert d.action == "delete"
    assert d.est_latency_s == pytest.approx(1000.0)
    assert d.monthly_storage_cost == pytest.approx(10 * 0.02)  # recipe storage counts
    assert d.monthly_access_cost == pytest.approx(2.0 * 1000 / 3600 * 3.6)
    assert plan.baseline_cost == pytest.approx(1500 * 0.02)
    assert plan.objective == pytest.approx(1000 * 0.02 + 0.2 + 2.0)
    assert plan.savings_bytes == 490 * GB


def test_defaults_fill_missing_records() -> None:
    defaults = CostDefaults(accesses_per_month=3.0, latency_limit_s=90.0)
    t = TableCost.with_defaults(1, "/x", 5, None, None, defaults)
    assert (t.accesses_per_month, t.latency_limit_s) == (3.0, 90.0)
    t = TableCost.with_defaults(1, "/x", 5, 0.0, math.inf, defaults)
    assert (t.accesses_per_month, t.latency_limit_s) == (0.0, math.inf)


def test_plan_json_round_trip() -> None:
    problem = random_problem(3)
    plan = solve_milp(problem)
    back = Plan.from_json(plan.to_json())
    assert back == plan
    assert check_plan(problem, back) == []


def test_check_plan_reports_every_broken_rule() -> None:
    tp = ThroughputModel(bytes_per_s=1e9)
    tables = (
        TableCost(0, "/a", 10 * GB, 0, math.inf),
        TableCost(1, "/b", 5 * GB, 0, 1.0),
        TableCost(2, "/c", 5 * GB, 0, math.inf),
    )
    problem = Problem(tables, (EdgeCost(0, 1, 10 * GB, 0), EdgeCost(0, 2, 10 * GB, 0)), throughput=tp)
    plan = solve_milp(problem)
    assert check_plan(problem, plan) == []
    d = list(plan.decisions)
    bad = dataclasses.replace(
        plan,
        decisions=(
            dataclasses.replace(d[0], action="delete", parent_id=2, parent_location="/c"),  # root deleted
            dataclasses.replace(d[1], action="delete", parent_id=0, parent_location="/a"),  # too slow
            d[2],
        ),
        objective=plan.objective * 2,
    )
    text = "\n".join(check_plan(problem, bad))
    for needle in (
        "no incoming edge",
        "not kept",
        "edge 2 -> 0 is not in the problem",
        "above its limit",
        "objective",
    ):
        assert needle in text


# ---------------------------------------------------------------------------------------------
# time limit, scale


def test_time_limit_returns_feasible_plan_with_gap() -> None:
    problem = lake_problem(3000, seed=5)
    plan = solve_milp(problem, time_limit_s=0.001)
    assert plan.status in ("time_limit", "fallback_greedy")
    assert check_plan(problem, plan) == []
    assert math.isfinite(plan.gap) and plan.gap >= 0
    assert plan.bound <= plan.objective


def test_time_limit_incumbent_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    real = milp_module.milp

    def stopped(*args, **kwargs):  # HiGHS stopping at its limit with an incumbent
        res = real(*args, **kwargs)
        res.status, res.message = 1, "Time limit reached. (HiGHS Status 13)"
        res.mip_dual_bound = res.fun * 0.5
        return res

    monkeypatch.setattr(milp_module, "milp", stopped)
    problem = random_problem(11)
    plan = solve_milp(problem)
    assert plan.status == "time_limit" and plan.solver == "milp"
    assert check_plan(problem, plan) == []
    assert plan.objective == pytest.approx(brute_force(problem), rel=1e-9, abs=1e-12)


def test_no_solution_falls_back_to_greedy(monkeypatch: pytest.MonkeyPatch) -> None:
    real = milp_module.milp

    def empty(*args, **kwargs):
        res = real(*args, **kwargs)
        res.status, res.x, res.message = 1, None, "Time limit reached."
        return res

    monkeypatch.setattr(milp_module, "milp", empty)
    problem = lake_problem(200, seed=2)
    plan = solve_milp(problem)
    assert plan.status == "fallback_greedy" and "greedy" in plan.message
    assert check_plan(problem, plan) == []


def test_lake_scale_milp_and_greedy() -> None:
    problem = lake_problem(1000, seed=1)
    exact, greedy = solve_milp(problem), solve_greedy(problem)
    assert exact.status == "optimal"
    assert_rules(problem, exact)
    assert_rules(problem, greedy)
    assert exact.objective <= greedy.objective <= exact.objective * 1.05
    assert exact.savings_bytes > 0


# ---------------------------------------------------------------------------------------------
# validation, calibration


@pytest.mark.parametrize(
    ("tables", "edges", "needle"),
    [
        ([TableCost(1, "/a", 1, 0, 1), TableCost(1, "/b", 1, 0, 1)], [], "duplicate table id 1"),
        ([TableCost(1, "/a", 1, 0, 1), TableCost(2, "/a", 1, 0, 1)], [], "duplicate location"),
        ([TableCost(1, "/a", -5, 0, 1)], [], "table 1 ('/a'): bytes is -5; it must be a number >= 0"),
        ([TableCost(1, "/a", 1, math.nan, 1)], [], "accesses_per_month is nan"),
        ([TableCost(1, "/a", 1, 0, -1)], [], "latency_limit_s is -1"),
        ([TableCost(1, "/a", 1, 0, 1)], [EdgeCost(1, 9, 1, 1)], "edge 1 -> 9: table 9 is not among"),
        ([TableCost(1, "/a", 1, 0, 1)], [EdgeCost(1, 1, 1, 1)], "edge 1 -> 1: self edge"),
        (
            [TableCost(1, "/a", 1, 0, 1), TableCost(2, "/b", 1, 0, 1)],
            [EdgeCost(1, 2, 1, 1), EdgeCost(1, 2, 1, 1)],
            "given twice",
        ),
        (
            [TableCost(1, "/a", 1, 0, 1), TableCost(2, "/b", 1, 0, 1)],
            [EdgeCost(1, 2, -1, 1)],
            "edge 1 -> 2: scan_bytes is -1; it must be a number >= 0",
        ),
    ],
)
def test_validation_errors_are_clear(tables, edges, needle) -> None:
    with pytest.raises(PlanError, match=None) as info:
        Problem(tuple(tables), tuple(edges))
    assert needle in str(info.value)


def test_price_and_throughput_validation() -> None:
    with pytest.raises(PlanError, match="storage_per_gb_month"):
        Prices(storage_per_gb_month=-1)
    with pytest.raises(PlanError, match=r"bytes_per_s is 0; it must be a number > 0"):
        ThroughputModel(bytes_per_s=0)
    with pytest.raises(PlanError, match="overhead_s"):
        ThroughputModel(bytes_per_s=1, overhead_s=math.inf)


def test_throughput_fit_recovers_parameters() -> None:
    rng = np.random.default_rng(0)
    true = ThroughputModel(bytes_per_s=300e6, overhead_s=12.0)
    sizes = rng.integers(10**6, 10**11, size=200)
    samples = [(int(b), true.latency(b) * rng.normal(1, 0.02)) for b in sizes]
    fit = ThroughputModel.fit(samples)
    assert fit.bytes_per_s == pytest.approx(300e6, rel=0.03)
    assert fit.overhead_s == pytest.approx(12.0, abs=3.0)
    exact = ThroughputModel.fit([(b, true.latency(b)) for b in (10**8, 10**9, 10**10)])
    assert exact.bytes_per_s == pytest.approx(300e6, rel=1e-9)
    assert exact.overhead_s == pytest.approx(12.0, rel=1e-9)


def test_throughput_fit_overhead_is_non_negative_and_bad_samples_rejected() -> None:
    fit = ThroughputModel.fit([(100, 0.5), (200, 1.5), (300, 2.5)])  # unconstrained intercept: -0.5
    assert fit.overhead_s >= 0
    with pytest.raises(PlanError, match="at least 2"):
        ThroughputModel.fit([(100, 1.0)])
    with pytest.raises(PlanError, match="distinct"):
        ThroughputModel.fit([(100, 1.0), (100, 2.0)])
    with pytest.raises(PlanError, match="does not grow"):
        ThroughputModel.fit([(100, 2.0), (200, 1.0)])
