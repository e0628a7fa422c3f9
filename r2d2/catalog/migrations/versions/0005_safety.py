"""Safety: operation locks shared by every process of a deployment, and the scan root of each table.

``operation_locks`` holds one row per held lock (owner token, operation, host, pid, start and
heartbeat). On SQLite the row *is* the lock; on PostgreSQL the lock is a session advisory lock and the
row only describes its holder. ``tables.root`` is the scan root a table was found under: the root its
real path must stay in (symbolic links are resolved against it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operation_locks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("backend_pid", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_operation_locks")),
    )
    with op.batch_alter_table("tables") as batch:
        batch.add_column(sa.Column("root", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    # In place, never by copying the table (batch mode on SQLite): dropping ``tables`` to copy it deletes
    # every row referencing it through ON DELETE CASCADE (foreign keys are enforced in this transaction).
    op.execute("ALTER TABLE tables DROP COLUMN root")
    op.drop_table("operation_locks")
