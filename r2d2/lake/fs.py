"""One filesystem abstraction for the lake layer: locations are strings, reached through pyarrow.fs.

A location is either a local path (normalised to an absolute path without a trailing slash) or a URI
(``file://``, ``s3://``...) resolved by :meth:`pyarrow.fs.FileSystem.from_uri`. Local paths are just
the first filesystem: every listing and read in the lake layer goes through :func:`resolve`.
"""

from __future__ import annotations

import os
import posixpath
import stat as stat_mod
from dataclasses import dataclass
from functools import lru_cache

import pyarrow.fs as pafs


@dataclass(frozen=True)
class Entry:
    """One listed child of a folder."""

    name: str
    path: str  # filesystem path (as the filesystem spells it)
    is_dir: bool
    is_file: bool
    size: int
    mtime_ns: int


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
    """One listing of ``path`` (sizes and mtimes come from the listing, no per-file stat).

    Raises ``OSError`` (``PermissionError``, ``FileNotFoundError``...) when the folder cannot be listed.
    A local folder holding a name that is not valid UTF-8 (which pyarrow cannot decode) is listed with
    :func:`os.scandir` instead; such names come back surrogate-escaped.
    """
    try:
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
    except UnicodeDecodeError:  # pyarrow decodes names lazily, as UTF-8
        if not is_local(fs):
            raise
        return _scandir(path)


def _scandir(path: str) -> list[Entry]:
    out = []
    with os.scandir(path) as it:
        for d in it:
            try:
                st = d.stat(follow_symlinks=True)
            except OSError:
                out.append(Entry(d.name, d.path, False, False, 0, 0))
                continue
            out.append(
                Entry(
                    name=d.name,
                    path=d.path,
                    is_dir=stat_mod.S_ISDIR(st.st_mode),
                    is_file=stat_mod.S_ISREG(st.st_mode),
                    size=st.st_size,
                    mtime_ns=st.st_mtime_ns,
                )
            )
    return out


def real_path(fs: pafs.FileSystem, path: str) -> str:
    """Identity of a folder for cycle detection (symlinks resolved on local filesystems)."""
    if is_local(fs):
        return os.path.realpath(path)
    return path
