"""`detect`: the five stages over every active table in the catalog, cheapest first.

schema graph → min-max / null-count pruning → MinHash screen → row probe → exact verification.
A pair whose two fingerprints are unchanged since an earlier run keeps the decision that run made: the
content stages' is reused, so a re-run reads only tables in pairs that involve new or changed tables,
and one min-max made is settled (neither pruned nor stored again: on a lake of thousands of tables they
are nearly every pair). The schema stage reruns each time. Every decision is stored with its evidence.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from r2d2.catalog import Catalog
from r2d2.catalog.records import EdgeUpsert, PairDecision, deletable
from r2d2.config import Settings
from r2d2.containment import except_cache, hashset_memo
from r2d2.containment import minhash as mh
from r2d2.containment.candidates import Candidate, Pair
from r2d2.containment.except_pass import ViewPlan, except_pass, plan_views
from r2d2.containment.hashset_local import intact as hashsets_intact
from r2d2.containment.hashversion import DECISION_VERSION, HASH_VERSION
from r2d2.containment.minmax import Digests, prune_all
from r2d2.containment.report import DetectResult, EdgeOut, StageReport
from r2d2.containment.schema_graph import schema_candidates
from r2d2.containment.sketch_cache import KINDS_WITH_PATHS, forget_row_sets, load_cached_many, store_many
from r2d2.containment.sketch_job import compute_sketches
from r2d2.containment.sketches import SketchRequest, TableSketch
from r2d2.containment.transitive import implied, split_waves
from r2d2.containment.verify_job import PairResult, covers_all, verify
from r2d2.engine.spark import effective_master
from r2d2.heap import collecting_less_often
from r2d2.lake import fs as lakefs
from r2d2.types import TableProfile
from r2d2.vocabulary import VERIFIED_STATES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CONTENT_STAGES = ("minhash", "probe", "exact", "transitive")
Progress = Callable[[str], None]

log = logging.getLogger(__name__)


@dataclass
class _Decision:
    state: str  # pruned | verified | inferred | candidate
    stage: str
    multiset: bool | None = None
    evidence: dict | None = None
    overlaps: bool = False  # a verified overlap (relation "overlaps"), not a containment

    @property
    def contains(self) -> bool:
        """A containment without exceptions: what duplicates, inference and deletions may build on."""
        return deletable(self.state, "overlaps" if self.overlaps else "contains", self.evidence or {})


def _reusable(rec: PairDecision | None, *, overlaps: bool) -> bool:
    """A stored content decision still valid for these fingerprints (with ``overlaps``, a pair ruled
    out must also have had its overlap measured)."""
    return (rec is not None and rec.stage in CONTENT_STAGES and rec.state in ("pruned", "verified", "inferred")
            and rec.evidence.get("hash_version") == HASH_VERSION
            and rec.evidence.get("decision_version") == DECISION_VERSION
            and not (overlaps and rec.state == "pruned" and "overlap" not in rec.evidence))


def _from_stored(prior: PairDecision) -> _Decision:
    return _Decision(prior.state, prior.stage, prior.multiset, prior.evidence, overlaps=prior.relation == "overlaps")


def minhash_screen(cand: Candidate, sketches: Mapping[int, TableSketch]) -> str | None:
    """The first child column whose signature is not dominated by the parent's, or None."""
    parent, child = sketches[cand.pair.parent], sketches[cand.pair.child]
    for child_key, parent_name in cand.column_map:
        if not mh.dominated(parent.minhash[parent_name.lower()], child.minhash[child_key]):
            return child_key
    return None


def detect(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession], *,
           progress: Progress | None = None) -> DetectResult:
    """Run detection over the catalog's active tables and store every decision."""
    say = progress or (lambda _msg: None)
    run_id = catalog.start_run("detect", params={})
    try:
        with _caller_heap_frozen(), collecting_less_often(), hashset_memo.keeping(settings.local_hashset_bytes):
            result = _detect(catalog, settings, spark_factory, run_id, say)
    except Exception as exc:
        catalog.finish_run(run_id, status="failed", summary={}, errors=[{"location": "", "error": str(exc)}])
        raise
    result.run_id = run_id
    catalog.finish_run(run_id, status="succeeded", summary=result.summary(), errors=result.errors)
    return result


