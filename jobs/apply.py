"""spark-submit entry point: apply a stored plan — only when asked explicitly with --execute.

    spark-submit jobs/apply.py --catalog postgresql+psycopg://... --plan 12 --execute

Without --execute it is a dry run (drift checks, nothing moves). With it: re-verify, write and check
recipes, then the journaled move into quarantine (see `r2d2 apply`).
"""

from __future__ import annotations

from jobs._common import EXIT_OK, EXIT_PARTIAL, parser, run, settings_from


def main(argv: list[str] | None = None) -> None:
    p = parser("Apply a stored R2D2 plan (dry run unless --execute).")
    p.add_argument("--plan", type=int, required=True, help="Plan id (from jobs/plan.py or `r2d2 plans`).")
    p.add_argument("--execute", action="store_true", help="Really move the tables into quarantine.")
    args = p.parse_args(argv)

    def body() -> tuple[int, dict]:
        from r2d2.catalog import open_catalog
        from r2d2.engine import get_spark
        from r2d2.reconstruct.apply import apply_plan

        settings = settings_from(args)
        catalog = open_catalog(settings.resolved_catalog_url)
        report = apply_plan(catalog, settings, lambda: get_spark(settings), args.plan, dry_run=not args.execute)
        data = report.to_json()
        data["text"] = "\n".join(f"{i.action:12} {i.location}" for i in report.items)
        return (EXIT_PARTIAL if report.failed else EXIT_OK), data

    run(body, as_json=args.json, args=args)


if __name__ == "__main__":
    main()
