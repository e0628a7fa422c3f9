"""`r2d2` subcommands of the deletion half: access stats, tags, calibrate, plan, apply, purge, restore,
reconstruct, recover, check (thin wrappers over :mod:`r2d2.operations`, which record a run each)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from r2d2 import vocabulary
from r2d2.cli.main import EXIT_OK, EXIT_PARTIAL, Context, confirm_or_yes, run_guarded, say
from r2d2.cli.render import FORMAT, Format, emit, human_bytes, table, when
from r2d2.views import Plan, PlanSummary, as_json

MOVE_MODES = click.Choice(vocabulary.MOVE_MODES)
YES = click.option("--yes", "-y", is_flag=True,
                   help="Do not ask for confirmation (needed when not run from a terminal).")


def _duration(_ctx: Any, _param: Any, value: str | None) -> float | None:
    from r2d2.durations import seconds

    if value is None:
        return None
    try:
        return seconds(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group("access")
def access() -> None:
    """Access statistics (cost inputs of the plan)."""


@access.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@FORMAT
@click.pass_obj
def access_import(obj: Context, file: Path, fmt: Format) -> None:
    """Import FILE (CSV or JSON rows of location, count, window_days) as accesses per table."""
    from r2d2.optimize.access import read_access_file
    from r2d2.optimize.model import DAYS_PER_MONTH

    def body() -> int:
        parsed = read_access_file(file)
        updated, unknown = obj.catalog.set_access_per_day(parsed.rates)

        def text() -> None:
            click.echo(f"rows {parsed.rows}: {len(updated)} tables updated, {len(unknown)} unknown locations, "
                       f"{len(parsed.errors)} bad rows")
            for loc in updated:
                click.echo(f"  {loc}: {parsed.rates[loc] * DAYS_PER_MONTH:.2f} accesses/month")
            for loc in unknown:
                click.echo(f"  unknown  {loc}")
            for e in parsed.errors:
                click.echo(f"  bad row  {e}")

        emit(fmt, {"rows": parsed.rows, "updated": list(updated), "unknown": list(unknown), "errors": parsed.errors,
                   "access_per_day": {loc: parsed.rates[loc] for loc in updated}}, text)
        return EXIT_PARTIAL if unknown or parsed.errors else EXIT_OK

    run_guarded(body, fmt=fmt)


@click.command()
@click.argument("location")
@click.option("--latency-limit", callback=_duration, help="Longest acceptable rebuild (30s, 5m, inf).")
@click.option("--clear", is_flag=True, help="Remove the table's own latency limit (use the default).")
@FORMAT
@click.pass_obj
def tag(obj: Context, location: str, latency_limit: float | None, clear: bool, fmt: Format) -> None:
    """Set per-table cost inputs of the table at LOCATION."""
    from r2d2.lake.fs import normalize_location

    def body() -> int:
        if latency_limit is None and not clear:
            raise click.UsageError("give --latency-limit or --clear")
        value = None if clear else latency_limit
        where = normalize_location(location)
        obj.catalog.set_latency_limit(where, value)
        emit(fmt, {"location": where, "latency_limit_s": value},
             lambda: click.echo(f"{where}: latency limit {'default' if value is None else f'{value:g} s'}"))
        return EXIT_OK

    run_guarded(body, fmt=fmt)


@click.command()
@click.option("--samples", type=click.IntRange(2, 50), default=6, show_default=True)
@click.option("--source", type=click.Choice(["auto", "catalog", "generated"]), default="auto", show_default=True,
              help="Rebuild real tables of the catalog, or generated ones (auto: catalog when it can).")
@FORMAT
@click.pass_obj
def calibrate(obj: Context, samples: int, source: str, fmt: Format) -> None:
    """Time real rebuilds on the current Spark engine and store the fitted latency model."""
    from r2d2 import operations

    def body() -> int:
        done = operations.calibrate(obj.catalog, obj.settings, obj.spark_factory(), samples=samples,
                                    source=source, progress=say)
        out = done.value
        emit(fmt, {**out, "run_id": done.run_id}, lambda: click.echo(
            f"calibration {out['calibration_id']}: {len(out['samples'])} rebuilds "
            f"({out['samples'][0]['source']} tables); latency = {out['overhead_s']:.2f} s + bytes / "
            f"{out['bytes_per_s'] / 1e6:.1f} MB/s"))
        return EXIT_OK

    run_guarded(body, fmt=fmt)


@click.command()
@click.option("--latency-limit", callback=_duration, default="1h", show_default=True,
              help="Default latency limit for tables without their own (tag).")
@click.option("--access-default", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Accesses per month assumed for tables with no imported access record.")
@click.option("--solver", type=click.Choice(["milp", "greedy"]), default="milp", show_default=True)
@click.option("--time-limit", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds for the exact solve; the best solution found is used after it.")
@click.option("--storage-price", type=click.FloatRange(min=0), default=0.023, show_default=True,
              help="Money per GB-month stored.")
@click.option("--compute-price", type=click.FloatRange(min=0), default=0.50, show_default=True,
              help="Money per hour of rebuild compute.")
@FORMAT
@click.pass_obj
def plan(obj: Context, latency_limit: float, access_default: float, solver: str, time_limit: float,
         storage_price: float, compute_price: float, fmt: Format) -> None:
    """Choose the tables to delete (MILP or greedy), store the plan and print it."""
    from r2d2 import operations
    from r2d2.optimize.planning import PlanRequest

    def body() -> int:
        done = operations.plan(obj.catalog, PlanRequest(
            latency_limit_s=latency_limit, access_default=access_default, solver=solver,  # type: ignore[arg-type]
            time_limit_s=time_limit, storage_price=storage_price, compute_price=compute_price))
        _print_plan(obj.catalog.get_plan(done.value), fmt, run_id=done.run_id)
        return EXIT_OK

    run_guarded(body, fmt=fmt)


def _print_plan(rec: Any, fmt: Format, *, run_id: int | None = None) -> None:
    if fmt == "json":
        emit(fmt, {**as_json(Plan, rec), **({"run_id": run_id} if run_id is not None else {})}, lambda: None)
        return
    p = rec.params
    click.echo(f"plan {rec.id} ({rec.solver}, {rec.status}): objective {rec.objective:.6f}/month, "
               f"bound {rec.bound:.6f}, gap {rec.gap:.2%}, solved in {rec.solve_seconds:.2f} s")
    click.echo(f"latency model: {p.get('model')}; {p.get('edges')} edges "
               f"({p.get('closure_edges')} added by transitive closure)")
    click.echo(f"delete {rec.deleted_tables} tables: saves {human_bytes(max(rec.savings_bytes, 0))} "
               f"and {rec.savings_per_month:.6f}/month")
    for d in rec.decisions:
        if d["action"] == "delete":
            click.echo(f"  delete {d['location']}  <- {d['parent_location']}  "
                       f"(~{d['est_latency_s']:.1f} s, recipe {human_bytes(d['recipe_bytes'])})")


@click.command()
@click.argument("plan_id", type=int, required=False)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@FORMAT
@click.pass_obj
def plans(obj: Context, plan_id: int | None, limit: int, fmt: Format) -> None:
    """List stored plans (newest first), or print plan PLAN_ID (catalog only)."""
    def body() -> int:
        if plan_id is not None:
            _print_plan(obj.catalog.get_plan(plan_id), fmt)
            return EXIT_OK
        rows = obj.catalog.list_plans(limit=limit)
        emit(fmt, [as_json(PlanSummary, r) for r in rows], lambda: table(
            ["id", "created", "solver", "status", "deletes", "saves", "saves/month"],
            [[r.id, when(r.created_at), r.solver, r.status, r.deleted_tables, human_bytes(max(r.savings_bytes, 0)),
              f"{r.savings_per_month:.6f}"] for r in rows], right=("id", "deletes", "saves", "saves/month")))
        return EXIT_OK

    run_guarded(body, fmt=fmt)


@click.command()
@click.argument("plan_id", type=int)
@click.option("--dry-run", is_flag=True, help="Check drift and list what would be deleted; change nothing.")
@click.option("--prepare-only", is_flag=True, help="Build and check the recipes; move nothing.")
@click.option("--move-mode", type=MOVE_MODES, default="auto", show_default=True,
              help="rename (same filesystem), copy (copy+fsync+verify then unlink), auto.")
@FORMAT
@YES
@click.pass_obj
def apply(obj: Context, plan_id: int, dry_run: bool, prepare_only: bool, move_mode: str, fmt: Format,
          yes: bool) -> None:
    """Delete the tables of plan PLAN_ID: re-verify, recipe, rebuild check, journaled move to quarantine.

    Asks for confirmation on a terminal; needs --yes otherwise (not for --dry-run or --prepare-only).
    """
    from r2d2 import operations

    def body() -> int:
        if not (dry_run or prepare_only):
            n = obj.catalog.get_plan(plan_id).deleted_tables
            confirm_or_yes(yes, f"Move the {n} tables that plan {plan_id} deletes into quarantine "
                                f"(catalog {obj.catalog.display_url})?")
        done = operations.apply(obj.catalog, obj.settings, obj.spark_factory(), plan_id, dry_run=dry_run,
                                prepare_only=prepare_only, move_mode=move_mode,  # type: ignore[arg-type]
                                progress=None if fmt == "json" else say)
        report = done.value

        def text() -> None:
            for i in report.items:
                extra = f" [{i.selection}]" if i.selection else ""
                click.echo(f"  {i.action:12} {i.location}{extra}" + (f": {i.reason}" if i.reason else ""))
            click.echo(f"{sum(i.action == 'deleted' for i in report.items)} deleted, "
                       f"{len(report.failed)} refused or failed (run {done.run_id})")

        emit(fmt, {**report.to_json(), "run_id": done.run_id}, text)
        return EXIT_PARTIAL if report.failed else EXIT_OK

    run_guarded(body, fmt=fmt)


@click.command()
@click.option("--older-than", callback=_duration, default="7d", show_default=True,
              help="Retention: purge tables quarantined longer than this.")
@FORMAT
@YES
@click.pass_obj
def purge(obj: Context, older_than: float, fmt: Format, yes: bool) -> None:
    """Remove quarantined files after the retention period (only with a checked, usable recipe).

    Asks for confirmation on a terminal; needs --yes otherwise.
    """
    from r2d2 import operations

    def body() -> int:
        confirm_or_yes(yes, f"Remove for good the quarantined files older than {timedelta(seconds=older_than)} "
                            f"(catalog {obj.catalog.display_url}; tables stay rebuildable from their recipes)?")
        done = operations.purge(obj.catalog, obj.settings, older_than=timedelta(seconds=older_than))
        report = done.value

        def text() -> None:
            for loc in report.purged:
                click.echo(f"  purged  {loc}")
            for loc, why in report.kept:
                click.echo(f"  kept    {loc}: {why}")
            click.echo(f"{len(report.purged)} purged, {len(report.kept)} kept (run {done.run_id})")

        emit(fmt, {"purged": report.purged, "kept": [{"location": loc, "why": why} for loc, why in report.kept],
                   "run_id": done.run_id}, text)
        return EXIT_PARTIAL if report.kept else EXIT_OK

    run_guarded(body, fmt=fmt)


@click.command()
@click.argument("location")
@click.option("--move-mode", type=MOVE_MODES, default="auto", show_default=True)
@FORMAT
@click.pass_obj
def restore(obj: Context, location: str, move_mode: str, fmt: Format) -> None:
    """Bring the deleted table at LOCATION back (from quarantine, or rebuilt from its recipe)."""
    from r2d2 import operations

    def body() -> int:
        done = operations.restore(obj.catalog, obj.settings, obj.spark_factory(), location,
                                  move_mode=move_mode)  # type: ignore[arg-type]
        how = done.value
        what = "moved back from quarantine" if how == "quarantine" else "rebuilt and verified"
        emit(fmt, {"location": location, "how": how, "run_id": done.run_id},
             lambda: click.echo(f"restored {location} ({what}; run {done.run_id})"))
        return EXIT_OK

    run_guarded(body, fmt=fmt)


@click.command()
@click.argument("location")
@click.option("--to", "target", required=True, help="Where to write the rebuilt table (must not exist).")
@click.option("--table-format", type=click.Choice(["parquet", "delta"]), default="parquet", show_default=True,
              help="Format of the rebuilt table.")
@FORMAT
@click.pass_obj
def reconstruct(obj: Context, location: str, target: str, table_format: str, fmt: Format) -> None:
    """Rebuild the deleted table at LOCATION into PATH, verified, without touching the original."""
    from r2d2 import operations

    def body() -> int:
        done = operations.reconstruct(obj.catalog, obj.spark_factory(), location, target,
                                      fmt=table_format)  # type: ignore[arg-type]
        out = done.value
        emit(fmt, {**out, "run_id": done.run_id}, lambda: click.echo(
            f"rebuilt {out['location']} into {out['to']} ({table_format}, {out['rows']} rows, checksum verified)"))
        return EXIT_OK

    run_guarded(body, fmt=fmt)


@click.command()
@FORMAT
@click.pass_obj
def recover(obj: Context, fmt: Format) -> None:
    """Finish or roll back interrupted deletions, restores and purges (from the journal)."""
    from r2d2 import operations

    def body() -> int:
        done = operations.recover(obj.catalog, obj.settings)
        report = done.value

        def text() -> None:
            for a in report.actions:
                click.echo(f"  {a}")
            for p in report.problems:
                click.echo(f"  PROBLEM {p}")
            click.echo(f"{len(report.actions)} operations recovered, {len(report.problems)} problems "
                       f"(run {done.run_id})")

        emit(fmt, {"actions": report.actions, "problems": report.problems, "run_id": done.run_id}, text)
        return EXIT_PARTIAL if report.problems else EXIT_OK

    run_guarded(body, fmt=fmt)


@click.command()
@click.option("--no-restore", is_flag=True, help="Only report children at risk.")
@FORMAT
@click.pass_obj
def check(obj: Context, no_restore: bool, fmt: Format) -> None:
    """Drift: restore deleted children whose parent changed, before the old parent data disappears."""
    from r2d2 import operations

    def body() -> int:
        done = operations.check(obj.catalog, obj.settings, obj.spark_factory(), restore_at_risk=not no_restore,
                                progress=None if fmt == "json" else say)
        report = done.value

        def text() -> None:
            for i in report.items:
                click.echo(f"  {i.outcome:28} {i.location} (parent {i.parent}): {i.reason}")
            click.echo(f"{report.checked} deleted tables checked, {len(report.items)} with a changed parent, "
                       f"{len(report.at_risk)} at risk (run {done.run_id})")

        emit(fmt, {**report.to_json(), "run_id": done.run_id}, text)
        return EXIT_PARTIAL if report.at_risk else EXIT_OK

    run_guarded(body, fmt=fmt)


COMMANDS: list[click.Command] = [access, tag, calibrate, plan, plans, apply, purge, restore, reconstruct,
                                 recover, check]
