"""The `r2d2` admin command line: thin wrappers that parse options, call the library, set exit codes.

Exit codes (:mod:`r2d2.cli.exits`): 0 success; 1 the command ran but some tables failed (listed);
2 usage error; 3 an R2D2 error stopped the command (message on stderr); 4 internal error (one line on
stderr, the traceback in the log file it names); 75 another process holds the operation's lock.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from r2d2.cli.exits import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, log_path, start_logging, stopped
from r2d2.config import Settings, load_settings

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "Context", "cli", "confirm_or_yes",
           "run_guarded"]

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

    def home_or_none(self) -> Path | None:
        """The home folder, or None when the settings themselves are invalid (logs go elsewhere)."""
        try:
            return self.settings.home
        except Exception:
            return None


def _say_error(message: str) -> None:
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def run_guarded(fn: Callable[[], int], *, home: Path | None = None) -> None:
    """Run a command body and exit with its code; errors are mapped once, in :mod:`r2d2.cli.exits`.

    ``home``: where the log goes (default: the settings' home; the demo passes its own).
    """
    obj = click.get_current_context().find_object(Context)
    path = log_path(home if home is not None else (obj.home_or_none() if obj else None))
    start_logging(path)
    try:
        code = fn()
    except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise  # click reports usage errors itself (exit 2) and aborts (exit 1)
    except Exception as exc:
        sys.exit(stopped(exc, path, _say_error))
    sys.exit(code)


def confirm_or_yes(yes: bool, question: str) -> None:
    """Ask ``question`` on a terminal; off a terminal, refuse (usage error) unless ``--yes`` was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError("this command deletes or moves data: confirm it with --yes when it runs "
                               "without a terminal (cron, CI, scripts)")
    if not click.confirm(question, default=False, err=True):
        # Not click.Abort: its exit code 1 means "finished, some tables failed" here.
        err_console.print("not confirmed: nothing was changed")
        raise click.exceptions.Exit(EXIT_USAGE)


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
    from r2d2.containment.report import funnel_lines
    from r2d2.detect import detect as run_detect

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
    """Generate a lake with planted truth in DIRECTORY, scan it, detect, compare with the truth.

    The demo works only inside DIRECTORY (default ./demo-lake): its own home and SQLite catalog are in
    DIRECTORY/.r2d2; --home, --catalog, R2D2_HOME and R2D2_CATALOG_URL are ignored. DIRECTORY must be
    new, empty, or a previous demo's (it holds the demo's marker file); only what the demo made is
    replaced.
    """
    from r2d2.demo import DemoPlace, run_demo

    target = (directory or Path("demo-lake")).absolute()
    place = DemoPlace(target)

    def body() -> int:
        ignored = [name for name, given in (("--home/R2D2_HOME", obj.overrides.get("home")),
                                            ("--catalog/R2D2_CATALOG_URL", obj.overrides.get("catalog_url")))
                   if given]
        if ignored:
            err_console.print(f"demo: ignoring {' and '.join(ignored)}: the demo uses its own home "
                              f"{place.home} and catalog {place.catalog_url}", style="yellow", soft_wrap=True)
        settings = load_settings(home=place.home, catalog_url=place.catalog_url,
                                 spark_master=obj.overrides.get("spark_master"))
        ok = run_demo(place, settings, seed=seed, echo=click.echo)
        return EXIT_OK if ok else EXIT_PARTIAL

    run_guarded(body, home=place.home)


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
