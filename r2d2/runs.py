"""Recorded runs: every operation leaves one run in the catalog, whoever calls it.

Scan, plan, apply, restore, reconstruct, check, purge, recover, calibrate, lookup and diff record their
run through :func:`recorded_run` (:mod:`r2d2.operations`, :mod:`r2d2.scan`); detect's pipeline records its own
with the same catalog calls. The CLI, the batch jobs (the CLI's shims) and the API call the same
operations, so ``r2d2 runs`` and ``GET /runs`` list every one of them, with the same kinds and shapes:

* ``params``: the operation's inputs; ``summary``: its result (counts, ids, the report);
* ``errors``: ``[{location, error}]``, the tables that failed or were refused (the run still
  ``succeeded``: the CLI's exit code 1), or the one error that stopped the run (``failed``: exit 3/4);
* ``progress``: written while the run goes (throttled to one write every
  :data:`PROGRESS_INTERVAL_S`): ``{done, total, unit}`` for a scan, ``{stage, message, messages}``
  for a detect and the deletion half.

Front ends learn the id of a run their call records with
:func:`~r2d2.catalog.runs.watch_runs` (re-exported here): no catalog subclass, no second mechanism.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from r2d2.catalog import Catalog
from r2d2.catalog.runs import RunWatcher, watch_runs
from r2d2.errors import R2D2Error, describe
from r2d2.vocabulary import RUN_KINDS

__all__ = ["KINDS", "PROGRESS_INTERVAL_S", "Recorded", "Run", "RunWatcher", "error_text", "recorded_run",
           "watch_runs"]

log = logging.getLogger("r2d2.runs")

T = TypeVar("T")

KINDS = RUN_KINDS  # kinds of runs (``runs.kind``), one per operation: r2d2.vocabulary.RunKind
PROGRESS_INTERVAL_S = 0.5
MAX_MESSAGES = 20


def error_text(exc: BaseException) -> str:
    """What a failed run records about ``exc``: an R2D2 error's message (it names the table and the
    reason), else the exception's type only (details go to the log, not to API clients)."""
    if isinstance(exc, R2D2Error):
        return describe(exc)
    return f"internal error ({type(exc).__name__}); see the log"


class Run:
    """A run being recorded: its id, and throttled progress writes."""

    def __init__(self, catalog: Catalog, run_id: int, kind: str) -> None:
        self.catalog = catalog
        self.id = run_id
        self.kind = kind
        self.closed = False
        self._last = 0.0
        self._messages: list[str] = []

    def progress(self, doc: Mapping[str, Any], *, force: bool = False) -> None:
        """Replace the run's progress document (at most every :data:`PROGRESS_INTERVAL_S` unless ``force``)."""
        now = time.monotonic()
        if self.closed or (not force and now - self._last < PROGRESS_INTERVAL_S):
            return
        self._last = now
        try:
            self.catalog.update_run_progress(self.id, doc)
        except Exception:  # progress is advisory: never fail the run because of it
            log.warning("cannot record progress of run %s", self.id, exc_info=True)

    def tables(self, done: int, total: int) -> None:
        """Tables done out of ``total`` (a scan's profiling)."""
        self.progress({"done": done, "total": total, "unit": "tables"}, force=done >= total)

    def message(self, text: str) -> None:
        """One line of progress (``"minhash: 12 pairs left"``; the part before ``:`` is the stage)."""
        self._messages = [*self._messages, text][-MAX_MESSAGES:]
        stage = text.split(":", 1)[0] if ":" in text else None
        self.progress({"stage": stage, "message": text, "messages": self._messages}, force=True)

    def finish(self, *, summary: Mapping[str, Any] | None = None,
               errors: Sequence[Mapping[str, Any]] = (), status: str = "succeeded") -> None:
        """Close the run (``errors``: the tables that failed, ``[{location, error}]``)."""
        self.catalog.finish_run(self.id, status=status, summary=dict(summary or {}), errors=list(errors))
        self.closed = True


@contextmanager
def recorded_run(catalog: Catalog, kind: str, params: Mapping[str, Any] | None = None) -> Iterator[Run]:
    """Record a run of ``kind`` around the block.

    The block closes it with :meth:`Run.finish` (summary and per-table errors); left open, it is closed
    as succeeded with an empty summary. An exception closes it as failed, its text as the one error,
    and propagates.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind!r}; one of {', '.join(KINDS)}")
    run = Run(catalog, catalog.start_run(kind, params=dict(params or {})), kind)
    try:
        yield run
    except BaseException as exc:
        if not run.closed:
            log.warning("%s run %d failed: %s", kind, run.id, exc, exc_info=not isinstance(exc, R2D2Error))
            try:
                run.finish(status="failed", errors=[{"location": None, "error": error_text(exc)}])
            except Exception:  # the catalog itself failed: the original error says more
                log.warning("cannot record the end of %s run %d", kind, run.id, exc_info=True)
        raise
    if not run.closed:
        run.finish()


@dataclass(frozen=True)
class Recorded(Generic[T]):
    """An operation's result and the id of the run that recorded it."""

    run_id: int
    value: T


def message_sink(*sinks: Callable[[str], None] | None) -> Callable[[str], None]:
    """One progress callback calling every given one (``None`` are skipped)."""
    live = [s for s in sinks if s is not None]

    def say(text: str) -> None:
        for sink in live:
            sink(text)

    return say
