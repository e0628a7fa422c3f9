"""spark-submit entry point: run containment detection over the catalog's tables.

    spark-submit --master yarn --deploy-mode client jobs/detect.py --catalog postgresql+psycopg://...

Runs exactly the code of `r2d2 detect`; only pairs involving new or changed tables are examined.
"""

from __future__ import annotations

from jobs._common import EXIT_OK, EXIT_PARTIAL, parser, run, settings_from


def main(argv: list[str] | None = None) -> None:
    p = parser("Detect containment among the tables of the R2D2 catalog.")
    p.add_argument("--minhash-perm", type=int, help="MinHash permutations (default 64).")
    p.add_argument("--sample-k", type=int, help="Row-probe sample size per child (default 256).")
    p.add_argument("--batch-tables", type=int, help="Tables per batched Spark job (default 128).")
    args = p.parse_args(argv)

    def body() -> tuple[int, dict]:
        from r2d2.catalog import open_catalog
        from r2d2.containment.report import funnel_lines
        from r2d2.detect import detect
        from r2d2.engine import get_spark

        settings = settings_from(args, minhash_num_perm=args.minhash_perm, row_sample_k=args.sample_k,
                                 spark_batch_tables=args.batch_tables)
        catalog = open_catalog(settings.resolved_catalog_url)
        result = detect(catalog, settings, lambda: get_spark(settings))
        data = result.to_json()
        data["run_id"] = result.run_id
        data["text"] = "\n".join([*funnel_lines(result), f"{len(result.edges)} edges (run {result.run_id})"])
        return (EXIT_PARTIAL if result.errors else EXIT_OK), data

    run(body, as_json=args.json, args=args)


if __name__ == "__main__":
    main()
