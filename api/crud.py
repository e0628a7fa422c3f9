"""The reads and small writes of the routes, over the catalog's public repository methods.

No SQL here: pages, counts and aggregates are :class:`~r2d2.catalog.Catalog` methods. What this layer
adds is the combination a page needs (items and total) and a short-lived snapshot of the matching ids.

Offset pages (``?offset=``) are cut from a snapshot of the ids that match the filters, in page order,
kept :data:`SNAPSHOT_TTL_S` per filter combination (:class:`Snapshots`); the page's rows are then read
by id and filtered again. ``OFFSET 50000`` made the database walk 50,000 index entries for every page:
it was most of a request's time (``bench/results/api.md``); the snapshot costs one index walk per filter
combination every :data:`SNAPSHOT_TTL_S`, and gives the total for free. So an offset page reflects
membership up to twice that old (a row that stopped matching meanwhile is left out, the page is then short);
keyset pages (``?after_id=``) read the database directly and are always current.
"""

from __future__ import annotations

import logging
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from r2d2.catalog import Catalog
from r2d2.catalog._base import RawRows
from r2d2.catalog.edges import EdgeFilter
from r2d2.catalog.journal import LIVE_STATES
from r2d2.catalog.plans import PlanRecord
from r2d2.catalog.records import RunRecord, TableRecord
from r2d2.errors import NotFoundError
from r2d2.optimize.access import AccessImport, parse_rows

log = logging.getLogger("r2d2.api")

SNAPSHOT_TTL_S = 2.0
SNAPSHOTS_MAX = 64
MAX_RELOADS = 4  # background snapshot reloads at once, per kind (each holds a catalog connection)
V = TypeVar("V")


class Snapshots(Generic[V]):
    """Values computed per key (ids matching a filter combination, a total), each kept
    :data:`SNAPSHOT_TTL_S` (LRU of :data:`SNAPSHOTS_MAX`).

    A value past its TTL but within another ``grace_s`` (by default the TTL again) is still served while
    a background thread reloads it, one reload per key and at most :data:`MAX_RELOADS` at a time: a
    reload of 100,000 ids takes tens of milliseconds, which the requests queued behind it (on an
    ``async`` route, every request of that worker) would add to their latency (``bench/results/api.md``).
    A key never loaded, or not asked for since its grace ended, is waited for: so a value is never more
    than ``ttl_s + grace_s`` old (4 s). A reload that fails keeps the previous value for another TTL (no
    reload per request while the catalog is down).
    """

    def __init__(self, ttl_s: float = SNAPSHOT_TTL_S, size: int = SNAPSHOTS_MAX, grace_s: float | None = None) -> None:
        self.ttl_s = ttl_s
        self.grace_s = ttl_s if grace_s is None else grace_s
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[Any, ...], threading.Lock] = {}
        self._reloads = threading.BoundedSemaphore(MAX_RELOADS)

    def get(self, key: tuple[Any, ...], load: Callable[[], V]) -> V:
        with self._lock:
            hit = self._items.get(key)
            gate = self._loading.setdefault(key, threading.Lock())
        if hit is not None:
            age = time.monotonic() - hit[0]
            if age < self.ttl_s:
                return hit[1]
            if age < self.ttl_s + self.grace_s:
                if gate.acquire(blocking=False):
                    self._reload_later(key, load, gate)
                return hit[1]
        with gate:  # never loaded, or too old to serve
            with self._lock:
                again = self._items.get(key)  # reloaded by another request while this one waited
            if again is not None and time.monotonic() - again[0] < self.ttl_s:
                return again[1]
            return self._keep(key, load())

    def _reload_later(self, key: tuple[Any, ...], load: Callable[[], V], gate: threading.Lock) -> None:
        """Reload on a daemon thread (a reload stuck on the catalog must not hold up the server's exit)."""
        if not self._reloads.acquire(blocking=False):
            gate.release()  # enough reloads running: a later request starts this one
            return
        try:
            threading.Thread(target=self._reload, args=(key, load, gate), name="r2d2-snapshot", daemon=True).start()
        except RuntimeError:  # no thread to be had: the previous value meanwhile
            log.warning("cannot start a thread to reload the snapshot %r", key, exc_info=True)
            self._reloads.release()
            gate.release()

    def _reload(self, key: tuple[Any, ...], load: Callable[[], V], gate: threading.Lock) -> None:
        try:
            self._keep(key, load())
        except Exception:
            log.warning("reloading the snapshot %r failed; keeping the previous one", key, exc_info=True)
            with self._lock:
                previous = self._items.get(key)
                if previous is not None:
                    self._items[key] = (time.monotonic(), previous[1])
        finally:
            self._reloads.release()
            gate.release()

    def _keep(self, key: tuple[Any, ...], value: V) -> V:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                old, _ = self._items.popitem(last=False)
                self._loading.pop(old, None)
        return value


