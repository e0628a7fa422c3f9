"""Optimizer benchmark: exact MILP (scipy HiGHS) vs greedy on synthetic lake-like graphs.

Graphs come from :func:`r2d2.optimize.lake_problem`: families of duplicates, chains and row/column
subsets, edges closed transitively within each family, about 10 edges per table. For each size and seed
the MILP (time limit 120 s) and the greedy solver run on the same problem; both plans are checked
with :func:`r2d2.optimize.check_plan`.

Writes ``bench/results/optimizer.json`` and ``bench/results/optimizer.md``.

Reproduce::

    .venv/bin/python bench/optimizer_bench.py            # 1k, 10k (3 seeds each) and 100k tables
    .venv/bin/python bench/optimizer_bench.py --quick    # 1k and 10k, one seed
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy

from r2d2.optimize import check_plan, lake_problem, solve_greedy, solve_milp

RESULTS = Path(__file__).resolve().parent / "results"
TIME_LIMIT_S = 120.0
EDGES_PER_TABLE = 10.0


def run_one(n_tables: int, seed: int, time_limit_s: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    problem = lake_problem(n_tables, edges_per_table=EDGES_PER_TABLE, seed=seed)
    generate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = problem.arrays  # cost model (shared by both solvers, timed separately)
    cost_model_s = time.perf_counter() - t0
    exact = solve_milp(problem, time_limit_s=time_limit_s)
    greedy = solve_greedy(problem)
    for name, plan in (("milp", exact), ("greedy", greedy)):
        errors = check_plan(problem, plan)
        if errors:
            raise SystemExit(f"{name} plan for n={n_tables} seed={seed} breaks rules: {errors[:5]}")
    return {
        "tables": len(problem.tables),
        "edges": len(problem.edges),
        "seed": seed,
        "generate_s": generate_s,
        "cost_model_s": cost_model_s,
        "baseline_per_month": exact.baseline_cost,
        "milp": {
            "status": exact.status,
            "solver": exact.solver,
            "seconds": exact.solve_seconds,
            "objective": exact.objective,
            "bound": exact.bound,
            "gap": exact.gap,
            "deleted": len(exact.deleted),
            "savings_bytes": exact.savings_bytes,
            "savings_per_month": exact.savings_per_month,
            "message": exact.message,
        },
        "greedy": {
            "seconds": greedy.solve_seconds,
            "objective": greedy.objective,
            "bound": greedy.bound,
            "gap": greedy.gap,
            "deleted": len(greedy.deleted),
            "savings_bytes": greedy.savings_bytes,
            "savings_per_month": greedy.savings_per_month,
        },
        "greedy_over_milp": greedy.objective / exact.objective if exact.objective else 1.0,
    }


def machine() -> dict[str, object]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "scipy": scipy.__version__,
        "numpy": np.__version__,
    }


def to_markdown(report: dict[str, Any], command: str) -> str:
    m = report["machine"]
    lines = [
        "# Optimizer benchmark: MILP (HiGHS) vs greedy",
        "",
        f"Machine: {m['cpu_count']} CPUs, {m['platform']}, Python {m['python']}, scipy {m['scipy']}, "
        f"numpy {m['numpy']}. MILP time limit {report['time_limit_s']:.0f} s, relative gap 1e-9.",
        "",
        "Synthetic lake-like graphs (`r2d2.optimize.lake_problem`): families of duplicates, chains and",
        "row/column subsets, edges closed transitively within families. Money is per month (USD,",
        "$0.023/GB-month, $0.50/cluster-hour, 250 MB/s + 20 s per rebuild). Times are wall seconds of",
        "the solver alone; building the cost model (shared) is shown separately.",
        "",
        "| tables | edges | seed | cost model s | MILP s | MILP status | MILP objective | MILP gap "
        "| greedy s | greedy objective | greedy gap (own bound) | greedy/MILP | baseline "
        "| MILP savings/month | MILP savings TB | deleted (MILP/greedy) |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["runs"]:
        e, g = r["milp"], r["greedy"]
        lines.append(
            f"| {r['tables']:,} | {r['edges']:,} | {r['seed']} | {r['cost_model_s']:.2f} "
            f"| {e['seconds']:.2f} "
            f"| {e['status']} | {e['objective']:.2f} | {e['gap']:.1e} | {g['seconds']:.2f} "
            f"| {g['objective']:.2f} | {g['gap']:.1e} | {r['greedy_over_milp']:.5f} "
            f"| {r['baseline_per_month']:.2f} | {e['savings_per_month']:.2f} "
            f"| {e['savings_bytes'] / 1e12:.2f} | {e['deleted']:,}/{g['deleted']:,} |"
        )
    lines += ["", f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k tables, one seed each")
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT_S)
    args = parser.parse_args()
    plan = (
        [(1_000, (1,)), (10_000, (1,))]
        if args.quick
        else [(1_000, (1, 2, 3)), (10_000, (1, 2, 3)), (100_000, (1,))]
    )
    runs = []
    for n, seeds in plan:
        for seed in seeds:
            r = run_one(n, seed, args.time_limit)
            runs.append(r)
            print(
                f"n={r['tables']} e={r['edges']} seed={seed}: milp {r['milp']['seconds']:.2f}s "
                f"{r['milp']['status']} obj={r['milp']['objective']:.3f}; "
                f"greedy {r['greedy']['seconds']:.2f}s obj={r['greedy']['objective']:.3f} "
                f"ratio={r['greedy_over_milp']:.5f}",
                flush=True,
            )
    command = ".venv/bin/python bench/optimizer_bench.py" + (" --quick" if args.quick else "")
    if args.time_limit != TIME_LIMIT_S:
        command += f" --time-limit {args.time_limit:g}"
    report = {
        "machine": machine(),
        "time_limit_s": args.time_limit,
        "edges_per_table": EDGES_PER_TABLE,
        "command": command,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "optimizer.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "optimizer.md").write_text(to_markdown(report, command))
    print(f"wrote {RESULTS / 'optimizer.json'} and {RESULTS / 'optimizer.md'}")


if __name__ == "__main__":
    main()
