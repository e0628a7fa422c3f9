"""`r2d2 lookup` and `r2d2 diff`: is this table already in the lake, and which rows does a child lack.

Both are operations of :mod:`r2d2.operations` (each records a run, ``r2d2 runs --kind lookup|diff``);
Spark is started only if the library needs it (a table too big to read on the driver).

``lookup --format json``: ``{location, table_id, registered, duplicates, parents, children, stages,
errors, seconds, run_id}``; each match is ``{location, role, relation, multiset, fraction,
except_columns}`` with the edge vocabulary of ``r2d2 edges`` (``fraction`` only for ``overlaps``,
``except_columns`` only for a containment except generated keys). ``diff --format json``:
``{parent, child, distinct_rows, missing, fraction, columns, rows, run_id}``.
"""

from __future__ import annotations

from typing import Any

import click

from r2d2.cli.main import EXIT_OK, EXIT_PARTIAL, RELATION_SIGNS, Context, run_guarded
from r2d2.cli.render import FORMAT, Format, emit, table


def _note(fraction: float | None, except_columns: Any) -> str:
    """What makes a match report-only, as ``r2d2 edges`` says it."""
    if fraction is not None:
        return f"{fraction:.2%} of rows"
    return f"except {', '.join(except_columns)}" if except_columns else ""


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


@click.command()
@click.argument("location")
@click.option("--register", is_flag=True,
              help="Also add the table to the catalog (scanned, its sketches cached for the next detect).")
@FORMAT
@click.pass_obj
def lookup(obj: Context, location: str, register: bool, fmt: Format) -> None:
    """Is the table at LOCATION already in the lake? Its duplicates, parents and children in the catalog.

    Profiles that one table and runs the five stages for the pairs it takes part in (the catalog's
    profiles and cached hash sets; no full detect). Nothing is written to the catalog unless --register.
    """
    from r2d2 import operations

    def body() -> int:
        done = operations.lookup(obj.catalog, obj.settings, obj.spark_factory(), location, register=register)
        result = done.value

        def text() -> None:
            if result.registered:
                where = f"registered as table {result.table_id}"
            elif result.table_id is not None:
                where = f"catalogued as table {result.table_id}"
            else:
                where = "not in the catalog (not registered)"
            click.echo(f"{result.location}: {where}; lookup run {done.run_id}, {result.seconds:.2f} s")
            if result.matches:
                table(["role", "", "table", "multiset", "note"],
                      [[m.role, RELATION_SIGNS[m.relation], m.location, _yes_no(m.multiset),
                        _note(m.fraction, m.except_columns)] for m in result.matches], wrap=("table",))
            else:
                click.echo("no duplicate, parent or child in the catalog")
            click.echo("stages: " + ", ".join(f"{s.name} {s.candidates_in}→{s.candidates_out}" for s in result.stages))
            for e in result.errors:
                click.echo(f"  error  {e['location']}: {e['error']}")

        emit(fmt, {**result.to_json(), "run_id": done.run_id}, text)
        return EXIT_PARTIAL if result.errors else EXIT_OK

    run_guarded(body, fmt=fmt)


@click.command()
@click.argument("parent")
@click.argument("child")
@click.option("--limit", type=click.IntRange(min=0, max=100_000), default=20, show_default=True,
              help="Show at most this many missing rows (0: counts only, nothing read).")
@FORMAT
@click.pass_obj
def diff(obj: Context, parent: str, child: str, limit: int, fmt: Format) -> None:
    """Which rows of CHILD are missing from PARENT (both catalogued): exact counts and examples.

    Counts the child's distinct rows and those the parent lacks (projected on the child's columns) from
    the hash sets detect keeps, and shows up to --limit of the missing rows, reading the child only
    until it has found them.
    """
    from r2d2 import operations

    def body() -> int:
        done = operations.diff(obj.catalog, obj.settings, obj.spark_factory(), parent, child, limit=limit)
        result = done.value

        def text() -> None:
            click.echo(f"{result.child} in {result.parent}: {result.distinct_rows - result.missing} of "
                       f"{result.distinct_rows} distinct rows ({result.fraction:.2%}); {result.missing} missing "
                       f"(diff run {done.run_id})")
            if result.rows:
                click.echo(f"missing rows (up to {limit}):")
                table(result.columns, [[_cell(r.get(c)) for c in result.columns] for r in result.rows])

        emit(fmt, {**result.to_json(), "run_id": done.run_id}, text)
        return EXIT_OK

    run_guarded(body, fmt=fmt)


def _cell(value: Any) -> str:
    return "null" if value is None else str(value)


COMMANDS = [lookup, diff]