LOCATIONS_MAX = 250_000  # table locations kept per server process (about 150 bytes each: 40 MB)
LOCATIONS_TTL_S = 600.0


class Locations:
    """Table id -> location, kept by the server process to fill in the locations of edge pages.

    Joining every edge of a page with its two tables was most of PostgreSQL's work for the page (774 of
    951 buffer reads for 100 edges). A table's row keeps its id and its location for good (rows are
    never deleted, a location never rewritten: it is the table's identity), so what was read once stays
    right; a table new since then is read with the page's other missing ids, in one query. Everything is
    dropped every :data:`LOCATIONS_TTL_S` all the same (a catalog restored under a running server), or
    when :data:`LOCATIONS_MAX` are kept.
    """

    def __init__(self, catalog: Catalog, *, ttl_s: float = LOCATIONS_TTL_S, size: int = LOCATIONS_MAX) -> None:
        self.catalog = catalog
        self.ttl_s, self.size = ttl_s, size
        self._known: dict[int, str] = {}
        self._since = time.monotonic()

    def add_to(self, raw: RawRows) -> RawRows:
        """``raw`` (edges without locations) with ``parent_location`` and ``child_location`` appended."""
        if time.monotonic() - self._since > self.ttl_s or len(self._known) > self.size:
            self._known, self._since = {}, time.monotonic()
        known = self._known  # (another thread may replace it meanwhile: this page uses this one)
        i_p, i_c = raw.keys["parent_id"], raw.keys["child_id"]
        missing = {t for r in raw.rows for t in (r[i_p], r[i_c]) if t not in known}  # (not a set difference:
        # that walks every key kept)
        if missing:
            known.update(self.catalog.table_locations(missing))
        keys = {**raw.keys, "parent_location": len(raw.keys), "child_location": len(raw.keys) + 1}
        return RawRows(keys, [(*r, known.get(r[i_p]), known.get(r[i_c])) for r in raw.rows])


