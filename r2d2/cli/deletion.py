"""`r2d2` subcommands of the deletion half: access stats, tags, calibrate, plan, apply, purge, restore,
reconstruct, recover, check (thin wrappers over :mod:`r2d2.optimize` and :mod:`r2d2.reconstruct`)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from r2d2.cli.main import EXIT_OK, EXIT_PARTIAL, Context, confirm_or_yes, err_console, run_guarded

MOVE_MODES = click.Choice(["auto", "rename", "copy"])
YES = click.option("--yes", "-y", is_flag=True,
                   help="Do not ask for confirmation (needed when not run from a terminal).")


def _say(message: str) -> None:
    err_console.print(message, style="dim")


def _duration(_ctx: Any, _param: Any, value: str | None) -> float | None:
    from r2d2.optimize.build import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration (e.g. 30s, 5m, 2h, 7d, inf)") from None


@click.group("access")
def access() -> None:
    """Access statistics (cost inputs of the plan)."""


@access.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def access_import(obj: Context, file: Path) -> None:
    """Import FILE (CSV or JSON rows of location, count, window_days) as accesses per table."""
    from r2d2.optimize.access import read_access_file
    from r2d2.optimize.build import DAYS_PER_MONTH

    def body() -> int:
        parsed = read_access_file(file)
        updated, unknown = obj.catalog.set_access_per_day(parsed.rates)
        click.echo(f"rows {parsed.rows}: {len(updated)} tables updated, {len(unknown)} unknown locations, "
                   f"{len(parsed.errors)} bad rows")
        for loc in updated:
            click.echo(f"  {loc}: {parsed.rates[loc] * DAYS_PER_MONTH:.2f} accesses/month")
        for loc in unknown:
            click.echo(f"  unknown  {loc}")
        for e in parsed.errors:
            click.echo(f"  bad row  {e}")
        return EXIT_PARTIAL if unknown or parsed.errors else EXIT_OK

    run_guarded(body)


@click.command()
@click.argument("location")
@click.option("--latency-limit", callback=_duration, help="Longest acceptable rebuild (30s, 5m, inf).")
@click.option("--clear", is_flag=True, help="Remove the table's own latency limit (use the default).")
@click.pass_obj
def tag(obj: Context, location: str, latency_limit: float | None, clear: bool) -> None:
    """Set per-table cost inputs of the table at LOCATION."""
    from r2d2.lake.fs import normalize_location

    def body() -> int:
        if latency_limit is None and not clear:
            raise click.UsageError("give --latency-limit or --clear")
        value = None if clear else latency_limit
        obj.catalog.set_latency_limit(normalize_location(location), value)
        click.echo(f"{normalize_location(location)}: latency limit "
                   f"{'default' if value is None else f'{value:g} s'}")
        return EXIT_OK

    run_guarded(body)


@click.command()
@click.option("--samples", type=click.IntRange(2, 50), default=6, show_default=True)
@click.option("--source", type=click.Choice(["auto", "catalog", "generated"]), default="auto", show_default=True,
              help="Rebuild real tables of the catalog, or generated ones (auto: catalog when it can).")
@click.pass_obj
def calibrate(obj: Context, samples: int, source: str) -> None:
    """Time real rebuilds on the current Spark engine and store the fitted latency model."""
    from r2d2.reconstruct.calibrate import calibrate as run

    def body() -> int:
        model, measured, cid = run(obj.catalog, obj.settings, obj.spark_factory(), samples=samples,
                                   source=source, say=_say)
        click.echo(f"calibration {cid}: {len(measured)} rebuilds ({measured[0]['source']} tables); "
                   f"latency = {model.overhead_s:.2f} s + bytes / {model.bytes_per_s / 1e6:.1f} MB/s")
        return EXIT_OK

    run_guarded(body)


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
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def plan(obj: Context, latency_limit: float, access_default: float, solver: str, time_limit: float,
         storage_price: float, compute_price: float, fmt: str) -> None:
    """Choose the tables to delete (MILP or greedy), store the plan and print it."""
    from r2d2.optimize.planning import PlanRequest, create_plan

    def body() -> int:
        pid = create_plan(obj.catalog, PlanRequest(
            latency_limit_s=latency_limit, access_default=access_default, solver=solver,  # type: ignore[arg-type]
            time_limit_s=time_limit, storage_price=storage_price, compute_price=compute_price))
        _print_plan(obj.catalog.get_plan(pid), fmt)
        return EXIT_OK

    run_guarded(body)


def _plan_json(rec: Any) -> dict[str, Any]:
    return {"id": rec.id, "created_at": rec.created_at.isoformat(), "solver": rec.solver, "status": rec.status,
            "objective": rec.objective, "bound": rec.bound, "gap": rec.gap, "solve_seconds": rec.solve_seconds,
            "savings_bytes": rec.savings_bytes, "savings_per_month": rec.savings_per_month,
            "deleted_tables": rec.deleted_tables, "params": rec.params, "decisions": rec.plan["decisions"],
            "fingerprints": rec.fingerprints}


def _print_plan(rec: Any, fmt: str) -> None:
    from r2d2.containment.report import human_bytes

    if fmt == "json":
        click.echo(json.dumps(_plan_json(rec), indent=2))
        return
    p = rec.params
    click.echo(f"plan {rec.id} ({rec.solver}, {rec.status}): objective {rec.objective:.6f}/month, "
               f"bound {rec.bound:.6f}, gap {rec.gap:.2%}, solved in {rec.solve_seconds:.2f} s")
    click.echo(f"latency model: {p.get('model')}; {p.get('edges')} edges "
               f"({p.get('closure_edges')} added by transitive closure)")
    click.echo(f"delete {rec.deleted_tables} tables: saves {human_bytes(max(rec.savings_bytes, 0))} "
               f"and {rec.savings_per_month:.6f}/month")
    for d in rec.plan["decisions"]:
        if d["action"] == "delete":
            click.echo(f"  delete {d['location']}  <- {d['parent_location']}  "
                       f"(~{d['est_latency_s']:.1f} s, recipe {human_bytes(d['recipe_bytes'])})")


@click.command()
@click.argument("plan_id", type=int, required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def plans(obj: Context, plan_id: int | None, fmt: str) -> None:
    """List stored plans, or print plan PLAN_ID."""
    def body() -> int:
        if plan_id is not None:
            _print_plan(obj.catalog.get_plan(plan_id), fmt)
            return EXIT_OK
        rows = obj.catalog.list_plans()
        if fmt == "json":
            click.echo(json.dumps([{k: v for k, v in _plan_json(r).items() if k != "decisions"} for r in rows],
                                  indent=2))
        for r in rows if fmt == "text" else []:
            click.echo(f"{r.id:>5}  {r.created_at:%Y-%m-%d %H:%M}  {r.solver:6} {r.status:15} "
                       f"delete {r.deleted_tables:>4}  saves {r.savings_per_month:.6f}/month")
        return EXIT_OK

    run_guarded(body)


@click.command()
@click.argument("plan_id", type=int)
@click.option("--dry-run", is_flag=True, help="Check drift and list what would be deleted; change nothing.")
@click.option("--prepare-only", is_flag=True, help="Build and check the recipes; move nothing.")
@click.option("--move-mode", type=MOVE_MODES, default="auto", show_default=True,
              help="rename (same filesystem), copy (copy+fsync+verify then unlink), auto.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@YES
@click.pass_obj
def apply(obj: Context, plan_id: int, dry_run: bool, prepare_only: bool, move_mode: str, fmt: str,
          yes: bool) -> None:
    """Delete the tables of plan PLAN_ID: re-verify, recipe, rebuild check, journaled move to quarantine.

    Asks for confirmation on a terminal; needs --yes otherwise (not for --dry-run or --prepare-only).
    """
    from r2d2.reconstruct.apply import apply_plan

    def body() -> int:
        if not (dry_run or prepare_only):
            n = obj.catalog.get_plan(plan_id).deleted_tables
            confirm_or_yes(yes, f"Move the {n} tables that plan {plan_id} deletes into quarantine "
                                f"(catalog {obj.catalog.display_url})?")
        report = apply_plan(obj.catalog, obj.settings, obj.spark_factory(), plan_id, dry_run=dry_run,
                            prepare_only=prepare_only, move_mode=move_mode,  # type: ignore[arg-type]
                            progress=None if fmt == "json" else _say)
        if fmt == "json":
            click.echo(json.dumps(report.to_json(), indent=2))
        else:
            for i in report.items:
                extra = f" [{i.selection}]" if i.selection else ""
                click.echo(f"  {i.action:12} {i.location}{extra}" + (f": {i.reason}" if i.reason else ""))
            click.echo(f"{sum(i.action == 'deleted' for i in report.items)} deleted, "
                       f"{len(report.failed)} refused or failed")
        return EXIT_PARTIAL if report.failed else EXIT_OK

    run_guarded(body)


@click.command()
@click.option("--older-than", callback=_duration, default="7d", show_default=True,
              help="Retention: purge tables quarantined longer than this.")
@YES
@click.pass_obj
def purge(obj: Context, older_than: float, yes: bool) -> None:
    """Remove quarantined files after the retention period (only with a checked, usable recipe).

    Asks for confirmation on a terminal; needs --yes otherwise.
    """
    from r2d2.reconstruct.restore import purge as run

    def body() -> int:
        confirm_or_yes(yes, f"Remove for good the quarantined files older than {timedelta(seconds=older_than)} "
                            f"(catalog {obj.catalog.display_url}; tables stay rebuildable from their recipes)?")
        report = run(obj.catalog, obj.settings, older_than=timedelta(seconds=older_than))
        for loc in report.purged:
            click.echo(f"  purged  {loc}")
        for loc, why in report.kept:
            click.echo(f"  kept    {loc}: {why}")
        click.echo(f"{len(report.purged)} purged, {len(report.kept)} kept")
        return EXIT_PARTIAL if report.kept else EXIT_OK

    run_guarded(body)


@click.command()
@click.argument("location")
@click.option("--move-mode", type=MOVE_MODES, default="auto", show_default=True)
@click.pass_obj
def restore(obj: Context, location: str, move_mode: str) -> None:
    """Bring the deleted table at LOCATION back (from quarantine, or rebuilt from its recipe)."""
    from r2d2.reconstruct.restore import restore as run

    def body() -> int:
        how = run(obj.catalog, obj.settings, obj.spark_factory(), location, move_mode=move_mode)  # type: ignore[arg-type]
        what = "moved back from quarantine" if how == "quarantine" else "rebuilt and verified"
        click.echo(f"restored {location} ({what})")
        return EXIT_OK

    run_guarded(body)


@click.command()
@click.argument("location")
@click.option("--to", "target", required=True, help="Where to write the rebuilt table (must not exist).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "delta"]), default="parquet", show_default=True)
@click.pass_obj
def reconstruct(obj: Context, location: str, target: str, fmt: str) -> None:
    """Rebuild the deleted table at LOCATION into PATH, verified, without touching the original."""
    from r2d2.reconstruct.restore import reconstruct_to

    def body() -> int:
        out = reconstruct_to(obj.catalog, obj.spark_factory(), location, target, fmt)  # type: ignore[arg-type]
        click.echo(f"rebuilt {out['location']} into {out['to']} ({fmt}, {out['rows']} rows, checksum verified)")
        return EXIT_OK

    run_guarded(body)


@click.command()
@click.pass_obj
def recover(obj: Context) -> None:
    """Finish or roll back interrupted deletions, restores and purges (from the journal)."""
    from r2d2.reconstruct.restore import recover as run

    def body() -> int:
        report = run(obj.catalog, obj.settings)
        for a in report.actions:
            click.echo(f"  {a}")
        for p in report.problems:
            click.echo(f"  PROBLEM {p}")
        click.echo(f"{len(report.actions)} operations recovered, {len(report.problems)} problems")
        return EXIT_PARTIAL if report.problems else EXIT_OK

    run_guarded(body)


@click.command()
@click.option("--no-restore", is_flag=True, help="Only report children at risk.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def check(obj: Context, no_restore: bool, fmt: str) -> None:
    """Drift: restore deleted children whose parent changed, before the old parent data disappears."""
    from r2d2.reconstruct.drift import check as run

    def body() -> int:
        report = run(obj.catalog, obj.settings, obj.spark_factory(), restore_at_risk=not no_restore)
        if fmt == "json":
            click.echo(json.dumps(report.to_json(), indent=2))
        else:
            for i in report.items:
                click.echo(f"  {i.outcome:28} {i.location} (parent {i.parent}): {i.reason}")
            click.echo(f"{report.checked} deleted tables checked, {len(report.items)} with a changed parent, "
                       f"{len(report.at_risk)} at risk")
        return EXIT_PARTIAL if report.at_risk else EXIT_OK

    run_guarded(body)


COMMANDS: list[click.Command] = [access, tag, calibrate, plan, plans, apply, purge, restore, reconstruct,
                                 recover, check]