@contextmanager
def _caller_heap_frozen() -> Iterator[None]:
    """Keep the objects that were alive before detect out of the collector's full passes while it runs.

    detect allocates enough to trigger a few full collections, and each one walks the whole heap: in a
    process holding a large one (an API server, a notebook) that is about 0.1 s a pass, a real share of
    a small incremental run. Frozen objects are not lost: ``gc.unfreeze`` hands them back to the
    collector at the end, and garbage made during detect is collected as usual.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _detect(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession],
            run_id: int, say: Progress) -> DetectResult:
    result = DetectResult()
    for bad in catalog.list_tables(status="error", with_profile=False):
        result.errors.append({"location": bad.location, "error": f"skipped: {bad.error}"})
    loaded = catalog.active_profiles()
    profiles: dict[int, TableProfile] = dict(loaded)
    locations = {tid: p.location for tid, p in profiles.items()}
    result.lake_bytes = sum(p.num_bytes for p in profiles.values())

    # Stage 1: schema containment graph (inverted index).
    t0 = time.perf_counter()
    candidates, exclusions = schema_candidates(profiles)
    n = len(profiles)
    schema = StageReport("schema", candidates_in=n * (n - 1), candidates_out=len(candidates),
                         seconds=time.perf_counter() - t0, reexamined=n * (n - 1))
    result.stages.append(schema)
    for ex in exclusions:
        # Empty tables take part in no edge by definition, and a table with an unsupported column
        # can still be a parent (a scan note); what remains cannot be checked at all.
        if not ex.reason.startswith("empty:") and "can only be a parent" not in ex.reason:
            result.errors.append({"location": locations[ex.table_id], "error": ex.reason})
    say(f"schema: {len(candidates)} candidate pairs")

    # Stage 2: min-max and null-count pruning (metadata only). A pair it pruned in an earlier run is
    # settled while neither table changed: the rule is a function of the two profiles (a new rule bumps
    # DECISION_VERSION), so such pairs are neither pruned again nor stored again.
    t0 = time.perf_counter()
    valid = catalog.valid_pair_decisions(settled_version=DECISION_VERSION)
    stored, settled = valid.decisions, valid.settled
    unsettled = [c for c in candidates if c.pair.child not in settled.get(c.pair.parent, ())] if settled else candidates
    digests: Digests = {}
    kept, pruned = prune_all(unsettled, profiles, facts=digests)
    result.stages.append(StageReport("minmax", len(candidates), len(kept), time.perf_counter() - t0,
                                     reused=len(candidates) - len(unsettled), reexamined=len(unsettled)))
    decisions: dict[Pair, _Decision] = {
        c.pair: _Decision("pruned", "minmax", evidence={"reason": reason}) for c, reason in pruned}
    say(f"minmax: {len(kept)} pairs left")

    # Reuse content decisions of pairs whose tables are unchanged.
    fresh: list[Candidate] = []
    reused: dict[Pair, PairDecision] = {}
    for cand in kept:
        prior = stored.get((cand.pair.parent, cand.pair.child))
        if prior is not None and _reusable(prior, overlaps=settings.overlap_threshold > 0):
            reused[cand.pair] = prior
        else:
            fresh.append(cand)
    result.pairs_reused, result.pairs_reexamined = len(reused), len(fresh)

    # The views of the except pass are planned now, so that stage 3's one read of each table also
    # hashes the rows its views need (the pass then finds them cached, with nothing left to read).
    views = plan_views(profiles, facts=digests) if settings.except_keys else None
    # The except pass's verdicts of earlier runs whose two tables are unchanged: those views need no hashing.
    known = except_cache.load(catalog, views, profiles, views.kept) if views is not None else {}
    sketches, failed = _stage_minhash(catalog, settings, spark_factory, fresh, profiles, result, reused, say,
                                      views=views, known_views=known.keys())
    for tid, error in failed.items():
        result.errors.append({"location": locations[tid], "error": error})
    fresh = [c for c in fresh if c.pair.parent not in failed and c.pair.child not in failed]
    survivors, screened_out = [], []
    for cand in fresh:
        column = minhash_screen(cand, sketches)
        if column is None:
            survivors.append(cand)
        else:
            screened_out.append(cand)
            decisions[cand.pair] = _Decision("pruned", "minhash", evidence={"column": column})
    minhash_stage = result.stage("minhash")
    minhash_stage.reexamined = len(fresh)
    minhash_stage.candidates_out = len(survivors) + sum(1 for r in reused.values() if r.stage != "minhash")
    say(f"minhash: {minhash_stage.candidates_out} pairs left")

    forget_row_sets(catalog, _stage_rows(spark_factory, settings, survivors, profiles, sketches, reused, decisions,
                                         result, say, screened_out=screened_out))
    # Pairs whose verification failed keep no decision, so that the next run checks them whole: a
    # containment except keys found now would be stored in their place (and reused) instead.
    unchecked = {c.pair for c in survivors if c.pair not in decisions}

    for pair, prior in reused.items():
        decisions[pair] = _from_stored(prior)
    stored_pairs = list(candidates)
    if settings.except_keys:  # tables this run could not read take part in no edge
        readable = {t: p for t, p in profiles.items() if t not in failed}
        stored_pairs += _stage_except(catalog, settings, spark_factory, readable, decisions, candidates, result,
                                      views=views, known=known, unchecked=unchecked)
    _store(catalog, decisions, stored_pairs, profiles, run_id, stored, settled)
    result.edges = _edges(decisions, profiles)
    try:  # housekeeping: the run's results are stored already
        _collect_garbage(catalog, settings, run_id)
    except OSError as exc:
        log.warning("hash sets not swept this run (the next one will): %s", exc)
    return result


def _stage_minhash(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession],
                   fresh: list[Candidate], profiles: Mapping[int, TableProfile], result: DetectResult,
                   reused: Mapping[Pair, PairDecision], say: Progress, *, views: ViewPlan | None = None,
                   known_views: Collection[Pair] = ()) -> tuple[dict[int, TableSketch], dict[int, str]]:
    t0 = time.perf_counter()
    stage = StageReport("minhash", candidates_in=len(fresh) + len(reused), reused=sum(
        1 for r in reused.values() if r.stage == "minhash"))
    result.stages.append(stage)
    wanted, every, derived = list(fresh), profiles, None
    if views is not None:
        wanted += [c for c in views.survivors if c.pair not in known_views]
        every, derived = views.every, views.derived
    sketches, failed = sketch_candidates(catalog, settings, spark_factory, wanted, every, stage, say=say,
                                         derived=derived)
    stage.seconds = time.perf_counter() - t0
    return sketches, {tid: msg for tid, msg in failed.items() if tid in profiles}  # tables, not views


def sketch_candidates(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession],
                      fresh: Sequence[Candidate], profiles: Mapping[int, TableProfile], stage: StageReport, *,
                      transient: Collection[int] = (), say: Progress | None = None,
                      derived: Mapping[int, tuple[int, tuple[str, ...]]] | None = None,
                      ) -> tuple[dict[int, TableSketch], dict[int, str]]:
    """Stage 3's sketches of every table in ``fresh``: from the catalog's cache, completed by reading
    the tables that lack something (their sketches are cached in turn). ``transient`` tables (a
    lookup's unregistered table) are neither looked up in nor added to the cache. A ``derived``
    child ``v -> (source, names)`` is its source table seen on some of its columns: its rows are the
    source's projection set over ``names`` (cached with the source), its signatures the source's."""
    derived = derived or {}
    need_cols: dict[int, set[str]] = {}
    children: set[int] = set()  # tables whose full row-hash set stage 3 keeps
    projections: dict[int, set[tuple[str, ...]]] = {}  # parent -> projections it is compared on
    for cand in fresh:
        if cand.pair.child in derived:
            source, own = derived[cand.pair.child]
            projections.setdefault(source, set()).add(own)
            need_cols.setdefault(source, set()).update(k for k, _ in cand.column_map)
        else:
            children.add(cand.pair.child)
            need_cols.setdefault(cand.pair.child, set()).update(k for k, _ in cand.column_map)
        names = tuple(n for _, n in cand.column_map)
        if covers_all(profiles[cand.pair.parent], names):
            children.add(cand.pair.parent)  # its full row-hash set serves verification: no re-scan
        else:  # hashed on the child's columns while stage 3 reads it anyway: no re-scan either
            projections.setdefault(cand.pair.parent, set()).add(names)
        need_cols.setdefault(cand.pair.parent, set()).update(n.lower() for _, n in cand.column_map)
    sketches: dict[int, TableSketch] = {}
    cached_by_id: dict[int, TableSketch] = {}
    requests: list[SketchRequest] = []
    cache = load_cached_many(catalog, {tid: profiles[tid] for tid in need_cols if tid not in transient},
                             num_perm=settings.minhash_num_perm, seed=settings.minhash_seed)
    checked: dict[str, bool] = {}  # dataset -> intact (one listing each: many tables share one)

    def intact(path: str) -> bool:
        if path not in checked:
            checked[path] = hashsets_intact(path)
        return checked[path]

    for tid, cols in need_cols.items():
        cached = cache.get(tid)
        missing_cols = cols - set(cached.minhash) if cached else cols
        rowset_missing = tid in children and (cached is None or cached.rowset_path is None
                                              or not intact(cached.rowset_path))
        missing_proj = {p for p in projections.get(tid, ()) if cached is None or p not in cached.projections
                        or not intact(cached.projections[p].path)}
        if cached is not None:
            sketches[tid] = cached
            cached_by_id[tid] = cached
        if not missing_cols and not rowset_missing and not missing_proj:
            continue
        # Only what the cache lacks is computed (the table is read once either way).
        names = tuple(c.name for c in profiles[tid].columns if c.key in missing_cols)
        requests.append(SketchRequest(tid, profiles[tid], names, rowset=rowset_missing,
                                      projections=tuple(sorted(missing_proj))))
    failed: dict[int, str] = {}
    stage.tables, stage.tables_read = len(need_cols), len(requests)
    if requests:
        if say is not None:
            say(f"minhash: sketching {len(requests)} tables")
        outcome = compute_sketches(
            requests, spark_factory=spark_factory, work_dir=lakefs.join(settings.work_location, "hashsets"),
            num_perm=settings.minhash_num_perm, seed=settings.minhash_seed,
            sample_k=settings.row_sample_k, batch_size=settings.spark_batch_tables,
            local_bytes=settings.local_hashset_bytes, local_read_bytes=settings.local_read_bytes,
            threads=settings.local_threads, cache_dir=settings.cache_dir / "minhash",
            local_master=(effective_master(settings) or "").startswith("local"))
        failed = outcome.failures
        stage.bytes_read, stage.jobs = outcome.bytes_read, outcome.jobs
        for tid, sk in outcome.sketches.items():
            sketches[tid] = _merge(cached_by_id.get(tid), sk)
        store_many(catalog, [sketches[tid] for tid in outcome.sketches if tid not in transient],
                   seed=settings.minhash_seed)
    for view, (source, own) in derived.items():
        if source in failed:
            failed[view] = failed[source]
        elif source in sketches and own in sketches[source].projections:
            sketches[view] = _derived_sketch(sketches[source], own)
    return sketches, failed


def _derived_sketch(source: TableSketch, names: tuple[str, ...]) -> TableSketch:
    """A table seen on ``names`` only: its rows are the source's projection set, stored under the source."""
    ps = source.projections[names]
    keys = {n.lower() for n in names}
    return TableSketch(source.table_id, source.fingerprint,
                       minhash={k: sig for k, sig in source.minhash.items() if k in keys},
                       sample=ps.sample, sample_limit=ps.limit, rowset_path=ps.path, rowset_code=ps.code,
                       rowset_bytes=ps.bytes)


def _merge(cached: TableSketch | None, new: TableSketch) -> TableSketch:
    """A cached sketch completed by what was just computed for the same fingerprint."""
    if cached is None:
        return new
    cached.minhash.update(new.minhash)
    if new.rowset_path is not None:
        cached.rowset_path, cached.rowset_bytes = new.rowset_path, new.rowset_bytes
        cached.sample, cached.sample_limit = new.sample, new.sample_limit
        cached.rows, cached.distinct_rows = new.rows, new.distinct_rows
    cached.projections.update(new.projections)
    return cached


def _stage_except(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession],
                  profiles: Mapping[int, TableProfile], decisions: dict[Pair, _Decision],
                  candidates: Sequence[Candidate], result: DetectResult, *,
                  views: ViewPlan | None = None, known: Mapping[Pair, except_cache.Verdict] | None = None,
                  unchecked: Collection[Pair] = ()) -> list[Candidate]:
    """Containments except generated keys (:mod:`r2d2.containment.except_pass`) as decisions; the
    found pairs that are not schema candidates (the parent lacks the key), to be stored as well.
    ``known``: the pass's verdicts of earlier runs still valid; what it checks now is kept in turn;
    ``unchecked``: pairs whose verification failed (not tested except keys either)."""
    stage = StageReport("except")
    result.stages.append(stage)
    contained = {pair for pair, d in decisions.items() if d.contains} | set(unchecked)  # not tested again
    learned: dict[Pair, except_cache.Verdict] = {}
    edges, failed = except_pass(catalog, settings, spark_factory, profiles, contained, stage, plan=views,
                                known=known, learned=learned)
    if views is not None and learned:
        except_cache.store(catalog, views, profiles, learned)
    named = {e["location"] for e in result.errors}  # a table named by an earlier stage already
    result.errors += [{"location": profiles[tid].location, "error": error} for tid, error in failed.items()
                      if profiles[tid].location not in named]
    schema_pairs = {c.pair for c in candidates}
    extra = []
    for e in edges:
        decisions[e.candidate.pair] = _Decision("verified", "exact", e.multiset, e.evidence)
        if e.candidate.pair not in schema_pairs:
            extra.append(e.candidate)
    return extra


