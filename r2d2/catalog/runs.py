"""Runs of pipeline commands: progress, outcome and per-table errors."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, insert, select, update

from r2d2.catalog._base import RepositoryBase, utcnow
from r2d2.catalog.models import RunRow
from r2d2.catalog.records import RunRecord
from r2d2.errors import NotFoundError

_FINAL = ("succeeded", "failed")


def _record(row: Any) -> RunRecord:
    m = row._mapping
    return RunRecord(
        id=m["id"], kind=m["kind"], status=m["status"], started_at=m["started_at"],
        finished_at=m["finished_at"], params=dict(m["params"] or {}), progress=dict(m["progress"] or {}),
        summary=dict(m["summary"] or {}), errors=list(m["errors"] or []), pid=m["pid"], host=m["host"],
    )


class RunsRepository(RepositoryBase):
    """Pipeline runs."""

    def start_run(self, kind: str, *, params: Mapping[str, Any] | None = None) -> int:
        """Record a new ``running`` run of ``kind`` by this process; returns its id."""
        with self._write() as conn:
            return int(conn.execute(
                insert(RunRow).values(
                    kind=kind, status="running", started_at=utcnow(), params=dict(params or {}),
                    progress={}, summary={}, errors=[], pid=os.getpid(), host=socket.gethostname(),
                ).returning(RunRow.id)
            ).scalar_one())

    def _update(self, run_id: int, **values: Any) -> None:
        with self._write() as conn:
            if conn.execute(update(RunRow).where(RunRow.id == run_id).values(**values)).rowcount == 0:
                raise NotFoundError(f"run {run_id} is not in the catalog")

    def update_run_progress(self, run_id: int, progress: Mapping[str, Any]) -> None:
        """Replace the run's progress document."""
        self._update(run_id, progress=dict(progress))

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        summary: Mapping[str, Any] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Close the run as ``succeeded`` or ``failed``; ``errors`` is a list of ``{location, error}``."""
        if status not in _FINAL:
            raise ValueError(f"final run status must be one of {_FINAL}, got {status!r}")
        self._update(run_id, status=status, finished_at=utcnow(), summary=dict(summary or {}),
                     errors=[dict(e) for e in errors or ()])

    def get_run(self, run_id: int) -> RunRecord:
        with self._read() as conn:
            row = conn.execute(select(RunRow.__table__).where(RunRow.id == run_id)).first()
        if row is None:
            raise NotFoundError(f"run {run_id} is not in the catalog")
        return _record(row)

    def list_runs(self, kind: str | None = None, *, status: str | None = None,
                  limit: int | None = 50, offset: int = 0) -> list[RunRecord]:
        """Runs, newest first."""
        stmt = select(RunRow.__table__)
        if kind is not None:
            stmt = stmt.where(RunRow.kind == kind)
        if status is not None:
            stmt = stmt.where(RunRow.status == status)
        stmt = stmt.order_by(RunRow.started_at.desc(), RunRow.id.desc()).offset(offset).limit(limit)
        with self._read() as conn:
            return [_record(r) for r in conn.execute(stmt)]

    def fail_stale_runs(self, reason: str) -> int:
        """Mark every ``running`` run failed (call at server start: no run survives its process)."""
        now = utcnow()
        with self._write() as conn:
            rows = conn.execute(
                select(RunRow.id, RunRow.errors).where(RunRow.status == "running")
            ).all()
            for run_id, errors in rows:
                conn.execute(
                    update(RunRow).where(RunRow.id == run_id, RunRow.status == "running").values(
                        status="failed", finished_at=now,
                        errors=[*(errors or []), {"location": None, "error": reason}],
                    )
                )
        return len(rows)

    def count_runs(self, kind: str | None = None, *, status: str | None = None) -> int:
        """How many runs :meth:`list_runs` would list without a limit."""
        stmt = select(func.count()).select_from(RunRow)
        if kind is not None:
            stmt = stmt.where(RunRow.kind == kind)
        if status is not None:
            stmt = stmt.where(RunRow.status == status)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def runs_by_status(self) -> dict[str, int]:
        """Run counts by status."""
        with self._read() as conn:
            return {str(k): int(n) for k, n in
                    conn.execute(select(RunRow.status, func.count()).group_by(RunRow.status))}
