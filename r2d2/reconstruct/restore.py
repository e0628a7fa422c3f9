"""Restore, reconstruct, purge and recover.

* :func:`restore` — a quarantined table moves back (journaled, like apply; fault points
  ``restore:<step>:<n>``); a purged one is rebuilt from its recipe into a hidden folder next to its
  location, verified (checksum, names, types), then renamed into place (atomic) and re-scanned. A
  rebuilt table is unpartitioned Parquet, or Delta for a Delta child (see :mod:`.rebuild`).
* :func:`reconstruct_to` — rebuild a deleted table into another path (Parquet or Delta), verified,
  without touching the original location or the quarantine.
* :func:`purge` — remove quarantined files after the retention period, only when the recipe exists,
  was checked, its files are in the recipe store, and the pinned parent content is still readable.
* :func:`recover` — finish or roll back every interrupted operation (see the rules in its docstring).

Restore, purge and recover hold the catalog's ``destructive`` lock (one destructive operation at a time
across every process). Every path they act on must stay inside its root (:mod:`r2d2.lake.confine`): a
table's location inside its scan root, a quarantine folder inside ``<home>/quarantine``, a pinned
parent inside its scan root; otherwise they refuse, naming the symbolic link.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r2d2.catalog import Catalog
from r2d2.catalog.journal import LIVE_STATES, DeletionRecord
from r2d2.config import Settings
from r2d2.errors import NotFoundError, ReconstructError, SafetyError
from r2d2.lake import confine
from r2d2.lake import fs as lakefs
from r2d2.lake.fs import normalize_location
from r2d2.reconstruct import recipe as rcp
from r2d2.reconstruct.apply import base_name, destructive, table_path
from r2d2.reconstruct.faults import fault_point
from r2d2.reconstruct.journal import Journal, fsync_dir
from r2d2.reconstruct.quarantine import complete, discard_partial, exists, move_tree, on_store
from r2d2.reconstruct.rebuild import OutputFormat, rebuild_and_verify
from r2d2.vocabulary import MoveMode

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_RETENTION = timedelta(days=7)


def live_deletion(catalog: Catalog, location: str) -> DeletionRecord:
    location = normalize_location(location)
    found = catalog.list_deletions(location=location, states=LIVE_STATES)
    if not found:
        raise NotFoundError(f"{location} is not a deleted table (no quarantined or purged deletion)")
    return found[-1]


def _root_of(catalog: Catalog, table_id: int) -> str | None:
    """The scan root of a catalogued table (None when unknown: it is then confined to its folder)."""
    try:
        return catalog.get_table_by_id(table_id).root
    except NotFoundError:
        return None


def _in_quarantine(settings: Settings, path: str) -> None:
    confine.check(str(path), settings.quarantine_location)


def restore(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession], location: str,
            *, move_mode: MoveMode = "auto") -> str:
    """Bring a deleted table back to its location; returns how (``quarantine`` or ``rebuild``)."""
    d = live_deletion(catalog, location)
    with destructive(catalog, f"restore of {d.location}"):
        return _restore(catalog, settings, spark_factory, d, move_mode)


def _restore(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession], d: DeletionRecord,
             move_mode: MoveMode) -> str:
    d = catalog.get_deletion(d.id)  # its state as of now, under the lock
    src = table_path(d.location)
    confine.check(d.location, _root_of(catalog, d.table_id))
    if exists(src):
        raise SafetyError(f"{d.location} exists already; refusing to overwrite it (move it away first)")
    if d.state == "quarantined":
        _in_quarantine(settings, d.quarantine_path)
        _move_back(catalog, d, move_mode)
        return "quarantine"
    if d.state == "purging":
        raise SafetyError(f"{d.location}: a purge is in progress; run `r2d2 recover` first")
    if d.state != "purged":
        raise SafetyError(f"{d.location}: its deletion is {d.state} now; nothing to restore")
    rec = catalog.get_recipe(d.recipe_id)
    _rebuild_in_place(catalog, spark_factory, rec.recipe, src, _root_of(catalog, rec.parent_id))
    catalog.set_deletion_state(d.id, "restored")
    _rescan(catalog, spark_factory, d.location)
    return "rebuild"


def _move_back(catalog: Catalog, d: DeletionRecord, move_mode: MoveMode) -> None:
    src, q = table_path(d.location), d.quarantine_path
    jpath = Path(d.journal_path).with_name(f"{d.id}-restore-{uuid.uuid4().hex[:6]}.jsonl")
    journal = Journal.create(jpath, op="restore", deletion_id=d.id, src=q, dst=src, mode=move_mode)
    catalog.set_deletion_state(d.id, "restoring")

    def fault(step: str) -> None:
        fault_point("restore", step)

    fault("intent")
    used = move_tree(q, src, mode=move_mode, journal=journal, fault=fault)
    journal.step("moved", mode=used)
    fault("moved")
    catalog.set_deletion_state(d.id, "restored")
    fault("committed")
    journal.finish("restored")
    _remove_empty(lakefs.parent(q))


def _remove_empty(folder: str) -> None:
    """Remove a quarantine folder left empty (object stores have no empty folders to remove)."""
    if not on_store(folder):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _rebuild_in_place(catalog: Catalog, spark_factory: Callable[[], SparkSession], recipe: dict[str, Any],
                      target: str, parent_root: str | None) -> None:
    child = recipe["child"]
    fmt: OutputFormat = "delta" if child["format"] == "delta" else "parquet"
    as_file = bool(child.get("single_file"))
    if as_file and not base_name(target).lower().endswith((".parquet", ".parq")):
        raise ReconstructError(f"{target}: a single-file {child['format']} table cannot be rebuilt in place as "
                               "Parquet; use `r2d2 reconstruct LOCATION --to PATH`")
    problem = rcp.pinned_parent_problem(recipe["parent"], parent_root) or rcp.store_problem(recipe)
    if problem:
        raise ReconstructError(f"{target}: cannot rebuild: {problem}")
    if on_store(target):  # no atomic rename: rebuilt and verified in place, removed again if it fails
        rebuild_and_verify(spark_factory(), recipe, target, fmt, as_file=as_file)
        return
    folder = Path(target).parent
    staging = folder / f".{base_name(target)}.r2d2-restore-{uuid.uuid4().hex[:8]}"
    try:
        rebuild_and_verify(spark_factory(), recipe, str(staging), fmt, as_file=as_file)
        os.rename(staging, target)
        fsync_dir(folder)
    finally:
        with contextlib.suppress(OSError):
            lakefs.remove(str(staging))


def _rescan(catalog: Catalog, spark_factory: Callable[[], SparkSession], location: str) -> None:
    from r2d2.scan import scan

    scan(catalog, [location], spark_factory=spark_factory)


def reconstruct_to(catalog: Catalog, spark_factory: Callable[[], SparkSession], location: str, target: str,
                   fmt: OutputFormat = "parquet") -> dict[str, Any]:
    """Rebuild the table deleted from ``location`` into ``target`` (verified); the original is untouched."""
    location = normalize_location(location)
    found = catalog.list_deletions(location=location)
    if not found:
        raise NotFoundError(f"{location} has no recipe (it was never deleted by r2d2)")
    rec = catalog.get_recipe(found[-1].recipe_id)
    problem = (rcp.pinned_parent_problem(rec.recipe["parent"], _root_of(catalog, rec.parent_id))
               or rcp.store_problem(rec.recipe))
    if problem:
        raise ReconstructError(f"{location}: cannot rebuild: {problem}")
    path = normalize_location(target)
    rebuild_and_verify(spark_factory(), rec.recipe, path, fmt)
    return {"location": location, "to": path, "format": fmt, "rows": rec.recipe["child"]["num_rows"],
            "checksum": rec.checksum}


@dataclass
class PurgeReport:
    purged: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # (location, why not purged)


def purge(catalog: Catalog, settings: Settings, *, older_than: timedelta = DEFAULT_RETENTION,
          now: datetime | None = None) -> PurgeReport:
    now = now or datetime.now(UTC)
    with destructive(catalog, "purge"):
        return _purge(catalog, settings, older_than, now)


def _quarantine_problem(settings: Settings, d: DeletionRecord) -> str | None:
    try:
        _in_quarantine(settings, d.quarantine_path)
    except SafetyError as exc:
        return str(exc)
    return None


def _purge(catalog: Catalog, settings: Settings, older_than: timedelta, now: datetime) -> PurgeReport:
    report = PurgeReport()
    for d in catalog.list_deletions(states=("quarantined",)):
        if d.quarantined_at is None or d.quarantined_at > now - older_than:
            continue
        rec = catalog.get_recipe(d.recipe_id)
        problem = None if rec.checked_at else "its recipe was never checked"
        problem = (problem or _quarantine_problem(settings, d) or rcp.store_problem(rec.recipe)
                   or rcp.pinned_parent_problem(rec.recipe["parent"], _root_of(catalog, rec.parent_id)))
        if problem:
            report.kept.append((d.location, problem))
            continue
        _purge_one(catalog, d)
        report.purged.append(d.location)
    return report


def _purge_one(catalog: Catalog, d: DeletionRecord) -> None:
    folder = lakefs.parent(d.quarantine_path)
    journal = Journal.create(Path(d.journal_path).with_name(f"{d.id}-purge.jsonl"), op="purge",
                             deletion_id=d.id, folder=folder)
    catalog.set_deletion_state(d.id, "purging")
    fault_point("purge", "intent")
    lakefs.remove(folder)
    catalog.set_deletion_state(d.id, "purged")
    journal.finish("purged")


@dataclass
class RecoverReport:
    actions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def recover(catalog: Catalog, settings: Settings) -> RecoverReport:
    """Finish or roll back every interrupted operation.

    Deletion (catalog ``intent``/``moving``): the quarantine destination appears only by an atomic
    rename (of the table, or of the complete, verified staging copy), so if it exists the move is
    *rolled forward* (any leftover source files are unlinked after checking each is in quarantine with
    the same size; the recipe was checked before the move began) and the table becomes quarantined;
    otherwise nothing left the source: a partial staging copy is removed and the deletion is
    *rolled back*. Restore (``restoring``): rolled forward the same way (the move is resumed).
    Purge (``purging``): finished. Journal files of finished operations are closed.
    """
    with destructive(catalog, "recover"):
        return _recover(catalog, settings)


def _recover(catalog: Catalog, settings: Settings) -> RecoverReport:
    report = RecoverReport()
    for d in catalog.list_deletions(states=("intent", "moving", "restoring", "purging")):
        try:
            _recover_one(catalog, settings, d, report)
        except Exception as exc:  # keep going; say what is left
            report.problems.append(f"deletion {d.id} ({d.location}): {exc}")
    for path in sorted(settings.journal_dir.glob("*.jsonl")) if settings.journal_dir.exists() else []:
        j = Journal(path)
        if not j.done:
            did = j.header.get("deletion_id")
            state = catalog.get_deletion(int(did)).state if did is not None else "?"
            if state not in ("intent", "moving", "restoring", "purging"):
                j.finish(f"closed by recover (deletion {state})")
    return report


def _recover_one(catalog: Catalog, settings: Settings, d: DeletionRecord, report: RecoverReport) -> None:
    src = table_path(d.location)
    q = d.quarantine_path or None
    confine.check(d.location, _root_of(catalog, d.table_id))
    if q is not None:
        _in_quarantine(settings, q)
    if d.state in ("intent", "moving"):
        if q is not None and complete(src, q):
            move_tree(src, q)  # resumes: finishes unlinking the source if needed
            catalog.set_deletion_state(d.id, "quarantined")
            report.actions.append(f"rolled forward: {d.location} is in quarantine ({q})")
            return
        if not exists(src):
            raise SafetyError(f"{d.location} is neither in place nor in quarantine")
        if q is not None:
            discard_partial(src, q)
            _remove_empty(lakefs.parent(q))
        catalog.set_deletion_state(d.id, "rolled_back")
        report.actions.append(f"rolled back: {d.location} stays in place")
    elif d.state == "restoring":
        assert q is not None
        move_tree(q, src)
        catalog.set_deletion_state(d.id, "restored")
        _remove_empty(lakefs.parent(q))
        report.actions.append(f"rolled forward: {d.location} restored from quarantine")
    elif d.state == "purging":
        assert q is not None
        lakefs.remove(lakefs.parent(q))
        catalog.set_deletion_state(d.id, "purged")
        report.actions.append(f"finished purge of {d.location}")
