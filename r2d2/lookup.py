"""`lookup`: is this table already in the lake? One table against the catalog, without a full detect.

The table at ``location`` is discovered and profiled (metadata; a CSV file is read once), then compared
with the catalogued tables through the same five stages as :func:`r2d2.containment.pipeline.detect`,
restricted to the pairs it takes part in:

1. schema: the catalog's column index gives the tables that could contain it or that it could contain
   (:meth:`~r2d2.catalog.neighbours.NeighboursRepository.schema_neighbours`); only their profiles are
   loaded, and the schema stage decides exactly on them;
2. min-max pruning on those pairs;
3. sketches: the other tables' come from the cache that detect runs fill (a table is read only for what
   its cache lacks, say a projection nobody compared it on before); the looked-up table is read once;
4-5. the row probe and exact verification on the hash sets (overlaps measured in the same pass);
6. containments except generated keys (detect's except pass, on the pairs it takes part in).

So the answer is what a full detect would report for that table, in about the time it takes to read
the table: its exact containments and duplicates (``tests/test_lookup.py`` checks them on generated
lakes); its overlaps (``overlap_threshold``), measured like detect's on every pair past min-max; and its
containments except generated keys (``except_keys``), found by detect's except pass restricted to the
pairs it takes part in (``tests/test_cli_lookup.py`` compares all of them with detect). Nothing is
registered unless ``register`` is set: then the table is scanned into the catalog (its root is its own
location), and its sketches are cached for the next detect. A table already catalogued, unchanged, is
looked up under its own id (its cached sketches are used).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from r2d2.catalog import Catalog
from r2d2.config import Settings
from r2d2.containment.candidates import Pair
from r2d2.containment.except_pass import ExceptEdge, except_pass
from r2d2.containment.keys import generated_keys, without
from r2d2.containment.minmax import prune_all
from r2d2.containment.pipeline import minhash_screen, same_columns, sketch_candidates
from r2d2.containment.report import StageReport
from r2d2.containment.schema_graph import schema_candidates
from r2d2.containment.sketch_cache import forget_row_sets
from r2d2.containment.verify_job import verify
from r2d2.errors import NotFoundError, TableReadError
from r2d2.lake import fs as lakefs
from r2d2.lake.discover import discover
from r2d2.lake.fs import normalize_location
from r2d2.profile.profiler import profile_tables
from r2d2.types import TableProfile
from r2d2.vocabulary import EdgeRelation

TRANSIENT = -1  # the id of a looked-up table that is not registered (catalog ids are positive)
Role = Literal["duplicate", "parent", "child"]


@dataclass(frozen=True)
class Match:
    """A catalogued table related to the looked-up one: a ``duplicate`` (same rows, same columns), a
    ``parent`` (it contains the looked-up table) or a ``child`` (the looked-up table contains it).

    ``relation``, ``fraction`` and ``except_columns`` mean what they mean on an edge
    (:class:`r2d2.containment.report.EdgeOut`): ``duplicate`` for a duplicate, ``contains`` for a parent or
    a child; ``fraction`` only for ``overlaps``, ``except_columns`` only for a containment except keys."""

    location: str
    role: Role
    multiset: bool | None  # every row's count in the child is at most its count in the parent
    relation: EdgeRelation = "contains"
    fraction: float | None = None
    except_columns: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"location": self.location, "role": self.role, "relation": self.relation,
                "multiset": self.multiset, "fraction": self.fraction, "except_columns": list(self.except_columns)}


@dataclass
class LookupResult:
    location: str
    table_id: int | None = None  # its catalog id when registered or already catalogued
    registered: bool = False
    matches: list[Match] = field(default_factory=list)
    stages: list[StageReport] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, role: Role) -> list[Match]:
        return [m for m in self.matches if m.role == role]

    def to_json(self) -> dict[str, Any]:
        return {"location": self.location, "table_id": self.table_id, "registered": self.registered,
                "duplicates": [m.to_json() for m in self.of("duplicate")],
                "parents": [m.to_json() for m in self.of("parent")],
                "children": [m.to_json() for m in self.of("child")],
                "stages": [s.to_json() for s in self.stages], "errors": list(self.errors),
                "seconds": round(self.seconds, 3)}


def _table(catalog: Catalog, settings: Settings, location: str, spark_factory: Callable[[], Any],
           register: bool) -> tuple[int, TableProfile, bool]:
    """``(id, profile, registered)`` of the table at ``location``."""
    found = discover([location])
    if found.errors:
        raise TableReadError(found.errors[0].message, location=location)
    if len(found.tables) != 1 or found.tables[0].location != location:
        raise NotFoundError(f"{location}: not one table (found {len(found.tables)} tables under it)")
    table = found.tables[0]
    try:
        known = catalog.get_table(location)
    except NotFoundError:
        known = None
    if known is not None and known.status == "active" and known.fingerprint == table.fingerprint and known.profile:
        return known.id, known.profile, False
    if register:
        from r2d2.scan import scan

        summary = scan(catalog, [location], spark_factory=spark_factory, local_bytes=settings.local_read_bytes,
                       threads=settings.local_threads)
        if summary.errors:
            raise TableReadError(summary.errors[0]["error"], location=location)
        record = catalog.get_table(location)
        assert record.profile is not None
        return record.id, record.profile, True
    (outcome,) = profile_tables([table], spark_factory=spark_factory, local_bytes=settings.local_read_bytes)
    if outcome.profile is None:
        raise TableReadError(outcome.error or f"{location}: cannot be profiled", location=location)
    return TRANSIENT, outcome.profile, False


def lookup(catalog: Catalog, settings: Settings, location: str, *, spark_factory: Callable[[], Any],
           register: bool = False) -> LookupResult:
    """The catalogued tables that duplicate, contain or are contained in the table at ``location``."""
    t0 = time.perf_counter()
    location = normalize_location(location)
    tid, profile, registered = _table(catalog, settings, location, spark_factory, register)
    result = LookupResult(location, None if tid == TRANSIENT else tid, registered)

    stage = StageReport("schema")
    t = time.perf_counter()
    parents, children = catalog.schema_neighbours({(c.key, c.family.value) for c in profile.supported_columns})
    profiles = catalog.profiles_by_id((parents | children) - {tid})
    profiles[tid] = profile
    graph = schema_candidates(profiles)
    candidates = [c for c in graph.candidates if tid in (c.pair.parent, c.pair.child)]
    stage.candidates_in, stage.candidates_out = 2 * (len(profiles) - 1), len(candidates)
    stage.seconds = time.perf_counter() - t
    result.stages.append(stage)

    t = time.perf_counter()
    kept, _ = prune_all(candidates, profiles)
    result.stages.append(StageReport("minmax", len(candidates), len(kept), time.perf_counter() - t))

    t = time.perf_counter()
    minhash = StageReport("minhash", candidates_in=len(kept))
    sketches, failed = sketch_candidates(catalog, settings, spark_factory, kept, profiles, minhash,
                                         transient=(TRANSIENT,))
    for bad, error in failed.items():
        result.errors.append({"location": profiles[bad].location, "error": error})
    readable = [c for c in kept if c.pair.parent not in failed and c.pair.child not in failed]
    survivors = [c for c in readable if minhash_screen(c, sketches) is None]
    minhash.candidates_out, minhash.seconds = len(survivors), time.perf_counter() - t
    result.stages.append(minhash)

    # Overlaps are measured as detect measures them: every readable pair past min-max, those the MinHash
    # screen or the probe ruled out too, in the same pass over the hash sets.
    tau = settings.overlap_threshold
    passed = {c.pair for c in survivors}
    screened_out = [c for c in readable if c.pair not in passed] if tau > 0 else []
    work = lakefs.join(settings.work_location, f"lookup-{time.time_ns()}")
    try:
        out = verify(spark_factory, survivors, profiles=profiles, sketches=sketches, work_dir=work,
                     batch_size=settings.spark_batch_tables, local_bytes=settings.local_hashset_bytes,
                     overlap=screened_out, measure_pruned=tau > 0)
    finally:
        with contextlib.suppress(OSError):
            lakefs.remove(work)
    for failure in out.failures:  # one error per table
        if all(e["location"] != profiles[failure.table].location for e in result.errors):
            result.errors.append({"location": profiles[failure.table].location, "error": failure.error})
    forget_row_sets(catalog, out.unreadable - {TRANSIENT})  # made again next time
    contained = {r.candidate.pair: r for r in out.results if r.contained}
    passed_probe = sum(1 for r in out.results if r.stage != "probe")
    result.stages += [StageReport("probe", len(survivors), passed_probe, out.probe_seconds),
                      StageReport("exact", passed_probe, len(contained), out.exact_seconds,
                                  hashset_bytes=out.exact_hashset_bytes)]
    # a pair that could not be verified is not tested except keys either (as in detect)
    skip = set(contained) | {f.candidate.pair for f in out.failures}
    keyed = _except_keys(catalog, settings, spark_factory, tid, profiles, skip, result) if settings.except_keys else {}

    def add(pair: Pair, relation: EdgeRelation, multiset: bool | None, *, fraction: float | None = None,
            except_columns: tuple[str, ...] = (), both_ways: bool = False) -> None:
        other = pair.child if pair.parent == tid else pair.parent
        if both_ways and same_columns(profiles[pair.parent], profiles[pair.child]):
            # a duplicate is one edge, the smaller location its parent (as detect reports it)
            if profiles[pair.parent].location < profiles[pair.child].location:
                result.matches.append(Match(profiles[other].location, "duplicate", multiset, "duplicate",
                                            except_columns=except_columns))
            return
        role: Role = "child" if pair.parent == tid else "parent"
        result.matches.append(Match(profiles[other].location, role, multiset, relation, fraction, except_columns))

    for pair, r in sorted(contained.items()):
        add(pair, "contains", r.multiset, both_ways=Pair(pair.child, pair.parent) in contained)
    for pair, edge in sorted(keyed.items()):
        add(pair, "contains", edge.multiset, except_columns=edge.columns,
            both_ways=Pair(pair.child, pair.parent) in keyed)
    for pair, (distinct, missing) in sorted(out.overlaps.items()):
        # a pair contained (exactly or except keys) is that, not also an overlap (as in detect)
        if distinct and pair not in contained and pair not in keyed and (distinct - missing) / distinct >= tau:
            add(pair, "overlaps", None, fraction=(distinct - missing) / distinct)
    result.matches.sort(key=lambda m: (m.role, m.location, m.relation))
    result.seconds = time.perf_counter() - t0
    return result


def _except_keys(catalog: Catalog, settings: Settings, spark_factory: Callable[[], Any], tid: int,
                 profiles: dict[int, TableProfile], contained: set[Pair], result: LookupResult,
                 ) -> dict[Pair, ExceptEdge]:
    """Containments except generated keys that the looked-up table takes part in (as detect's except
    pass finds them, :mod:`r2d2.containment.except_pass`), by pair; ``profiles`` gains the tables loaded.

    Beyond the schema neighbours already loaded, they need the tables that could contain the table
    without its keys (those holding its other columns) and the catalogued tables that have integer
    columns outside its columns (possible children once their keys are left out)."""
    profile = profiles[tid]
    keys = generated_keys(profile)
    more = catalog.keyed_children({(c.key, c.family.value) for c in profile.supported_columns})
    if keys:
        view = without(profile, keys)
        more |= catalog.schema_neighbours({(c.key, c.family.value) for c in view.supported_columns})[0]
    profiles.update(catalog.profiles_by_id(more - set(profiles) - {tid}))
    stage = StageReport("except")
    edges, failed = except_pass(catalog, settings, spark_factory, profiles, contained, stage, involving=tid,
                                transient=(TRANSIENT,) if tid == TRANSIENT else ())
    result.stages.append(stage)
    named = {e["location"] for e in result.errors}  # a table named by an earlier stage already
    result.errors += [{"location": profiles[bad].location, "error": error} for bad, error in failed.items()
                      if profiles[bad].location not in named]
    return {e.candidate.pair: e for e in edges}
