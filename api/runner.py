"""Background runs: one worker thread per process runs scans, detects, applies... one at a time.

:meth:`RunService.submit` takes the ``run`` lock (a second submit while a run is going gets 409) and
the catalog locks the caller names (:mod:`r2d2.catalog.locks`: destructive runs hold ``destructive``,
detect ``detect``, shared with every other process of the deployment) until the run ends, hands the job
to the worker — which runs it as the holder of those locks, so the library does not take them again —
and returns as soon as the job has recorded its run in the catalog, so that the caller can answer
``202`` with the run id. The job records its own run (the library's ``scan``/
``detect`` call ``catalog.start_run``; :mod:`api.jobs` does it for apply, restore and check); a thin
catalog subclass reports the new id back. Progress goes to ``runs.progress`` (throttled); the job
closes the run as succeeded or failed.

The worker is a daemon thread: a server that stops mid-run leaves the run ``running``, and the next
start-up marks it failed (:meth:`r2d2.catalog.Catalog.fail_stale_runs`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from api.locks import OperationLock
from r2d2.catalog import Catalog
from r2d2.catalog.db import get_engine
from r2d2.catalog.locks import HeldLock, adopted

log = logging.getLogger("r2d2.api.runner")

PROGRESS_INTERVAL_S = 0.5
MAX_MESSAGES = 20


class RunStartError(Exception):
    """A job ended (or timed out) before recording its run."""


class RunContext:
    """What a job may use to report progress; bound to the run once the job starts it."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self.run_id: int | None = None
        self._last = 0.0
        self._messages: list[str] = []

    def _write(self, progress: Mapping[str, Any], *, force: bool) -> None:
        now = time.monotonic()
        if self.run_id is None or (not force and now - self._last < PROGRESS_INTERVAL_S):
            return
        self._last = now
        try:
            self._catalog.update_run_progress(self.run_id, progress)
        except Exception:  # progress is advisory: never fail the run because of it
            log.warning("cannot record progress of run %s", self.run_id, exc_info=True)

    def tables(self, done: int, total: int) -> None:
        """Scan progress: tables profiled out of those to profile."""
        self._write({"done": done, "total": total, "unit": "tables"}, force=done >= total)

    def message(self, text: str) -> None:
        """Detect progress: one line per stage (``"minhash: 12 pairs left"``)."""
        self._messages = [*self._messages, text][-MAX_MESSAGES:]
        stage = text.split(":", 1)[0] if ":" in text else None
        self._write({"stage": stage, "message": text, "messages": self._messages}, force=True)


Job = Callable[[Catalog, RunContext], object]


class _TrackingCatalog(Catalog):
    """A catalog that reports the id of the first run its job starts, and when that run's end is recorded."""

    def __init__(self, url: str, on_start: Callable[[int, str], None], on_finish: Callable[[], None]) -> None:
        super().__init__(get_engine(url), url)
        self._on_start: Callable[[int, str], None] | None = on_start
        self._on_finish = on_finish
        self._run_id: int | None = None

    def start_run(self, kind: str, *, params: Mapping[str, Any] | None = None) -> int:
        run_id = super().start_run(kind, params=params)
        callback, self._on_start = self._on_start, None
        if callback is not None:
            self._run_id = run_id
            callback(run_id, kind)
        return run_id

    def finish_run(self, run_id: int, *, status: str, summary: Mapping[str, Any] | None = None,
                   errors: Sequence[Mapping[str, Any]] | None = None) -> None:
        super().finish_run(run_id, status=status, summary=summary, errors=errors)
        if run_id == self._run_id:
            self._on_finish()


@dataclass
class _Ticket:
    kind: str
    job: Job
    locks: Sequence[HeldLock] = ()
    started: threading.Event = field(default_factory=threading.Event)
    run_id: int | None = None
    error: str | None = None


class RunService:
    """The background worker of one application instance."""

    def __init__(self, catalog_url: str, lock: OperationLock, *, start_timeout_s: float = 60.0) -> None:
        self._url = catalog_url
        self._lock = lock
        self._start_timeout_s = start_timeout_s
        self._queue: queue.Queue[_Ticket | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.current_run: int | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="r2d2-runner", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop taking work; a run in progress goes on until the process exits (daemon thread)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread = None

    @property
    def busy(self) -> bool:
        return self._lock.holder is not None

    def submit(self, kind: str, job: Job, *, hold: Sequence[str] = ()) -> int:
        """Run ``job`` in the background; returns its run id.

        ``hold``: names of catalog locks the run keeps until it ends (taken now, after the run lock).
        When the run lock or one of them is busy, nothing is kept and
        :class:`~r2d2.errors.OperationBusyError` is raised (409).
        """
        if self._thread is None:
            raise RunStartError("the run worker is not running")
        self._lock.acquire(f"{kind} run (starting)")
        held: list[HeldLock] = []
        try:
            catalog = Catalog(get_engine(self._url), self._url)
            for name in hold:
                held.append(catalog.acquire_lock(name, f"{kind} run (starting)"))
        except BaseException:
            for lock in reversed(held):
                lock.release()
            self._lock.release()
            raise
        ticket = _Ticket(kind, job, tuple(held))
        self._queue.put(ticket)
        if not ticket.started.wait(self._start_timeout_s):
            raise RunStartError(f"the {kind} run did not start within {self._start_timeout_s:.0f} s")
        if ticket.run_id is None:
            raise RunStartError(f"the {kind} run failed before it started: {ticket.error}")
        return ticket.run_id

    def _work(self) -> None:
        while True:
            ticket = self._queue.get()
            if ticket is None:
                return
            self._run(ticket)

    def _run(self, ticket: _Ticket) -> None:
        def on_start(run_id: int, kind: str) -> None:
            ticket.run_id = context.run_id = self.current_run = run_id
            self._lock.set_holder(f"{kind} run {run_id}")
            for held in ticket.locks:
                try:
                    held.rename(f"{kind} run {run_id}")
                except Exception:  # the description is advisory: never fail the run because of it
                    log.warning("cannot describe the %s lock's holder", held.name, exc_info=True)
            ticket.started.set()

        def on_finish() -> None:
            self._lock.finishing()
            for held in ticket.locks:
                held.finishing()

        try:
            catalog = _TrackingCatalog(self._url, on_start, on_finish)
            context = RunContext(catalog)
            with adopted(ticket.locks):
                ticket.job(catalog, context)
        except Exception as exc:  # the library has recorded it in the run already
            log.warning("%s run %s failed: %s", ticket.kind, ticket.run_id, exc)
            ticket.error = type(exc).__name__
        finally:
            self.current_run = None
            for lock in reversed(ticket.locks):
                lock.release()
            self._lock.release()
            ticket.started.set()
