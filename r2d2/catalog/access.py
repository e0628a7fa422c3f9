"""Cost inputs of the optimizer: access frequencies, per-table latency limits, throughput calibrations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from r2d2.catalog._base import RepositoryBase, chunks, utcnow
from r2d2.catalog.models import CalibrationRow, TableRow
from r2d2.errors import NotFoundError


@dataclass(frozen=True)
class CalibrationRecord:
    """A fitted rebuild-throughput model (``seconds = overhead_s + bytes / bytes_per_s``)."""

    id: int
    created_at: datetime
    engine: str
    bytes_per_s: float
    overhead_s: float
    samples: list[Any]


class AccessRepository(RepositoryBase):
    """Access statistics (``tables.access_per_day``), latency limits and throughput calibrations."""

    def set_access_per_day(self, rates: Mapping[str, float]) -> tuple[list[str], list[str]]:
        """Store accesses per day by location; returns (updated locations, unknown locations)."""
        locs = sorted(rates)
        with self._write() as conn:
            known: set[str] = set()
            for part in chunks(locs):
                known |= set(conn.execute(select(TableRow.location).where(TableRow.location.in_(part))).scalars())
            for loc in sorted(known):
                conn.execute(update(TableRow).where(TableRow.location == loc)
                             .values(access_per_day=float(rates[loc])))
        return sorted(known), [loc for loc in locs if loc not in known]

    def set_latency_limit(self, location: str, seconds: float | None) -> None:
        """Set (or clear, with None) the latency limit of the table at ``location``."""
        with self._write() as conn:
            n = conn.execute(update(TableRow).where(TableRow.location == location)
                             .values(latency_limit_s=seconds)).rowcount
        if not n:
            raise NotFoundError(f"table {location!r} is not in the catalog")

    def add_calibration(self, *, engine: str, bytes_per_s: float, overhead_s: float,
                        samples: Sequence[Any]) -> int:
        with self._write() as conn:
            return int(conn.execute(insert(CalibrationRow).values(
                created_at=utcnow(), engine=engine, bytes_per_s=bytes_per_s, overhead_s=overhead_s,
                samples=list(samples)).returning(CalibrationRow.id)).scalar_one())

    def latest_calibration(self) -> CalibrationRecord | None:
        with self._read() as conn:
            row = conn.execute(select(CalibrationRow.__table__).order_by(CalibrationRow.id.desc()).limit(1)).first()
        if row is None:
            return None
        m = dict(row._mapping)
        m["samples"] = list(m["samples"] or [])
        return CalibrationRecord(**m)
