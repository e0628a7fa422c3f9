"""The `r2d2` admin command line: thin wrappers that parse options, call the library, set exit codes.

Exit codes: 0 success; 1 the command ran but some tables failed (listed); 2 usage error (click);
3 an R2D2 error stopped the command (message on stderr).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from r2d2.config import Settings, load_settings
from r2d2.errors import R2D2Error

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 3

err_console = Console(stderr=True)


class Context:
    """Lazily built settings, catalog and Spark session shared by the subcommands."""

    def __init__(self, **overrides: Any) -> None:
        self.overrides = overrides
        self._settings: Settings | None = None
        self._catalog: Any = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(**self.overrides)
        return self._settings

    @property
    def catalog(self):  # -> Catalog (imported lazily: keeps `--help` fast)
        if self._catalog is None:
            from r2d2.catalog import open_catalog

            self._catalog = open_catalog(self.settings.resolved_catalog_url)
        return self._catalog

    def spark_factory(self) -> Callable[[], Any]:
        def factory() -> Any:
            from r2d2.engine import get_spark

            return get_spark(self.settings)
        return factory


def run_guarded(fn: Callable[[], int]) -> None:
    """Run a command body; map R2D2 errors to exit code 3 with a one-line message."""
    try:
        code = fn()
    except R2D2Error as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(EXIT_ERROR)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--catalog", "catalog_url", envvar="R2D2_CATALOG_URL", help="SQLAlchemy URL of the catalog.")
@click.option("--home", type=click.Path(path_type=Path), envvar="R2D2_HOME",
              help="Folder for the embedded catalog and work files (default ~/.r2d2).")
@click.option("--spark-master", envvar="R2D2_SPARK_MASTER", help="Spark master URL (default local[*]).")
@click.version_option(package_name="r2d2")
@click.pass_context
def cli(ctx: click.Context, catalog_url: str | None, home: Path | None, spark_master: str | None) -> None:
    """R2D2: find tables that other tables contain, and remove them safely."""
    ctx.obj = Context(catalog_url=catalog_url, home=home, spark_master=spark_master)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def scan(obj: Context, paths: tuple[str, ...], fmt: str) -> None:
    """Discover and profile the tables under PATHS (metadata only; CSV files are read once)."""
    from r2d2.scan import scan as run_scan

    def body() -> int:
        with _progress() as bar:
            task = bar.add_task("profiling", total=None)
            summary = run_scan(obj.catalog, list(paths), spark_factory=obj.spark_factory(),
                               progress=lambda done, total: bar.update(task, completed=done, total=total),
                               local_bytes=obj.settings.local_read_bytes, threads=obj.settings.local_threads)
        if fmt == "json":
            click.echo(json.dumps(summary.to_json(), indent=2))
        else:
            from r2d2.containment.report import human_bytes

            click.echo(f"tables found {summary.found}: new {summary.new}, changed {summary.changed}, "
                       f"unchanged {summary.unchanged}, gone {summary.gone}, failed {summary.failed}")
            click.echo(f"bytes in lake {human_bytes(summary.bytes)}, read {human_bytes(summary.bytes_read)} "
                       f"(data {human_bytes(summary.data_bytes_read)}) in {summary.seconds:.1f} s")
            for e in summary.errors:
                click.echo(f"  error  {e['location']}: {e['error']}")
            for w in summary.warnings:
                click.echo(f"  note   {w['location']}: {w['warning']}")
        return EXIT_PARTIAL if summary.failed else EXIT_OK

    run_guarded(body)


@cli.command()
@click.option("--status", type=click.Choice(["active", "gone", "error"]), help="Only tables with this status.")
@click.option("--format", "table_format", type=click.Choice(["parquet", "csv", "delta"]), help="Only this format.")
@click.option("--prefix", help="Only locations starting with this prefix.")
@click.option("--min-bytes", type=int, help="Only tables at least this big.")
@click.option("--limit", type=int, default=None)
@click.option("--output", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def tables(obj: Context, status: str | None, table_format: str | None, prefix: str | None,
           min_bytes: int | None, limit: int | None, fmt: str) -> None:
    """List the tables in the catalog."""
    def body() -> int:
        rows = obj.catalog.list_tables(status=status, format=table_format, prefix=prefix,
                                       min_bytes=min_bytes, limit=limit)
        if fmt == "json":
            click.echo(json.dumps([_table_json(r) for r in rows], indent=2))
            return EXIT_OK
        view = Table("location", "format", "status", "rows", "bytes", "files", "error")
        for r in rows:
            view.add_row(r.location, r.format or "", r.status, "" if r.num_rows is None else str(r.num_rows),
                         str(r.num_bytes), str(r.num_files), (r.error or "")[:80])
        Console().print(view)
        return EXIT_OK

    run_guarded(body)


def _table_json(r: Any) -> dict[str, Any]:
    return {"id": r.id, "location": r.location, "format": r.format, "status": r.status,
            "fingerprint": r.fingerprint, "num_rows": r.num_rows, "num_bytes": r.num_bytes,
            "num_files": r.num_files, "first_seen": r.first_seen.isoformat(),
            "last_seen": r.last_seen.isoformat(), "gone_at": r.gone_at.isoformat() if r.gone_at else None,
            "error": r.error}


@cli.command()
@click.argument("location")
@click.pass_obj
def show(obj: Context, location: str) -> None:
    """Print the profile of the table at LOCATION (JSON)."""
    from r2d2.lake.fs import normalize_location

    def body() -> int:
        rec = obj.catalog.get_table(normalize_location(location))
        data = _table_json(rec)
        data["profile"] = rec.profile.to_json() if rec.profile else None
        click.echo(json.dumps(data, indent=2, default=str))
        return EXIT_OK

    run_guarded(body)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def detect(obj: Context, fmt: str) -> None:
    """Find containment edges among the catalog's tables (the five-stage pipeline)."""
    from r2d2.containment.pipeline import detect as run_detect
    from r2d2.containment.report import funnel_lines

    def body() -> int:
        result = run_detect(obj.catalog, obj.settings, obj.spark_factory(),
                            progress=None if fmt == "json" else lambda m: err_console.print(m, style="dim"))
        if fmt == "json":
            click.echo(json.dumps(result.to_json(), indent=2))
        else:
            for line in funnel_lines(result):
                click.echo(line)
            click.echo(f"\n{len(result.edges)} edges")
            for e in result.edges:
                flag = " (multiset)" if e.multiset else ""
                click.echo(f"  {e.parent}  {'==' if e.relation == 'duplicate' else '⊇'}  {e.child}{flag}")
            for err in result.errors:
                click.echo(f"  error  {err['location']}: {err['error']}")
        return EXIT_PARTIAL if result.errors else EXIT_OK

    run_guarded(body)


@cli.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=7, show_default=True)
@click.pass_obj
def demo(obj: Context, directory: Path | None, seed: int) -> None:
    """Generate a lake with planted truth in DIRECTORY, scan it, detect, compare with the truth."""
    from r2d2.demo import run_demo

    def body() -> int:
        target = directory or Path("demo-lake")
        overrides = dict(obj.overrides)
        if overrides.get("home") is None:
            overrides["home"] = target / ".r2d2"
        ok = run_demo(target, load_settings(**overrides), seed=seed, echo=click.echo)
        return EXIT_OK if ok else EXIT_PARTIAL

    run_guarded(body)


def _register_subcommands() -> None:
    """Commands that live in their own modules (one concern each)."""
    from r2d2.cli import deletion, tokens

    for module in (deletion, tokens):
        for command in module.COMMANDS:
            cli.add_command(command)


def main() -> None:
    _register_subcommands()
    cli()


if __name__ == "__main__":
    main()
