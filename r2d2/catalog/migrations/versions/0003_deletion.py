"""Deletion optimizer and safe deletion: plans, calibrations, recipes, deletions (the journal).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELETION_STATES = (
    "intent", "moving", "quarantined", "purging", "purged", "restoring", "restored", "rolled_back",
)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.Column("solver", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("objective", sa.Float(), nullable=False),
        sa.Column("bound", sa.Float(), nullable=False),
        sa.Column("gap", sa.Float(), nullable=False),
        sa.Column("solve_seconds", sa.Float(), nullable=False),
        sa.Column("savings_bytes", sa.BigInteger(), nullable=False),
        sa.Column("savings_per_month", sa.Float(), nullable=False),
        sa.Column("deleted_tables", sa.Integer(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("fingerprints", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
    )
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.Column("engine", sa.String(length=255), nullable=False),
        sa.Column("bytes_per_s", sa.Float(), nullable=False),
        sa.Column("overhead_s", sa.Float(), nullable=False),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibrations")),
    )
    op.create_table(
        "recipes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=2048), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("parent_location", sa.String(length=2048), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("child_fingerprint", sa.Text(), nullable=False),
        sa.Column("parent_fingerprint", sa.Text(), nullable=False),
        sa.Column("selection", sa.String(length=16), nullable=False),
        sa.Column("checksum", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("recipe_bytes", sa.BigInteger(), nullable=False),
        sa.Column("recipe", sa.JSON(), nullable=False),
        _ts("created_at"),
        _ts("checked_at", nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["tables.id"], name=op.f("fk_recipes_parent_id_tables")),
        sa.ForeignKeyConstraint(["table_id"], ["tables.id"], name=op.f("fk_recipes_table_id_tables")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipes")),
    )
    op.create_index(op.f("ix_recipes_table_id"), "recipes", ["table_id"], unique=False)
    op.create_table(
        "deletions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=2048), nullable=False),
        sa.Column("recipe_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("quarantine_path", sa.Text(), nullable=False),
        sa.Column("journal_path", sa.Text(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("quarantined_at", nullable=True),
        _ts("purged_at", nullable=True),
        _ts("restored_at", nullable=True),
        sa.CheckConstraint("state IN (" + ", ".join(repr(s) for s in DELETION_STATES) + ")",
                           name=op.f("ck_deletions_state")),
        sa.ForeignKeyConstraint(["recipe_id"], ["recipes.id"], name=op.f("fk_deletions_recipe_id_recipes")),
        sa.ForeignKeyConstraint(["table_id"], ["tables.id"], name=op.f("fk_deletions_table_id_tables")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletions")),
    )
    op.create_index(op.f("ix_deletions_state"), "deletions", ["state"], unique=False)
    op.create_index(op.f("ix_deletions_table_id"), "deletions", ["table_id"], unique=False)


def downgrade() -> None:
    op.drop_table("deletions")
    op.drop_table("recipes")
    op.drop_table("calibrations")
    op.drop_table("plans")
