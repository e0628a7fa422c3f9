"""Non-blocking, named operation locks: a second caller gets :class:`OperationBusy` (HTTP 409).

One process holds at most one operation of each name. Destructive operations (apply, restore, check,
recover, purge) take ``destructive``; the background runner takes ``runs``; streaming a rebuilt table
takes ``reconstruct`` (one Spark rebuild at a time for HTTP clients). The holder's description is kept so that the
409 response can say what is in the way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

FINISHING_WAIT_S = 10.0


class OperationBusy(Exception):
    """Another operation holds the lock."""

    def __init__(self, operation: str, holder: str) -> None:
        super().__init__(f"another {operation} operation is in progress: {holder}")
        self.operation = operation
        self.holder = holder


class OperationLock:
    """A try-only lock with a holder description; may be released by another thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._holder: str | None = None
        self._finishing = False

    @property
    def holder(self) -> str | None:
        return self._holder

    def acquire(self, holder: str) -> None:
        """Take the lock for ``holder`` or raise :class:`OperationBusy` at once.

        A holder that has :meth:`finishing` (its run's end is already recorded) is waited for, up to
        :data:`FINISHING_WAIT_S`: a client that saw the run end and at once starts the next must not get
        a 409 for the moment the worker needs to return.
        """
        if not self._lock.acquire(blocking=False) and not (
                self._finishing and self._lock.acquire(timeout=FINISHING_WAIT_S)):
            raise OperationBusy(self.name, self._holder or "unknown")
        self._holder = holder
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
    """The locks of one application instance."""

    def __init__(self) -> None:
        self.runs = OperationLock("run")
        self.destructive = OperationLock("destructive")
        self.reconstruct = OperationLock("reconstruct")

    def get(self, name: str) -> OperationLock:
        lock = getattr(self, name, None)
        if not isinstance(lock, OperationLock):
            raise KeyError(name)
        return lock
