"""Background runs: one worker thread per process runs scans, detects, plans, applies... one at a time.

:meth:`RunService.submit` takes the ``run`` lock (a second submit while a run is going gets 409) and
the catalog locks the caller names (:mod:`r2d2.catalog.locks`: destructive runs hold ``destructive``,
detect ``detect``, shared with every other process of the deployment) until the run ends, hands the job
to the worker — which runs it as the holder of those locks, so the library does not take them again —
and returns as soon as the job has recorded its run in the catalog, so that the caller can answer
``202`` with the run id. Jobs are the library's operations (:mod:`r2d2.operations`, :mod:`r2d2.scan`,
:mod:`r2d2.detect`), which record their own run and its progress (:mod:`r2d2.runs`); the worker learns
the run's id with :func:`r2d2.runs.watch_runs`, as any caller of the library can.

The worker is a daemon thread: a server that stops mid-run leaves the run ``running``, and the next
start-up marks it failed (:meth:`r2d2.catalog.Catalog.fail_stale_runs`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from api.locks import OperationLock
from r2d2.catalog import Catalog
from r2d2.catalog.db import get_engine
from r2d2.catalog.locks import HeldLock, adopted
from r2d2.runs import RunWatcher, watch_runs

log = logging.getLogger("r2d2.api.runner")


class RunStartError(Exception):
    """A job ended (or timed out) before recording its run."""


Job = Callable[[Catalog], object]


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
    def alive(self) -> bool:
        """Whether the worker thread runs (it takes submitted jobs)."""
        return self._thread is not None and self._thread.is_alive()

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
        first: list[int] = []

        def on_start(run_id: int, kind: str) -> None:
            if first:
                return  # the job's own run is the first it records (a restore's rescan records one too)
            first.append(run_id)
            ticket.run_id = self.current_run = run_id
            self._lock.set_holder(f"{kind} run {run_id}")
            for held in ticket.locks:
                try:
                    held.rename(f"{kind} run {run_id}")
                except Exception:  # the description is advisory: never fail the run because of it
                    log.warning("cannot describe the %s lock's holder", held.name, exc_info=True)
            ticket.started.set()

        def on_finish(run_id: int, _status: str) -> None:
            if run_id != ticket.run_id:
                return
            self._lock.finishing()
            for held in ticket.locks:
                held.finishing()

        try:
            catalog = Catalog(get_engine(self._url), self._url)
            with adopted(ticket.locks), watch_runs(RunWatcher(on_start, on_finish)):
                ticket.job(catalog)
        except Exception as exc:  # the library has recorded it in the run already
            log.warning("%s run %s failed: %s", ticket.kind, ticket.run_id, exc)
            ticket.error = type(exc).__name__
        finally:
            self.current_run = None
            for lock in reversed(ticket.locks):
                lock.release()
            self._lock.release()
            ticket.started.set()
