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

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from r2d2.errors import ReconstructError
from r2d2.lake import fs as lakefs
from r2d2.lake.read import read_table
from r2d2.lake.sparkschema import qcol
from r2d2.reconstruct import checksum as cks
from r2d2.reconstruct.arrowtypes import arrow_schema, cast_table
from r2d2.reconstruct.recipe import ROWS_FILE, child_columns, parent_profile, predicate_expr

OutputFormat = Literal["parquet", "delta"]
DATA_FILE = "part-00000.parquet"


def rebuilt_frame(spark: SparkSession, recipe: dict[str, Any]) -> DataFrame:
    """The child's rows (child names and order) computed from the pinned parent."""
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
            rows = spark.read.parquet(str(Path(recipe["store"]) / ROWS_FILE)).select(
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


def write_rebuilt(spark: SparkSession, recipe: dict[str, Any], target: Path, fmt: OutputFormat = "parquet",
                  *, as_file: bool = False) -> None:
    """Rebuild into ``target`` (which must not exist): a folder with one Parquet file, a Delta table,
    or (``as_file``) a single Parquet file at ``target``."""
    if target.exists():
        raise ReconstructError(f"{target} already exists; refusing to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    spill = target.parent / f".{target.name}.r2d2-spill-{uuid.uuid4().hex[:8]}"
    try:
        rebuilt_frame(spark, recipe).write.parquet(str(spill))
        schema = arrow_schema(child_columns(recipe))
        dataset = pads.dataset(str(spill), format="parquet")
        batches = _cast_batches(dataset, schema, _source_units(recipe))
        if fmt == "delta":
            from deltalake import write_deltalake

            write_deltalake(str(target), pa.RecordBatchReader.from_batches(schema, batches), mode="error")
            return
        path = target if as_file else target / DATA_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(str(path), schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def verify_rebuilt(spark: SparkSession, recipe: dict[str, Any], target: Path,
                   fmt: OutputFormat = "parquet") -> list[str]:
    """Problems of the table written at ``target`` against the recipe's child (empty = identical)."""
    columns = child_columns(recipe)
    names = [c.name for c in columns]
    if fmt == "delta":
        from r2d2.lake.delta import snapshot

        snap = snapshot(str(target))
        schema = snap.schema
        paths = [lakefs.join(str(target), a.path) for a in snap.adds]
    else:
        files = [target] if target.is_file() else sorted(target.glob("*.parquet"))
        schema = pq.read_schema(str(files[0]))
        paths = [str(f) for f in files]
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
        df = spark.read.parquet(*paths).select(*[qcol(n) for n in names])
        actual = cks.table_checksum(df, columns)
    else:
        actual = cks.Checksum(0, 0, 0, 0, 0)
    if actual != expected:
        problems.append(f"content checksum {actual.text} differs from the original {expected.text}")
    return problems


def rebuild_and_verify(spark: SparkSession, recipe: dict[str, Any], target: Path,
                       fmt: OutputFormat = "parquet", *, as_file: bool = False) -> None:
    """Write and verify; on a mismatch the written output is removed and ReconstructError raised."""
    write_rebuilt(spark, recipe, target, fmt, as_file=as_file)
    problems = verify_rebuilt(spark, recipe, target, fmt)
    if problems:
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
        raise ReconstructError(f"rebuild of {recipe['child']['location']} does not match: " + "; ".join(problems))