def _stage_rows(spark_factory: Callable[[], SparkSession], settings: Settings, survivors: list[Candidate],
                profiles: Mapping[int, TableProfile], sketches: Mapping[int, TableSketch],
                reused: Mapping[Pair, PairDecision], decisions: dict[Pair, _Decision], result: DetectResult,
                say: Progress, *, screened_out: Sequence[Candidate] = ()) -> set[int]:
    """Probe and exact verification of the survivors (a pair that fails is an error of ``result`` naming
    its table once, and gets no decision: the next run checks it); returns the tables whose stored row
    sets proved unreadable."""
    probe = StageReport("probe", reused=sum(1 for r in reused.values() if r.stage == "probe"))
    exact = StageReport("exact", reused=sum(1 for r in reused.values() if r.stage in ("exact", "transitive")))
    result.stages += [probe, exact]
    reused_past_minhash = sum(1 for r in reused.values() if r.stage != "minhash")
    reused_past_probe = sum(1 for r in reused.values() if r.stage not in ("minhash", "probe"))
    probe.candidates_in = len(survivors) + reused_past_minhash
    probe.reexamined = len(survivors)
    by_pair = {c.pair: c for c in survivors}
    verified: dict[Pair, bool] = {p: bool(r.multiset) for p, r in reused.items() if _from_stored(r).contains}
    tau = settings.overlap_threshold
    overlaps: dict[Pair, tuple[int, int]] = {}
    first, deferred = split_waves(by_pair)
    named: set[int] = set()  # tables an error names (once)
    unreadable: set[int] = set()
    work = lakefs.join(settings.work_location, f"verify-{time.time_ns()}")
    try:
        for wave, pairs in enumerate((first, deferred)):
            if wave == 1:
                found = implied(verified, pairs)
                for pair, path in found.items():
                    decisions[pair] = _Decision("inferred", "transitive", True,
                                                {"path": [profiles[t].location for t in path]})
                    exact.inferred += 1
                pairs = [p for p in pairs if p not in found]
            if not pairs:
                continue
            say(f"verify: wave {wave + 1}, {len(pairs)} pairs")
            # Overlap is measured on every pair past min-max: those the MinHash screen or the probe
            # ruled out are counted exactly as well, in the first wave's pass over the hash sets.
            out = verify(spark_factory, [by_pair[p] for p in pairs], profiles=profiles, sketches=sketches,
                         work_dir=work, batch_size=settings.spark_batch_tables,
                         local_bytes=settings.local_hashset_bytes,
                         overlap=screened_out if tau > 0 and wave == 0 else (), measure_pruned=tau > 0)
            overlaps.update(out.overlaps)
            probe.seconds += out.probe_seconds
            exact.seconds += out.exact_seconds
            probe.bytes_read += out.probe_bytes
            exact.bytes_read += out.exact_bytes
            exact.hashset_bytes += out.exact_hashset_bytes
            exact.jobs += out.jobs
            unreadable |= out.unreadable
            for failure in out.failures:
                if failure.table not in named:
                    named.add(failure.table)
                    result.errors.append({"location": profiles[failure.table].location, "error": failure.error})
            for r in out.results:
                decisions[r.candidate.pair] = _to_decision(r)
                if r.contained:
                    verified[r.candidate.pair] = bool(r.multiset)
    finally:
        with contextlib.suppress(OSError):
            lakefs.remove(work)
    if tau > 0:
        _record_overlaps(decisions, overlaps, tau)
    passed_probe = sum(1 for p in by_pair if decisions.get(p) and decisions[p].stage != "probe")
    probe.candidates_out = passed_probe + reused_past_probe
    exact.candidates_in = probe.candidates_out
    exact.reexamined = passed_probe
    exact.candidates_out = sum(1 for d in decisions.values() if d.contains) + sum(
        1 for r in reused.values() if _from_stored(r).contains)
    return unreadable


