"""Operation locks shared by every process that uses one catalog: CLI, batch jobs, API replicas.

Destructive operations (apply, restore, check, recover, purge) take the ``destructive`` lock; detect
takes ``detect``. Locks are try-only: a second taker gets :class:`~r2d2.errors.OperationBusyError` at
once, naming the holder (operation, host, pid, start); nobody queues behind a deletion.

* PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection held open for the
  whole operation. The server releases it when that session ends, however its holder died. A row of
  ``operation_locks`` only describes the holder (for the error message). A session outlives its client
  by a moment: a holder that has died on this host (or just released) is waited for, up to
  :data:`_PG_ENDING_WAIT_S`, rather than reported.
* SQLite: the ``operation_locks`` row is the lock, inserted in a write transaction. Its holder
  refreshes ``heartbeat_at`` every :data:`HEARTBEAT_S`. A row whose holder is dead — its pid no longer
  runs on this host, or no heartbeat for :data:`STALE_S` (any host) — is taken over by a conditional
  update in the same write transaction, so two takers cannot both win.

A lock whose heartbeat finds it gone (taken over, connection lost) is marked lost: :meth:`HeldLock.ensure`
raises before the next destructive step. :func:`exclusive` is re-entrant within one thread of control
(``check`` restores tables; the API's worker runs jobs under the locks their request took,
:func:`adopted`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import SQLAlchemyError

from r2d2.catalog._base import RepositoryBase, utcnow
from r2d2.catalog.models import OperationLockRow
from r2d2.errors import CatalogError, OperationBusyError, SafetyError
from r2d2.forking import fork_safe

log = logging.getLogger("r2d2.catalog.locks")

L = cast(Table, OperationLockRow.__table__)
LOCK_NAMES = ("destructive", "detect")
HEARTBEAT_S = 5.0
STALE_S = 60.0
# A holder in this process whose work is recorded as finished releases within moments: a caller that
# saw the end and starts the next operation waits for it this long instead of getting a refusal.
FINISHING_WAIT_S = 10.0
# How long a PostgreSQL lock whose holder has just finished or died on this host is waited for (see _pg_take).
_PG_ENDING_WAIT_S = 5.0
HOST = socket.gethostname()
_PG_CLASS = zlib.crc32(b"r2d2.operation_locks") & 0x7FFFFFFF  # int4 namespace of R2D2's advisory keys


def _pg_key(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock, as far as the catalog knows."""

    operation: str
    host: str | None = None
    pid: int | None = None
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"operation": self.operation, "host": self.host, "pid": self.pid,
                "started_at": self.started_at.isoformat(timespec="seconds") if self.started_at else None}


def _holder(row: Any) -> LockHolder:
    return LockHolder(row.operation, row.host, row.pid, row.started_at, row.heartbeat_at)


def _dead(row: Any, now: datetime) -> bool:
    if row.heartbeat_at < now - timedelta(seconds=STALE_S):
        return True
    return row.host == HOST and not pid_alive(row.pid)