class ApiQueries:
    """Pages (items and total) and aggregates for the routes.

    Totals come from the id snapshots (offset pages) or are cached for :data:`SNAPSHOT_TTL_S` per filter
    combination (keyset pages): counting 100,000 edges costs an index scan, and a total a few seconds
    old is good enough for pagination.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._counts: Snapshots[int] = Snapshots()
        self._ids: Snapshots[array[int]] = Snapshots()
        self._locations = Locations(catalog)

    def _cached_count(self, key: tuple[Any, ...], count: Callable[[], int]) -> int:
        return self._counts.get(key, count)

    def ping(self) -> None:
        self.catalog.ping()

    def schema_current(self) -> bool:
        """Whether the catalog's schema is at the newest migration this server knows."""
        return self.catalog.schema_current()

    # --- edges and tables ---------------------------------------------------------------------------

    def edge_page(self, where: EdgeFilter, *, after_id: int | None = None, limit: int = 100,
                  offset: int = 0) -> tuple[RawRows, int]:
        """One page of the edges matching ``where``, by id (the driver's rows: :mod:`api.render` writes them),
        and how many match in all (``after_id`` aside)."""
        if after_id is None:
            ids = self._ids.get(("edges", where), lambda: self.catalog.edge_ids(where))
            rows = self.catalog.edge_rows_by_ids(ids[offset:offset + limit], where, locations=False)
            return self._locations.add_to(rows), len(ids)
        rows = self.catalog.edge_page_rows(where, after_id=after_id, limit=limit, offset=offset, locations=False)
        return (self._locations.add_to(rows),
                self._cached_count(("edges", where), lambda: self.catalog.count_edges(where)))

    def table_page(self, *, status: str | None = None, format: str | None = None, prefix: str | None = None,
                   min_bytes: int | None = None, location: str | None = None, after_id: int | None = None,
                   limit: int = 100, offset: int = 0) -> tuple[RawRows, int]:
        """One page of tables (by location, or by id after ``after_id``; the driver's rows) and the total."""
        filters: dict[str, Any] = {"status": status, "format": format, "prefix": prefix, "min_bytes": min_bytes,
                                   "location": location}
        if after_id is None and location is None:
            ids = self._ids.get(("tables", *filters.values()), lambda: self.catalog.table_ids(**filters))
            return self.catalog.table_rows_by_ids(ids[offset:offset + limit], **filters), len(ids)
        rows = self.catalog.table_page_rows(**filters, after_id=after_id, limit=limit, offset=offset)
        total = self._cached_count(("tables", *filters.values()), lambda: self.catalog.count_tables(**filters))
        return rows, total

    def table(self, table_id: int) -> TableRecord:
        return self.catalog.get_table_by_id(table_id)

    # --- runs, plans, deletions ---------------------------------------------------------------------

    def run_page(self, *, kind: str | None = None, status: str | None = None, limit: int = 50,
                 offset: int = 0) -> tuple[list[RunRecord], int]:
        rows = self.catalog.list_runs(kind, status=status, limit=limit, offset=offset)
        return rows, self.catalog.count_runs(kind, status=status)

    def plan(self, plan_id: int) -> PlanRecord:
        return self.catalog.get_plan(plan_id)

    def plan_page(self, *, limit: int, offset: int) -> tuple[list[PlanRecord], int]:
        return self.catalog.list_plans(limit=limit, offset=offset), self.catalog.count_plans()

    def is_deleted(self, location: str) -> bool:
        """Whether the table at ``location`` is deleted now (quarantined or purged by r2d2)."""
        return bool(self.catalog.list_deletions(location=location, states=LIVE_STATES))

    def recipe_parent(self, location: str) -> str:
        """The parent location of the newest recipe of the table deleted from ``location``."""
        found = self.catalog.list_deletions(location=location)
        if not found:
            raise NotFoundError(f"{location} has no recipe (it was never deleted by r2d2)")
        return self.catalog.get_recipe(found[-1].recipe_id).parent_location

    # --- aggregates (metrics) -------------------------------------------------------------------------

    def tables_by_status(self) -> dict[str, int]:
        return self.catalog.tables_by_status()

    def edges_by_state(self) -> dict[str, int]:
        """Non-stale edges by state."""
        return self.catalog.edges_by_state()

    def runs_by_status(self) -> dict[str, int]:
        return self.catalog.runs_by_status()

    def edges_by_relation(self) -> dict[str, int]:
        """Verified or inferred non-stale edges."""
        return self.catalog.edges_by_relation()

    def last_successes(self) -> dict[str, RunRecord]:
        return self.catalog.last_successes()

    def reclaimable_bytes(self) -> int:
        """What the newest plan would free (0 without a plan)."""
        return self.catalog.newest_plan_savings() or 0

    # --- writes ---------------------------------------------------------------------------------------

    def import_access(self, rows: Iterable[Mapping[str, Any]]) -> tuple[AccessImport, Sequence[str],
                                                                          Sequence[str]]:
        """Parse access rows (the library's rules) and store accesses per day of the known tables."""
        parsed = parse_rows(rows)
        updated, unknown = self.catalog.set_access_per_day(parsed.rates)
        return parsed, updated, unknown
