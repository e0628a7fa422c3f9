"""`apply`: carry out a stored plan's deletions, safely.

For each table the plan deletes, in two phases:

1. **Verify and prepare** (Spark; nothing in the lake changes): the child and its parent must be
   active in the catalog with the fingerprints the plan was made on, and their files on disk must
   still have those fingerprints (else the table is refused: drift). The recipe is built
   (:mod:`r2d2.reconstruct.recipe`), the child is rebuilt *once* into a scratch folder and compared
   with the original (checksum, row count, column names and types); only a recipe that passed is
   stored (``recipes`` row with ``checked_at``, ``recipe.json`` in the recipe store). A checked recipe
   made on the same fingerprints is reused, so a re-run (or a crash test) skips this phase.
2. **Journaled move** (no Spark): fingerprints are checked once more, then the table moves into
   ``<quarantine>/<deletion id>/`` (``Settings.quarantine_location``: a local folder or an object-store
   URI; a table on an object store, or a quarantine on one, moves by copy → verify → delete) through
   the journal (:mod:`r2d2.reconstruct.journal`,
   :func:`r2d2.reconstruct.quarantine.move_tree`): catalog row ``intent`` → journal file → ``moving`` →
   move → journal ``moved`` → catalog ``quarantined`` (the table becomes ``gone``) → journal ``done``.

Apply holds the catalog's ``destructive`` lock (:mod:`r2d2.catalog.locks`) from start to end (not for
a dry run): a second apply, in this or any process, stops at once naming the holder, before any recipe
work. Before a table is read and again just before it moves, child and parent must stay inside their
roots (:mod:`r2d2.lake.confine`): a table behind a symbolic link out of its root is refused.

Fault points (``R2D2_FAULT=apply:<step>:<n>``): ``intent``, ``rename`` | ``copy``/``staged``/``unlink``,
``moved``, ``committed``, ``done``.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from r2d2.catalog import Catalog, TableRecord
from r2d2.catalog.journal import LIVE_STATES, OPEN_STATES
from r2d2.catalog.locks import HeldLock, exclusive
from r2d2.catalog.recipes import RecipeRecord
from r2d2.config import Settings
from r2d2.errors import PathEscapeError, R2D2Error, SafetyError
from r2d2.lake import confine
from r2d2.lake import fs as lakefs
from r2d2.optimize.plan import load_plan
from r2d2.reconstruct import recipe as rcp
from r2d2.reconstruct.faults import fault_point
from r2d2.reconstruct.journal import Journal
from r2d2.reconstruct.quarantine import move_tree
from r2d2.reconstruct.rebuild import rebuild_and_verify
from r2d2.vocabulary import MoveMode

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class ApplyItem:
    location: str
    parent: str | None
    action: str  # deleted | would-delete | prepared | refused | failed | skipped
    reason: str = ""
    recipe_id: int | None = None
    deletion_id: int | None = None
    selection: str | None = None
    seconds: float = 0.0


@dataclass
class ApplyReport:
    plan_id: int
    dry_run: bool
    items: list[ApplyItem] = field(default_factory=list)

    @property
    def failed(self) -> list[ApplyItem]:
        return [i for i in self.items if i.action in ("refused", "failed")]

    def to_json(self) -> dict[str, Any]:
        return {"plan_id": self.plan_id, "dry_run": self.dry_run, "items": [asdict(i) for i in self.items]}


def table_path(location: str) -> str:
    """Where a table's files are: a local path (``file://`` URIs included) or an object-store URI."""
    location = lakefs.normalize_location(location)
    return "/" + location[len("file://"):].lstrip("/") if location.startswith("file://") else location


