"""spark-submit entry point: scan lake roots into the catalog.

    spark-submit --master spark://host:7077 jobs/scan.py --catalog postgresql+psycopg://... /lake/root
"""

from __future__ import annotations

from jobs._common import EXIT_OK, EXIT_PARTIAL, parser, run, settings_from


def main(argv: list[str] | None = None) -> None:
    p = parser("Scan lake roots into the R2D2 catalog.")
    p.add_argument("roots", nargs="+")
    args = p.parse_args(argv)

    def body() -> tuple[int, dict]:
        from r2d2.catalog import open_catalog
        from r2d2.engine import get_spark
        from r2d2.scan import scan

        settings = settings_from(args)
        catalog = open_catalog(settings.resolved_catalog_url)
        summary = scan(catalog, args.roots, spark_factory=lambda: get_spark(settings),
                       local_bytes=settings.local_read_bytes, threads=settings.local_threads)
        data = summary.to_json()
        data["text"] = (f"scan run {summary.run_id}: {summary.found} tables, {summary.new} new, "
                        f"{summary.changed} changed, {summary.gone} gone, {summary.failed} failed")
        return (EXIT_PARTIAL if summary.failed else EXIT_OK), data

    run(body, as_json=args.json, args=args)


if __name__ == "__main__":
    main()
