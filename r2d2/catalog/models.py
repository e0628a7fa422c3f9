"""SQLAlchemy models of the catalog schema.

The schema itself is owned by the Alembic migrations in :mod:`r2d2.catalog.migrations`; these models
must describe exactly what the migrations create (a test compares them). Nothing outside
:mod:`r2d2.catalog` sees these classes: the repository returns frozen records.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from r2d2.vocabulary import DELETION_STATES, EDGE_RELATIONS, EDGE_STATES, RUN_STATUSES, TABLE_STATUSES, TOKEN_ROLES

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the catalog stores timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class TableRow(Base):
    """One table of the lake, identified by its location."""

    __tablename__ = "tables"
    __table_args__ = (
        CheckConstraint(_in("status", TABLE_STATUSES), name="status"),
        Index("ix_tables_status_id", "status", "id"),  # migration 0004: paged listing by status
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    location: Mapped[str] = mapped_column(String(2048), unique=True, index=True)
    format: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    fingerprint: Mapped[str | None] = mapped_column(Text)
    num_rows: Mapped[int | None] = mapped_column(BigInteger)
    num_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    num_files: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    profiled_at: Mapped[datetime | None]
    gone_at: Mapped[datetime | None]
    latency_limit_s: Mapped[float | None] = mapped_column(Float)
    access_per_day: Mapped[float | None] = mapped_column(Float)
    root: Mapped[str | None] = mapped_column(String(2048))  # migration 0005: the scan root it was found under


class ProfileRow(Base):
    """The current profile of a table (migration 0007: out of ``tables``, whose narrow rows a re-scan
    rewrites: on SQLite an update rewrites the whole row, profile included)."""

    __tablename__ = "table_profiles"

    table_id: Mapped[int] = mapped_column(ForeignKey("tables.id", ondelete="CASCADE"), primary_key=True)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)


class ColumnRow(Base):
    """One column of a table's current profile (an inverted index over (key, family))."""

    __tablename__ = "table_columns"
    __table_args__ = (Index("ix_table_columns_key_family", "key", "family"),)

    table_id: Mapped[int] = mapped_column(ForeignKey("tables.id", ondelete="CASCADE"), primary_key=True)
    ordinal: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(1024))
    key: Mapped[str] = mapped_column(String(1024))
    family: Mapped[str] = mapped_column(String(32))
    physical_type: Mapped[str] = mapped_column(Text)


class SketchRow(Base):
    """A content sketch of a table (MinHash of a column, row-hash sample...), valid for one fingerprint."""

    __tablename__ = "sketches"
    __table_args__ = (UniqueConstraint("table_id", "kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("tables.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(1024), default="")
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class EdgeRow(Base):
    """A decision about the pair "parent contains child"."""

    __tablename__ = "edges"
    __table_args__ = (
        UniqueConstraint("parent_id", "child_id"),
        CheckConstraint(_in("state", EDGE_STATES), name="state"),
        CheckConstraint(_in("relation", EDGE_RELATIONS), name="relation"),
        Index("ix_edges_stale_id", "stale", "id"),  # migration 0004: paged listing of non-stale edges
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("tables.id", ondelete="CASCADE"))
    child_id: Mapped[int] = mapped_column(ForeignKey("tables.id", ondelete="CASCADE"), index=True)
    parent_fingerprint: Mapped[str | None] = mapped_column(Text)
    child_fingerprint: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    relation: Mapped[str] = mapped_column(String(16))
    multiset: Mapped[bool | None] = mapped_column(Boolean)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    run_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class RunRow(Base):
    """One run of a pipeline command (scan, detect, plan, apply...)."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        Index("ix_runs_kind_started_at", "kind", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    errors: Mapped[list[Any]] = mapped_column(JSON)
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))




class ApiTokenRow(Base):
    """A bearer token of the REST API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_in("role", TOKEN_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


# --- deletion optimizer and safe deletion (migration 0003) -------------------------------------------

class PlanRow(Base):
    """A stored optimizer plan: figures, per-table decisions (JSON) and the fingerprints it was made on."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime]
    solver: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    objective: Mapped[float] = mapped_column(Float)
    bound: Mapped[float] = mapped_column(Float)
    gap: Mapped[float] = mapped_column(Float)
    solve_seconds: Mapped[float] = mapped_column(Float)
    savings_bytes: Mapped[int] = mapped_column(BigInteger)
    savings_per_month: Mapped[float] = mapped_column(Float)
    deleted_tables: Mapped[int] = mapped_column(Integer)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    fingerprints: Mapped[dict[str, Any]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)


class CalibrationRow(Base):
    """A rebuild-throughput model fitted from timed rebuilds on one engine."""

    __tablename__ = "calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime]
    engine: Mapped[str] = mapped_column(String(255))
    bytes_per_s: Mapped[float] = mapped_column(Float)
    overhead_s: Mapped[float] = mapped_column(Float)
    samples: Mapped[list[Any]] = mapped_column(JSON)


class RecipeRow(Base):
    """How to rebuild a table from a parent (the recipe JSON); ``checked_at`` once a rebuild matched."""

    __tablename__ = "recipes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("tables.id"), index=True)
    location: Mapped[str] = mapped_column(String(2048))
    parent_id: Mapped[int] = mapped_column(ForeignKey("tables.id"))
    parent_location: Mapped[str] = mapped_column(String(2048))
    plan_id: Mapped[int | None] = mapped_column(Integer)
    child_fingerprint: Mapped[str] = mapped_column(Text)
    parent_fingerprint: Mapped[str] = mapped_column(Text)
    selection: Mapped[str] = mapped_column(String(16))
    checksum: Mapped[str] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    recipe_bytes: Mapped[int] = mapped_column(BigInteger)
    recipe: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    checked_at: Mapped[datetime | None]


class DeletionRow(Base):
    """One deletion of a table (the catalog side of the quarantine journal) and its later fate."""

    __tablename__ = "deletions"
    __table_args__ = (CheckConstraint(_in("state", DELETION_STATES), name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("tables.id"), index=True)
    location: Mapped[str] = mapped_column(String(2048))
    recipe_id: Mapped[int] = mapped_column(ForeignKey("recipes.id"))
    plan_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    quarantine_path: Mapped[str] = mapped_column(Text)
    journal_path: Mapped[str] = mapped_column(Text)
    steps: Mapped[list[Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    quarantined_at: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]
    restored_at: Mapped[datetime | None]


# --- safety (migration 0005) ------------------------------------------------------------------------

class OperationLockRow(Base):
    """A held operation lock: the lock itself on SQLite, its holder's description on PostgreSQL."""

    __tablename__ = "operation_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    backend_pid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
