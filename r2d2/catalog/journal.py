"""Deletions: the catalog side of the quarantine journal (see :mod:`r2d2.reconstruct.journal`).

A row is written *before* each filesystem phase of a deletion (state ``intent``/``moving``/
``restoring``/``purging``) and updated after it (``quarantined``/``restored``/``purged``/``rolled_back``).
The row's table is marked ``gone`` in the same transaction that records ``quarantined``, and ``active``
again in the one that records ``restored``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from r2d2.catalog._base import RepositoryBase, utcnow
from r2d2.catalog.models import DeletionRow, TableRow
from r2d2.errors import NotFoundError
from r2d2.vocabulary import DeletionState

#: States in which the table's data is not in place (the deletion holds it).
LIVE_STATES: tuple[DeletionState, ...] = ("quarantined", "purging", "purged")
#: States of an unfinished filesystem phase (``recover`` reconciles them).
OPEN_STATES: tuple[DeletionState, ...] = ("intent", "moving", "restoring", "purging")


@dataclass(frozen=True)
class DeletionRecord:
    id: int
    table_id: int
    location: str
    recipe_id: int
    plan_id: int | None
    state: DeletionState
    quarantine_path: str
    journal_path: str
    steps: list[Any]
    error: str | None
    created_at: datetime
    updated_at: datetime
    quarantined_at: datetime | None
    purged_at: datetime | None
    restored_at: datetime | None


def _record(row: Any) -> DeletionRecord:
    m = dict(row._mapping)
    m["steps"] = list(m["steps"] or [])
    return DeletionRecord(**m)


class JournalRepository(RepositoryBase):
    def add_deletion(self, *, table_id: int, location: str, recipe_id: int, plan_id: int | None,
                     quarantine_path: str, journal_path: str) -> int:
        now = utcnow()
        with self._write() as conn:
            return int(conn.execute(insert(DeletionRow).values(
                table_id=table_id, location=location, recipe_id=recipe_id, plan_id=plan_id, state="intent",
                quarantine_path=quarantine_path, journal_path=journal_path, steps=[], created_at=now,
                updated_at=now).returning(DeletionRow.id)).scalar_one())

    def set_deletion_paths(self, deletion_id: int, *, quarantine_path: str, journal_path: str) -> None:
        with self._write() as conn:
            conn.execute(update(DeletionRow).where(DeletionRow.id == deletion_id).values(
                quarantine_path=quarantine_path, journal_path=journal_path, updated_at=utcnow()))

    def set_deletion_state(self, deletion_id: int, state: str, *, steps: Sequence[Any] | None = None,
                           error: str | None = None) -> None:
        """Move a deletion to ``state``; ``quarantined``/``restored`` also set the table gone/active."""
        now = utcnow()
        values: dict[str, Any] = {"state": state, "updated_at": now, "error": error}
        if steps is not None:
            values["steps"] = list(steps)
        if state == "quarantined":
            values["quarantined_at"] = now
        elif state == "purged":
            values["purged_at"] = now
        elif state == "restored":
            values["restored_at"] = now
        with self._write() as conn:
            table_id = conn.execute(select(DeletionRow.table_id).where(DeletionRow.id == deletion_id)).scalar()
            if table_id is None:
                raise NotFoundError(f"deletion {deletion_id} is not in the catalog")
            conn.execute(update(DeletionRow).where(DeletionRow.id == deletion_id).values(**values))
            if state == "quarantined":
                conn.execute(update(TableRow).where(TableRow.id == table_id).values(status="gone", gone_at=now))
            elif state == "restored":
                conn.execute(update(TableRow).where(TableRow.id == table_id).values(status="active",
                                                                                   gone_at=None))

    def get_deletion(self, deletion_id: int) -> DeletionRecord:
        with self._read() as conn:
            row = conn.execute(select(DeletionRow.__table__).where(DeletionRow.id == deletion_id)).first()
        if row is None:
            raise NotFoundError(f"deletion {deletion_id} is not in the catalog")
        return _record(row)

    def list_deletions(self, *, states: Sequence[str] | None = None, location: str | None = None,
                       table_id: int | None = None) -> list[DeletionRecord]:
        stmt = select(DeletionRow.__table__).order_by(DeletionRow.id)
        if states is not None:
            stmt = stmt.where(DeletionRow.state.in_(list(states)))
        if location is not None:
            stmt = stmt.where(DeletionRow.location == location)
        if table_id is not None:
            stmt = stmt.where(DeletionRow.table_id == table_id)
        with self._read() as conn:
            return [_record(r) for r in conn.execute(stmt).all()]
