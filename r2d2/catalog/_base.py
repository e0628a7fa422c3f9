"""Shared plumbing of the catalog repositories: transactions, error wrapping, upserts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Connection, Engine, Insert, Text, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from r2d2.catalog.db import mask_url
from r2d2.errors import CatalogError

T = TypeVar("T")

# Rows per statement for IN lists and multi-row writes: below SQLite's and PostgreSQL's limits on
# bound parameters, large enough to keep round trips few.
CHUNK = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime, name: str = "datetime") -> datetime:
    """``value`` in UTC; naive datetimes are refused (their zone is unknown)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def utc_value(value: Any) -> datetime | None:
    """A datetime column's value as the driver returned it (SQLite: text in UTC) → aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_value(value: Any) -> Any:
    """A JSON column's value as the driver returned it (SQLite: text; psycopg: decoded) → Python data."""
    from r2d2.catalog.db import json_loads

    return json_loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True)
class RawRows:
    """Rows as the database driver returned them, with each column's position in ``keys``.

    Values are not converted: SQLite gives datetimes as UTC text and JSON as text, PostgreSQL (psycopg)
    datetimes and decoded JSON. :func:`utc_value` and :func:`json_value` convert them; the API's pages
    render them directly (``api/render.py``: no per-row objects, JSON text embedded as is)."""

    keys: dict[str, int]
    rows: list[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        i = self.keys[name]
        return [r[i] for r in self.rows]


def raw_rows(conn: Connection, stmt: Any, params: Mapping[str, Any] | None = None) -> RawRows:
    """Run ``stmt`` and return the driver's rows, without SQLAlchemy's per-row processing (for an API
    page, about half of its query time)."""
    result = conn.execute(stmt, params)
    keys = {k: i for i, k in enumerate(result.keys())}
    return RawRows(keys, list(result.cursor.fetchall()) if result.cursor is not None else [])


# The API's page statements are built once per filter (and dialect) and run with parameters, at most
# this many kept per kind: SQLAlchemy keys its compiled cache on a statement's structure, and computing
# that key for a new statement object, then adapting the cached result columns to it, cost more than
# the page's query.
PAGE_STATEMENTS = 128


def among_ids(column: Any, dialect: str) -> ColumnElement[bool]:
    """``column`` is one of the values of the ``ids`` parameter: a single array parameter on PostgreSQL
    (``= ANY``: one value to send and one statement text, which psycopg prepares once), an expanding
    ``IN`` elsewhere."""
    return _among(column, dialect, "ids", BigInteger)


def among_strings(column: Any, dialect: str) -> ColumnElement[bool]:
    """:func:`among_ids` for a text column: the ``values`` parameter."""
    return _among(column, dialect, "values", Text)


def _among(column: Any, dialect: str, name: str, item: Any) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(item)))
    return column.in_(bindparam(name, expanding=True))


def execute_many(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]],
                 constants: Mapping[str, Any], *, size: int = 5000, copy: bool = False) -> None:
    """``conn.execute(stmt, [{**row, **constants} for row in rows])``, with the values converted here:
    SQLAlchemy converts every parameter of every row through its type (35 µs a row for an edge, most
    of storing a detect's 23,000 decisions); here each constant is converted once and only the
    columns whose type converts anything (JSON, booleans on SQLite...) are touched per row.
    Every row must have the same keys, and every column without a server default must be given (a row
    key or a constant): SQLAlchemy's Python-side column defaults are not applied here. ``copy``: ``stmt``
    is a plain ``insert(table)`` (nothing returned, no conflict clause), which PostgreSQL gets by COPY."""
    if not rows:
        return
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=[*rows[0], *constants])
    names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)

    def processor(name: str) -> Callable[[Any], Any] | None:
        return compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)

    fixed = {}
    for name, value in constants.items():
        proc = processor(name)
        fixed[name] = proc(value) if proc is not None else value
    row_procs: dict[str, Callable[[Any], Any]] = {}
    for name in names:
        proc = processor(name) if name not in fixed else None
        if proc is not None:
            row_procs[name] = proc

    def converted(row: Mapping[str, Any]) -> dict[str, Any]:
        out = {**row, **fixed}
        for name, proc in row_procs.items():
            out[name] = proc(out[name])
        return out

    if dialect.name == "postgresql" and isinstance(stmt, Insert) and copy:
        _copy(conn, stmt, [*rows[0], *constants], (converted(r) for r in rows))
        return
    for part in chunks(rows, size):
        params = [converted(r) for r in part]
        if compiled.positional:
            conn.exec_driver_sql(compiled.string, [tuple(p[n] for n in names) for p in params])
        else:
            conn.exec_driver_sql(compiled.string, params)


def _copy(conn: Connection, stmt: Insert, names: list[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """The rows into ``stmt``'s table with PostgreSQL's COPY, in the connection's transaction: psycopg's
    executemany parses and sends each row as a statement of its own (saving 10,000 profiles took 4 s on
    PostgreSQL, most of it there). Errors come back as SQLAlchemy's, as from ``execute``."""
    import psycopg

    quote = conn.dialect.identifier_preparer.quote
    table = stmt.table
    sql = f"COPY {quote(table.name)} ({', '.join(quote(table.c[n].name) for n in names)}) FROM STDIN"
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with raw.cursor() as cur, cur.copy(sql) as copy:
            for row in rows:
                copy.write_row([row[n] for n in names])
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RepositoryBase:
    """Holds the engine; gives read and write transactions that raise CatalogError on failure."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self._url = url

    @property
    def url(self) -> str:
        """The catalog URL (with its password: never print it; see :attr:`display_url`)."""
        return self._url

    @property
    def display_url(self) -> str:
        """The catalog URL with its password hidden."""
        return mask_url(self._url)

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                if write:
                    conn = conn.execution_options(r2d2_write=True)
                elif conn.dialect.name == "postgresql":
                    # Reads in autocommit: no BEGIN and COMMIT round trips. The same snapshots: under
                    # READ COMMITTED each statement of a transaction takes its own anyway.
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            reason = str(orig if orig is not None else exc).strip().splitlines()
            raise CatalogError(
                f"catalog {self.display_url}: {reason[0] if reason else type(exc).__name__}"
            ) from exc

    def _read(self) -> AbstractContextManager[Connection]:
        return self._tx(write=False)

    def _write(self) -> AbstractContextManager[Connection]:
        return self._tx(write=True)

    def _insert(self, conn: Connection, table: Any) -> Any:
        """A dialect INSERT supporting ``on_conflict_do_update`` / ``excluded``."""
        name = conn.dialect.name
        if name == "postgresql":
            return postgresql.insert(table)
        if name == "sqlite":
            return sqlite.insert(table)
        raise CatalogError(f"catalog {self.display_url}: unsupported database {name!r}")
