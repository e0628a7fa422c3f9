"""Initial catalog schema: tables, table_columns, sketches, edges, runs.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=2048), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=True),
        sa.Column("num_rows", sa.BigInteger(), nullable=True),
        sa.Column("num_bytes", sa.BigInteger(), nullable=False),
        sa.Column("num_files", sa.Integer(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("first_seen"),
        _ts("last_seen"),
        _ts("profiled_at", nullable=True),
        _ts("gone_at", nullable=True),
        sa.Column("latency_limit_s", sa.Float(), nullable=True),
        sa.Column("access_per_day", sa.Float(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'gone', 'error')", name=op.f("ck_tables_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tables")),
    )
    op.create_index(op.f("ix_tables_location"), "tables", ["location"], unique=True)
    op.create_index(op.f("ix_tables_status"), "tables", ["status"], unique=False)

    op.create_table(
        "table_columns",
        sa.Column("table_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("physical_type", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["table_id"], ["tables.id"], name=op.f("fk_table_columns_table_id_tables"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("table_id", "ordinal", name=op.f("pk_table_columns")),
    )
    op.create_index("ix_table_columns_key_family", "table_columns", ["key", "family"], unique=False)

    op.create_table(
        "sketches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["table_id"], ["tables.id"], name=op.f("fk_sketches_table_id_tables"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sketches")),
        sa.UniqueConstraint("table_id", "kind", "key", name=op.f("uq_sketches_table_id_kind_key")),
    )

    op.create_table(
        "edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("parent_fingerprint", sa.Text(), nullable=True),
        sa.Column("child_fingerprint", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("multiset", sa.Boolean(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        _ts("updated_at"),
        sa.CheckConstraint("relation IN ('contains', 'duplicate')", name=op.f("ck_edges_relation")),
        sa.CheckConstraint("state IN ('candidate', 'pruned', 'verified', 'inferred')",
                           name=op.f("ck_edges_state")),
        sa.ForeignKeyConstraint(["child_id"], ["tables.id"], name=op.f("fk_edges_child_id_tables"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["parent_id"], ["tables.id"], name=op.f("fk_edges_parent_id_tables"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edges")),
        sa.UniqueConstraint("parent_id", "child_id", name=op.f("uq_edges_parent_id_child_id")),
    )
    op.create_index(op.f("ix_edges_child_id"), "edges", ["child_id"], unique=False)
    op.create_index(op.f("ix_edges_state"), "edges", ["state"], unique=False)

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name=op.f("ck_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index("ix_runs_kind_started_at", "runs", ["kind", "started_at"], unique=False)
    op.create_index(op.f("ix_runs_status"), "runs", ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("runs")
    op.drop_table("edges")
    op.drop_table("sketches")
    op.drop_table("table_columns")
    op.drop_table("tables")
