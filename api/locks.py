"""Locks of the API server.

Destructive operations (apply, restore, check, recover, purge) and detect are serialized across every
process that shares the catalog — CLI, batch jobs, other API replicas — by the catalog's operation
locks (:mod:`r2d2.catalog.locks`); a busy lock is :class:`~r2d2.errors.OperationBusyError`, HTTP 409
with the holder. The locks here are only this server's own resource limits, try-only as well: ``run``
(its one background worker runs one job at a time) and ``reconstruct`` (one Spark rebuild streaming at
a time). Their 409 has the same shape.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from r2d2.catalog.locks import FINISHING_WAIT_S, HOST
from r2d2.errors import OperationBusyError


class OperationLock:
    """A try-only lock of this process with a holder description; may be released by another thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._holder: str | None = None
        self._since: datetime | None = None
        self._finishing = False

    @property
    def holder(self) -> str | None:
        return self._holder

    def acquire(self, holder: str) -> None:
        """Take the lock for ``holder`` or raise :class:`~r2d2.errors.OperationBusyError` at once.

        A holder that has :meth:`finishing` (its run's end is already recorded) is waited for, up to
        :data:`~r2d2.catalog.locks.FINISHING_WAIT_S`: a client that saw the run end and at once starts the
        next must not get a 409 for the moment the worker needs to return.
        """
        if not self._lock.acquire(blocking=False) and not (
                self._finishing and self._lock.acquire(timeout=FINISHING_WAIT_S)):
            raise OperationBusyError(self.name, {
                "operation": self._holder or "unknown", "host": HOST, "pid": os.getpid(),
                "started_at": self._since.isoformat(timespec="seconds") if self._since else None})
        self._holder = holder
        self._since = datetime.now(UTC)
        self._finishing = False

    def release(self) -> None:
        self._holder = None
        self._finishing = False
        self._lock.release()

    def finishing(self) -> None:
        """The holder's work is over and recorded; it releases the lock as soon as it returns."""
        self._finishing = True

    def set_holder(self, holder: str) -> None:
        self._holder = holder

    @contextmanager
    def hold(self, holder: str) -> Iterator[None]:
        self.acquire(holder)
        try:
            yield
        finally:
            self.release()


class Locks:
    """The process-local locks of one application instance."""

    def __init__(self) -> None:
        self.runs = OperationLock("run")
        self.reconstruct = OperationLock("reconstruct")
