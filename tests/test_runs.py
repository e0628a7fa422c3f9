"""Recorded runs (r2d2/runs.py): one mechanism, whoever calls the operation.

A run closes as succeeded with its summary and per-table errors, or as failed with the error that
stopped it; a busy lock records nothing; watchers learn the ids of runs started in their context
(the API's worker uses that, not a catalog subclass). No Spark: plan, purge, recover and a dry-run
apply need none.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import lakes
import pytest

from r2d2 import operations
from r2d2.catalog import Catalog, open_catalog
from r2d2.catalog.locks import exclusive
from r2d2.config import load_settings
from r2d2.errors import NotFoundError, OperationBusyError, PlanError
from r2d2.optimize.planning import PlanRequest
from r2d2.runs import RunWatcher, recorded_run, watch_runs
from r2d2.scan import scan


def _no_spark() -> None:
    raise AssertionError("no Spark here")


@pytest.fixture
def cat(catalog_url: str) -> Catalog:
    return open_catalog(catalog_url)


def test_a_run_closes_with_its_summary_errors_or_failure(cat: Catalog) -> None:
    with recorded_run(cat, "plan", {"solver": "greedy"}) as run:
        run.message("solve: 3 tables")
        run.finish(summary={"plan_id": 7}, errors=[{"location": "/lake/t", "error": "refused: drift"}])
    done = cat.get_run(run.id)
    assert (done.kind, done.status, done.params, done.summary) == ("plan", "succeeded", {"solver": "greedy"},
                                                                  {"plan_id": 7})
    assert done.errors == [{"location": "/lake/t", "error": "refused: drift"}]
    assert done.progress["stage"] == "solve" and done.progress["messages"] == ["solve: 3 tables"]

    with pytest.raises(PlanError), recorded_run(cat, "plan") as failing:
        raise PlanError("no verified edges")
    failed = cat.get_run(failing.id)
    assert failed.status == "failed" and failed.errors == [{"location": None, "error": "no verified edges"}]

    with pytest.raises(ZeroDivisionError), recorded_run(cat, "recover") as crashing:
        _ = 1 / 0
    assert cat.get_run(crashing.id).errors[0]["error"] == "internal error (ZeroDivisionError); see the log"

    with recorded_run(cat, "purge") as left_open:
        pass
    assert cat.get_run(left_open.id).status == "succeeded"
    with pytest.raises(ValueError, match="unknown run kind"), recorded_run(cat, "nap"):
        pass


def test_watchers_hear_runs_of_their_own_context_only(cat: Catalog) -> None:
    heard: list[tuple[str, int, str]] = []
    other: list[int] = []
    watcher = RunWatcher(on_start=lambda rid, kind: heard.append(("start", rid, kind)),
                         on_finish=lambda rid, status: heard.append(("finish", rid, status)))

    def elsewhere() -> None:
        other.append(cat.start_run("scan"))

    with watch_runs(watcher), recorded_run(cat, "plan") as run:
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert heard == [("start", run.id, "plan"), ("finish", run.id, "succeeded")]
    assert other and other[0] not in [h[1] for h in heard]
    broken = RunWatcher(on_start=lambda rid, kind: 1 / 0)  # a failing watcher never fails the run
    with watch_runs(broken), recorded_run(cat, "plan") as quiet:
        pass
    assert cat.get_run(quiet.id).status == "succeeded"


def test_operations_record_their_runs(cat: Catalog, catalog_url: str, tmp_path: Path) -> None:
    lakes.parquet(tmp_path / "lake" / "a", {"x": list(range(50))})
    settings = load_settings(home=tmp_path / "home", catalog_url=catalog_url)
    summary = scan(cat, [str(tmp_path / "lake")], spark_factory=_no_spark)
    planned = operations.plan(cat, PlanRequest(solver="greedy"))
    dry = operations.apply(cat, settings, _no_spark, planned.value, dry_run=True)
    purged = operations.purge(cat, settings, older_than=timedelta(days=7))
    recovered = operations.recover(cat, settings)
    runs = {r.id: r for r in cat.list_runs(limit=None)}
    assert [runs[i].kind for i in (summary.run_id, planned.run_id, dry.run_id, purged.run_id, recovered.run_id)] \
        == ["scan", "plan", "apply", "purge", "recover"]
    assert all(r.status == "succeeded" for r in runs.values())
    assert runs[planned.run_id].summary["plan_id"] == planned.value
    assert runs[dry.run_id].params["dry_run"] is True and runs[summary.run_id].progress["done"] == 1

    with pytest.raises(NotFoundError):  # stopped by an error: a failed run saying why
        operations.restore(cat, settings, _no_spark, str(tmp_path / "lake" / "a"))
    failed = cat.list_runs("restore")[0]
    assert failed.status == "failed" and "is not a deleted table" in failed.errors[0]["error"]

    before = len(cat.list_runs(limit=None))
    with exclusive(cat, "destructive", "someone else's apply"):
        done = threading.Event()
        errors: list[BaseException] = []

        def second() -> None:  # another thread of control: the lock is not re-entrant across them
            try:
                operations.purge(open_catalog(catalog_url), settings, older_than=timedelta(0))
            except BaseException as exc:
                errors.append(exc)
            done.set()

        threading.Thread(target=second).start()
        assert done.wait(30)
    assert isinstance(errors[0], OperationBusyError)
    assert len(cat.list_runs(limit=None)) == before  # a busy lock records no run
