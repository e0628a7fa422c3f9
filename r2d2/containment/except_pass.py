"""Containment except generated key columns: a child contained in a parent on all its other columns.

For every table with generated-looking key columns (:func:`r2d2.containment.keys.generated_keys`) a
*view* of it without those columns is compared with every possible parent through the same stages as
a table: schema (the view's columns only, so the parent may lack the key or hold other values in it),
min-max on the view's statistics, the MinHash screen on its signatures, the row probe and exact
verification. The view's rows are a projection set of the table (hashed once, cached with the table
like any projection), so a detect that found nothing new reads nothing for this pass either.

A pair already contained without exceptions is not tested again. What is found is reported as
``contains`` with ``except_columns``: report-only — the key's values cannot be rebuilt from the parent,
so no recipe exists and the optimizer never deletes on such an edge.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from r2d2.catalog import Catalog
from r2d2.config import Settings
from r2d2.containment.candidates import Candidate, Pair
from r2d2.containment.except_cache import Verdict
from r2d2.containment.keys import generated_keys, without
from r2d2.containment.minmax import Digests, digest_without, prune_all
from r2d2.containment.report import StageReport
from r2d2.containment.schema_graph import schema_candidates
from r2d2.containment.sketch_cache import forget_row_sets
from r2d2.containment.verify_job import verify
from r2d2.lake import fs as lakefs
from r2d2.types import TableProfile

VIEW_BASE = -(1 << 40)  # a view's id is VIEW_BASE - its table's id: never a catalog id


@dataclass(frozen=True)
class ExceptEdge:
    candidate: Candidate  # parent -> the child table (its real id), on the view's columns
    columns: tuple[str, ...]  # the child's columns left out (keys)
    multiset: bool | None
    evidence: dict[str, Any]


@dataclass(frozen=True)
class ViewPlan:
    """The metadata half of the pass: every table's view without its generated keys, and the
    ``(parent, view)`` candidates that survive the schema and min-max stages."""

    views: dict[int, tuple[int, tuple[str, ...], TableProfile]]  # view id -> (table id, keys, view profile)
    every: dict[int, TableProfile]  # the tables and the views
    candidates: list[Candidate]  # after the schema stage
    kept: frozenset[Pair]  # of those, the pairs min-max does not prune
    survivors: list[Candidate]  # their candidates, in order
    derived: dict[int, tuple[int, tuple[str, ...]]]  # view id -> (table id, the view's columns)


def plan_views(profiles: Mapping[int, TableProfile], *, involving: int | None = None,
               facts: Digests | None = None) -> ViewPlan | None:
    """Views of the tables with generated keys and their candidate parents (None: no table has one).
    Detect makes this before stage 3, so that one read of each table hashes the views' rows too;
    ``facts``: min-max digests of these profiles already made (see :func:`prune_all`)."""
    views: dict[int, tuple[int, tuple[str, ...], TableProfile]] = {}
    for tid, profile in profiles.items():
        keys = generated_keys(profile)
        if keys:
            views[VIEW_BASE - tid] = (tid, keys, without(profile, keys))
    if not views:
        return None
    every = {**profiles, **{v: view for v, (_, _, view) in views.items()}}
    graph = schema_candidates(every, children_only=set(views), parents_only=set(profiles))  # views are no parents
    cands = [c for c in graph.candidates if c.pair.parent != views[c.pair.child][0]
             and involving in (None, c.pair.parent, views[c.pair.child][0])]
    facts = {} if facts is None else facts
    for v, (tid, keys, _) in views.items():  # a view's digest is its table's, less the keys
        if v not in facts:
            facts[v] = digest_without(facts, tid, profiles[tid], keys)
    kept, _ = prune_all(cands, every, facts=facts)
    derived = {v: (tid, tuple(c.name for c in sorted(view.supported_columns, key=lambda c: c.key)))
               for v, (tid, _, view) in views.items()}
    return ViewPlan(views, every, cands, frozenset(c.pair for c in kept), kept, derived)


def except_pass(catalog: Catalog, settings: Settings, spark_factory: Callable[[], Any],
                profiles: Mapping[int, TableProfile], contained: set[Pair], stage: StageReport, *,
                involving: int | None = None, transient: Collection[int] = (), plan: ViewPlan | None = None,
                known: Mapping[Pair, Verdict] | None = None, learned: dict[Pair, Verdict] | None = None,
                ) -> tuple[list[ExceptEdge], dict[int, str]]:
    """Edges found by leaving generated keys out, and tables that could not be read (id -> reason).

    ``involving``: only pairs with this table at one end (a lookup); ``transient``: tables kept out of
    the sketch cache (a lookup's unregistered table); ``plan``: :func:`plan_views` made earlier (of
    these profiles or more: pairs with a table not in ``profiles`` are left out); ``known``: verdicts of
    earlier runs still valid (:mod:`r2d2.containment.except_cache`), used instead of checking those pairs
    again; ``learned``: gets the verdict of every pair checked here."""
    from r2d2.containment.pipeline import minhash_screen, sketch_candidates

    t0 = time.perf_counter()
    plan = plan or plan_views(profiles, involving=involving)
    if plan is None:
        return [], {}
    views, every, derived = plan.views, plan.every, plan.derived
    known = known or {}
    source = {v: t for v, (t, _, _) in views.items()}
    inside: dict[int, set[int]] = {}  # parent -> tables it contains without exceptions
    for pair in contained:
        inside.setdefault(pair.parent, set()).add(pair.child)
    nothing: set[int] = set()

    def admissible(c: Candidate) -> bool:  # (tens of thousands of candidates: no Pair built or hashed)
        p, t = c.pair.parent, source[c.pair.child]
        return p in profiles and t in profiles and t not in inside.get(p, nothing)

    unpruned = [c for c in plan.survivors if admissible(c)]
    reused = [c for c in unpruned if c.pair in known]
    kept = [c for c in unpruned if c.pair not in known]
    stage.candidates_in, stage.tables = sum(1 for c in plan.candidates if admissible(c)), len(views)
    stage.reused, stage.reexamined = len(reused), len(kept)
    sketches, failed = sketch_candidates(catalog, settings, spark_factory, kept, every, stage, derived=derived,
                                         transient=transient)
    readable = [c for c in kept if c.pair.parent not in failed and c.pair.child not in failed]
    reused = [c for c in reused if c.pair.parent not in failed and c.pair.child not in failed]  # no edge either
    survivors = []
    for c in readable:
        if minhash_screen(c, sketches) is None:
            survivors.append(c)
        elif learned is not None:
            learned[c.pair] = Verdict(False)
    work = lakefs.join(settings.work_location, f"verify-except-{time.time_ns()}")
    try:
        out = verify(spark_factory, survivors, profiles=every, sketches=sketches, work_dir=work,
                     batch_size=settings.spark_batch_tables, local_bytes=settings.local_hashset_bytes)
    finally:
        with contextlib.suppress(OSError):
            lakefs.remove(work)
    unverified: dict[int, str] = {}
    for cand, error, culprit in out.failures:  # no verdict: checked again next run (its hash sets rebuilt)
        tid, keys, _ = views[cand.pair.child]
        unverified.setdefault(culprit, f"could not check whether {every[cand.pair.parent].location} contains "
                                       f"{every[tid].location} without its key columns ({', '.join(keys)}): {error}")
    forget_row_sets(catalog, [t for t in out.unreadable if t not in transient])
    found = [(r.candidate, Verdict(r.contained, r.multiset, r.evidence)) for r in out.results]
    if learned is not None:
        learned.update((c.pair, v) for c, v in found)
    edges = []
    for cand, v in [*found, *((c, known[c.pair]) for c in reused)]:
        if v.contained:
            tid, keys, _ = views[cand.pair.child]
            real = Candidate(Pair(cand.pair.parent, tid), cand.column_map)
            edges.append(ExceptEdge(real, keys, v.multiset, {**v.evidence, "except_columns": list(keys)}))
    stage.candidates_out, stage.seconds = len(edges), time.perf_counter() - t0
    return edges, {**{t: msg for t, msg in failed.items() if t not in views}, **unverified}
