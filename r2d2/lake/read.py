"""Read a profiled table with Spark: exactly the profile's columns, current files only.

* Parquet: the profile's file list (stray files are ignored), ``basePath`` for hive partitions, with
  partition columns typed as the profile says (not as Spark would infer them).
* CSV: the files read by pyarrow in Spark's Python workers (:mod:`r2d2.lake.arrow_read`: the one CSV
  rule of every path).
* Delta: the Delta data source when the session has it (delta-spark: deletion vectors, column mapping
  and time travel to the profiled version are its own); else the snapshot's files listed by delta-rs,
  read as Parquet with the log's schema, partition values added from the log as typed literals — or,
  for a table with deletion vectors or column mapping, read by pyarrow in Spark's Python workers
  (:mod:`r2d2.lake.arrow_read` skips deleted rows and maps physical names).

Every path is handed to Spark as Hadoop names it (:func:`r2d2.lake.fs.spark_path`: ``file:`` for
local paths, so a cluster does not resolve them against its default filesystem; ``s3a://`` for S3).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from r2d2.engine.local import local_frame
from r2d2.errors import TableReadError
from r2d2.lake import fs as lakefs
from r2d2.lake.footer_schema import parquet_schema
from r2d2.lake.sparkschema import quoted, spark_type_of, spark_type_of_arrow, struct_of
from r2d2.types import TableProfile

if TYPE_CHECKING:
    from pyspark.sql.types import StructType


def _paths(profile: TableProfile) -> list[str]:
    return [lakefs.join(profile.location, f.path) for f in profile.files]


def _spark_paths(profile: TableProfile) -> list[str]:
    return [lakefs.spark_path(p) for p in _paths(profile)]


def _select(df, profile: TableProfile):
    # one selectExpr call: a Column object per name costs a Py4J round trip each (~4 ms)
    return df.selectExpr(*[quoted(c.name) for c in profile.columns])


def _selected(schema: StructType, profile: TableProfile) -> StructType | None:
    """The fields of ``schema`` named by the profile's columns, in its order, when each is there
    under its exact name (what ``_select`` would resolve, without a DataFrame to analyse); else None.
    Nullability does not matter: file sources read every column as nullable."""
    from pyspark.sql.types import StructType

    by_name = {f.name: f for f in schema.fields}
    if any(c.name not in by_name for c in profile.columns):
        return None
    return StructType([by_name[c.name] for c in profile.columns])


def _read_parquet(spark, profile: TableProfile):
    paths = _spark_paths(profile)
    base = lakefs.spark_path(profile.location)
    parts = {p.lower() for p in profile.partition_columns}
    if not parts:
        # The profiler has checked that every file has the same schema: the first one's is the table's.
        # Reading only the profile's columns needs no projection on top (one analysis less).
        schema = parquet_schema(spark, paths[0])
        selected = _selected(schema, profile)
        if selected is not None:
            return spark.read.schema(selected).parquet(*paths)
        return _select(spark.read.schema(schema).parquet(*paths), profile)
    inferred = spark.read.option("basePath", base).parquet(*paths).schema
    fields = [(f.name, f.dataType) for f in inferred.fields if f.name.lower() not in parts]
    fields += [(c.name, spark_type_of(c.physical_type)) for c in profile.columns if c.key in parts]
    df = spark.read.schema(struct_of(fields)).option("basePath", base).parquet(*paths)
    return _select(df, profile)


def _read_delta_files(spark, profile: TableProfile):
    from pyspark.sql import functions as F

    from r2d2.lake.delta import snapshot

    snap = snapshot(profile.location, profile.delta_version)
    if snap.physical or snap.has_deletions:  # the pyarrow reader applies both
        return read_in_workers(spark, profile)
    parts = list(snap.partition_columns)
    by_name = {f.name: f for f in snap.schema}
    data = struct_of([(f.name, spark_type_of_arrow(f.type)) for f in snap.schema if f.name not in parts])
    full = struct_of([(f.name, spark_type_of_arrow(f.type)) for f in snap.schema])
    if not snap.adds:
        return _select(spark.createDataFrame([], full), profile)
    groups: dict[tuple, list[str]] = defaultdict(list)
    for add in snap.adds:
        key = tuple(add.partition_values.get(p) for p in parts)
        groups[key].append(lakefs.spark_path(lakefs.join(profile.location, add.path)))
    frames = []
    for key, paths in groups.items():
        df = spark.read.schema(data).parquet(*paths)
        for name, raw in zip(parts, key, strict=True):
            dtype = spark_type_of_arrow(by_name[name].type)
            df = df.withColumn(name, F.lit(raw).cast("string").cast(dtype))
        frames.append(df.selectExpr(*[quoted(f.name) for f in full.fields]))
    return _select(functools.reduce(lambda a, b: a.unionByName(b), frames), profile)


FILES_PER_TASK = 8  # files one task of read_in_workers reads


def read_in_workers(spark, profile: TableProfile):
    """The table's files read by pyarrow in Spark's Python workers, as a DataFrame of its columns."""
    from r2d2.engine.items import items_frame
    from r2d2.lake.arrow_read import ReadColumn, file_reads, read_file

    items = file_reads(profile)
    columns = [ReadColumn(c.name, c.physical_type) for c in profile.columns]
    schema = struct_of([(c.name, spark_type_of(c.physical_type)) for c in profile.columns])

    def batches(item):
        for table in read_file(item, columns):
            yield from table.to_batches()

    if not items:
        return spark.createDataFrame([], schema)
    return items_frame(spark, items, batches, schema, weights=[1] * len(items),
                       weight_per_task=FILES_PER_TASK)


def read_table(spark, profile: TableProfile):
    """A Spark DataFrame with exactly ``profile``'s columns (names as in the profile)."""
    from r2d2.engine import delta_source_available

    if profile.format == "parquet":
        return _read_parquet(spark, profile)
    if profile.format == "csv":
        return read_in_workers(spark, profile)
    if profile.format == "delta":
        if delta_source_available(spark):
            df = spark.read.format("delta")
            if profile.delta_version is not None:
                df = df.option("versionAsOf", profile.delta_version)
            return _select(df.load(lakefs.spark_path(profile.location)), profile)
        return _read_delta_files(spark, profile)
    raise TableReadError(f"{profile.location}: unknown format {profile.format}", location=profile.location)


