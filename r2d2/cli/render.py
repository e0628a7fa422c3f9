"""Output of the `r2d2` commands: ``--format text`` for people, ``--format json`` for scripts.

* JSON: one document on stdout, strict (non-finite floats as strings, bytes as base64), sizes in
  bytes, times in ISO 8601. Progress and notes go to stderr, never into the document.
* Text: sizes in human units (``1.5 MB``). Tables fit the terminal on a terminal (long cells such as
  locations wrap, nothing is cut); piped into a file or another program they are plain columns as wide
  as their longest cell, one row a line, never cut or wrapped (``r2d2 tables | grep ...`` keeps every
  location whole).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

import click

from r2d2.strictjson import jsonable

Format = Literal["text", "json"]

FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                      help="text for people (human sizes), json for scripts (one document, sizes in bytes).")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(jsonable(data), indent=2, ensure_ascii=False, allow_nan=False, default=str))


def human_bytes(n: float | None) -> str:
    """``1536`` → ``1.5 KB`` (powers of 1024)."""
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1024 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, right: Sequence[str] = (),
          wrap: Sequence[str] = ()) -> None:
    """Print rows under headers: fitted to a terminal (``wrap`` columns fold), else plain full columns."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        view = Table(*[], box=None, pad_edge=False, show_edge=False)
        for h in headers:
            view.add_column(h, justify="right" if h in right else "left",
                            overflow="fold", no_wrap=h not in wrap, min_width=min(len(h), 12))
        for row in cells:
            view.add_row(*row)
        Console(soft_wrap=False).print(view)
        return
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if h in right else v.ljust(w) for h, v, w in zip(headers, values, widths, strict=True)]
        return "  ".join(parts).rstrip()

    click.echo(line(list(headers)))
    for row in cells:
        click.echo(line(row))


def emit(fmt: Format, data: Any, text: Callable[[], None]) -> None:
    """Print ``data`` as JSON, or call ``text`` to print it for people."""
    if fmt == "json":
        emit_json(data)
    else:
        text()
