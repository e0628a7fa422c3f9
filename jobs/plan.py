"""spark-submit (or plain python) entry point: compute and store a deletion plan from the catalog.

    spark-submit jobs/plan.py --catalog postgresql+psycopg://... --latency-limit 60 --solver milp

Reads only the catalog (no Spark work); the plan is stored and printed, nothing is deleted.
"""

from __future__ import annotations

import math

from jobs._common import EXIT_OK, parser, run, settings_from


def main(argv: list[str] | None = None) -> None:
    p = parser("Compute and store an R2D2 deletion plan.")
    p.add_argument("--latency-limit", type=float, default=math.inf, help="Default rebuild latency limit, seconds.")
    p.add_argument("--access-default", type=float, default=1.0, help="Accesses/month for tables without records.")
    p.add_argument("--solver", choices=["milp", "greedy"], default="milp")
    p.add_argument("--time-limit", type=float, default=60.0, help="MILP time limit, seconds.")
    args = p.parse_args(argv)

    def body() -> tuple[int, dict]:
        from r2d2.catalog import open_catalog
        from r2d2.optimize.planning import PlanRequest, create_plan

        settings = settings_from(args)
        catalog = open_catalog(settings.resolved_catalog_url)
        pid = create_plan(catalog, PlanRequest(latency_limit_s=args.latency_limit, access_default=args.access_default,
                                               solver=args.solver, time_limit_s=args.time_limit))
        rec = catalog.get_plan(pid)
        decisions = rec.plan["decisions"]
        data = {"plan_id": pid, "status": rec.status, "objective": rec.objective, "gap": rec.gap,
                "savings_bytes": rec.savings_bytes, "savings_per_month": rec.savings_per_month,
                "decisions": decisions,
                "text": f"plan {pid}: {rec.deleted_tables} tables to delete, saving {rec.savings_bytes} bytes"}
        return EXIT_OK, data

    run(body, as_json=args.json, args=args)


if __name__ == "__main__":
    main()
