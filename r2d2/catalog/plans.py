"""Stored optimizer plans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from r2d2.catalog._base import RepositoryBase, utcnow
from r2d2.catalog.models import PlanRow
from r2d2.errors import NotFoundError


@dataclass(frozen=True)
class PlanRecord:
    """A stored plan. ``plan`` is the JSON of :class:`r2d2.optimize.Plan` (parsed into a dict);
    ``fingerprints`` maps table id (as a string) to the fingerprint the plan was made on."""

    id: int
    created_at: datetime
    solver: str
    status: str
    objective: float
    bound: float
    gap: float
    solve_seconds: float
    savings_bytes: int
    savings_per_month: float
    deleted_tables: int
    plan: dict[str, Any]
    fingerprints: dict[str, str]
    params: dict[str, Any]

    @property
    def decisions(self) -> list[dict[str, Any]]:
        """Per table: action (keep | delete), location, parent_location, est_latency_s, ..."""
        return list(self.plan.get("decisions", []))


def _record(row: Any) -> PlanRecord:
    m = dict(row._mapping)
    for key in ("plan", "fingerprints", "params"):
        m[key] = dict(m[key] or {})
    return PlanRecord(**m)


class PlansRepository(RepositoryBase):
    def add_plan(self, *, summary: Mapping[str, Any], plan: Mapping[str, Any],
                 fingerprints: Mapping[str, str], params: Mapping[str, Any]) -> int:
        """Store a plan; ``summary`` has solver, status, objective, bound, gap, solve_seconds,
        savings_bytes, savings_per_month and deleted_tables."""
        keys = ("solver", "status", "objective", "bound", "gap", "solve_seconds", "savings_bytes",
                "savings_per_month", "deleted_tables")
        with self._write() as conn:
            return int(conn.execute(insert(PlanRow).values(
                created_at=utcnow(), plan=dict(plan), fingerprints=dict(fingerprints), params=dict(params),
                **{k: summary[k] for k in keys}).returning(PlanRow.id)).scalar_one())

    def get_plan(self, plan_id: int) -> PlanRecord:
        with self._read() as conn:
            row = conn.execute(select(PlanRow.__table__).where(PlanRow.id == plan_id)).first()
        if row is None:
            raise NotFoundError(f"plan {plan_id} is not in the catalog")
        return _record(row)

    def list_plans(self, *, limit: int | None = 20, offset: int = 0) -> list[PlanRecord]:
        """Stored plans, newest first."""
        with self._read() as conn:
            rows = conn.execute(select(PlanRow.__table__).order_by(PlanRow.id.desc()).offset(offset)
                                .limit(limit)).all()
        return [_record(r) for r in rows]

    def newest_plan_savings(self) -> int | None:
        """Bytes the newest stored plan frees (its ``savings_bytes``); None without a plan."""
        with self._read() as conn:
            return conn.execute(select(PlanRow.savings_bytes).order_by(PlanRow.id.desc()).limit(1)).scalar()

    def count_plans(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(PlanRow)).scalar_one())
