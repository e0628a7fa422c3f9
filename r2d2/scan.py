"""`scan`: discover the tables under lake roots, profile new and changed ones, update the catalog.

Incremental: a table whose fingerprint is unchanged is not read again (only its ``last_seen`` moves);
a changed one is re-profiled and everything derived from it goes stale (catalog); a table no longer
found under a scanned root is marked gone. A folder that could not be listed hides nothing: tables
known under it are neither re-read nor marked gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow.fs as pafs

from r2d2.catalog import Catalog
from r2d2.catalog.tables import root_widens, under_root
from r2d2.engine.items import forked_workers
from r2d2.errors import NotFoundError
from r2d2.heap import collecting_less_often
from r2d2.lake import fs as lakefs
from r2d2.lake.discover import discover
from r2d2.lake.fs import normalize_location
from r2d2.profile.profiler import LOCAL_BYTES, iter_profile_tables
from r2d2.runs import recorded_run
from r2d2.types import TableProfile

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Progress = Callable[[int, int], None]  # (done, total) tables profiled

# Profiles are saved to the catalog in batches (one transaction each) while profiling goes on: when
# this many are waiting, or when the oldest has waited this long.
SAVE_BATCH = 500
SAVE_EVERY_S = 5.0
# Worker processes reading local footers: this process stores their profiles at about the pace of
# three (more would only wait), and each costs a fork even when a re-scan finds nothing to read.
FOOTER_PROCESSES = 4


@dataclass
class ScanSummary:
    found: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    gone: int = 0
    failed: int = 0
    bytes: int = 0
    bytes_read: int = 0
    data_bytes_read: int = 0  # bytes read from data files (CSV profiling), as opposed to metadata
    seconds: float = 0.0
    run_id: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def check_roots(roots: Sequence[str]) -> list[str]:
    """``roots`` normalized; :class:`~r2d2.errors.NotFoundError` for one that does not exist.

    Called before a scan records its run: a mistyped or unmounted root is the caller's error, not a
    table that failed (and must not make the tables known under it look gone). A root whose store cannot
    be reached is left to the scan, which reports it.
    """
    out = [normalize_location(r) for r in roots]
    for root in out:
        try:
            fs, path = lakefs.resolve(root)
            missing = fs.get_file_info(path).type == pafs.FileType.NotFound
        except (OSError, ValueError):
            continue
        if missing:
            raise NotFoundError(f"scan root {lakefs.printable(root)}: no such file or folder")
    return out


def scan(catalog: Catalog, roots: Sequence[str], *, spark_factory: Callable[[], SparkSession],
         progress: Progress | None = None, local_bytes: int = LOCAL_BYTES, threads: int = 2,
         retry_errors: bool = False) -> ScanSummary:
    """Scan ``roots`` into ``catalog`` and return what changed (CSV files totalling at most
    ``local_bytes`` are profiled on the driver with ``threads`` threads, without Spark).

    A table whose profiling failed is tried again when its files change; ``retry_errors``: also when
    they have not (once the cause is fixed: permissions, an engine that crashed, a store that timed out).

    Raises :class:`~r2d2.errors.NotFoundError` before recording a run when a root does not exist."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    roots = check_roots(roots)
    summary = ScanSummary()
    params: dict[str, object] = {"roots": list(roots), **({"retry_errors": True} if retry_errors else {})}
    with recorded_run(catalog, "scan", params) as run:
        summary.run_id = run.id

        def tell(done: int, total: int) -> None:
            run.tables(done, total)
            if progress is not None:
                progress(done, total)

        # Footer workers are forked first, before discovery starts threads and delta-rs its runtime
        local = not any(lakefs.is_object_store(r) for r in roots)
        with collecting_less_often(), forked_workers(min(threads, FOOTER_PROCESSES) if local else 1) as workers:
            _scan(catalog, roots, spark_factory, tell, now, summary, local_bytes, threads, workers, retry_errors)
        summary.seconds = time.perf_counter() - started
        run.finish(summary={k: v for k, v in summary.to_json().items() if k not in ("errors", "warnings")},
                   errors=summary.errors)
    return summary