def _record_overlaps(decisions: dict[Pair, _Decision], overlaps: Mapping[Pair, tuple[int, int]], tau: float) -> None:
    """Every measured pair ruled out keeps its share of rows found in the parent (``overlap``); at
    ``tau`` or more, the pair becomes a verified overlap (relation ``overlaps``, never deletable)."""
    for pair, (distinct, missing) in overlaps.items():
        d = decisions.get(pair)
        if d is None or d.state != "pruned" or not distinct:
            continue
        fraction = (distinct - missing) / distinct
        evidence = {**(d.evidence or {}), "overlap": fraction, "distinct_rows": distinct, "missing": missing}
        if fraction >= tau:
            decisions[pair] = _Decision("verified", "exact", None, evidence, overlaps=True)
        else:
            d.evidence = evidence


def _to_decision(r: PairResult) -> _Decision:
    if r.contained:
        return _Decision("verified", r.stage, r.multiset, r.evidence)
    return _Decision("pruned", r.stage, None, r.evidence)


def same_columns(a: TableProfile, b: TableProfile) -> bool:
    """Whether two tables have the same column set: a containment both ways is then a duplicate."""
    return {c.key for c in a.supported_columns} == {c.key for c in b.supported_columns} and len(a.columns) == len(
        b.columns)