def base_name(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[-1]


def drift_problems(expected: dict[str, str], *tables: TableRecord) -> list[str]:
    """Why the tables no longer match the plan: catalog status/fingerprint, then the files on disk."""
    problems = []
    for t in tables:
        want = expected.get(str(t.id))
        if t.status != "active":
            problems.append(f"{t.location} is {t.status} in the catalog")
        elif want is not None and t.fingerprint != want:
            problems.append(f"{t.location} changed since the plan (catalog fingerprint)")
        else:
            now = rcp.current_fingerprint(t.location)
            if now != t.fingerprint:
                problems.append(f"{t.location} changed on disk since it was scanned"
                                if now else f"{t.location} is not on disk")
    return problems


def confined(*tables: TableRecord) -> None:
    """Raise :class:`~r2d2.errors.PathEscapeError` when a table's real path leaves its root."""
    for t in tables:
        confine.check(t.location, t.root)


@contextmanager
def destructive(catalog: Catalog, operation: str) -> Iterator[HeldLock]:
    """Hold the catalog's ``destructive`` lock for ``operation`` (re-entrant)."""
    with exclusive(catalog, "destructive", operation) as lock:
        yield lock


def apply_plan(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession], plan_id: int,
               *, dry_run: bool = False, prepare_only: bool = False, move_mode: MoveMode = "auto",
               progress: Callable[[str], None] | None = None) -> ApplyReport:
    """Carry out plan ``plan_id`` (see the module docstring); per-table outcomes are in the report.

    Raises :class:`~r2d2.errors.OperationBusyError` when another operation holds the destructive lock.
    """
    catalog.get_plan(plan_id)  # an unknown plan is NotFoundError, not a lock taken for nothing
    hold = nullcontext() if dry_run else destructive(catalog, f"apply of plan {plan_id}")
    with hold as lock:
        return _apply(catalog, settings, spark_factory, plan_id, lock, dry_run=dry_run, prepare_only=prepare_only,
                      move_mode=move_mode, progress=progress)


def _apply(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession], plan_id: int,
           lock: HeldLock | None, *, dry_run: bool, prepare_only: bool, move_mode: MoveMode,
           progress: Callable[[str], None] | None) -> ApplyReport:
    say = progress or (lambda _m: None)
    stored = catalog.get_plan(plan_id)
    plan = load_plan(stored.plan)
    report = ApplyReport(plan_id, dry_run)
    pins: dict[int, dict[str, Any]] = {}
    deleted_ids = {d.table_id for d in plan.deleted}
    for d in sorted(plan.deleted, key=lambda d: d.location):
        t0 = time.perf_counter()
        item = ApplyItem(d.location, d.parent_location, "failed")
        report.items.append(item)
        try:
            child = catalog.get_table_by_id(d.table_id)
            assert d.parent_id is not None
            parent = catalog.get_table_by_id(d.parent_id)
            done = catalog.list_deletions(table_id=child.id, states=(*LIVE_STATES, *OPEN_STATES))
            if done:
                item.action, item.reason, item.deletion_id = "skipped", f"already {done[-1].state}", done[-1].id
                continue
            if parent.id in deleted_ids:
                item.action, item.reason = "refused", "the plan deletes its parent too (unsound plan)"
                continue
            dependants = [catalog.get_recipe(x.recipe_id).location
                          for x in catalog.list_deletions(states=(*LIVE_STATES, *OPEN_STATES))
                          if catalog.get_recipe(x.recipe_id).parent_id == child.id]
            if dependants:
                item.action = "refused"
                item.reason = f"it is the pinned parent of deleted table(s) {', '.join(sorted(dependants))}"
                continue
            confined(child, parent)
            problems = drift_problems(stored.fingerprints, child, parent)
            if problems:
                item.action, item.reason = "refused", "drift: " + "; ".join(problems)
                continue
            if dry_run:
                item.action = "would-delete"
                continue
            rec = catalog.find_checked_recipe(child.id, parent.id, str(child.fingerprint), str(parent.fingerprint))
            if rec is None:
                say(f"recipe: {child.location} from {parent.location}")
                rec = prepare(catalog, settings, spark_factory(), child, parent, plan_id, pins)
            item.recipe_id, item.selection = rec.id, rec.selection
            if prepare_only:
                item.action = "prepared"
                continue
            say(f"quarantine: {child.location}")
            if lock is not None:
                lock.ensure()
            item.deletion_id = quarantine(catalog, settings, child, parent, rec, plan_id, move_mode)
            item.action = "deleted"
        except PathEscapeError as exc:  # behind a link out of its root: never read, never moved
            item.action, item.reason = "refused", str(exc)
        except R2D2Error as exc:
            item.action, item.reason = "failed", str(exc)
        finally:
            item.seconds = time.perf_counter() - t0
    return report


