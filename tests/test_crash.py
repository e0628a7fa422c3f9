"""Crash tests: SIGKILL `r2d2 apply` / `r2d2 restore` at every journal step; nothing is ever lost.

Recipes are prepared once in-process (Spark); each scenario then runs the real CLI in a subprocess
with ``R2D2_FAULT=<command>:<step>:<n>`` (the move phase needs no Spark), checks that every table of
the lake is whole — byte-identical to its original file manifest — in place or in quarantine, runs
`r2d2 recover` (subprocess), checks that catalog, journal and disk agree, finishes the apply, and
restores everything so that the next scenario starts from the original lake.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_reconstruct import deleting_plan, setup_lake

from r2d2.catalog.journal import OPEN_STATES
from r2d2.reconstruct.apply import apply_plan
from r2d2.reconstruct.journal import Journal
from r2d2.reconstruct.restore import restore

# Every step of each mode, once, mostly past the first table (so earlier tables are already moved);
# random moments are the kill harness's (bench/killharness.py: 50 kills, 0 lost).
APPLY_POINTS = {
    "rename": ["intent:1", "rename:3", "moved:5", "committed:4", "done:6"],
    "copy": ["intent:2", "copy:4", "staged:3", "unlink:1", "unlink:5", "moved:2", "committed:3", "done:1"],
}
RESTORE_POINTS = {"rename": ["intent:1", "rename:1", "committed:1"],
                  "copy": ["copy:1", "staged:1", "unlink:1", "moved:1"]}
STATS = {"crash_points": 0, "tables_checked": 0, "lost": 0}


def manifest(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``root`` (or of ``root`` itself)."""
    if root.is_file():
        return {"": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def no_spark():
    raise AssertionError("the move phase must not need Spark")


@pytest.fixture(scope="module")
def prepared(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    settings, catalog, locs = setup_lake(root, spark)
    pid = deleting_plan(catalog)
    report = apply_plan(catalog, settings, lambda: spark, pid, prepare_only=True)
    assert {i.action for i in report.items} == {"prepared"}, [(i.location, i.reason) for i in report.items]
    originals = {loc: manifest(Path(loc)) for loc in locs.values()}
    return root, settings, catalog, locs, pid, originals


def run_cli(settings, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("R2D2_FAULT", None)
    if fault:
        env["R2D2_FAULT"] = fault
    cmd = [sys.executable, "-m", "r2d2.cli.main", "--home", str(settings.home),
           "--catalog", settings.resolved_catalog_url, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def whole_somewhere(settings, originals: dict[str, dict[str, str]]) -> None:
    """Every table is byte-identical to its original, at its location or in quarantine."""
    quarantined = list((settings.home / "quarantine").glob("[0-9]*/*"))
    for loc, files in originals.items():
        STATS["tables_checked"] += 1
        places = [Path(loc)] + [q for q in quarantined if q.name == Path(loc).name]
        if not any(p.exists() and manifest(p) == files for p in places):
            STATS["lost"] += 1
            pytest.fail(f"{loc} is not whole anywhere (checked {places})")


def consistent(settings, catalog, originals: dict[str, dict[str, str]]) -> None:
    """After recover: each table whole in exactly one place, as the catalog says; journals closed."""
    assert catalog.list_deletions(states=OPEN_STATES) == []
    for loc, files in originals.items():
        live = catalog.list_deletions(location=loc, states=("quarantined",))
        table = catalog.get_table(loc)
        if live:
            q = Path(live[-1].quarantine_path)
            assert not os.path.lexists(loc), f"{loc} both in place and quarantined"
            assert manifest(q) == files and table.status == "gone"
        else:
            assert manifest(Path(loc)) == files and table.status == "active"
    leftovers = [p for p in (settings.home / "quarantine").rglob(".*r2d2-partial")]
    assert leftovers == []
    for j in (settings.home / "quarantine" / "_journal").glob("*.jsonl"):
        assert Journal(j).done, j


def restore_all(settings, catalog, originals) -> None:
    for loc in originals:
        if catalog.list_deletions(location=loc, states=("quarantined",)):
            restore(catalog, settings, no_spark, loc)
    for loc, files in originals.items():
        assert manifest(Path(loc)) == files


@pytest.mark.parametrize("mode,point", [(m, p) for m, ps in APPLY_POINTS.items() for p in ps])
def test_kill_apply(prepared, mode: str, point: str) -> None:
    _, settings, catalog, _locs, pid, originals = prepared
    proc = run_cli(settings, "apply", str(pid), "--yes", "--move-mode", mode, fault=f"apply:{point}")
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)
    STATS["crash_points"] += 1
    whole_somewhere(settings, originals)
    rec = run_cli(settings, "recover")
    assert rec.returncode == 0, rec.stdout + rec.stderr
    consistent(settings, catalog, originals)
    # a second apply finishes the plan (no Spark: recipes were checked before)
    report = apply_plan(catalog, settings, no_spark, pid, move_mode=mode)  # type: ignore[arg-type]
    assert report.failed == [], [(i.location, i.reason) for i in report.failed]
    consistent(settings, catalog, originals)
    restore_all(settings, catalog, originals)
    consistent(settings, catalog, originals)


@pytest.mark.parametrize("mode,point", [(m, p) for m, ps in RESTORE_POINTS.items() for p in ps])
def test_kill_restore(prepared, mode: str, point: str) -> None:
    _, settings, catalog, locs, pid, originals = prepared
    report = apply_plan(catalog, settings, no_spark, pid, move_mode=mode)  # type: ignore[arg-type]
    assert report.failed == []
    target = locs["hive"]  # several partition folders: several files to copy and unlink
    proc = run_cli(settings, "restore", target, "--move-mode", mode, fault=f"restore:{point}")
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)
    STATS["crash_points"] += 1
    whole_somewhere(settings, originals)
    rec = run_cli(settings, "recover")
    assert rec.returncode == 0, rec.stdout + rec.stderr
    consistent(settings, catalog, originals)
    restore_all(settings, catalog, originals)
    consistent(settings, catalog, originals)


def test_report_crash_figures(prepared) -> None:
    """Runs last in this module: records the figures (crash points, tables checked, lost)."""
    out = prepared[0] / "crash-figures.json"
    out.write_text(json.dumps(STATS))
    print(f"\ncrash figures: {STATS}")
    assert STATS["lost"] == 0