def _relation(pair: Pair, decisions: Mapping[Pair, _Decision], profiles: Mapping[int, TableProfile]) -> str:
    d = decisions[pair]
    if d.overlaps:
        return "overlaps"
    back = decisions.get(Pair(pair.child, pair.parent))
    if d.contains and back is not None and back.contains and same_columns(profiles[pair.parent],
                                                                          profiles[pair.child]):
        return "duplicate"
    return "contains"


def _store(catalog: Catalog, decisions: Mapping[Pair, _Decision], candidates: Sequence[Candidate],
           profiles: Mapping[int, TableProfile], run_id: int, stored: Mapping[tuple[int, int], PairDecision],
           settled: Mapping[int, Collection[int]] | None = None) -> None:
    """Write every decision that differs from the stored one (an unchanged edge keeps the run that
    decided it, and an incremental run writes only the pairs it touched); a ``settled`` pair that this
    run decided nothing about (the except pass may have) is stored already."""
    rows = []
    for cand in candidates:
        d = decisions.get(cand.pair)
        if d is None:
            if settled and cand.pair.child in settled.get(cand.pair.parent, ()):
                continue
            d = _Decision("candidate", "minhash", evidence={"note": "not examined"})
        relation = _relation(cand.pair, decisions, profiles) if d.state in VERIFIED_STATES else "contains"
        evidence = {**(d.evidence or {}), "hash_version": HASH_VERSION, "decision_version": DECISION_VERSION}
        prior = stored.get((cand.pair.parent, cand.pair.child))
        if prior is not None and (prior.state, prior.stage, prior.relation, prior.multiset) == (
                d.state, d.stage, relation, d.multiset) and prior.same_evidence(evidence):
            continue  # stored ones are valid: same fingerprints, not stale
        rows.append(EdgeUpsert(
            parent_id=cand.pair.parent, child_id=cand.pair.child,
            parent_fingerprint=profiles[cand.pair.parent].fingerprint,
            child_fingerprint=profiles[cand.pair.child].fingerprint,
            state=d.state,  # type: ignore[arg-type]
            stage=d.stage, relation=relation,  # type: ignore[arg-type]
            multiset=d.multiset, evidence=evidence, run_id=run_id))
    catalog.upsert_edges(rows)
    catalog.delete_edges_except({(c.pair.parent, c.pair.child) for c in candidates})


