"""Which catalogued tables could contain, or be contained in, a table of given columns (lookups).

A lookup compares one table with the catalog without loading every profile: the ``table_columns``
index (``(key, family)`` of every column of every active table) answers in SQL which tables have all
of its columns (possible parents) and which have no column outside them (possible children). The
schema stage then decides exactly on those few profiles; this query only has to miss no table the
stage would keep, which it cannot: a parent holds every ``(key, family)`` of its child.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, cast

from sqlalchemy import and_, case, distinct, func, or_, select

from r2d2.catalog._base import RepositoryBase, chunks
from r2d2.catalog.models import ColumnRow, ProfileRow, TableRow
from r2d2.types import TableProfile

Term = tuple[str, str]  # (column key, family)


class NeighboursRepository(RepositoryBase):
    def schema_neighbours(self, terms: Collection[Term]) -> tuple[set[int], set[int]]:
        """``(possible parents, possible children)`` of a table with columns ``terms``, by id."""
        terms = sorted(set(terms))
        if not terms:
            return set(), set()
        matches = or_(*(and_(ColumnRow.key == k, ColumnRow.family == f) for k, f in terms))
        # Both queries start from the tables holding one of the terms (the (key, family) index) and
        # read only their columns and table rows: a condition on all active tables instead made the
        # database walk every column of the catalog (50 ms at 10,000 tables, bench/results/lookup.md).
        touching = select(ColumnRow.table_id).where(matches).distinct()
        live = (select(ColumnRow.table_id).join(TableRow, TableRow.id == ColumnRow.table_id)
                .join(ProfileRow, ProfileRow.table_id == ColumnRow.table_id)
                .where(ColumnRow.table_id.in_(touching), TableRow.status == "active")
                .group_by(ColumnRow.table_id))
        parents_q = live.where(matches).having(func.count(distinct(ColumnRow.key)) == len(terms))
        children_q = live.having(func.sum(case((matches, 0), else_=1)) == 0)
        with self._read() as conn:
            parents = {int(t) for t in conn.execute(parents_q).scalars()}
            children = {int(t) for t in conn.execute(children_q).scalars()}
        return parents, children

    def profiles_by_id(self, ids: Iterable[int]) -> dict[int, TableProfile]:
        """The current profiles of the active tables among ``ids``."""
        out: dict[int, TableProfile] = {}
        with self._read() as conn:
            for part in chunks(sorted(set(ids))):
                rows = conn.execute(
                    select(ProfileRow.table_id, ProfileRow.profile).join(TableRow, TableRow.id == ProfileRow.table_id)
                    .where(ProfileRow.table_id.in_(list(part)), TableRow.status == "active"))
                for tid, profile in rows:
                    out[int(tid)] = TableProfile.from_json(cast(dict[str, Any], profile))
        return out

    def keyed_children(self, terms: Collection[Term]) -> set[int]:
        """Active tables holding one of ``terms`` whose columns outside them are all integers: the
        possible children, once their generated keys are left out, of a table of columns ``terms``
        (a lookup's except-keys test; :func:`r2d2.containment.keys.generated_keys` decides exactly)."""
        terms = sorted(set(terms))
        if not terms:
            return set()
        matches = or_(*(and_(ColumnRow.key == k, ColumnRow.family == f) for k, f in terms))
        kept = or_(matches, ColumnRow.family == "integer")
        touching = select(ColumnRow.table_id).where(matches).distinct()
        query = (select(ColumnRow.table_id).join(TableRow, TableRow.id == ColumnRow.table_id)
                 .join(ProfileRow, ProfileRow.table_id == ColumnRow.table_id)
                 .where(ColumnRow.table_id.in_(touching), TableRow.status == "active")
                 .group_by(ColumnRow.table_id).having(func.sum(case((kept, 0), else_=1)) == 0))
        with self._read() as conn:
            return {int(t) for t in conn.execute(query).scalars()}
