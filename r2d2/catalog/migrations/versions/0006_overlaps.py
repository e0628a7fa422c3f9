"""Edges of relation ``overlaps``: pairs where most, not all, of a child's rows are in the parent.

The relation's check constraint gains the value; an overlap is stored as a verified edge whose
evidence carries the exact share of rows (``overlap``) and counts. Nothing else changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("edges") as batch:
        batch.drop_constraint(op.f("ck_edges_relation"), type_="check")
        batch.create_check_constraint(op.f("ck_edges_relation"), "relation IN ('contains', 'duplicate', 'overlaps')")


def downgrade() -> None:
    op.execute("DELETE FROM edges WHERE relation = 'overlaps'")
    with op.batch_alter_table("edges") as batch:
        batch.drop_constraint(op.f("ck_edges_relation"), type_="check")
        batch.create_check_constraint(op.f("ck_edges_relation"), "relation IN ('contains', 'duplicate')")
