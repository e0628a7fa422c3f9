"""The one confinement rule for every path R2D2 touches: a table stays inside its root.

Symbolic links are resolved; a table whose real path (or one of whose files') leaves its root is an
error naming the link, and is never read, moved or written. The root of a table is the scan root it
was found under (``tables.root``); a table catalogued without one is confined to its parent folder.
Discovery applies the rule while it walks (one ``realpath`` where it follows a link; for a Delta
table, one per folder of its files and an ``lstat`` per file); :func:`check` applies it again before
apply, restore, reconstruct, purge and recover act, because a link can be put in place after a scan.
Object-store URIs have no links: they pass.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from r2d2.errors import PathEscapeError
from r2d2.lake.fs import is_uri, normalize_location


@dataclass(frozen=True)
class Escape:
    """``link`` (a path at or above the location) resolves to ``target``, outside ``root``."""

    link: str
    target: str
    root: str

    def error(self, location: str) -> PathEscapeError:
        return PathEscapeError(location, link=self.link, target=self.target, root=self.root)


def inside(path: str, root: str) -> bool:
    """``path`` is ``root`` or below it, on path-component boundaries (both already real paths)."""
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def _local(location: str) -> str | None:
    if not is_uri(location):
        return normalize_location(location)
    scheme, rest = location.split("://", 1)
    return "/" + rest.lstrip("/") if scheme.lower() == "file" else None


class Lookups:
    """``realpath`` and ``islink`` remembered for one pass over many tables (they share their roots
    and parent folders: one ``lstat`` per new component instead of one per component per table)."""

    def __init__(self) -> None:
        self.realpath = functools.lru_cache(maxsize=None)(os.path.realpath)
        self.islink = functools.lru_cache(maxsize=None)(os.path.islink)


def escape(location: str, root: str, lookups: Lookups | None = None) -> Escape | None:
    """Where ``location`` leaves ``root`` through a symbolic link, or None when it stays inside.

    Works for paths that do not exist (yet): the components that exist are resolved. A location that is
    not even written under ``root`` is its own escape. ``lookups``: shared by the calls of one pass.
    """
    loc, top = _local(location), _local(root)
    if loc is None or top is None:
        return None
    look = lookups or Lookups()
    real_root = look.realpath(top)
    if not inside(loc, top):
        return Escape(loc, os.path.realpath(loc), top)
    current = top
    linked = False
    for part in os.path.relpath(loc, top).split(os.sep):
        if part in ("", "."):
            continue
        current = os.path.join(current, part)
        if look.islink(current):
            linked = True
            target = os.path.realpath(current)
            if not inside(target, real_root):
                return Escape(current, target, top)
    if not linked:  # no link below the root: the real path is the real root joined with the rest
        return None
    real = os.path.realpath(loc)
    return None if inside(real, real_root) else Escape(loc, real, top)


def table_root(location: str, root: str | None) -> str:
    """The root ``location`` must stay in: its scan root, else the folder that holds it."""
    if root:
        return root
    local = _local(location)
    return os.path.dirname(local) if local is not None else location


def check(location: str, root: str | None) -> None:
    """Raise :class:`~r2d2.errors.PathEscapeError` when ``location`` leaves its root through a link."""
    found = escape(location, table_root(location, root))
    if found is not None:
        raise found.error(location)