def prepare(catalog: Catalog, settings: Settings, spark: SparkSession, child: TableRecord, parent: TableRecord,
            plan_id: int | None, pins: dict[int, dict[str, Any]]) -> RecipeRecord:
    """Build the recipe, rebuild once into scratch and compare; store it only when it matched."""
    assert child.profile is not None and parent.profile is not None
    if parent.id not in pins:
        pins[parent.id] = rcp.pin_parent(parent.profile)
    key = uuid.uuid4().hex
    work = lakefs.join(settings.work_location, f"recipe-{key}")  # shared with the executors
    store = lakefs.join(settings.recipes_location, key)
    lakefs.makedirs(work)
    try:
        recipe = rcp.build_recipe(spark, child.profile, pins[parent.id], work=work, store=store)
        rebuild_and_verify(spark, recipe, lakefs.join(work, "rebuilt"))
        nbytes = rcp.save(recipe, store)
    except BaseException:
        rcp.discard(store)
        raise
    finally:
        with contextlib.suppress(OSError):
            lakefs.remove(work)
    rid = catalog.add_recipe(table_id=child.id, parent_id=parent.id, plan_id=plan_id, recipe=recipe,
                             path=str(store), recipe_bytes=nbytes, checked=True)
    return catalog.get_recipe(rid)


def quarantine(catalog: Catalog, settings: Settings, child: TableRecord, parent: TableRecord, rec: RecipeRecord,
               plan_id: int | None, move_mode: MoveMode) -> int:
    """The journaled move of one child into quarantine; returns the deletion id."""
    confined(child, parent)  # a link may have been put in place while the recipe was made
    now_child = rcp.current_fingerprint(child.location)
    now_parent = rcp.current_fingerprint(parent.location)
    if now_child != rec.child_fingerprint or now_parent != rec.parent_fingerprint:
        raise SafetyError(f"{child.location}: drift just before the move (child or parent changed on disk)")
    if rcp.store_problem(rec.recipe):
        raise SafetyError(f"{child.location}: {rcp.store_problem(rec.recipe)}")
    src = table_path(child.location)
    did = catalog.add_deletion(table_id=child.id, location=child.location, recipe_id=rec.id, plan_id=plan_id,
                               quarantine_path="", journal_path="")
    dst = lakefs.join(settings.quarantine_location, f"{did}/{base_name(src) or 'table'}")
    jpath = settings.journal_dir / f"{did}.jsonl"
    catalog.set_deletion_paths(did, quarantine_path=dst, journal_path=str(jpath))
    journal = Journal.create(jpath, op="delete", deletion_id=did, src=src, dst=dst, mode=move_mode,
                             recipe_id=rec.id)
    catalog.set_deletion_state(did, "moving")

    def fault(step: str) -> None:
        fault_point("apply", step)

    fault("intent")
    used = move_tree(src, dst, mode=move_mode, journal=journal, fault=fault)
    journal.step("moved", mode=used)
    fault("moved")
    catalog.set_deletion_state(did, "quarantined", steps=[{k: e[k] for k in e if k != "at"}
                                                         for e in journal.entries()])
    fault("committed")
    journal.finish("quarantined")
    fault("done")
    return did
