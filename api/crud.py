"""Read queries the API needs that the catalog does not offer yet (counts, edges by table id).

Same transaction and error handling as the catalog's repositories (it is one of them); these belong
in :mod:`r2d2.catalog.edges` / ``runs`` and can move there unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, select, text

from r2d2.catalog._base import RepositoryBase
from r2d2.catalog.db import get_engine
from r2d2.catalog.edges import _edge_select
from r2d2.catalog.edges import _record as _edge_record
from r2d2.catalog.models import EdgeRow, RunRow, TableRow
from r2d2.catalog.records import EdgeRecord

VERIFIED_STATES = ("verified", "inferred")


class ApiQueries(RepositoryBase):
    """Aggregates and filtered pages over the catalog."""

    @classmethod
    def for_url(cls, url: str) -> ApiQueries:
        return cls(get_engine(url), url)

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(text("SELECT 1"))

    @staticmethod
    def _edge_filters(*, state: str | None, verified: bool | None, relation: str | None,
                      stage: str | None, include_stale: bool, parent_id: int | None,
                      child_id: int | None) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if state is not None:
            where.append(EdgeRow.state == state)
        if verified is not None:
            where.append(EdgeRow.state.in_(VERIFIED_STATES) if verified
                         else EdgeRow.state.not_in(VERIFIED_STATES))
        if relation is not None:
            where.append(EdgeRow.relation == relation)
        if stage is not None:
            where.append(EdgeRow.stage == stage)
        if not include_stale:
            where.append(EdgeRow.stale == false())
        if parent_id is not None:
            where.append(EdgeRow.parent_id == parent_id)
        if child_id is not None:
            where.append(EdgeRow.child_id == child_id)
        return where

    def edge_page(self, *, state: str | None = None, verified: bool | None = None,
                  relation: str | None = None, stage: str | None = None, include_stale: bool = False,
                  parent_id: int | None = None, child_id: int | None = None,
                  limit: int = 100, offset: int = 0) -> tuple[list[EdgeRecord], int]:
        """One page of edges by id, and how many match in all."""
        where = self._edge_filters(state=state, verified=verified, relation=relation, stage=stage,
                                   include_stale=include_stale, parent_id=parent_id, child_id=child_id)
        page: Select[Any] = _edge_select().where(*where).order_by(EdgeRow.id).offset(offset).limit(limit)
        count = select(func.count()).select_from(EdgeRow).where(*where)
        with self._read() as conn:
            rows = [_edge_record(r) for r in conn.execute(page)]
            total = int(conn.execute(count).scalar_one())
        return rows, total

    def count_runs(self, *, kind: str | None = None, status: str | None = None) -> int:
        stmt = select(func.count()).select_from(RunRow)
        if kind is not None:
            stmt = stmt.where(RunRow.kind == kind)
        if status is not None:
            stmt = stmt.where(RunRow.status == status)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def _group_counts(self, column: Any, *, where: Sequence[ColumnElement[bool]] = ()) -> dict[str, int]:
        stmt = select(column, func.count()).where(*where).group_by(column)
        with self._read() as conn:
            return {str(k): int(n) for k, n in conn.execute(stmt)}

    def tables_by_status(self) -> dict[str, int]:
        return self._group_counts(TableRow.status)

    def edges_by_state(self) -> dict[str, int]:
        """Non-stale edges by state."""
        return self._group_counts(EdgeRow.state, where=[EdgeRow.stale == false()])

    def runs_by_status(self) -> dict[str, int]:
        return self._group_counts(RunRow.status)
