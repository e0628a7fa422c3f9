"""Random-kill harness: SIGKILL `r2d2 apply` at random moments, then `r2d2 recover`; nothing may be lost.

A lake of ``--tables`` tables (parents, each with a row subset, a projection and a hive-partitioned
filter of it) is scanned into a SQLite catalog, the planted edges are recorded and a plan deleting
every child is made; recipes are prepared once, in this process (Spark). Then, ``--kills`` times: the
real CLI ``r2d2 apply PLAN --yes`` starts (move mode rename or copy, at random) and is SIGKILLed at a
random moment: three times in four once its first journal appears, after a delay drawn uniformly over
the span an uninterrupted apply's moves took; otherwise after a delay drawn uniformly over a whole
apply's duration. So kills land at start-up, between tables, mid-copy, mid-rename, mid-unlink, between
catalog and journal writes — not only at journal steps. After each kill, every table must be whole
(byte-identical to its original file manifest) in place or in quarantine; ``r2d2 recover`` (real CLI)
must exit 0 and leave each table whole in exactly the one place the catalog says, with no open
deletion, no staging leftover and every journal closed. Then every quarantined table is restored, and
the next round starts from the whole lake.

    .venv/bin/python bench/killharness.py --kills 50 --tables 24 --seed 1

Writes ``bench/results/killharness.{json,md}`` (``--out DIR`` elsewhere).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from r2d2.catalog import EdgeUpsert, open_catalog  # noqa: E402
from r2d2.catalog.journal import OPEN_STATES  # noqa: E402
from r2d2.config import load_settings  # noqa: E402
from r2d2.optimize.planning import PlanRequest, create_plan  # noqa: E402
from r2d2.reconstruct.apply import apply_plan  # noqa: E402
from r2d2.reconstruct.journal import Journal  # noqa: E402
from r2d2.reconstruct.restore import restore  # noqa: E402
from r2d2.scan import scan  # noqa: E402

CHILDREN_PER_PARENT = 3


class LostTable(AssertionError):
    """A table is not whole anywhere, or catalog and disk disagree after recover."""


@dataclass
class Figures:
    kills: int = 0
    finished_before_kill: int = 0
    tables: int = 0
    tables_checked: int = 0
    lost: int = 0
    recover_failures: int = 0
    kill_delays_s: list[float] = field(default_factory=list)
    open_deletions_at_kill: Counter[str] = field(default_factory=Counter)  # catalog state of in-flight moves
    deleted_at_kill: list[int] = field(default_factory=list)  # tables already quarantined when killed
    modes: Counter[str] = field(default_factory=Counter)
    phases: Counter[str] = field(default_factory=Counter)  # how each kill's moment was drawn
    full_apply_s: dict[str, float] = field(default_factory=dict)
    move_window_s: dict[str, tuple[float, float]] = field(default_factory=dict)  # first..last journal write
    seconds: float = 0.0


# --- the lake ---------------------------------------------------------------------------------------

def _parent(rng: np.random.Generator, rows: int) -> pa.Table:
    ids = rng.permutation(rows).astype(np.int64)
    return pa.table({"id": ids, "grp": ids % 8, "name": pa.array([f"n{i % 997}" for i in ids]),
                     "amount": np.round(rng.uniform(-100, 100, rows), 2)})


def write_lake(root: Path, tables: int, rows: int, seed: int) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Parents with children; returns ({name: location}, [(parent, child)])."""
    rng = np.random.default_rng(seed)
    locs: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for p in range(max(1, math.ceil(tables / (CHILDREN_PER_PARENT + 1)))):
        parent = _parent(rng, rows)
        name = f"p{p}"
        (root / name).mkdir(parents=True)
        for i, part in enumerate((parent.slice(0, rows // 2), parent.slice(rows // 2))):
            pq.write_table(part, root / name / f"part-{i}.parquet")
        locs[name] = str(root / name)
        subset = parent.take(pa.array(np.sort(rng.choice(rows, rows // 3, replace=False))))
        child = root / f"p{p}_rows"
        child.mkdir()
        pq.write_table(subset.slice(0, subset.num_rows // 2), child / "part-0.parquet")
        pq.write_table(subset.slice(subset.num_rows // 2), child / "part-1.parquet")
        locs[f"p{p}_rows"] = str(child)
        proj = root / f"p{p}_proj"
        proj.mkdir()
        pq.write_table(parent.select(["id", "name"]), proj / "part-0.parquet")
        locs[f"p{p}_proj"] = str(proj)
        low = parent.filter(pc.less(parent.column("grp"), 5))
        hive = root / f"p{p}_hive"
        for g in range(5):  # several partition folders: many files to copy and unlink
            folder = hive / f"grp={g}"
            folder.mkdir(parents=True)
            pq.write_table(low.filter(pc.equal(low.column("grp"), g)).drop(["grp"]),
                           folder / "part-0.parquet")
        locs[f"p{p}_hive"] = str(hive)
        edges += [(name, f"p{p}_{kind}") for kind in ("rows", "proj", "hive")]
    return locs, edges


def manifest(path: Path) -> dict[str, str]:
    if path.is_file():
        return {"": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


# --- checks -----------------------------------------------------------------------------------------

def whole_somewhere(home: Path, originals: dict[str, dict[str, str]], figures: Figures) -> None:
    quarantined = list((home / "quarantine").glob("[0-9]*/*"))
    for loc, files in originals.items():
        figures.tables_checked += 1
        places = [Path(loc)] + [q for q in quarantined if q.name == Path(loc).name]
        if not any(os.path.lexists(p) and manifest(p) == files for p in places):
            figures.lost += 1
            raise LostTable(f"{loc} is not whole anywhere (looked in {[str(p) for p in places]})")


def consistent(catalog: Any, home: Path, originals: dict[str, dict[str, str]]) -> None:
    if catalog.list_deletions(states=OPEN_STATES):
        raise LostTable(f"open deletions after recover: {catalog.list_deletions(states=OPEN_STATES)}")
    for loc, files in originals.items():
        live = catalog.list_deletions(location=loc, states=("quarantined",))
        status = catalog.get_table(loc).status
        if live:
            q = Path(live[-1].quarantine_path)
            if os.path.lexists(loc) or manifest(q) != files or status != "gone":
                raise LostTable(f"{loc}: quarantined in the catalog but not (only, wholly) in {q}")
        elif manifest(Path(loc)) != files or status != "active":
            raise LostTable(f"{loc}: in place in the catalog but not whole there")
    leftovers = list((home / "quarantine").rglob(".*r2d2-partial"))
    if leftovers:
        raise LostTable(f"staging leftovers: {leftovers}")
    for j in (home / "quarantine" / "_journal").glob("*.jsonl"):
        if not Journal(j).done:
            raise LostTable(f"journal {j} left open")


def no_spark() -> Any:
    raise AssertionError("moving tables back from quarantine needs no Spark")


def restore_all(catalog: Any, settings: Any, originals: dict[str, dict[str, str]]) -> None:
    for loc in originals:
        if catalog.list_deletions(location=loc, states=("quarantined",)):
            restore(catalog, settings, no_spark, loc)
    for loc, files in originals.items():
        if manifest(Path(loc)) != files:
            raise LostTable(f"{loc} not whole after restore")


# --- the harness ------------------------------------------------------------------------------------

def cli(settings: Any, *args: str) -> list[str]:
    return [sys.executable, "-m", "r2d2.cli.main", "--home", str(settings.home),
            "--catalog", settings.resolved_catalog_url, *args]


def prepare(root: Path, tables: int, rows: int, seed: int, spark: Any) -> tuple[Any, Any, int, dict[str, Any]]:
    locs, edges = write_lake(root / "lake", tables, rows, seed)
    settings = load_settings(home=root / "home", catalog_url=f"sqlite:///{root / 'catalog.sqlite'}",
                             spark_master="local[2]")
    catalog = open_catalog(settings.resolved_catalog_url)
    summary = scan(catalog, [str(root / "lake")], spark_factory=lambda: spark)
    assert summary.failed == 0, summary.errors
    recs = {name: catalog.get_table(loc) for name, loc in locs.items()}
    catalog.upsert_edges([EdgeUpsert(recs[p].id, recs[c].id, recs[p].fingerprint, recs[c].fingerprint, "verified",
                                     "exact", "contains", True, {"distinct_rows": 10}) for p, c in edges])
    # Cost inputs that make deleting every child pay (storage dear, rebuilds free, small recipe estimate):
    # the harness is about crash safety, not about which tables are worth deleting.
    plan_id = create_plan(catalog, PlanRequest(latency_limit_s=math.inf, access_default=0.0, storage_price=1e6,
                                               compute_price=0.0, solver="greedy"))
    report = apply_plan(catalog, settings, lambda: spark, plan_id, prepare_only=True)
    bad = [(i.location, i.reason) for i in report.items if i.action != "prepared"]
    assert not bad and len(report.items) == len(edges), bad
    originals = {loc: manifest(Path(loc)) for loc in locs.values()}
    return settings, catalog, plan_id, originals


def run(root: Path, *, kills: int, tables: int, rows: int, seed: int, spark: Any,
        say: Any = print) -> Figures:
    """Prepare the lake, then kill ``kills`` applies at random moments; raises LostTable on any loss."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    settings, catalog, plan_id, originals = prepare(root, tables, rows, seed, spark)
    figures = Figures(tables=len(originals))
    say(f"prepared {len(originals)} tables and their recipes in {time.perf_counter() - t0:.0f} s")
    journals = settings.home / "quarantine" / "_journal"
    windows: dict[str, tuple[float, float]] = {}
    for mode in ("rename", "copy"):  # how long a whole apply takes, and when its moves happen
        before = set(journals.glob("*.jsonl")) if journals.exists() else set()
        started, wall = time.perf_counter(), time.time()
        done = subprocess.run(cli(settings, "apply", str(plan_id), "--yes", "--move-mode", mode),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        figures.full_apply_s[mode] = time.perf_counter() - started
        stamps = [datetime.fromisoformat(e["at"]).timestamp() - wall
                  for j in set(journals.glob("*.jsonl")) - before for e in Journal(j).entries()]
        windows[mode] = (min(stamps), max(stamps))
        consistent(catalog, settings.home, originals)
        restore_all(catalog, settings, originals)
    figures.move_window_s = {m: (round(a, 3), round(b, 3)) for m, (a, b) in windows.items()}
    say(f"{figures.tables} tables, whole apply {figures.full_apply_s['rename']:.2f} s (rename) / "
        f"{figures.full_apply_s['copy']:.2f} s (copy); moves between {figures.move_window_s}")
    while figures.kills < kills:
        mode = rng.choice(("rename", "copy"))
        before = set(journals.glob("*.jsonl")) if journals.exists() else set()
        started = time.perf_counter()
        proc = subprocess.Popen(cli(settings, "apply", str(plan_id), "--yes", "--move-mode", mode),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if rng.random() < 0.75:
            # Three kills in four land while tables move: once the first journal appears, after a random
            # delay within the span the moves took in the uninterrupted run (start-up time varies a lot
            # more from run to run than the moves do).
            phase = "during the moves"
            while proc.poll() is None and not (set(journals.glob("*.jsonl")) - before) \
                    and time.perf_counter() - started < 120:
                time.sleep(0.002)
            lo, hi = windows[mode]
            time.sleep(rng.uniform(0.0, (hi - lo) * 1.2))
        else:
            phase = "anywhere in the run"
            time.sleep(rng.uniform(0.0, figures.full_apply_s[mode]))
        delay = time.perf_counter() - started
        if proc.poll() is not None:  # finished before the kill: not a kill; start again from the whole lake
            figures.finished_before_kill += 1
            assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        else:
            proc.send_signal(signal.SIGKILL)
            proc.wait(60)
            figures.kills += 1
            figures.modes[mode] += 1
            figures.phases[phase] += 1
            figures.kill_delays_s.append(round(delay, 3))
            in_flight = catalog.list_deletions(states=OPEN_STATES)
            figures.open_deletions_at_kill.update(d.state for d in in_flight)
            figures.deleted_at_kill.append(len(catalog.list_deletions(states=("quarantined",))))
            whole_somewhere(settings.home, originals, figures)
            rec = subprocess.run(cli(settings, "recover"), capture_output=True, text=True, timeout=600)
            if rec.returncode != 0:
                figures.recover_failures += 1
                raise LostTable(f"recover failed ({rec.returncode}): {rec.stdout}{rec.stderr}")
        if proc.stderr:
            proc.stderr.close()
        consistent(catalog, settings.home, originals)
        restore_all(catalog, settings, originals)
        consistent(catalog, settings.home, originals)
        if figures.kills and figures.kills % 10 == 0 and proc.returncode == -signal.SIGKILL:
            say(f"  {figures.kills} kills, {figures.tables_checked} tables checked, {figures.lost} lost")
    figures.seconds = time.perf_counter() - t0
    return figures


def write_results(figures: Figures, out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {**{k: dict(v) if isinstance(v, Counter) else v for k, v in vars(figures).items()},
            "command": command, "machine": {
        "python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}}
    (out / "killharness.json").write_text(json.dumps(data, indent=2) + "\n")
    mid = sum(figures.open_deletions_at_kill.values())
    some = sum(1 for n in figures.deleted_at_kill if n)
    delays = sorted(figures.kill_delays_s)
    lines = [
        "# Random-kill harness: SIGKILL `r2d2 apply` at random moments, then `r2d2 recover`",
        "",
        f"Command: `{command}`",
        "",
        "| figure | value |",
        "|---|---|",
        f"| SIGKILLs of a running `r2d2 apply` | **{figures.kills}** (rename {figures.modes['rename']}, "
        f"copy {figures.modes['copy']}) |",
        f"| tables in the lake (all deleted by the plan but the parents) | {figures.tables} |",
        f"| tables checked whole after a kill | **{figures.tables_checked}** |",
        f"| tables lost or damaged | **{figures.lost}** |",
        f"| `r2d2 recover` failures | {figures.recover_failures} |",
        f"| how the moments were drawn | {dict(figures.phases)} |",
        f"| kills with a move in flight (catalog state at the kill) | {mid} "
        f"({dict(figures.open_deletions_at_kill)}) |",
        f"| kills after some tables were already quarantined | {some} |",
        f"| applies that finished before their kill time (not counted) | {figures.finished_before_kill} |",
        f"| whole apply, no kill | rename {figures.full_apply_s.get('rename', 0):.2f} s, "
        f"copy {figures.full_apply_s.get('copy', 0):.2f} s |",
        f"| its moves (first to last journal write, s after start) | {figures.move_window_s} |",
        f"| kill delays (min / median / max) | {delays[0]:.3f} / {delays[len(delays) // 2]:.3f} / "
        f"{delays[-1]:.3f} s |" if delays else "| kill delays | none |",
        f"| harness wall time | {figures.seconds:.0f} s |",
        "",
        "Each round starts from the whole lake (every quarantined table restored after the previous round). "
        "After each kill every table is compared, file by file (SHA-256), with its original at its location "
        "and in quarantine; after `r2d2 recover` it must be whole in exactly the place the catalog says, "
        "with no open deletion, no staging leftover and every journal closed.",
        "",
    ]
    (out / "killharness.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--tables", type=int, default=24, help="at least this many tables (a quarter are parents)")
    ap.add_argument("--rows", type=int, default=20_000, help="rows per parent table")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None, help="where the lake and home go (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args()
    import tempfile

    from r2d2.engine import get_spark, stop_spark

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    root = args.workdir or Path(tempfile.mkdtemp(prefix="r2d2-kill-"))
    spark = get_spark(load_settings(spark_master="local[2]", spark_shuffle_partitions=4))
    try:
        figures = run(root, kills=args.kills, tables=args.tables, rows=args.rows, seed=args.seed, spark=spark)
    finally:
        stop_spark()
    command = (f".venv/bin/python bench/killharness.py --kills {args.kills} --tables {args.tables} "
               f"--rows {args.rows} --seed {args.seed}")
    write_results(figures, args.out, command)
    print(f"kills {figures.kills}, tables checked {figures.tables_checked}, lost {figures.lost}")


if __name__ == "__main__":
    main()
