"""Engines and schema migrations of the catalog database.

Nothing here connects at import time: :func:`open_catalog` builds (and caches) one engine per URL,
applies SQLite pragmas, and upgrades the schema to the newest Alembic revision on first use.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sqlite3
import threading
import time
import zlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from r2d2.errors import CatalogError

if TYPE_CHECKING:
    from alembic.config import Config

    from r2d2.catalog.catalog import Catalog

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "r2d2_alembic_version"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Pooled connections per engine: enough for an API server's request threads (api.main limits them to
# 16), its run worker and the lock heartbeats without opening and closing overflow connections on every
# request (a new SQLite connection starts with a cold page cache and four PRAGMAs).
POOL_SIZE = 20
POOL_OVERFLOW = 10
PING_AFTER_IDLE_S = 5.0  # a PostgreSQL connection idle this long is pinged before use
_PG_LOCK_KEY = zlib.crc32(b"r2d2.catalog.migrate")  # advisory lock held while migrating

log = logging.getLogger("r2d2.catalog.db")
_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_migrated: set[str] = set()


def _encode(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}  # JSON has no NaN/Infinity (PostgreSQL rejects them)
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "__float__" in obj:
        return float(obj["__float__"])
    return obj


_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
# what the standard encoder refuses, orjson must refuse too (datetimes, dataclasses: it would write them)
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_dumps(value: Any) -> str:
    """JSON text of ``value``; non-finite floats are tagged so that they round-trip.

    orjson first (a detect stores tens of thousands of decisions: about 1 µs each, against 12 with the
    standard encoder); but it writes NaN and infinities as null, so text with a null in it, or what
    orjson refuses (non-string keys, integers past 64 bits), is written by the standard library."""
    try:
        text = orjson.dumps(value, option=_PASSTHROUGH).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = "null"
    if "null" not in text:
        return text
    try:
        return _ENCODER.encode(value)
    except ValueError:  # a NaN or infinity somewhere: tag it
        return _ENCODER.encode(_encode(value))


_DECODER = json.JSONDecoder(object_hook=_decode_hook)  # one decoder: building one per call cost ~10 µs


# orjson reads an integer below -2**63 or past 2**64 as a float: text with one that may be (19 digits after a
# minus sign, 20 in a row) is not its to read. Found by mapping every digit to 9 (a regular expression
# cost more than orjson saved).
_NINES = bytes.maketrans(b"0123456789", b"9" * 10)


def _big_integer(text: str) -> bool:
    nines = text.encode("utf-8", "surrogatepass").translate(_NINES)
    return b"-" + b"9" * 19 in nines or b"9" * 20 in nines


def json_loads(text_: str | bytes) -> Any:
    """The value of JSON text, tagged non-finite floats included. orjson first (a detect decodes every
    profile: half the time of the standard decoder); text with a tag or a big integer, and what orjson
    refuses (NaN literals, lone surrogates), go to the standard decoder, whose errors are raised."""
    text = text_.decode("utf-8") if isinstance(text_, bytes) else text_
    if "__float__" not in text and not _big_integer(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return _DECODER.decode(text)


def mask_url(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", str(url))


def _is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling is not
        # transactional for DDL and cannot take write locks up front).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Write transactions take the write lock at BEGIN: a deferred transaction that upgrades its
        # lock later can fail with "database is locked" without waiting for busy_timeout.
        mode = "IMMEDIATE" if conn.get_execution_options().get("r2d2_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise CatalogError(f"invalid catalog URL {mask_url(url)}: {exc}") from exc
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"json_serializer": json_dumps, "json_deserializer": json_loads}
    if backend == "sqlite":
        if _is_sqlite_memory(parsed):
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            db = parsed.database or ""
            if not db.startswith("file:"):
                try:
                    Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise CatalogError(
                        f"cannot create the folder of catalog {mask_url(parsed)}: {exc}"
                    ) from exc
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
    elif backend == "postgresql":
        kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
        if "connect_timeout" not in parsed.query and parsed.get_driver_name() in ("psycopg", "psycopg2"):
            kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        raise CatalogError(f"cannot use catalog {mask_url(parsed)}: {exc}") from exc
    if backend == "sqlite":
        _setup_sqlite(engine)
    else:
        _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: Engine) -> None:
    """A pooled server connection is checked with ``SELECT 1`` before use when it sat in the pool
    :data:`PING_AFTER_IDLE_S` or more (a server restart or an idle timeout meanwhile), as SQLAlchemy's
    ``pool_pre_ping`` checks every checkout: under load that was a round trip per request (with the
    transaction it opened, three). A dead connection is replaced at once (SQLAlchemy retries the
    checkout on :class:`DisconnectionError`); one that dies while in use invalidates the whole pool."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["r2d2_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("r2d2_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return  # new (just connected) or used a moment ago
        autocommit = getattr(dbapi_conn, "autocommit", None)
        try:
            if autocommit is False:
                dbapi_conn.autocommit = True  # no transaction left open by the ping
            cur = dbapi_conn.cursor()
            try:
                cur.execute("SELECT 1")
            finally:
                cur.close()
            if autocommit is False:
                dbapi_conn.autocommit = False
        except Exception as exc:  # any failure here means the connection cannot be trusted
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc


def get_engine(url: str) -> Engine:
    """The process-wide engine of ``url`` (created on first use)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
        return engine


def dispose_engine(url: str) -> None:
    """Close the pooled connections of ``url`` and forget its engine."""
    with _lock:
        engine = _engines.pop(url, None)
        _migrated.discard(url)
    if engine is not None:
        engine.dispose()


def dispose_all() -> None:
    """Close every engine's pooled connections (a process about to exit: SQLite's last close folds
    its write-ahead log back into the database file)."""
    with _lock:
        engines = list(_engines)
    for url in engines:
        dispose_engine(url)


def _forget_in_child() -> None:
    """In a forked child: drop the parent's engines without closing their connections, which belong to
    the parent (closing a shared PostgreSQL socket would end the parent's session, and its advisory
    locks with it). The child opens its own if it ever needs one. No lock is taken: another thread of
    the parent may have held it at the fork."""
    global _lock
    _lock = threading.Lock()
    for engine in list(_engines.values()):
        engine.dispose(close=False)
    _engines.clear()
    _migrated.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration pointing at the migrations shipped in this package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest migration, without importing alembic (about a second per process): revisions are
    named by their file's number, one linear chain (tests/test_catalog.py checks alembic agrees).
    Read once per process (``GET /ready`` asks on every probe)."""
    numbers = sorted(p.name.split("_")[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    return numbers[-1] if numbers else None


def current_revision(connection: Connection) -> str | None:
    """The database's revision (None when it has no schema yet), read with plain SQL."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    found = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return found[0] if len(found) == 1 else None


def migrate(engine: Engine) -> None:
    """Upgrade the schema of ``engine``'s database to the newest revision (no-op when current).

    On PostgreSQL a transaction-scoped advisory lock serialises concurrent first use by several
    processes; on SQLite the write transaction (BEGIN IMMEDIATE) does the same.
    """
    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return
    from alembic import command
    with engine.connect().execution_options(r2d2_write=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        before = current_revision(conn)
        if before != head:  # another process may have migrated meanwhile
            command.upgrade(alembic_config(conn), "head")
    if engine.dialect.name == "sqlite" and before is not None and before < COMPACT_BEFORE:
        _vacuum(engine)


# Revisions are zero-padded numbers. A SQLite catalog older than this one is compacted once upgraded:
# SQLite drops a column by rewriting each row where it stands, and until a VACUUM every update of a
# table row still writes the old, wide pages (0007: a re-scan's 10,000 last_seen updates, 0.12-0.17 s
# instead of 0.02 s).
COMPACT_BEFORE = "0007"


def _vacuum(engine: Engine) -> None:
    """VACUUM a SQLite catalog (outside any transaction); a failure (another process reading, no disk
    space for the copy) leaves it as it was, with a warning."""
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("VACUUM")
    except sqlite3.Error as exc:  # nothing was changed
        log.warning("cannot compact the catalog after its upgrade (it works as it is, larger): %s", exc)
    finally:
        raw.close()


def open_catalog(url: str) -> Catalog:
    """Open the catalog at ``url``, creating or upgrading its schema on first use.

    Raises :class:`~r2d2.errors.CatalogError` naming the URL (password hidden) when the database
    cannot be reached or migrated.
    """
    from r2d2.catalog.catalog import Catalog

    engine = get_engine(url)
    if url not in _migrated:
        try:
            migrate(engine)
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot open catalog {mask_url(url)}: {_reason(exc)}") from exc
        except CatalogError:
            raise
        except Exception as exc:  # alembic errors (bad revision, newer database...)
            raise CatalogError(f"cannot migrate catalog {mask_url(url)}: {exc}") from exc
        with _lock:
            _migrated.add(url)
    return Catalog(engine, url)


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__
