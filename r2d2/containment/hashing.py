"""Canonical hashes of one table as Spark SQL expressions: row hashes and per-column value hashes.

Only this module turns a table into hashes, so every stage hashes the same way. Column order in a
row hash is the sorted child column keys, mapped to the table's own column names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from r2d2.containment import canonical
from r2d2.types import Column, TableProfile

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def _parts(df: DataFrame, columns: Sequence[Column]) -> list[tuple[str, list[str]]]:
    types = {f.name: f.dataType for f in df.schema.fields}
    return [(c.name, canonical.components(c.name, c, types[c.name])) for c in columns]


def ordered_columns(profile: TableProfile, names: Sequence[str] | None = None) -> list[Column]:
    """The profile's columns named ``names`` (default: all supported), sorted by key."""
    if names is None:
        cols = list(profile.supported_columns)
    else:
        by_name = {c.name: c for c in profile.columns}
        cols = [by_name[n] for n in names]
    return sorted(cols, key=lambda c: c.key)


def row_hashes(df: DataFrame, columns: Sequence[Column]) -> tuple[str, str]:
    """SQL of (h1, h2), the 128-bit row hash over ``columns`` (already ordered)."""
    return canonical.row_hash(_parts(df, columns))


def value_hashes(df: DataFrame, columns: Sequence[Column]) -> list[str]:
    """SQL of one 32-bit value hash per column; null where the value is null."""
    return [canonical.value_hash32(name, comps) for name, comps in _parts(df, columns)]