def _scan(catalog: Catalog, roots: Sequence[str], spark_factory: Callable[[], SparkSession],
          progress: Progress | None, now: datetime, summary: ScanSummary, local_bytes: int, threads: int,
          workers: ProcessPoolExecutor | None, retry_errors: bool = False) -> None:
    found = discover(roots, workers=workers)
    state = catalog.scan_state()
    known = {loc: fp for loc, (fp, _) in state.items()}
    # what is compared with the fingerprints found: a table retried is one that differs
    compared = dict(known)
    if retry_errors:
        for errored in catalog.list_tables(status="error", with_profile=False):
            compared.pop(errored.location, None)
    summary.found = len(found.tables)
    summary.bytes = sum(f.size for t in found.tables for f in t.files)
    todo, same = [], []
    for t in found.tables:
        if compared.get(t.location) == t.fingerprint:
            same.append(t.location)
        else:
            todo.append(t)
    catalog.touch_seen(same, seen_at=now)
    summary.unchanged = len(same)

    by_location = {t.location: t for t in todo}
    pending: list[tuple[bool, TableProfile]] = []  # (new to the catalog, profile) not yet saved
    oldest = 0.0  # when the first pending profile came

    inserted: set[str] = set()  # new rows, saved with their root

    def flush() -> None:
        results = catalog.save_profiles([p for _, p in pending], seen_at=now, roots=found.roots)
        for (is_new, profile), result in zip(pending, results, strict=True):
            if result == "new":
                inserted.add(profile.location)
            if result == "new" or is_new:
                summary.new += 1
            else:
                summary.changed += 1
        pending.clear()

    done = 0
    for outcome in iter_profile_tables(todo, spark_factory=spark_factory, local_bytes=local_bytes, threads=threads,
                                       workers=workers):
        done += 1
        if progress:
            progress(done, len(todo))
        if outcome.profile is None:
            summary.failed += 1
            summary.errors.append({"location": outcome.location, "error": outcome.error or "unknown error"})
            table = by_location[outcome.location]
            catalog.save_error(outcome.location, error=outcome.error or "unknown error", seen_at=now,
                               format=table.format, fingerprint=table.fingerprint)
            continue
        profile = outcome.profile
        summary.bytes_read += profile.bytes_read
        if profile.data_read:
            summary.data_bytes_read += profile.bytes_read
        for issue in profile.issues:
            summary.warnings.append({"location": profile.location, "warning": issue.message})
        if not pending:
            oldest = time.monotonic()
        pending.append((outcome.location not in known, profile))
        if len(pending) >= SAVE_BATCH or time.monotonic() - oldest >= SAVE_EVERY_S:
            flush()
    if pending:
        flush()
    # Outcomes come in completion order: report them in discovery order, as the tables were found.
    rank = {t.location: i for i, t in enumerate(todo)}
    summary.errors.sort(key=lambda e: rank[e["location"]])
    summary.warnings.sort(key=lambda w: rank[w["location"]])

    blind = []
    escaped: set[str] = set()
    for err in found.errors:
        summary.failed += 1
        summary.errors.append({"location": err.location, "error": err.message})
        if err.escaped:
            # Behind a link out of the root: what the catalog knew there is forgotten (never served).
            behind = {loc for loc in known if under_root(loc, err.location)} | {err.location}
            for loc in sorted(behind):
                catalog.save_error(loc, error=err.message, seen_at=now, forget_profile=True)
            escaped |= behind
            continue
        blind.append(err.location)
        if err.location in known or not any(under_root(loc, err.location) for loc in known if loc != err.location):
            catalog.save_error(err.location, error=err.message, seen_at=now)
    # Only what changes is written (a re-scan of an unchanged lake writes nothing here): the roots that
    # widen, and those of tables that were not active or errored at the start (comebacks, new errors;
    # set_roots checks them itself) but new tables, which got theirs when inserted.
    def needs_root(loc: str, root: str) -> bool:
        return root_widens(state[loc][1], root) if loc in state else loc not in inserted

    catalog.set_roots({loc: root for loc, root in {**found.roots, **_roots_of(escaped, roots)}.items()
                       if needs_root(loc, root)})
    seen = {t.location for t in found.tables} | {e.location for e in found.errors} | escaped
    if blind:
        seen |= {loc for loc in known if any(under_root(loc, b) for b in blind)}
    # Every table mark_gone could find was read above (nothing becomes active here but what was found):
    # when all of them were seen, there is nothing to look for.
    if any(loc not in seen and any(under_root(loc, r) for r in roots) for loc in known):
        summary.gone = len(catalog.mark_gone(roots=roots, seen=seen, seen_at=now))


def _roots_of(locations: set[str], roots: Sequence[str]) -> dict[str, str]:
    """The (longest) scan root of each location."""
    out = {}
    for loc in locations:
        under = [r for r in roots if under_root(loc, r)]
        if under:
            out[loc] = max(under, key=len)
    return out
