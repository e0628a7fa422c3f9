"""Runs of pipeline commands: progress, outcome and per-table errors.

Whoever starts or closes a run through :meth:`RunsRepository.start_run` / :meth:`~RunsRepository.finish_run`,
watchers registered with :func:`watch_runs` in the same thread of control hear of it: a front end (the
API's run worker) learns the id of the run its job records without wrapping the catalog. Runs are
recorded by :mod:`r2d2.runs` (scan, plan, apply...) and by detect's pipeline.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update

from r2d2.catalog._base import RepositoryBase, utcnow
from r2d2.catalog.models import RunRow
from r2d2.catalog.records import RunRecord
from r2d2.errors import NotFoundError

_FINAL = ("succeeded", "failed")

log = logging.getLogger("r2d2.catalog.runs")


@dataclass(frozen=True)
class RunWatcher:
    """Callbacks told of runs started (``on_start(run_id, kind)``) and closed (``on_finish(run_id,
    status)``) in the context that registered them; their errors are logged, never raised."""

    on_start: Callable[[int, str], None] | None = None
    on_finish: Callable[[int, str], None] | None = None


_watchers: ContextVar[tuple[RunWatcher, ...]] = ContextVar("r2d2_run_watchers", default=())


@contextmanager
def watch_runs(watcher: RunWatcher) -> Iterator[None]:
    """Tell ``watcher`` of every run started or closed by this thread of control inside the block."""
    token = _watchers.set((*_watchers.get(), watcher))
    try:
        yield
    finally:
        _watchers.reset(token)


def _notify(event: str, *args: Any) -> None:
    for watcher in _watchers.get():
        callback = getattr(watcher, event)
        if callback is None:
            continue
        try:
            callback(*args)
        except Exception:  # a watcher is advisory: never fail the run because of it
            log.warning("run watcher %s failed", event, exc_info=True)


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
            run_id = int(conn.execute(
                insert(RunRow).values(
                    kind=kind, status="running", started_at=utcnow(), params=dict(params or {}),
                    progress={}, summary={}, errors=[], pid=os.getpid(), host=socket.gethostname(),
                ).returning(RunRow.id)
            ).scalar_one())
        _notify("on_start", run_id, kind)
        return run_id

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
        _notify("on_finish", run_id, status)

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
        """Mark failed every ``running`` run recorded by a process of this host that no longer runs (call
        at a server's start: no run survives its process). Runs of live processes (a CLI scan, another
        API worker) and of other hosts are left alone."""
        from r2d2.catalog.locks import HOST, pid_alive

        now = utcnow()
        with self._write() as conn:
            rows = conn.execute(
                select(RunRow.id, RunRow.errors, RunRow.pid, RunRow.host).where(RunRow.status == "running")
            ).all()
            dead = [(run_id, errors) for run_id, errors, pid, host in rows
                    if host == HOST and (pid is None or not pid_alive(pid))]
            for run_id, errors in dead:
                conn.execute(
                    update(RunRow).where(RunRow.id == run_id, RunRow.status == "running").values(
                        status="failed", finished_at=now,
                        errors=[*(errors or []), {"location": None, "error": reason}],
                    )
                )
        return len(dead)

    def count_runs(self, kind: str | None = None, *, status: str | None = None) -> int:
        """How many runs :meth:`list_runs` would list without a limit."""
        stmt = select(func.count()).select_from(RunRow)
        if kind is not None:
            stmt = stmt.where(RunRow.kind == kind)
        if status is not None:
            stmt = stmt.where(RunRow.status == status)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def last_successes(self) -> dict[str, RunRecord]:
        """The newest succeeded run of each kind that ever succeeded (monitoring: an operation that
        stopped succeeding, or got slower)."""
        newest = select(func.max(RunRow.id)).where(RunRow.status == "succeeded").group_by(RunRow.kind)
        with self._read() as conn:
            rows = conn.execute(select(RunRow.__table__).where(RunRow.id.in_(newest.scalar_subquery()))).all()
        return {row._mapping["kind"]: _record(row) for row in rows}

    def runs_by_status(self) -> dict[str, int]:
        """Run counts by status."""
        with self._read() as conn:
            return {str(k): int(n) for k, n in
                    conn.execute(select(RunRow.status, func.count()).group_by(RunRow.status))}
