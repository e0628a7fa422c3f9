"""Recipes: how to rebuild a deleted table from a kept parent (see :mod:`r2d2.reconstruct.recipe`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from r2d2.catalog._base import RepositoryBase, utcnow
from r2d2.catalog.models import RecipeRow
from r2d2.errors import NotFoundError


@dataclass(frozen=True)
class RecipeRecord:
    id: int
    table_id: int
    location: str
    parent_id: int
    parent_location: str
    plan_id: int | None
    child_fingerprint: str
    parent_fingerprint: str
    selection: str
    checksum: str
    path: str | None
    recipe_bytes: int
    recipe: dict[str, Any]
    created_at: datetime
    checked_at: datetime | None


def _record(row: Any) -> RecipeRecord:
    m = dict(row._mapping)
    m["recipe"] = dict(m["recipe"] or {})
    return RecipeRecord(**m)


class RecipesRepository(RepositoryBase):
    def add_recipe(self, *, table_id: int, parent_id: int, plan_id: int | None, recipe: Mapping[str, Any],
                   path: str | None, recipe_bytes: int, checked: bool) -> int:
        now = utcnow()
        with self._write() as conn:
            return int(conn.execute(insert(RecipeRow).values(
                table_id=table_id, location=recipe["child"]["location"], parent_id=parent_id,
                parent_location=recipe["parent"]["location"], plan_id=plan_id,
                child_fingerprint=recipe["child"]["fingerprint"],
                parent_fingerprint=recipe["parent"]["fingerprint"],
                selection=recipe["selection"]["kind"], checksum=recipe["child"]["checksum"]["text"],
                path=path, recipe_bytes=recipe_bytes, recipe=dict(recipe), created_at=now,
                checked_at=now if checked else None).returning(RecipeRow.id)).scalar_one())

    def mark_recipe_checked(self, recipe_id: int) -> None:
        with self._write() as conn:
            conn.execute(update(RecipeRow).where(RecipeRow.id == recipe_id).values(checked_at=utcnow()))

    def get_recipe(self, recipe_id: int) -> RecipeRecord:
        with self._read() as conn:
            row = conn.execute(select(RecipeRow.__table__).where(RecipeRow.id == recipe_id)).first()
        if row is None:
            raise NotFoundError(f"recipe {recipe_id} is not in the catalog")
        return _record(row)

    def find_checked_recipe(self, table_id: int, parent_id: int, child_fingerprint: str,
                            parent_fingerprint: str) -> RecipeRecord | None:
        """The newest checked recipe for this pair made on exactly these fingerprints, if any."""
        with self._read() as conn:
            row = conn.execute(
                select(RecipeRow.__table__).where(
                    RecipeRow.table_id == table_id, RecipeRow.parent_id == parent_id,
                    RecipeRow.child_fingerprint == child_fingerprint,
                    RecipeRow.parent_fingerprint == parent_fingerprint,
                    RecipeRow.checked_at.is_not(None),
                ).order_by(RecipeRow.id.desc()).limit(1)
            ).first()
        return _record(row) if row else None

    def list_recipes(self) -> list[RecipeRecord]:
        with self._read() as conn:
            return [_record(r) for r in conn.execute(select(RecipeRow.__table__).order_by(RecipeRow.id)).all()]