def _edges(decisions: Mapping[Pair, _Decision], profiles: Mapping[int, TableProfile]) -> list[EdgeOut]:
    out: list[EdgeOut] = []
    for pair, d in decisions.items():
        if d.state not in VERIFIED_STATES:
            continue
        relation = _relation(pair, decisions, profiles)
        parent, child = profiles[pair.parent].location, profiles[pair.child].location
        if relation == "duplicate" and parent > child:
            continue  # a duplicate pair is reported once, smaller location first
        evidence = d.evidence or {}
        out.append(EdgeOut(parent, child, relation, True, d.multiset,  # type: ignore[arg-type]
                           d.stage, inferred=d.state == "inferred",
                           fraction=evidence.get("overlap") if d.overlaps else None,
                           except_columns=tuple(evidence.get("except_columns", ()))))
    return sorted(out, key=lambda e: (e.parent, e.child))


CLOCK_SLACK_S = 120.0  # run start times come from the runs' hosts; file times from the file system


UNREFERENCED = "_unreferenced"  # a dataset's mark: no cached sketch referred to it when it was written


def _collect_garbage(catalog: Catalog, settings: Settings, run_id: int) -> None:
    """Delete hash-set datasets that no cached sketch refers to any more, in two sweeps.

    Another detect sharing this work folder may be writing a dataset it has not stored yet, and a lookup
    or diff reads sets of its own (never stored) or sets it found referenced when it began: only datasets
    last changed before every such run still running began (this one included) are touched. A running
    one recorded by a process of this host that no longer exists (killed, crashed) does not count; one of
    another host always does. The first sweep to find such a dataset unreferenced only marks it (a file
    in it: its last change is then the mark's time); a later sweep deletes it once every run still running
    began after the mark, so a run that found it referenced before it was marked never loses it.
    """
    root = lakefs.join(settings.work_location, "hashsets")
    if not lakefs.exists(root):
        return
    starts = [r.started_at for kind in ("detect", "lookup", "diff")
              for r in catalog.list_runs(kind, status="running", limit=None)
              if r.id == run_id or not _dead_here(r.host, r.pid)]
    cutoff = min((s.timestamp() for s in starts), default=time.time()) - CLOCK_SLACK_S
    referenced = set().union(*(catalog.referenced_paths(kind) for kind in KINDS_WITH_PATHS))
    for entry in lakefs.children(root):
        path = lakefs.join(root, entry.name)
        if not entry.name.startswith("hs-") or path in referenced:
            continue
        changed = lakefs.modified_ns(path)
        if changed is None:  # swept by another run meanwhile
            continue
        if changed / 1e9 < cutoff:
            with contextlib.suppress(OSError):
                if lakefs.exists(lakefs.join(path, UNREFERENCED)):
                    lakefs.remove(path)
                else:
                    lakefs.write_bytes(lakefs.join(path, UNREFERENCED), b"")


def _dead_here(host: str | None, pid: int | None) -> bool:
    """Whether ``pid`` of ``host`` is known to be gone: only checkable on this host."""
    if host != socket.gethostname() or pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False

