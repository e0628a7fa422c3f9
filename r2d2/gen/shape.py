"""Measure the shape of a generated lake: sizes, formats, files per table, edges.

Files are counted as discovery sees them (:func:`r2d2.lake.discover.discover`): a Delta table's
files are its current snapshot's, so an overwritten version's files on disk are not counted; a
table's size is every byte under its folder (log and overwritten files included).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import numpy as np

from r2d2.gen.lake import GeneratedLake
from r2d2.lake.discover import discover

__all__ = ["lake_shape"]


def _folder_bytes(folder: str) -> int:
    total = 0
    for base, _, files in os.walk(folder):
        total += sum(os.path.getsize(os.path.join(base, f)) for f in files)
    return total


def lake_shape(lake: GeneratedLake) -> dict[str, Any]:
    """Figures that describe ``lake`` (JSON-ready)."""
    found = discover([str(lake.root)])
    files = {t.location: len(t.files) for t in found.tables}
    hive = sum(1 for t in found.tables if t.partition_columns and t.format == "parquet")
    sizes = np.array(sorted(_folder_bytes(loc) for loc in lake.tables), dtype=np.int64)
    in_edge = {loc for e in lake.truth.edges for loc in (e.parent, e.child)}
    relations = Counter(e.relation for e in lake.truth.edges)
    n = len(lake.tables)
    return {
        "tables": n,
        "tables_discovered": len(found.tables),
        "discovery_errors": len(found.errors),
        "bytes": int(sizes.sum()),
        "median_bytes": int(np.median(sizes)),
        "p90_bytes": int(np.quantile(sizes, 0.9)),
        "p99_bytes": int(np.quantile(sizes, 0.99)),
        "max_bytes": int(sizes.max()),
        "tables_over_10mb": int((sizes > 10_000_000).sum()),
        "formats": dict(Counter(lake.tables.values())),
        "hive_tables": hive,
        "data_files": sum(files.values()),
        "files_per_table": round(sum(files.values()) / max(n, 1), 3),
        "single_file_tables": sum(1 for v in files.values() if v == 1),
        "edges": len(lake.truth),
        "edges_by_relation": dict(relations),
        "tables_in_an_edge": len(in_edge),
        "share_in_an_edge": round(len(in_edge) / max(n, 1), 3),
        "planted": len(lake.planted),
        "near_misses": len(lake.near_misses),
        "seconds": round(lake.seconds, 2),
    }
