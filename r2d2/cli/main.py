"""The `r2d2` admin command line: thin wrappers that parse options, call the library, set exit codes.

Exit codes (:mod:`r2d2.cli.exits`): 0 success; 1 the command ran but some tables failed (listed);
2 usage error; 3 an R2D2 error stopped the command (message on stderr); 4 internal error (one line on
stderr, the traceback in the log file it names); 75 another process holds the operation's lock.

Every command takes ``--format text|json`` (:mod:`r2d2.cli.render`). Commands live by concern: this
module (the group, scan, tables, show, edges, runs, detect, demo), :mod:`r2d2.cli.deletion` (access,
tag, calibrate, plan(s), apply, purge, restore, reconstruct, recover, check), :mod:`r2d2.cli.lookup`
(lookup, diff), :mod:`r2d2.cli.tokens` and :mod:`r2d2.cli.serve`. ``tables``, ``show``, ``edges``,
``runs``, ``plans`` and the token commands read the catalog only: they never import Spark.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from r2d2 import vocabulary
from r2d2.cli.exits import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    exit_code,
    log_path,
    start_logging,
    stopped,
)
from r2d2.cli.render import FORMAT, Format, emit, emit_json, human_bytes, table, when
from r2d2.config import Settings, load_settings
from r2d2.heap import collect_less_often, keep_freed_memory
from r2d2.sparkfactory import lazy_spark
from r2d2.views import Edge, Run, Table, TableDetail, as_json
from r2d2.vocabulary import EdgeRelation, EdgeState

if TYPE_CHECKING:
    from r2d2.catalog.records import EdgeRecord
    from r2d2.containment.report import EdgeOut

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "Context", "cli", "confirm_or_yes",
           "run_guarded"]

err_console = Console(stderr=True)


class Context:
    """Lazily built settings, catalog and Spark session shared by the subcommands."""

    def __init__(self, *, log_format: str = "text", **overrides: Any) -> None:
        self.overrides = overrides
        self.log_format = log_format
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
        return lazy_spark(self.settings)

    def home_or_none(self) -> Path | None:
        """The home folder, or None when the settings themselves are invalid (logs go elsewhere)."""
        try:
            return self.settings.home
        except Exception:
            return None


def _say_error(message: str) -> None:
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def run_guarded(fn: Callable[[], int], *, home: Path | None = None, fmt: Format = "text") -> None:
    """Run a command body and exit with its code; errors are mapped once, in :mod:`r2d2.cli.exits`.

    ``home``: where the log goes (default: the settings' home; the demo passes its own). With ``fmt``
    json, a command stopped by an error also prints ``{"error": {message, type, exit_code}}`` on stdout.
    """
    obj = click.get_current_context().find_object(Context)
    path = log_path(home if home is not None else (obj.home_or_none() if obj else None))
    start_logging(path, "json" if obj is not None and obj.log_format == "json" else "text")
    try:
        code = fn()
    except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise  # click reports usage errors itself (exit 2) and aborts (exit 1)
    except Exception as exc:
        said: list[str] = []

        def tell(message: str) -> None:
            said.append(message)
            _say_error(message)

        code = stopped(exc, path, tell)
        if fmt == "json":
            emit_json({"error": {"message": said[0] if said else str(exc), "type": type(exc).__name__,
                                 "exit_code": exit_code(exc)}})
        sys.exit(code)
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
@click.option("--log-format", type=click.Choice(["text", "json"]), envvar="R2D2_LOG_FORMAT", default="text",
              show_default=True, help="Log records as text or JSON lines (log file; `serve`: stderr).")
@click.version_option(package_name="r2d2")
@click.pass_context
def cli(ctx: click.Context, catalog_url: str | None, home: Path | None, spark_master: str | None,
        log_format: str) -> None:
    """R2D2: find tables that other tables contain, and remove them safely.

    Shell completion (click): eval "$(_R2D2_COMPLETE=bash_source r2d2)" in ~/.bashrc (zsh: zsh_source,
    fish: fish_source).
    """
    ctx.obj = Context(catalog_url=catalog_url, home=home, spark_master=spark_master, log_format=log_format)
    # Only in a process that ends with its command (main(): the console script, the batch jobs), not
    # one that runs commands in passing (a test's CliRunner, a notebook), nor a server.
    if _Process.ends_with_command and ctx.invoked_subcommand != "serve":
        keep_freed_memory()
        collect_less_often()


class _Process:
    ends_with_command = False  # set by main()


def _progress() -> Progress:
    # Drawn by the caller, not by rich's refresh thread: a scan forks worker processes, which a running
    # thread forbids (r2d2.forking.can_fork).
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True, auto_refresh=False)


def _drawn_every(bar: Progress, task: TaskID, seconds: float = 0.1) -> Callable[[int, int], None]:
    """A progress callback that updates ``task`` and redraws ``bar`` at most every ``seconds``."""
    last = [0.0]

    def tell(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)
        if time.monotonic() - last[0] >= seconds or done == total:
            last[0] = time.monotonic()
            bar.refresh()

    return tell


def say(message: str) -> None:
    """A progress line on stderr (never in the command's output)."""
    err_console.print(message, style="dim", soft_wrap=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--retry-errors", is_flag=True,
              help="Profile again the tables a scan failed on, even if their files did not change "
                   "(once the cause is fixed: permissions, a crashed engine, a store that timed out).")
@FORMAT
@click.pass_obj
def scan(obj: Context, paths: tuple[str, ...], retry_errors: bool, fmt: Format) -> None:
    """Discover and profile the tables under PATHS (metadata only; CSV files are read once). A table that
    failed is tried again when its files change (or with --retry-errors)."""
    from r2d2.scan import scan as run_scan

    def body() -> int:
        with _progress() as bar:
            task = bar.add_task("profiling", total=None)
            bar.refresh()  # drawn once before discovery, which reports nothing until it ends
            summary = run_scan(obj.catalog, list(paths), spark_factory=obj.spark_factory(),
                               progress=_drawn_every(bar, task),
                               local_bytes=obj.settings.local_read_bytes, threads=obj.settings.local_threads,
                               retry_errors=retry_errors)

        def text() -> None:
            click.echo(f"scan run {summary.run_id}: tables found {summary.found}: new {summary.new}, changed "
                       f"{summary.changed}, unchanged {summary.unchanged}, gone {summary.gone}, "
                       f"failed {summary.failed}")
            click.echo(f"bytes in lake {human_bytes(summary.bytes)}, read {human_bytes(summary.bytes_read)} "
                       f"(data {human_bytes(summary.data_bytes_read)}) in {summary.seconds:.1f} s")
            for e in summary.errors:
                click.echo(f"  error  {e['location']}: {e['error']}")
            for w in summary.warnings:
                click.echo(f"  note   {w['location']}: {w['warning']}")

        emit(fmt, summary.to_json(), text)
        return EXIT_PARTIAL if summary.failed else EXIT_OK

    run_guarded(body, fmt=fmt)


@cli.command()
@click.option("--status", type=click.Choice(vocabulary.TABLE_STATUSES), help="Only tables with this status.")
@click.option("--table-format", type=click.Choice(["parquet", "csv", "delta"]), help="Only tables of this format.")
@click.option("--prefix", help="Only locations starting with this prefix.")
@click.option("--min-bytes", type=click.IntRange(min=0), help="Only tables at least this big.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many tables.")
@FORMAT
@click.pass_obj
def tables(obj: Context, status: str | None, table_format: str | None, prefix: str | None,
           min_bytes: int | None, limit: int | None, fmt: Format) -> None:
    """List the tables in the catalog (by location; catalog only, no Spark)."""
    def body() -> int:
        rows = obj.catalog.list_tables(status=status, format=table_format, prefix=prefix,
                                       min_bytes=min_bytes, limit=limit, with_profile=False)
        emit(fmt, [as_json(Table, r) for r in rows], lambda: table(
            ["location", "format", "status", "rows", "size", "files", "error"],
            [[r.location, r.format, r.status, r.num_rows, human_bytes(r.num_bytes), r.num_files, r.error]
             for r in rows], right=("rows", "size", "files"), wrap=("location", "error")))
        return EXIT_OK

    run_guarded(body, fmt=fmt)


@cli.command()
@click.argument("location")
@FORMAT
@click.pass_obj
def show(obj: Context, location: str, fmt: Format) -> None:
    """Print the profile of the table at LOCATION (catalog only)."""
    from r2d2.lake.fs import normalize_location

    def body() -> int:
        rec = obj.catalog.get_table(normalize_location(location))
        data = as_json(TableDetail, rec)

        def text() -> None:
            click.echo(f"{rec.location}  ({rec.format or 'unknown format'}, {rec.status})")
            click.echo(f"rows {rec.num_rows if rec.num_rows is not None else '?'}, size "
                       f"{human_bytes(rec.num_bytes)}, files {rec.num_files}, last seen {when(rec.last_seen)}")
            if rec.error:
                click.echo(f"error: {rec.error}")
            if rec.profile is not None:
                table(["column", "type", "physical type"],
                      [[c.name, str(c.family), c.physical_type] for c in rec.profile.columns])

        emit(fmt, data, text)
        return EXIT_OK

    run_guarded(body, fmt=fmt)


RELATION_SIGNS: dict[EdgeRelation, str] = {"contains": "⊇", "duplicate": "==", "overlaps": "≈"}


def _edge_note(e: EdgeRecord | EdgeOut) -> str:
    """What makes an edge report-only: an overlap's share of rows, a containment's left-out keys."""
    if e.fraction is not None:
        return f"{e.fraction:.2%} of rows"
    return f"except {', '.join(e.except_columns)}" if e.except_columns else ""


@cli.command()
@click.option("--state", type=click.Choice(vocabulary.EDGE_STATES),
              help="Only edges in this state (default: verified and inferred).")
@click.option("--all", "all_states", is_flag=True, help="Edges in every state.")
@click.option("--relation", type=click.Choice(vocabulary.EDGE_RELATIONS))
@click.option("--parent", help="Only edges whose parent is this table (location).")
@click.option("--child", help="Only edges whose child is this table (location).")
@click.option("--table", "location", help="Only edges with this table (location) at either end.")
@click.option("--include-stale", is_flag=True, help="Also edges of tables changed since their decision.")
@click.option("--limit", type=click.IntRange(min=1), default=None)
@FORMAT
@click.pass_obj
def edges(obj: Context, state: EdgeState | None, all_states: bool, relation: EdgeRelation | None,
          parent: str | None, child: str | None, location: str | None, include_stale: bool, limit: int | None,
          fmt: Format) -> None:
    """List containment edges from the catalog (as the last detect left them; no Spark)."""
    from r2d2.catalog import EdgeFilter
    from r2d2.lake.fs import normalize_location

    def body() -> int:
        where = EdgeFilter(state=state, verified=None if state or all_states else True, relation=relation,
                           include_stale=include_stale, parent=parent and normalize_location(parent),
                           child=child and normalize_location(child), table=location and normalize_location(location))
        rows = obj.catalog.list_edges(where, limit=limit)
        emit(fmt, [as_json(Edge, e) for e in rows], lambda: table(
            ["parent", "", "child", "state", "stage", "multiset", "note"],
            [[e.parent_location, RELATION_SIGNS[e.relation], e.child_location, e.state, e.stage,
              "" if e.multiset is None else ("yes" if e.multiset else "no"), _edge_note(e)] for e in rows],
            wrap=("parent", "child")))
        return EXIT_OK

    run_guarded(body, fmt=fmt)


@cli.command()
@click.argument("run_id", type=int, required=False)
@click.option("--kind", type=click.Choice(vocabulary.RUN_KINDS), help="Only runs of this kind.")
@click.option("--status", type=click.Choice(vocabulary.RUN_STATUSES))
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@FORMAT
@click.pass_obj
def runs(obj: Context, run_id: int | None, kind: str | None, status: str | None, limit: int, fmt: Format) -> None:
    """List recorded runs, newest first, or print run RUN_ID (every operation records one; catalog only)."""
    def body() -> int:
        if run_id is not None:
            r = obj.catalog.get_run(run_id)

            def one() -> None:
                took = f" in {(r.finished_at - r.started_at).total_seconds():.1f} s" if r.finished_at else ""
                click.echo(f"run {r.id}: {r.kind}, {r.status}{took} (started {when(r.started_at)}, pid {r.pid} "
                           f"on {r.host})")
                for key, value in (("params", r.params), ("progress", r.progress if r.status == "running" else {}),
                                   ("summary", {k: v for k, v in r.summary.items() if k not in ("items", "stages")})):
                    if value:
                        click.echo(f"{key}: " + ", ".join(f"{k}={v}" for k, v in value.items()))
                for e in r.errors:
                    click.echo(f"  error  {e.get('location') or '-'}: {e.get('error')}")

            emit(fmt, as_json(Run, r), one)
            return EXIT_OK
        rows = obj.catalog.list_runs(kind, status=status, limit=limit)
        emit(fmt, [as_json(Run, r) for r in rows], lambda: table(
            ["id", "kind", "status", "started", "seconds", "errors"],
            [[r.id, r.kind, r.status, when(r.started_at),
              f"{(r.finished_at - r.started_at).total_seconds():.1f}" if r.finished_at else "",
              len(r.errors)] for r in rows], right=("id", "seconds", "errors")))
        return EXIT_OK

    run_guarded(body, fmt=fmt)


@cli.command()
@FORMAT
@click.option("--minhash-perm", type=click.IntRange(8, 1024), help="MinHash permutations (default 64).")
@click.option("--sample-k", type=click.IntRange(1, 100_000), help="Row-probe sample size per child (default 256).")
@click.option("--batch-tables", type=click.IntRange(min=1), help="Tables per batched Spark job (default 128).")
@click.pass_obj
def detect(obj: Context, fmt: Format, minhash_perm: int | None, sample_k: int | None,
           batch_tables: int | None) -> None:
    """Find containment edges among the catalog's tables (the five-stage pipeline).

    JSON: {"edges", "stages", "errors"} (DESIGN.md); the run is `r2d2 runs --kind detect`.
    """
    from r2d2.containment.report import funnel_lines
    from r2d2.detect import detect as run_detect

    def body() -> int:
        settings = obj.settings
        tuned = {k: v for k, v in (("minhash_num_perm", minhash_perm), ("row_sample_k", sample_k),
                                   ("spark_batch_tables", batch_tables)) if v is not None}
        if tuned:
            settings = load_settings(**obj.overrides, **tuned)
        result = run_detect(obj.catalog, settings, lazy_spark(settings),
                            progress=None if fmt == "json" else say)

        def text() -> None:
            for line in funnel_lines(result):
                click.echo(line)
            click.echo(f"\n{len(result.edges)} edges (run {result.run_id})")
            for e in result.edges:
                flag = " (multiset)" if e.multiset else ""
                note = f"  [{_edge_note(e)}]" if _edge_note(e) else ""
                click.echo(f"  {e.parent}  {RELATION_SIGNS[e.relation]}  {e.child}{flag}{note}")
            for err in result.errors:
                click.echo(f"  error  {err['location']}: {err['error']}")

        emit(fmt, result.to_json(), text)
        return EXIT_PARTIAL if result.errors else EXIT_OK

    run_guarded(body, fmt=fmt)


@cli.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=7, show_default=True)
@FORMAT
@click.pass_obj
def demo(obj: Context, directory: Path | None, seed: int, fmt: Format) -> None:
    """Generate a lake with planted truth in DIRECTORY, scan it, detect, compare with the truth.

    The demo works only inside DIRECTORY (default ./demo-lake): its own home and SQLite catalog are in
    DIRECTORY/.r2d2; --home, --catalog, R2D2_HOME and R2D2_CATALOG_URL are ignored. DIRECTORY must be
    new, empty, or a previous demo's (it holds the demo's marker file); only what the demo made is
    replaced. With --format json the report goes to stderr and stdout gets the scores.
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
        echo = click.echo if fmt == "text" else (lambda m: click.echo(m, err=True))
        result = run_demo(place, settings, seed=seed, echo=echo)
        if fmt == "json":
            emit_json(result.to_json())
        return EXIT_OK if result.ok else EXIT_PARTIAL

    run_guarded(body, home=place.home, fmt=fmt)


def _register_subcommands() -> None:
    """Commands that live in their own modules (one concern each)."""
    from r2d2.cli import deletion, lookup, serve, tokens

    for module in (deletion, lookup, tokens, serve):
        for command in module.COMMANDS:
            cli.add_command(command)


def main(args: list[str] | None = None) -> None:
    """Run one command and end the process (click exits with the command's code; the batch jobs and
    the console script call this last)."""
    _register_subcommands()
    _Process.ends_with_command = True
    try:
        cli.main(args=args, prog_name="r2d2")
    finally:
        _before_exit()


def _before_exit() -> None:
    """Close the catalog's connections, then freeze what is left: the interpreter's last garbage
    collection walks everything the command allocated (0.3-0.5 s after a detect of 2,500 tables) to
    free memory the OS takes back anyway, and frozen objects are skipped. Closing first matters:
    connections left to that collection would stay open, and SQLite would leave its write-ahead log
    beside the catalog file instead of folding it in. Exit handlers still run."""
    if "r2d2.catalog.db" in sys.modules:  # a command that never opened the catalog did not import it
        from r2d2.catalog.db import dispose_all

        dispose_all()
    gc.freeze()


if __name__ == "__main__":
    main()
