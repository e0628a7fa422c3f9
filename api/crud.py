"""Read queries the API needs that the catalog does not offer yet (counts, edges by table id).

Same transaction and error handling as the catalog's repositories (it is one of them); these belong
in :mod:`r2d2.catalog.edges` / ``runs`` and can move there unchanged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Select, false, func, select, text

from r2d2.catalog._base import RepositoryBase
from r2d2.catalog.db import get_engine
from r2d2.catalog.edges import _edge_select
from r2d2.catalog.edges import _record as _edge_record
from r2d2.catalog.models import EdgeRow, RunRow, TableRow
from r2d2.catalog.records import EdgeRecord

VERIFIED_STATES = ("verified", "inferred")


COUNT_TTL_S = 2.0


class ApiQueries(RepositoryBase):
    """Aggregates and filtered pages over the catalog.

    Page totals are cached for :data:`COUNT_TTL_S` per filter combination: counting 100,000 edges
    costs a full scan, and a total a second or two old is good enough for pagination.
    """

    def __init__(self, engine: Engine, url: str) -> None:
        super().__init__(engine, url)
        self._counts: dict[tuple[Any, ...], tuple[float, int]] = {}
        self._counts_lock = threading.Lock()

    def _cached_count(self, key: tuple[Any, ...], stmt: Select[Any], conn: Connection) -> int:
        now = time.monotonic()
        with self._counts_lock:
            hit = self._counts.get(key)
        if hit is not None and now - hit[0] < COUNT_TTL_S:
            return hit[1]
        total = int(conn.execute(stmt).scalar_one())
        with self._counts_lock:
            if len(self._counts) > 1024:
                self._counts.clear()
            self._counts[key] = (now, total)
        return total

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
        """One page of edges by id, and how many match in all.

        The offset is applied to the edges table alone (ids only, along its primary key); only the
        page's rows are then joined with their tables' locations.
        """
        where = self._edge_filters(state=state, verified=verified, relation=relation, stage=stage,
                                   include_stale=include_stale, parent_id=parent_id, child_id=child_id)
        ids = (select(EdgeRow.id).where(*where).order_by(EdgeRow.id).offset(offset).limit(limit)
               .scalar_subquery())
        page: Select[Any] = _edge_select().where(EdgeRow.id.in_(ids)).order_by(EdgeRow.id)
        count = select(func.count()).select_from(EdgeRow).where(*where)
        with self._read() as conn:
            rows = [_edge_record(r) for r in conn.execute(page)]
            key = ("edges", state, verified, relation, stage, include_stale, parent_id, child_id)
            total = self._cached_count(key, count, conn)
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