_PLAIN_PATH = re.compile(r"^[A-Za-z0-9/._=+-]+$")


def groupable(profile: TableProfile) -> bool:
    """Whether the table can share one scan with others (plain local Parquet, no partitions)."""
    return (profile.format == "parquet" and not profile.partition_columns and bool(profile.files)
            and not lakefs.is_uri(profile.location)
            and all(_PLAIN_PATH.match(p) for p in _paths(profile)))


def group_key(profile: TableProfile) -> tuple[tuple[str, str], ...]:
    """Tables with equal keys have the same Spark schema and can be read in one scan."""
    return tuple((c.name, c.physical_type) for c in profile.columns)


def read_tagged(spark, members: Sequence[tuple[TableProfile, Mapping[str, int]]]):
    """One scan over the files of several same-schema Parquet tables, each row tagged.

    ``members`` pairs each table with integer tags (e.g. ``{"tid": 5}``) added as columns. Spark names
    every row's file, which maps it to its table; a row whose file matches no table fails the job
    (never dropped silently), so the caller can fall back to reading tables one by one.
    """
    from pyspark.sql import functions as F

    first = members[0][0]
    first_file = _spark_paths(first)[0]
    schema = _selected(parquet_schema(spark, first_file), first) or _select(
        spark.read.schema(parquet_schema(spark, first_file)).parquet(first_file), first).schema
    tag_names = sorted(members[0][1])
    rows, files = [], []
    for profile, tags in members:
        for path in _spark_paths(profile):  # as _metadata.file_path names it: file:/...
            files.append(path)
            rows.append((path, *(int(tags[t]) for t in tag_names)))
    mapping = local_frame(spark, rows, [("__file", pa.string()), *((t, pa.int64()) for t in tag_names)])
    df = spark.read.schema(schema).parquet(*files).selectExpr("*", "_metadata.file_path AS `__file`")
    joined = df.join(F.broadcast(mapping), "__file", "left")
    checked = [f"CASE WHEN `{t}` IS NULL THEN raise_error(concat('file matched no table: ', `__file`)) "
               f"ELSE `{t}` END AS `{t}`" for t in tag_names]
    return joined.selectExpr(*[quoted(c.name) for c in first.columns], *checked)