class HeldLock:
    """A lock this process holds; release it (or leave :func:`exclusive`) when the operation ends."""

    def __init__(self, repo: LocksRepository, name: str, owner: str, conn: Connection | None) -> None:
        self.name = name
        self.url = repo.url
        self.owner = owner
        self.lost = False
        self.released = threading.Event()
        self._repo = repo
        self._conn = conn  # PostgreSQL: the session holding the advisory lock
        self._conn_lock = threading.Lock()
        self._finishing = False
        self._stop = threading.Event()
        self._beat = fork_safe(threading.Thread(target=self._heartbeat, name=f"r2d2-lock-{name}", daemon=True))
        self._beat.start()

    def rename(self, operation: str) -> None:
        """Describe the holder's operation anew (e.g. once the API's run has an id)."""
        self._repo._lock_update(self.name, self.owner, operation=operation[:255])

    def ensure(self) -> None:
        """Raise :class:`~r2d2.errors.SafetyError` when the lock is no longer held (stop before changing data)."""
        if self.lost or self.released.is_set():
            raise SafetyError(f"the {self.name} lock is no longer held by this process (taken over or its "
                              "catalog connection lost); stopping before the next change")

    def finishing(self) -> None:
        """The holder's work is recorded as finished; it releases the lock as soon as it returns."""
        self._finishing = True

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                if self._conn is not None:
                    with self._conn_lock:
                        self._conn.execute(text("SELECT 1"))
                        self._conn.commit()
                if self._repo._lock_update(self.name, self.owner, heartbeat_at=utcnow()) == 0 \
                        and self._conn is None:
                    self.lost = True
                    log.error("the %s lock was taken over by another process", self.name)
                    return
            except (SQLAlchemyError, CatalogError) as exc:
                if self._conn is not None:  # the session holding the advisory lock is gone
                    self.lost = True
                    log.error("lost the catalog session holding the %s lock: %s", self.name, exc)
                    return
                log.warning("cannot refresh the %s lock's heartbeat: %s", self.name, exc)

    def release(self) -> None:
        if self.released.is_set():
            return
        self._stop.set()
        try:
            self._repo._lock_delete(self.name, self.owner)
        except CatalogError as exc:
            log.warning("cannot remove the %s lock's row: %s", self.name, exc)
        if self._conn is not None:
            with self._conn_lock:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:c, :k)"),
                                       {"c": _PG_CLASS, "k": _pg_key(self.name)})
                    self._conn.commit()
                except SQLAlchemyError as exc:
                    log.warning("cannot unlock the %s advisory lock (closing its session): %s", self.name, exc)
                finally:
                    self._conn.invalidate()  # ends the session: no advisory lock survives in the pool
                    self._conn.close()
        _forget(self)
        self.released.set()


_local_lock = threading.Lock()
_local: dict[tuple[str, str], HeldLock] = {}  # locks held by this process, by (catalog URL, name)


def _forget(lock: HeldLock) -> None:
    with _local_lock:
        if _local.get((lock.url, lock.name)) is lock:
            del _local[(lock.url, lock.name)]


