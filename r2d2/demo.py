"""`r2d2 demo`: generate a lake with planted truth, scan it, detect, and compare with the truth.

The demo lives in one folder, DIR, and touches nothing outside it: its lake is ``DIR/lake``, its home
(work files, quarantine, recipes) ``DIR/.r2d2`` and its catalog a SQLite file in that home — never the
user's home or catalog, whatever ``--home``/``--catalog`` or ``R2D2_HOME``/``R2D2_CATALOG_URL`` say
(the demo plans deletions of tables it reports as unread: in a real catalog that plan would be one
``r2d2 apply`` away from deleting real tables). DIR must be new, empty, or a previous demo's: the demo
writes a marker file there first, and on a later run removes only the entries the marker lists.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from r2d2.catalog import open_catalog
from r2d2.config import Settings
from r2d2.containment.report import EdgeOut, funnel_lines, human_bytes
from r2d2.detect import detect
from r2d2.errors import ConfigError
from r2d2.gen.evaluate import KindScores, Score, as_truth, score_kinds
from r2d2.gen.lake import LakeSpec, generate_lake
from r2d2.gen.truth import ExpectedEdge
from r2d2.operations import plan
from r2d2.optimize.planning import PlanRequest
from r2d2.scan import scan
from r2d2.sparkfactory import lazy_spark

MARKER = ".r2d2-demo"
OWNED = ("lake", ".r2d2")  # what the demo makes in DIR, and all it may remove there


@dataclass(frozen=True)
class DemoPlace:
    """The demo's folder and what it owns inside it."""

    directory: Path

    @property
    def lake(self) -> Path:
        return self.directory / "lake"

    @property
    def home(self) -> Path:
        return self.directory / ".r2d2"

    @property
    def catalog_url(self) -> str:
        return f"sqlite:///{self.home / 'catalog.sqlite'}"

    @property
    def marker(self) -> Path:
        return self.directory / MARKER

    def prepare(self) -> None:
        """Make the folder the demo's own, or raise :class:`~r2d2.errors.ConfigError` before changing anything.

        A folder that exists must be empty or hold the demo's marker. Then the marker is written, and
        what a previous demo made (the entries it lists) is removed — a symbolic link by its name only,
        never what it points to.
        """
        d = self.directory
        if d.exists() and not d.is_dir():
            raise ConfigError(f"demo folder {d} is not a folder")
        owned: list[str] = []
        if d.exists() and any(d.iterdir()):
            if not self.marker.is_file():
                raise ConfigError(f"demo folder {d} is not empty and was not made by `r2d2 demo` (it has no "
                                  f"{MARKER} file); give a new or empty folder")
            try:
                owned = [n for n in json.loads(self.marker.read_text())["owns"] if n in OWNED]
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"demo folder {d}: unreadable {MARKER} file ({exc}); remove it by hand") from exc
        d.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(json.dumps({"made_by": "r2d2 demo", "owns": list(OWNED)}) + "\n")
        for name in owned:
            path = d / name
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)


@dataclass(frozen=True)
class DemoResult:
    """How the demo's edges compare with the planted truth (``ok``: precision and recall 1 and flags right
    for every kind: exact containments in the top-level fields, ``overlaps`` and ``excepts`` apart)."""

    directory: str
    catalog: str
    tables: int
    truth_edges: int
    edges_found: int
    precision: float
    recall: float
    wrong_multiset_flags: int
    overlaps: dict[str, Any]
    excepts: dict[str, Any]
    plan_id: int
    planned_deletions: int

    @property
    def ok(self) -> bool:
        return all(k["precision"] == 1.0 and k["recall"] == 1.0 and not k["wrong_multiset_flags"]
                   for k in (asdict(self), self.overlaps, self.excepts))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _show_plan(catalog, root: str, echo: Callable[[str], None]) -> tuple[int, int]:
    """The optimizer's choice on the demo lake (tables assumed unread, so deleting always pays)."""
    plan_id = plan(catalog, PlanRequest(access_default=0.0)).value
    rec = catalog.get_plan(plan_id)
    deleted = [d for d in rec.plan["decisions"] if d["action"] == "delete"]
    echo(f"\nplan {plan_id} ({rec.solver}, {rec.status}, gap {rec.gap:.2%}): delete {len(deleted)} tables, "
         f"saving {human_bytes(rec.savings_bytes)} (access frequency 0; see `r2d2 plan --access-default`)")
    for d in deleted:
        echo(f"  delete {d['location'].removeprefix(root)}  <- rebuild from {d['parent_location'].removeprefix(root)}")
    return plan_id, len(deleted)


def _edge_line(e: EdgeOut, root: str) -> str:
    parent, child = e.parent.removeprefix(root), e.child.removeprefix(root)
    if e.relation == "overlaps":
        return f"  {parent} ~  {child} (overlap {e.fraction:.4f}, report-only)"
    mark = "==" if e.relation == "duplicate" else "⊇ "
    extra = " (multiset)" if e.multiset else ""
    if e.except_columns:
        extra += f" except {', '.join(e.except_columns)} (report-only)"
    return f"  {parent} {mark} {child}{extra}"


