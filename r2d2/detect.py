"""`detect` as every front end runs it (CLI, batch job, API, demo): one at a time, on confined tables.

:func:`detect` takes the catalog's ``detect`` lock (:mod:`r2d2.catalog.locks`: a second detect, in this
or any process, stops at once naming the holder), then checks that every active table still lies
inside its scan root (:mod:`r2d2.lake.confine`; a symbolic link may have been put in place since the
scan) — a table that does not becomes an error with its profile forgotten, and is never read — and
then runs the five stages (:func:`r2d2.containment.pipeline.detect`), which record the run; its
progress lines go to the run's progress document too (:mod:`r2d2.runs`), as a scan's do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from r2d2.catalog import Catalog
from r2d2.catalog.locks import exclusive
from r2d2.config import Settings
from r2d2.lake import confine
from r2d2.runs import Run, RunWatcher, watch_runs

if TYPE_CHECKING:
    from r2d2.containment.report import DetectResult


def confine_tables(catalog: Catalog) -> list[str]:
    """Mark every active table whose real path leaves its root as an error; returns their locations."""
    now = datetime.now(UTC)
    escaped = []
    lookups = confine.Lookups()
    for t in catalog.list_tables(status="active", with_profile=False, order="id"):
        found = confine.escape(t.location, confine.table_root(t.location, t.root), lookups)
        if found is not None:
            catalog.save_error(t.location, error=str(found.error(t.location)), seen_at=now, forget_profile=True)
            escaped.append(t.location)
    return escaped


def detect(catalog: Catalog, settings: Settings, spark_factory: Callable[[], Any],
           **options: Any) -> DetectResult:
    """Run detection (``options`` go to the pipeline) under the ``detect`` lock, on confined tables only.

    Raises :class:`~r2d2.errors.OperationBusyError` when another detect holds the lock.
    """
    from r2d2.containment.pipeline import detect as run_pipeline

    caller = options.pop("progress", None)
    runs: list[Run] = []

    def on_start(run_id: int, kind: str) -> None:
        if kind == "detect" and not runs:
            runs.append(Run(catalog, run_id, kind))

    def say(text: str) -> None:
        if runs and not runs[0].closed:
            runs[0].message(text)
        if caller is not None:
            caller(text)

    def on_finish(run_id: int, _status: str) -> None:
        if runs and runs[0].id == run_id:
            runs[0].closed = True

    with exclusive(catalog, "detect", "detect"), watch_runs(RunWatcher(on_start, on_finish)):
        confine_tables(catalog)
        return run_pipeline(catalog, settings, spark_factory, progress=say, **options)
