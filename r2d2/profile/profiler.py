"""Profile discovered tables: Parquet and Delta from metadata in a thread pool, CSV in batched Spark jobs.

Spark is started (through ``spark_factory``) only when there is a CSV table. Every table gets one
:class:`ProfileOutcome`: a profile, or the error that kept it from being profiled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from r2d2.errors import R2D2Error
from r2d2.lake.discover import DiscoveredTable
from r2d2.profile.csv import profile_csv_batch
from r2d2.profile.delta import profile_delta
from r2d2.profile.parquet import profile_parquet
from r2d2.types import TableProfile

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CSV_BATCH = 64


@dataclass(frozen=True)
class ProfileOutcome:
    location: str
    profile: TableProfile | None = None
    error: str | None = None


def _metadata_profile(table: DiscoveredTable) -> ProfileOutcome:
    try:
        prof = profile_delta(table) if table.format == "delta" else profile_parquet(table, max_workers=4)
    except R2D2Error as exc:
        return ProfileOutcome(table.location, error=str(exc))
    except Exception as exc:  # a bug or an unexpected library error: attach it to the table
        return ProfileOutcome(table.location, error=f"{table.location}: {type(exc).__name__}: {exc}")
    return ProfileOutcome(table.location, profile=prof)


def profile_tables(
    tables: Sequence[DiscoveredTable],
    *,
    spark_factory: Callable[[], SparkSession],
    max_workers: int = 8,
    csv_batch: int = CSV_BATCH,
) -> list[ProfileOutcome]:
    """One outcome per table, in the order of ``tables``."""
    outcomes: dict[int, ProfileOutcome] = {}
    meta = [(i, t) for i, t in enumerate(tables) if t.format != "csv"]
    csv = [(i, t) for i, t in enumerate(tables) if t.format == "csv"]
    if meta:
        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            for (i, _), out in zip(meta, pool.map(lambda it: _metadata_profile(it[1]), meta), strict=True):
                outcomes[i] = out
    if csv:
        spark = spark_factory()
        for start in range(0, len(csv), max(1, csv_batch)):
            chunk = csv[start : start + csv_batch]
            try:
                results = profile_csv_batch(spark, [t for _, t in chunk])
            except Exception as exc:
                results = [exc] * len(chunk)
            for (i, t), res in zip(chunk, results, strict=True):
                if isinstance(res, TableProfile):
                    outcomes[i] = ProfileOutcome(t.location, profile=res)
                else:
                    outcomes[i] = ProfileOutcome(t.location, error=str(res))
    return [outcomes[i] for i in range(len(tables))]
