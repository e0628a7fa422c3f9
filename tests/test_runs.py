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


def test_every_entrance_records_the_same_runs(tmp_path: Path, spark: object,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 18's "done when": scan, detect, plan and apply started from the CLI, from the batch jobs (the
    code spark-submit runs: jobs/*.py, here in this process) and from the API each record a run, and
    `r2d2 runs --format json` and `GET /runs` list the same runs with the same fields and values."""
    import json

    from click.testing import CliRunner
    from test_api import serve, wait_run

    from jobs import apply as apply_job
    from jobs import detect as detect_job
    from jobs import plan as plan_job
    from jobs import scan as scan_job
    from r2d2.cli.main import _register_subcommands, cli

    lake = tmp_path / "lake"
    lakes.parquet(lake / "a", {"x": list(range(400)), "y": [f"v{i}" for i in range(400)]})
    lakes.parquet(lake / "b", {"x": list(range(100)), "y": [f"v{i}" for i in range(100)]})
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    base = ["--home", str(tmp_path / "home"), "--catalog", url]
    plan_args = ["--solver", "greedy", "--access-default", "0", "--latency-limit", "inf"]
    catalog = open_catalog(url)

    def newest_plan() -> str:
        return str(catalog.list_plans(limit=1)[0].id)

    _register_subcommands()
    for args in (["scan", str(lake)], ["detect"], ["plan", *plan_args]):
        assert CliRunner().invoke(cli, [*base, *args, "--format", "json"]).exit_code == 0, args
    assert CliRunner().invoke(cli, [*base, "apply", newest_plan(), "--dry-run"]).exit_code == 0
    by_cli = [r.id for r in catalog.list_runs(limit=None)]

    for job, args in ((scan_job, [str(lake)]), (detect_job, []), (plan_job, plan_args)):
        with pytest.raises(SystemExit) as exited:
            job.main([*base, *args, "--format", "json"])
        assert exited.value.code == 0, capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        apply_job.main([*base, newest_plan(), "--dry-run"])
    assert exited.value.code == 0
    by_jobs = [r.id for r in catalog.list_runs(limit=None) if r.id not in by_cli]

    settings = load_settings(home=tmp_path / "api-home", catalog_url=url, lake_roots=(str(lake),))
    with serve(settings, spark=lambda: spark) as api, api.client("operator") as c:
        for path, body in (("/runs/scan", {"roots": [str(lake)]}), ("/runs/detect", None),
                           ("/plans", {"solver": "greedy", "access_default": 0, "latency_limit_s": None})):
            started = c.post(path, json=body)
            assert started.status_code == 202, started.text
            assert wait_run(c, started.json()["id"])["status"] == "succeeded"
        assert c.post(f"/plans/{newest_plan()}/apply", json={"dry_run": True}).status_code == 200
        listed = c.get("/runs", params={"limit": 100}).json()["items"]
    by_api = [r.id for r in catalog.list_runs(limit=None) if r.id not in by_cli + by_jobs]

    kinds = {r.id: r.kind for r in catalog.list_runs(limit=None)}
    for ids in (by_cli, by_jobs, by_api):
        assert sorted(kinds[i] for i in ids) == ["apply", "detect", "plan", "scan"], [kinds[i] for i in ids]
    runs = CliRunner().invoke(cli, [*base, "runs", "--limit", "100", "--format", "json"])
    assert json.loads(runs.stdout) == listed  # one shape, the same values
    assert all(r["status"] == "succeeded" for r in listed) and len(listed) == 12
    for kind in ("scan", "detect", "plan", "apply"):
        same_kind = [r for r in listed if r["kind"] == kind]
        assert len({tuple(sorted(r["params"])) for r in same_kind}) == 1, same_kind  # same inputs recorded
        assert len({tuple(sorted(r["summary"])) for r in same_kind}) == 1, same_kind  # and the same results