def _show_score(s: KindScores, edges: list[EdgeOut], tau: float, root: str, echo: Callable[[str], None]) -> None:
    """Each kind's precision and recall against the planted truth, its edges, then what differs."""
    def line(title: str, sc: Score, found: int, flags: bool) -> str:
        extra = f", multiset flags wrong {len(sc.wrong_flags)}" if flags else ""
        return (f"{title}: found {found}, planted truth {sc.true_positives + len(sc.false_negatives)}: "
                f"precision {sc.precision:.3f}, recall {sc.recall:.3f}{extra}")

    kinds = [("exact containments", s.exact, [e for e in edges if e.relation != "overlaps" and not e.except_columns],
              True),
             (f"overlaps (at least {tau:.0%} of the child's distinct rows in the parent, exact fraction)"
              if tau > 0 else "overlaps (off: overlap_threshold 0)", s.overlaps,
              [e for e in edges if e.relation == "overlaps"], False),
             ("containments except generated keys", s.excepts, [e for e in edges if e.except_columns], True)]
    for title, sc, found, flags in kinds:
        echo("")
        echo(line(title, sc, len(found), flags))
        for e in found:
            echo(_edge_line(e, root))
        for fp in sc.false_positives:
            echo(f"  FALSE POSITIVE {fp.parent} -> {fp.child}{_detail(fp)}")
        for fn in sc.false_negatives:
            echo(f"  MISSED {fn.parent} -> {fn.child}{_detail(fn)}")
        for want, got in sc.wrong_flags:
            echo(f"  WRONG MULTISET FLAG {want.parent} -> {want.child}: {got.multiset}, expected {want.multiset}")


def _detail(e: ExpectedEdge) -> str:
    if e.fraction is not None:
        return f" (overlap {e.fraction!r})"
    return f" (except {', '.join(e.except_columns)})" if e.except_columns else ""


def run_demo(place: DemoPlace, settings: Settings, *, seed: int, echo: Callable[[str], None]) -> DemoResult:
    """Run the whole pipeline on a fresh demo lake; ``ok`` when the edges match the planted truth, of
    every kind: exact containments, overlaps (with their exact fraction) and containments except
    generated keys (with their columns).

    ``settings`` must use the place's home and catalog (the demo refuses others).
    """
    if settings.home != place.home or settings.resolved_catalog_url != place.catalog_url:
        raise ConfigError(f"the demo runs only with its own home {place.home} and catalog {place.catalog_url}")
    place.prepare()
    t0 = time.perf_counter()
    # the truth's overlaps and key exceptions follow the settings detect runs with
    spec = replace(LakeSpec.small(), overlap_threshold=settings.overlap_threshold, except_keys=settings.except_keys)
    lake = generate_lake(place.lake, spec, seed=seed)
    truth = lake.truth
    echo(f"generated {len(lake.tables)} tables ({human_bytes(lake.bytes)}) with {len(truth)} true containments, "
         f"{len(truth.overlaps)} overlaps and {len(truth.excepts)} containments except generated keys "
         f"in {lake.root} [{time.perf_counter() - t0:.1f} s]")

    catalog = open_catalog(settings.resolved_catalog_url)
    spark_factory = lazy_spark(settings)

    summary = scan(catalog, [str(lake.root)], spark_factory=spark_factory, local_bytes=settings.local_read_bytes,
                   threads=settings.local_threads)
    echo(f"scan: {summary.found} tables, {summary.failed} failed, read {human_bytes(summary.bytes_read)} "
         f"[{summary.seconds:.1f} s]")
    for err in summary.errors:
        echo(f"  scan error {err['location']}: {err['error']}")

    result = detect(catalog, settings, spark_factory)
    echo("")
    for line in funnel_lines(result):
        echo(line)
    s = score_kinds(as_truth(result.edges), truth)
    root = str(lake.root) + "/"
    _show_score(s, result.edges, settings.overlap_threshold, root, echo)
    for err in result.errors:
        echo(f"  note {err['location']}: {err['error']}")
    plan_id, planned = _show_plan(catalog, root, echo)
    catalog.close()
    exact = s.exact
    return DemoResult(directory=str(place.directory), catalog=place.catalog_url, tables=len(lake.tables),
                      truth_edges=len(lake.truth), edges_found=exact.true_positives + len(exact.false_positives),
                      precision=exact.precision, recall=exact.recall, wrong_multiset_flags=len(exact.wrong_flags),
                      overlaps=_kind_json(s.overlaps), excepts=_kind_json(s.excepts), plan_id=plan_id,
                      planned_deletions=planned)


def _kind_json(sc: Score) -> dict[str, Any]:
    return {"found": sc.true_positives + len(sc.false_positives), "truth": sc.true_positives + len(sc.false_negatives),
            "precision": sc.precision, "recall": sc.recall, "wrong_multiset_flags": len(sc.wrong_flags)}
