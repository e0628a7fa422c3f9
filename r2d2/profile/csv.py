"""Profile CSV tables: one batched Spark pass for many tables (CSV has no footer).

The CSV rule (see :mod:`r2d2.lake.csv`, shared with the reader): a header row is required and an
empty field, quoted or not, is null for every column type. Each table's schema is inferred by pyarrow
from the first block of its first file; then a batch of tables is read by Spark with those explicit
schemas (FAILFAST) and aggregated -- row count, per-column null count, min and max -- into one
long-format result (``table, column, nulls, min, max`` as strings), the union of all tables, so a
batch is one Spark job. If the job fails, the batch is bisected to isolate the failing tables, each
of which gets a :class:`TableReadError` with Spark's short reason. Float NaN is left out of min/max.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from r2d2.errors import TableReadError
from r2d2.lake.csv import infer_schema, read_csv
from r2d2.lake.discover import DiscoveredTable
from r2d2.lake.sparkschema import qcol
from r2d2.profile.families import column_of
from r2d2.profile.parquet import unsupported_issues
from r2d2.profile.partitions import partition_columns
from r2d2.profile.stats import canonical
from r2d2.types import Column, ColumnStats, Family, TableProfile


@dataclass(frozen=True)
class _Prepared:
    table: DiscoveredTable
    columns: tuple[Column, ...]


def prepare(table: DiscoveredTable) -> _Prepared:
    """Infer the table's columns (data columns from the CSV header, then partition columns)."""
    if not table.files:
        raise TableReadError(f"{table.location}: no data file", location=table.location)
    schema = infer_schema(table.location, table.files[0])
    parts = partition_columns(table.files, table.partition_columns)
    keys = {c.key for c in parts}
    data = [column_of(f) for f in schema if f.name.lower() not in keys]
    return _Prepared(table, tuple(data + parts))


def _agg_frame(spark, index: int, prep: _Prepared):
    from pyspark.sql import functions as F

    t = prep.table
    df = read_csv(spark, t.location, t.files, prep.columns, t.partition_columns)
    aggs = [F.count(F.lit(1)).alias("n")]
    for i, c in enumerate(prep.columns):
        col = qcol(c.name)
        if c.family is Family.FLOAT:
            col = F.when(F.isnan(col), F.lit(None)).otherwise(col)
        aggs.append(F.sum(F.when(qcol(c.name).isNull(), 1).otherwise(0)).cast("long").alias(f"z{i}"))
        aggs.append(F.min(col).alias(f"lo{i}"))
        aggs.append(F.max(col).alias(f"hi{i}"))
    row = df.agg(*aggs)

    def text(name: str, c: Column):
        col = F.col(name)
        if c.family is Family.TIMESTAMP:
            return F.unix_micros(col).cast("string")
        if c.family is Family.DATE:
            return F.unix_date(col).cast("string")
        return col.cast("string")

    items = [
        F.struct(
            F.lit(i).alias("i"),
            F.col(f"z{i}").alias("z"),
            text(f"lo{i}", c).alias("lo"),
            text(f"hi{i}", c).alias("hi"),
        )
        for i, c in enumerate(prep.columns)
    ]
    if not items:
        items = [
            F.struct(
                F.lit(-1).alias("i"),
                F.lit(0).cast("long").alias("z"),
                F.lit(None).cast("string").alias("lo"),
                F.lit(None).cast("string").alias("hi"),
            )
        ]
    return row.select(F.lit(index).alias("t"), F.col("n"), F.explode(F.array(*items)).alias("c")).select(
        "t", "n", "c.i", "c.z", "c.lo", "c.hi"
    )


def _parse(c: Column, text: str | None):
    if text is None:
        return None
    fam = c.family
    if fam is Family.INTEGER:
        return int(text)
    if fam is Family.FLOAT:
        return canonical(fam, float(text))
    if fam is Family.BOOLEAN:
        return text == "true"
    if fam is Family.DATE:
        return int(text)
    if fam is Family.TIMESTAMP:
        return int(text) * 1_000
    return canonical(fam, text)


def _profile(prep: _Prepared, n: int, cols: dict[int, tuple[int, str | None, str | None]]) -> TableProfile:
    t = prep.table
    stats = {}
    for i, c in enumerate(prep.columns):
        z, lo, hi = cols.get(i, (0, None, None))
        lo_v, hi_v = _parse(c, lo), _parse(c, hi)
        stats[c.key] = ColumnStats(
            min=lo_v, max=hi_v, min_exact=lo_v is not None, max_exact=hi_v is not None, null_count=int(z)
        )
    size = sum(f.size for f in t.files)
    return TableProfile(
        location=t.location,
        format="csv",
        fingerprint=t.fingerprint,
        columns=prep.columns,
        stats=stats,
        num_rows=int(n),
        num_bytes=size,
        files=t.files,
        partition_columns=t.partition_columns,
        data_read=True,
        bytes_read=size,
        issues=unsupported_issues(t.location, prep.columns),
    )


def spark_reason(exc: BaseException) -> str:
    """Spark's reason in one short line (no JVM stack trace)."""
    for line in str(exc).splitlines():
        line = line.strip()
        if not line or line.startswith(("at ", "Traceback", "An error occurred", "JVM stacktrace")):
            continue
        return line[:400]
    return type(exc).__name__


def _run(spark, preps: Sequence[_Prepared]) -> dict[int, TableProfile | TableReadError]:
    frames = [_agg_frame(spark, i, p) for i, p in enumerate(preps)]
    rows = functools.reduce(lambda a, b: a.unionByName(b), frames).collect()
    per: dict[int, tuple[int, dict[int, tuple[int, str | None, str | None]]]] = {}
    for r in rows:
        _, cols = per.setdefault(r["t"], (r["n"], {}))
        cols[r["i"]] = (r["z"], r["lo"], r["hi"])
    return {i: _profile(p, *per.get(i, (0, {}))) for i, p in enumerate(preps)}


def _bisect(spark, preps: Sequence[_Prepared]) -> list[TableProfile | TableReadError]:
    try:
        done = _run(spark, preps)
        return [done[i] for i in range(len(preps))]
    except Exception as exc:
        if len(preps) == 1:
            loc = preps[0].table.location
            return [TableReadError(f"{loc}: cannot read CSV: {spark_reason(exc)}", location=loc)]
        mid = len(preps) // 2
        return _bisect(spark, preps[:mid]) + _bisect(spark, preps[mid:])


def profile_csv_batch(spark, tables: Sequence[DiscoveredTable]) -> list[TableProfile | TableReadError]:
    """Profile CSV tables with one Spark job per batch; one result (profile or error) per table, in order."""
    results: list[TableProfile | TableReadError | None] = [None] * len(tables)
    ready: list[tuple[int, _Prepared]] = []
    for i, t in enumerate(tables):
        try:
            ready.append((i, prepare(t)))
        except TableReadError as exc:
            results[i] = exc
    if ready:
        for (i, _), res in zip(ready, _bisect(spark, [p for _, p in ready]), strict=True):
            results[i] = res
    return [r for r in results if r is not None]
