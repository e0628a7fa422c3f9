"""Execute a recipe: rebuild the child from its pinned parent, write it, and verify it.

Output layout: the rebuilt table is written *unpartitioned* — one Parquet file (or one Delta table
without partition columns) holding every column of the child, in the child's order, with the child's
names and physical Arrow types (data is cast back with pyarrow, batch by batch). Partition columns of
a hive-partitioned or partitioned-Delta child become ordinary columns of the same type; restoring the
original layout is what restore-from-quarantine does (the original files move back). A CSV child is
rebuilt as Parquet (the CSV rule's types cannot be written back to CSV without re-inference).

Verification reads the written table back and compares its column names and types with the recipe's
child schema and its checksum (row count, XOR and sums of canonical row hashes) with the child's.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from r2d2.errors import ReconstructError
from r2d2.lake import fs as lakefs
from r2d2.lake.read import read_table
from r2d2.lake.sparkschema import qcol
from r2d2.reconstruct import checksum as cks
from r2d2.reconstruct.arrowtypes import arrow_schema, cast_table
from r2d2.reconstruct.recipe import ROWS_FILE, child_columns, parent_profile, predicate_expr

if TYPE_CHECKING:
    import pyarrow.dataset as pads
    from pyspark.sql import DataFrame, SparkSession

OutputFormat = Literal["parquet", "delta"]
DATA_FILE = "part-00000.parquet"


def rebuilt_frame(spark: SparkSession, recipe: dict[str, Any]) -> DataFrame:
    """The child's rows (child names and order) computed from the pinned parent."""
    from pyspark.sql import functions as F
    parent = parent_profile(recipe)
    df = read_table(spark, parent)
    sel = recipe["selection"]
    if sel["kind"] == "predicate":
        df = df.where(predicate_expr(sel))
    if sel["kind"] == "hashes" or sel.get("distinct"):
        by_key = {c.key: c for c in parent.columns}
        pcols = [by_key[m["parent"].lower()] for m in recipe["projection"]]
        df = cks.with_row_hash(df, pcols).dropDuplicates(["__a", "__b"])
        if sel["kind"] == "hashes":
            rows = spark.read.parquet(lakefs.spark_path(lakefs.join(str(recipe["store"]), ROWS_FILE))).select(
                F.col("a").alias("__ra"), F.col("b").alias("__rb"), F.col("cnt").alias("__cnt"))
            df = df.join(rows, (F.col("__a") == F.col("__ra")) & (F.col("__b") == F.col("__rb")))
            df = df.withColumn("__rep", F.explode(F.array_repeat(F.lit(0), F.col("__cnt").cast("int"))))
    return df.select(*[qcol(m["parent"]).alias(m["child"]) for m in recipe["projection"]])


def _source_units(recipe: dict[str, Any]) -> dict[str, str | None]:
    parent = parent_profile(recipe)
    return {m["child"]: parent.column(m["parent"].lower()).unit for m in recipe["projection"]}


def _cast_batches(dataset: pads.Dataset, schema: pa.Schema, units: dict[str, str | None]) -> Iterator[pa.RecordBatch]:
    for batch in dataset.to_batches(columns=schema.names):
        table = cast_table(pa.Table.from_batches([batch]), schema, units)
        yield from table.to_batches()


def write_rebuilt(spark: SparkSession, recipe: dict[str, Any], target: str | Path, fmt: OutputFormat = "parquet",
                  *, as_file: bool = False) -> None:
    """Rebuild into ``target`` (a local path or a URI, which must not exist): a folder with one Parquet
    file, a Delta table, or (``as_file``) a single Parquet file at ``target``."""
    target = lakefs.normalize_location(str(target))
    if lakefs.exists(target):
        raise ReconstructError(f"{target} already exists; refusing to overwrite it")
    lakefs.makedirs(lakefs.parent(target))
    name = target.rstrip("/").rsplit("/", 1)[-1]
    spill = lakefs.join(lakefs.parent(target), f".{name}.r2d2-spill-{uuid.uuid4().hex[:8]}")
    try:
        rebuilt_frame(spark, recipe).write.parquet(lakefs.spark_path(spill))
        schema = arrow_schema(child_columns(recipe))
        dataset = lakefs.dataset(spill)
        batches = _cast_batches(dataset, schema, _source_units(recipe))
        if fmt == "delta":
            from deltalake import write_deltalake

            write_deltalake(lakefs.delta_uri(target), pa.RecordBatchReader.from_batches(schema, batches),
                            mode="error", storage_options=lakefs.delta_options(target))
            return
        path = target if as_file else lakefs.join(target, DATA_FILE)
        lakefs.makedirs(lakefs.parent(path))
        fs, where = lakefs.resolve(path)
        with pq.ParquetWriter(where, schema, filesystem=fs) as writer:
            for batch in batches:
                writer.write_batch(batch)
    finally:
        with contextlib.suppress(OSError):
            lakefs.remove(spill)


def verify_rebuilt(spark: SparkSession, recipe: dict[str, Any], target: str | Path,
                   fmt: OutputFormat = "parquet") -> list[str]:
    """Problems of the table written at ``target`` against the recipe's child (empty = identical)."""
    columns = child_columns(recipe)
    names = [c.name for c in columns]
    if fmt == "delta":
        from r2d2.lake.delta import snapshot

        snap = snapshot(lakefs.normalize_location(str(target)))
        schema = snap.schema
        paths = [lakefs.join(str(target), a.path) for a in snap.adds]
    else:
        where = str(target)
        files = [where] if lakefs.is_file(where) else [lakefs.join(where, rel) for rel, _ in lakefs.files_under(where)
                                                       if rel.endswith(".parquet") and "/" not in rel]
        fs, first = lakefs.resolve(files[0])
        schema = pq.read_schema(first, filesystem=fs)
        paths = files
    problems = []
    got = [(f.name, str(f.type)) for f in schema]
    want = [(c.name, c.physical_type) for c in columns]
    if fmt == "delta" and recipe["child"]["format"] != "delta":
        # Delta stores a smaller set of types than Parquet: compare names, the checksum decides the rest
        got, want = [g[0] for g in got], [w[0] for w in want]  # type: ignore[misc]
    if got != want:
        problems.append(f"schema {got} differs from the original {want}")
    expected = cks.Checksum.from_json(recipe["child"]["checksum"])
    if paths:
        df = spark.read.parquet(*[lakefs.spark_path(p) for p in paths]).select(*[qcol(n) for n in names])
        actual = cks.table_checksum(df, columns)
    else:
        actual = cks.Checksum(0, 0, 0, 0, 0)
    if actual != expected:
        problems.append(f"content checksum {actual.text} differs from the original {expected.text}")
    return problems


def rebuild_and_verify(spark: SparkSession, recipe: dict[str, Any], target: str | Path,
                       fmt: OutputFormat = "parquet", *, as_file: bool = False) -> None:
    """Write and verify; on a mismatch the written output is removed and ReconstructError raised."""
    write_rebuilt(spark, recipe, target, fmt, as_file=as_file)
    problems = verify_rebuilt(spark, recipe, target, fmt)
    if problems:
        with contextlib.suppress(OSError):
            lakefs.remove(str(target))
        raise ReconstructError(f"rebuild of {recipe['child']['location']} does not match: " + "; ".join(problems))
