"""One filesystem abstraction for the lake layer: locations are strings, reached through pyarrow.fs.

A location is either a local path (normalised to an absolute path without a trailing slash) or a URI
(``file://``, ``s3://``...) resolved by :meth:`pyarrow.fs.FileSystem.from_uri`. Local paths are just
the first filesystem: every listing and read in the lake layer goes through :func:`resolve`.
"""

from __future__ import annotations

import os
import posixpath
import stat as stat_mod
from functools import lru_cache
from typing import NamedTuple

import pyarrow.fs as pafs


class Entry(NamedTuple):
    """One listed child of a folder (a named tuple: made once per listed name, cheap to build)."""

    name: str
    path: str  # filesystem path (as the filesystem spells it)
    is_dir: bool
    is_file: bool
    size: int
    mtime_ns: int
    is_link: bool = False  # a symbolic link (local filesystems; is_dir/is_file describe its target)


def is_uri(location: str) -> bool:
    return "://" in location


def normalize_location(location: str) -> str:
    """Absolute local path without trailing slash, or the URI with its trailing slashes removed."""
    if is_uri(location):
        scheme, rest = location.split("://", 1)
        rest = rest.rstrip("/") or "/"
        return f"{scheme.lower()}://{rest}"
    path = os.path.abspath(os.path.expanduser(location))
    return path.rstrip("/") or "/"


@lru_cache(maxsize=64)
def _filesystem_for(prefix: str) -> pafs.FileSystem:
    fs, _ = pafs.FileSystem.from_uri(prefix)
    return fs


_LOCAL = pafs.LocalFileSystem()


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of ``location`` and the path to use with it."""
    location = normalize_location(location)
    if not is_uri(location):
        return _LOCAL, location
    scheme, rest = location.split("://", 1)
    if scheme == "file":
        return _LOCAL, "/" + rest.lstrip("/")
    fs, path = pafs.FileSystem.from_uri(location)
    return fs, path.rstrip("/")


def is_local(fs: pafs.FileSystem) -> bool:
    return isinstance(fs, pafs.LocalFileSystem)


def join(location: str, relpath: str) -> str:
    """Location of ``relpath`` under ``location`` (absolute paths and URIs are returned as they are;
    the empty relative path is the location itself, for a table that is a single file)."""
    if not relpath:
        return location
    if is_uri(relpath) or relpath.startswith("/"):
        return relpath
    return posixpath.join(location, relpath)


def parent(path: str) -> str:
    """The folder holding ``path`` (a filesystem path or a location)."""
    return posixpath.dirname(path.rstrip("/"))


def printable(name: str) -> str:
    """A printable form of a (possibly surrogate-escaped, non-UTF-8) name."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def info(fs: pafs.FileSystem, path: str) -> pafs.FileInfo:
    return fs.get_file_info(path)


def list_dir(fs: pafs.FileSystem, path: str) -> list[Entry]:
    """One listing of ``path`` (sizes and mtimes come from the listing, no extra stat per file).

    Raises ``OSError`` (``PermissionError``, ``FileNotFoundError``...) when the folder cannot be listed.
    Local folders are listed with :func:`os.scandir`, which also tells symbolic links apart (for free:
    the kind of an entry comes with the listing, only regular files and links are stat'ed); names that
    are not valid UTF-8 come back surrogate-escaped. Other filesystems are listed through pyarrow.
    """
    if is_local(fs):
        return _scandir(path)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=False, recursive=False))
    return [
        Entry(
            name=i.base_name,
            path=i.path,
            is_dir=i.type == pafs.FileType.Directory,
            is_file=i.type == pafs.FileType.File,
            size=i.size or 0,
            mtime_ns=i.mtime_ns or 0,
        )
        for i in infos
    ]


def _scandir(path: str) -> list[Entry]:
    out = []
    with os.scandir(path) as it:
        for d in it:
            link = False
            try:
                link = d.is_symlink()
                if not link and d.is_dir(follow_symlinks=False):
                    out.append(Entry(d.name, d.path, True, False, 0, 0))
                    continue
                st = d.stat(follow_symlinks=True)
            except OSError:  # a dangling link, or an entry gone since the listing
                out.append(Entry(d.name, d.path, False, False, 0, 0, is_link=link))
                continue
            is_dir = stat_mod.S_ISDIR(st.st_mode)
            out.append(
                Entry(
                    name=d.name,
                    path=d.path,
                    is_dir=is_dir,
                    is_file=stat_mod.S_ISREG(st.st_mode),
                    size=0 if is_dir else st.st_size,
                    mtime_ns=0 if is_dir else st.st_mtime_ns,
                    is_link=link,
                )
            )
    return out


def real_path(fs: pafs.FileSystem, path: str) -> str:
    """Identity of a folder for cycle detection (symlinks resolved on local filesystems)."""
    if is_local(fs):
        return os.path.realpath(path)
    return path


def child_real_path(fs: pafs.FileSystem, parent_real: str, entry: Entry) -> str:
    """:func:`real_path` of ``entry``, a sub-folder of the folder whose real path is ``parent_real``.

    Only a symbolic link needs resolving: the real path of any other child is its parent's real path
    plus its name (so a walk resolves paths only where it follows a link).
    """
    if not is_local(fs):
        return entry.path
    if entry.is_link:
        return os.path.realpath(entry.path)
    return parent_real + entry.name if parent_real.endswith("/") else f"{parent_real}/{entry.name}"