class LocksRepository(RepositoryBase):
    """Operation locks (see the module docstring)."""

    def acquire_lock(self, name: str, operation: str) -> HeldLock:
        """Take lock ``name`` for ``operation`` or raise :class:`~r2d2.errors.OperationBusyError` at once (on
        PostgreSQL, a holder that has just finished or died on this host is waited for: see ``_pg_take``)."""
        if name not in LOCK_NAMES:
            raise ValueError(f"unknown lock {name!r}; one of {', '.join(LOCK_NAMES)}")
        with _local_lock:
            mine = _local.get((self.url, name))
        if mine is not None and mine._finishing:
            mine.released.wait(FINISHING_WAIT_S)
        owner = uuid.uuid4().hex
        now = utcnow()
        values = {"owner": owner, "operation": operation[:255], "host": HOST, "pid": os.getpid(),
                  "started_at": now, "heartbeat_at": now}
        conn = None
        if self._engine.dialect.name == "postgresql":
            conn = self._pg_take(name, values)
        else:
            self._sqlite_take(name, values, now)
        lock = HeldLock(self, name, owner, conn)
        with _local_lock:
            _local[(self.url, name)] = lock
        return lock

    def lock_holder(self, name: str) -> LockHolder | None:
        """Who holds lock ``name`` now (None when nobody does)."""
        if self._engine.dialect.name == "postgresql":
            backend = self._pg_backend(name)
            return None if backend is None else self._pg_describe(name, backend)
        with self._read() as conn:
            row = conn.execute(select(L).where(L.c.name == name)).first()
        return None if row is None or _dead(row, utcnow()) else _holder(row)

    def _sqlite_take(self, name: str, values: dict[str, Any], now: datetime) -> None:
        with self._write() as conn:
            row = conn.execute(select(L).where(L.c.name == name)).first()
            if row is None:
                conn.execute(insert(L).values(name=name, **values))
                return
            if not _dead(row, now):
                raise OperationBusyError(name, _holder(row).to_json())
            # Conditional on the dead owner: two processes taking over at once cannot both win.
            if conn.execute(update(L).where(L.c.name == name, L.c.owner == row.owner)
                            .values(**values)).rowcount != 1:
                raise OperationBusyError(name, {"operation": "another operation (taken over just now)"})
        log.warning("took over the %s lock of a dead holder: %s", name, _holder(row).to_json())

    def _pg_take(self, name: str, values: dict[str, Any]) -> Connection:
        try:
            conn = self._engine.connect()
        except SQLAlchemyError as exc:
            raise CatalogError(f"catalog {self.display_url}: cannot open a session for the {name} lock: "
                               f"{exc}") from exc
        # A refusal can be stale: the holder may release between our try and the look-up of who holds it,
        # and a client killed on this host leaves its session ending for a moment after the process is
        # gone. In both cases the lock is as good as free, so try again for a short while.
        deadline = time.monotonic() + _PG_ENDING_WAIT_S
        pause = 0.02
        while True:
            try:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"),
                                   {"c": _PG_CLASS, "k": _pg_key(name)}).scalar()
                backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
                conn.commit()
            except SQLAlchemyError as exc:
                conn.invalidate()
                conn.close()
                raise CatalogError(f"catalog {self.display_url}: cannot take the {name} lock: {exc}") from exc
            if got:
                break
            holder_pid = self._pg_backend(name)
            holder = None if holder_pid is None else self._pg_describe(name, holder_pid)
            ending = holder is None or (holder.host == HOST and holder.pid is not None and not pid_alive(holder.pid))
            if not ending or time.monotonic() >= deadline:
                conn.close()
                raise OperationBusyError(name, (holder or LockHolder("another operation (just finished)")).to_json())
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
        try:
            with self._write() as w:
                stmt = postgresql.insert(L).values(name=name, backend_pid=backend, **values)
                w.execute(stmt.on_conflict_do_update(index_elements=[L.c.name],
                                                     set_={**values, "backend_pid": backend}))
        except CatalogError:
            conn.invalidate()
            conn.close()
            raise
        return conn

    def _pg_backend(self, name: str) -> int | None:
        """The PostgreSQL backend pid of the session holding the advisory lock ``name``."""
        with self._read() as conn:
            pid = conn.execute(text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = :c "
                "AND objid = :k AND objsubid = 2 "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
                {"c": _PG_CLASS, "k": _pg_key(name)}).scalar()
        return None if pid is None else int(pid)

    def _pg_describe(self, name: str, backend: int) -> LockHolder:
        with self._read() as conn:
            row = conn.execute(select(L).where(L.c.name == name)).first()
        if row is not None and row.backend_pid == backend:
            return _holder(row)
        return LockHolder(f"another operation (PostgreSQL session {backend}, not yet described)")

    def _lock_update(self, name: str, owner: str, **values: Any) -> int:
        with self._write() as conn:
            return int(conn.execute(update(L).where(L.c.name == name, L.c.owner == owner).values(**values))
                       .rowcount)

    def _lock_delete(self, name: str, owner: str) -> None:
        with self._write() as conn:
            conn.execute(delete(L).where(L.c.name == name, L.c.owner == owner))


_held: ContextVar[tuple[HeldLock, ...]] = ContextVar("r2d2_held_locks", default=())


@contextmanager
def exclusive(catalog: LocksRepository, name: str, operation: str) -> Iterator[HeldLock]:
    """Hold lock ``name`` for the block (re-entrant: a lock this context already holds is reused)."""
    for held in _held.get():
        if held.name == name and held.url == catalog.url and not held.released.is_set():
            yield held
            return
    lock = catalog.acquire_lock(name, operation)
    token = _held.set((*_held.get(), lock))
    try:
        yield lock
    finally:
        _held.reset(token)
        lock.release()


@contextmanager
def adopted(locks: Sequence[HeldLock]) -> Iterator[None]:
    """Run the block as the holder of ``locks`` (taken by another thread, e.g. the API's request)."""
    token = _held.set((*_held.get(), *locks))
    try:
        yield
    finally:
        _held.reset(token)
