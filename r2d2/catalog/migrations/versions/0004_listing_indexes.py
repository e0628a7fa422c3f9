"""Indexes for paged listings of the REST API: non-stale edges by id, tables by status and id.

``GET /edges`` pages through ``WHERE stale = false ORDER BY id`` (by offset or after an id) and counts
the same rows; ``(stale, id)`` serves both from the index alone. ``GET /tables?status=...&after_id=``
pages by id within a status; ``(status, id)`` serves it on PostgreSQL (SQLite's status index already
ends with the rowid).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_edges_stale_id"), "edges", ["stale", "id"], unique=False)
    op.create_index(op.f("ix_tables_status_id"), "tables", ["status", "id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tables_status_id"), table_name="tables")
    op.drop_index(op.f("ix_edges_stale_id"), table_name="edges")
