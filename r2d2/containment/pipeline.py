"""`detect`: the five stages over every active table in the catalog, cheapest first.

schema graph → min-max / null-count pruning → MinHash screen → row probe → exact verification.
Metadata stages rerun each time (they are cheap); a pair whose two fingerprints are unchanged since
an earlier run keeps the decision that run's content stages made, so a re-run reads only tables in
pairs that involve new or changed tables. Every decision is stored with its evidence.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from pyspark.sql import SparkSession

from r2d2.catalog import Catalog
from r2d2.catalog.records import EdgeUpsert, PairDecision
from r2d2.config import Settings
from r2d2.containment import minhash as mh
from r2d2.containment.candidates import Candidate, Pair
from r2d2.containment.canonical import HASH_VERSION
from r2d2.containment.minmax import prune_all
from r2d2.containment.report import DetectResult, EdgeOut, StageReport
from r2d2.containment.schema_graph import schema_candidates
from r2d2.containment.sketch_cache import KINDS_WITH_PATHS, load_cached_many, store_many
from r2d2.containment.sketch_job import compute_sketches
from r2d2.containment.sketches import SketchRequest, TableSketch
from r2d2.containment.transitive import implied, split_waves
from r2d2.containment.verify_job import PairResult, covers_all, verify
from r2d2.lake import fs as lakefs
from r2d2.types import TableProfile

CONTENT_STAGES = ("minhash", "probe", "exact", "transitive")
Progress = Callable[[str], None]


@dataclass
class _Decision:
    state: str  # pruned | verified | inferred | candidate
    stage: str
    multiset: bool | None = None
    evidence: dict | None = None


def _reusable(rec: PairDecision | None) -> bool:
    return (rec is not None and rec.stage in CONTENT_STAGES and rec.state in ("pruned", "verified", "inferred")
            and rec.evidence.get("hash_version") == HASH_VERSION)


def _minhash_screen(cand: Candidate, sketches: Mapping[int, TableSketch]) -> str | None:
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
        with _caller_heap_frozen():
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

    # Stage 2: min-max and null-count pruning (metadata only).
    t0 = time.perf_counter()
    kept, pruned = prune_all(candidates, profiles)
    result.stages.append(StageReport("minmax", len(candidates), len(kept), time.perf_counter() - t0,
                                     reexamined=len(candidates)))
    decisions: dict[Pair, _Decision] = {
        c.pair: _Decision("pruned", "minmax", evidence={"reason": reason}) for c, reason in pruned}
    say(f"minmax: {len(kept)} pairs left")

    # Reuse content decisions of pairs whose tables are unchanged.
    stored = catalog.valid_pair_decisions()
    fresh: list[Candidate] = []
    reused: dict[Pair, PairDecision] = {}
    for cand in kept:
        prior = stored.get((cand.pair.parent, cand.pair.child))
        if prior is not None and _reusable(prior):
            reused[cand.pair] = prior
        else:
            fresh.append(cand)
    result.pairs_reused, result.pairs_reexamined = len(reused), len(fresh)

    sketches, failed = _stage_minhash(catalog, settings, spark_factory, fresh, profiles, result, reused, say)
    for tid, error in failed.items():
        result.errors.append({"location": locations[tid], "error": error})
    fresh = [c for c in fresh if c.pair.parent not in failed and c.pair.child not in failed]
    survivors = []
    for cand in fresh:
        column = _minhash_screen(cand, sketches)
        if column is None:
            survivors.append(cand)
        else:
            decisions[cand.pair] = _Decision("pruned", "minhash", evidence={"column": column})
    minhash_stage = result.stage("minhash")
    minhash_stage.reexamined = len(fresh)
    minhash_stage.candidates_out = len(survivors) + sum(1 for r in reused.values() if r.stage != "minhash")
    say(f"minhash: {minhash_stage.candidates_out} pairs left")

    _stage_rows(spark_factory, settings, survivors, profiles, sketches, reused, decisions, result, say)

    for pair, prior in reused.items():
        decisions[pair] = _Decision(prior.state, prior.stage, prior.multiset, prior.evidence)
    _store(catalog, decisions, candidates, profiles, run_id, stored)
    result.edges = _edges(decisions, profiles)
    _collect_garbage(catalog, settings, run_id)
    return result


def _stage_minhash(catalog: Catalog, settings: Settings, spark_factory: Callable[[], SparkSession],
                   fresh: list[Candidate], profiles: Mapping[int, TableProfile], result: DetectResult,
                   reused: Mapping[Pair, PairDecision], say: Progress) -> tuple[dict[int, TableSketch], dict[int, str]]:
    t0 = time.perf_counter()
    stage = StageReport("minhash", candidates_in=len(fresh) + len(reused), reused=sum(
        1 for r in reused.values() if r.stage == "minhash"))
    result.stages.append(stage)
    need_cols: dict[int, set[str]] = {}
    children: set[int] = set()  # tables whose full row-hash set stage 3 keeps
    projections: dict[int, set[tuple[str, ...]]] = {}  # parent -> projections it is compared on
    for cand in fresh:
        children.add(cand.pair.child)
        names = tuple(n for _, n in cand.column_map)
        if covers_all(profiles[cand.pair.parent], names):
            children.add(cand.pair.parent)  # its full row-hash set serves verification: no re-scan
        else:  # hashed on the child's columns while stage 3 reads it anyway: no re-scan either
            projections.setdefault(cand.pair.parent, set()).add(names)
        need_cols.setdefault(cand.pair.child, set()).update(k for k, _ in cand.column_map)
        need_cols.setdefault(cand.pair.parent, set()).update(n.lower() for _, n in cand.column_map)
    sketches: dict[int, TableSketch] = {}
    cached_by_id: dict[int, TableSketch] = {}
    requests: list[SketchRequest] = []
    cache = load_cached_many(catalog, {tid: profiles[tid] for tid in need_cols}, num_perm=settings.minhash_num_perm)
    for tid, cols in need_cols.items():
        cached = cache.get(tid)
        missing_cols = cols - set(cached.minhash) if cached else cols
        rowset_missing = tid in children and (cached is None or cached.rowset_path is None
                                              or not lakefs.exists(cached.rowset_path))
        missing_proj = {p for p in projections.get(tid, ()) if cached is None or p not in cached.projections
                        or not lakefs.exists(cached.projections[p].path)}
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
        say(f"minhash: sketching {len(requests)} tables")
        outcome = compute_sketches(
            requests, spark_factory=spark_factory, work_dir=lakefs.join(settings.work_location, "hashsets"),
            num_perm=settings.minhash_num_perm, seed=settings.minhash_seed,
            sample_k=settings.row_sample_k, batch_size=settings.spark_batch_tables,
            local_bytes=settings.local_hashset_bytes, local_read_bytes=settings.local_read_bytes,
            threads=settings.local_threads)
        failed = outcome.failures
        stage.bytes_read, stage.jobs = outcome.bytes_read, outcome.jobs
        for tid, sk in outcome.sketches.items():
            sketches[tid] = _merge(cached_by_id.get(tid), sk)
        store_many(catalog, [sketches[tid] for tid in outcome.sketches], seed=settings.minhash_seed)
    stage.seconds = time.perf_counter() - t0
    return sketches, failed


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


def _stage_rows(spark_factory: Callable[[], SparkSession], settings: Settings, survivors: list[Candidate],
                profiles: Mapping[int, TableProfile], sketches: Mapping[int, TableSketch],
                reused: Mapping[Pair, PairDecision], decisions: dict[Pair, _Decision], result: DetectResult,
                say: Progress) -> None:
    probe = StageReport("probe", reused=sum(1 for r in reused.values() if r.stage == "probe"))
    exact = StageReport("exact", reused=sum(1 for r in reused.values() if r.stage in ("exact", "transitive")))
    result.stages += [probe, exact]
    reused_past_minhash = sum(1 for r in reused.values() if r.stage != "minhash")
    reused_past_probe = sum(1 for r in reused.values() if r.stage not in ("minhash", "probe"))
    probe.candidates_in = len(survivors) + reused_past_minhash
    probe.reexamined = len(survivors)
    by_pair = {c.pair: c for c in survivors}
    verified: dict[Pair, bool] = {p: bool(r.multiset) for p, r in reused.items() if r.state != "pruned"}
    first, deferred = split_waves(by_pair)
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
            out = verify(spark_factory, [by_pair[p] for p in pairs], profiles=profiles, sketches=sketches,
                         work_dir=work, batch_size=settings.spark_batch_tables,
                         local_bytes=settings.local_hashset_bytes)
            probe.seconds += out.probe_seconds
            exact.seconds += out.exact_seconds
            probe.bytes_read += out.probe_bytes
            exact.bytes_read += out.exact_bytes
            exact.hashset_bytes += out.exact_hashset_bytes
            exact.jobs += out.jobs
            for cand, error in out.failures:
                result.errors.append({"location": profiles[cand.pair.parent].location, "error": error})
            for r in out.results:
                decisions[r.candidate.pair] = _to_decision(r)
                if r.contained:
                    verified[r.candidate.pair] = bool(r.multiset)
    finally:
        with contextlib.suppress(OSError):
            lakefs.remove(work)
    passed_probe = sum(1 for p in by_pair if decisions.get(p) and decisions[p].stage != "probe")
    probe.candidates_out = passed_probe + reused_past_probe
    exact.candidates_in = probe.candidates_out
    exact.reexamined = passed_probe
    exact.candidates_out = sum(1 for d in decisions.values() if d.state in ("verified", "inferred")) + sum(
        1 for r in reused.values() if r.state in ("verified", "inferred"))


def _to_decision(r: PairResult) -> _Decision:
    if r.contained:
        return _Decision("verified", r.stage, r.multiset, r.evidence)
    return _Decision("pruned", r.stage, None, r.evidence)


def _relation(pair: Pair, decisions: Mapping[Pair, _Decision], profiles: Mapping[int, TableProfile]) -> str:
    back = decisions.get(Pair(pair.child, pair.parent))
    same_columns = {c.key for c in profiles[pair.parent].supported_columns} == {
        c.key for c in profiles[pair.child].supported_columns} and len(profiles[pair.parent].columns) == len(
        profiles[pair.child].columns)
    if back is not None and back.state in ("verified", "inferred") and same_columns:
        return "duplicate"
    return "contains"


def _store(catalog: Catalog, decisions: Mapping[Pair, _Decision], candidates: list[Candidate],
           profiles: Mapping[int, TableProfile], run_id: int, stored: Mapping[tuple[int, int], PairDecision]) -> None:
    """Write every decision that differs from the stored one (an unchanged edge keeps the run that
    decided it, and an incremental run writes only the pairs it touched)."""
    rows = []
    for cand in candidates:
        d = decisions.get(cand.pair) or _Decision("candidate", "minhash", evidence={"note": "not examined"})
        relation = _relation(cand.pair, decisions, profiles) if d.state in ("verified", "inferred") else "contains"
        evidence = {**(d.evidence or {}), "hash_version": HASH_VERSION}
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
        if d.state not in ("verified", "inferred"):
            continue
        relation = _relation(pair, decisions, profiles)
        parent, child = profiles[pair.parent].location, profiles[pair.child].location
        if relation == "duplicate" and parent > child:
            continue  # a duplicate pair is reported once, smaller location first
        out.append(EdgeOut(parent, child, relation, True, d.multiset,  # type: ignore[arg-type]
                           d.stage, inferred=d.state == "inferred"))
    return sorted(out, key=lambda e: (e.parent, e.child))


CLOCK_SLACK_S = 120.0  # run start times come from the runs' hosts; file times from the file system


def _collect_garbage(catalog: Catalog, settings: Settings, run_id: int) -> None:
    """Delete hash-set datasets that no cached sketch refers to any more.

    Another detect sharing this work folder may be writing a dataset it has not stored yet: only
    datasets last changed before every detect still running began (this one included) are deleted.
    A running detect recorded by a process of this host that no longer exists (killed, crashed) does
    not count; one of another host always does. Anything younger waits for a later run's sweep.
    """
    root = lakefs.join(settings.work_location, "hashsets")
    if not lakefs.exists(root):
        return
    starts = [r.started_at for r in catalog.list_runs("detect", status="running", limit=None)
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
                lakefs.remove(path)


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

