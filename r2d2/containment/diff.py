"""`diff`: which rows of a child are missing from a parent, counted exactly and shown by example.

The counts come from the two row-hash sets stage 3 keeps (the child's full rows, the parent projected
on the child's columns; computed now when the cache lacks them): ``distinct`` child rows, ``missing``
of them absent from the parent, so the overlap ``fraction = (distinct - missing) / distinct``. The
example rows are found by reading the child file by file, hashing each batch the way stage 3 does and
keeping the rows whose hash is missing, until ``limit`` of them are found: at most the whole child is
read, and usually much less.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from r2d2.catalog import Catalog
from r2d2.config import Settings
from r2d2.containment import arrow_hash as ah
from r2d2.containment.exact_local import read_set
from r2d2.containment.pipeline import sketch_candidates
from r2d2.containment.report import StageReport
from r2d2.containment.schema_graph import schema_candidates
from r2d2.containment.sketches import ROW
from r2d2.containment.verify_job import stored_set
from r2d2.errors import DetectionError, NotFoundError
from r2d2.lake.arrow_read import ReadColumn, file_reads, read_file
from r2d2.lake.fs import normalize_location
from r2d2.types import TableProfile


@dataclass
class DiffResult:
    parent: str
    child: str
    distinct_rows: int = 0  # distinct rows of the child
    missing: int = 0  # of them, rows the parent lacks (projected on the child's columns)
    rows: list[dict[str, Any]] = field(default_factory=list)  # examples of missing rows, as JSON values
    columns: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Share of the child's distinct rows that are in the parent (1.0: contained)."""
        return 1.0 if not self.distinct_rows else (self.distinct_rows - self.missing) / self.distinct_rows

    def to_json(self) -> dict[str, Any]:
        return {"parent": self.parent, "child": self.child, "distinct_rows": self.distinct_rows,
                "missing": self.missing, "fraction": self.fraction, "columns": self.columns, "rows": self.rows}


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _profile(catalog: Catalog, location: str) -> tuple[int, TableProfile]:
    record = catalog.get_table(normalize_location(location))
    if record.status != "active" or record.profile is None:
        raise NotFoundError(f"table {record.location!r} is {record.status}: scan it first")
    return record.id, record.profile


def diff(catalog: Catalog, settings: Settings, parent: str, child: str, *, limit: int = 20,
         spark_factory: Callable[[], Any]) -> DiffResult:
    """Counts and up to ``limit`` example rows of ``child`` missing from ``parent`` (both catalogued)."""
    pid, pprof = _profile(catalog, parent)
    cid, cprof = _profile(catalog, child)
    profiles = {pid: pprof, cid: cprof}
    cand = next((c for c in schema_candidates(profiles).candidates if (c.pair.parent, c.pair.child) == (pid, cid)),
                None)
    if cand is None:
        raise DetectionError(f"{cprof.location}: not every column of it is in {pprof.location} "
                             "(by name and type family): its rows cannot be compared")
    sketches, failed = sketch_candidates(catalog, settings, spark_factory, [cand], profiles, StageReport("minhash"))
    if failed:
        raise DetectionError(next(iter(failed.values())))
    names = tuple(n for _, n in cand.column_map)
    found = stored_set(pprof, names, sketches.get(pid))
    child_sk = sketches[cid]
    if found is None or child_sk.rowset_path is None:
        raise DetectionError(f"no hash sets for {pprof.location} and {cprof.location}")
    ca, cb, _ = read_set(child_sk.rowset_path, cid, ROW)
    pa_, pb, _ = read_set(found[0], pid, found[1])
    parent_rows = {(int(a), int(b)) for a, b in zip(pa_.tolist(), pb.tolist(), strict=True)}
    missing = {(int(a), int(b)) for a, b in zip(ca.tolist(), cb.tolist(), strict=True)} - parent_rows
    out = DiffResult(pprof.location, cprof.location, len(ca), len(missing))
    if not missing or limit <= 0:
        return out
    ordered = sorted(cprof.supported_columns, key=lambda c: c.key)  # the row hash's order
    out.columns = [c.name for c in cprof.columns if c.family.value != "unsupported"]
    reads = [ReadColumn(c.name, c.physical_type) for c in ordered]
    shown: set[tuple[int, int]] = set()
    for item in file_reads(cprof):
        for batch in read_file(item, reads):
            canons = [ah.canon(ah.ColumnSpec(c.family.value, c.unit), batch.column(c.name)) for c in ordered]
            a, b = ah.row_hashes(canons, batch.num_rows)
            hits = []
            for i, key in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
                if key in missing and key not in shown:  # each missing row once, however often it repeats
                    shown.add(key)
                    hits.append(i)
            if hits:
                rows = batch.take(np.asarray(hits[: limit - len(out.rows)])).to_pylist()
                out.rows += [{k: _json_value(row[k]) for k in out.columns} for row in rows]
            if len(out.rows) >= limit:
                return out
    return out
