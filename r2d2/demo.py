"""`r2d2 demo`: generate a lake with planted truth, scan it, detect, and compare with the truth."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from r2d2.catalog import open_catalog
from r2d2.config import Settings
from r2d2.containment.pipeline import detect
from r2d2.containment.report import funnel_lines, human_bytes
from r2d2.engine import get_spark
from r2d2.gen.evaluate import as_truth, score
from r2d2.gen.lake import LakeSpec, generate_lake
from r2d2.optimize.planning import PlanRequest, create_plan
from r2d2.scan import scan


def _show_plan(catalog, root: str, echo: Callable[[str], None]) -> None:
    """The optimizer's choice on the demo lake (tables assumed unread, so deleting always pays)."""
    plan_id = create_plan(catalog, PlanRequest(access_default=0.0))
    rec = catalog.get_plan(plan_id)
    deleted = [d for d in rec.plan["decisions"] if d["action"] == "delete"]
    echo(f"\nplan {plan_id} ({rec.solver}, {rec.status}, gap {rec.gap:.2%}): delete {len(deleted)} tables, "
         f"saving {human_bytes(rec.savings_bytes)} (access frequency 0; see `r2d2 plan --access-default`)")
    for d in deleted:
        echo(f"  delete {d['location'].removeprefix(root)}  <- rebuild from {d['parent_location'].removeprefix(root)}")


def run_demo(directory: Path, settings: Settings, *, seed: int, echo: Callable[[str], None]) -> bool:
    """Run the whole pipeline on a fresh demo lake; True when the edges match the planted truth."""
    lake_dir = directory / "lake"
    if lake_dir.exists():
        shutil.rmtree(lake_dir)
    if settings.home.exists():
        shutil.rmtree(settings.home)
    t0 = time.perf_counter()
    lake = generate_lake(lake_dir, LakeSpec.small(), seed=seed)
    echo(f"generated {len(lake.tables)} tables ({human_bytes(lake.bytes)}) with {len(lake.truth)} true edges "
         f"in {lake.root} [{time.perf_counter() - t0:.1f} s]")

    catalog = open_catalog(settings.resolved_catalog_url)
    def spark_factory():
        return get_spark(settings)

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
    s = score(as_truth(result.edges), lake.truth)
    echo(f"\nedges found {len(result.edges)}, planted truth {len(lake.truth)}: "
         f"precision {s.precision:.3f}, recall {s.recall:.3f}, multiset flags wrong {len(s.wrong_flags)}")
    root = str(lake.root) + "/"
    for e in result.edges:
        mark = "==" if e.relation == "duplicate" else "⊇ "
        extra = " (multiset)" if e.multiset else ""
        echo(f"  {e.parent.removeprefix(root)} {mark} {e.child.removeprefix(root)}{extra}")
    for fp in s.false_positives:
        echo(f"  FALSE POSITIVE {fp.parent} -> {fp.child}")
    for fn in s.false_negatives:
        echo(f"  MISSED {fn.parent} -> {fn.child}")
    for err in result.errors:
        echo(f"  note {err['location']}: {err['error']}")
    _show_plan(catalog, root, echo)
    catalog.close()
    return s.precision == 1.0 and s.recall == 1.0 and not s.wrong_flags
