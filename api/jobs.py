"""The background jobs the API can start, each one call of a library operation.

A job receives the run worker's catalog. The operations record their own run and its progress
(:mod:`r2d2.runs`): scan (:func:`r2d2.scan.scan`), detect (:func:`r2d2.detect.detect`), and plan,
apply, restore and check (:mod:`r2d2.operations`), exactly as the CLI and the batch jobs call them.

Tests replace jobs with fakes (:class:`RunJobs`); a job left ``None`` gets the default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from r2d2.catalog import Catalog
from r2d2.config import Settings
from r2d2.sparkfactory import lazy_spark
from r2d2.vocabulary import MoveMode

if TYPE_CHECKING:
    from r2d2.optimize.planning import PlanRequest

SparkFactory = Callable[[], Any]


@dataclass(frozen=True)
class ApplyOptions:
    plan_id: int
    move_mode: MoveMode = "auto"
    prepare_only: bool = False


@dataclass(frozen=True)
class RestoreOptions:
    table_id: int
    location: str
    move_mode: MoveMode = "auto"


@dataclass(frozen=True)
class RunJobs:
    """The jobs the API can start (tests replace them with fakes)."""

    scan: Callable[[Catalog, Sequence[str], bool], object] | None = None  # (catalog, roots, retry_errors)
    detect: Callable[[Catalog], object] | None = None
    plan: Callable[[Catalog, PlanRequest], object] | None = None
    apply: Callable[[Catalog, ApplyOptions], object] | None = None
    restore: Callable[[Catalog, RestoreOptions], object] | None = None
    check: Callable[[Catalog, bool], object] | None = None


def spark_factory(settings: Settings) -> SparkFactory:
    """The process's Spark session, created on first use (never at start-up)."""
    return lazy_spark(settings)


def default_jobs(settings: Settings, spark: SparkFactory | None = None) -> RunJobs:
    """Jobs that call the library with a lazily created Spark session."""
    spark = spark or spark_factory(settings)

    def scan_job(catalog: Catalog, roots: Sequence[str], retry_errors: bool) -> object:
        from r2d2.scan import scan

        return scan(catalog, list(roots), spark_factory=spark, local_bytes=settings.local_read_bytes,
                    threads=settings.local_threads, retry_errors=retry_errors)

    def detect_job(catalog: Catalog) -> object:
        from r2d2.detect import detect

        return detect(catalog, settings, spark)

    def plan_job(catalog: Catalog, request: PlanRequest) -> object:
        from r2d2 import operations

        return operations.plan(catalog, request)

    def apply_job(catalog: Catalog, opts: ApplyOptions) -> object:
        from r2d2 import operations

        return operations.apply(catalog, settings, spark, opts.plan_id, prepare_only=opts.prepare_only,
                                move_mode=opts.move_mode)

    def restore_job(catalog: Catalog, opts: RestoreOptions) -> object:
        from r2d2 import operations

        return operations.restore(catalog, settings, spark, opts.location, move_mode=opts.move_mode)

    def check_job(catalog: Catalog, restore_at_risk: bool) -> object:
        from r2d2 import operations

        return operations.check(catalog, settings, spark, restore_at_risk=restore_at_risk)

    return RunJobs(scan=scan_job, detect=detect_job, plan=plan_job, apply=apply_job, restore=restore_job,
                   check=check_job)


def complete_jobs(jobs: RunJobs | None, settings: Settings, spark: SparkFactory) -> RunJobs:
    """``jobs`` with every job left ``None`` replaced by the default one."""
    defaults = default_jobs(settings, spark)
    if jobs is None:
        return defaults
    return replace(jobs, **{f.name: getattr(jobs, f.name) or getattr(defaults, f.name) for f in fields(jobs)})
