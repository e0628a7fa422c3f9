"""Discovery: find the tables under lake roots (DESIGN, vocabulary).

* a folder holding ``_delta_log/`` is one Delta table (its files are the current snapshot's add
  actions, read from the log with delta-rs; files on disk that the log removed are not part of it);
* a folder whose data files (``*.parquet``, ``*.parq``, ``*.csv``, ``*.csv.gz``) sit in it or in
  hive-style ``key=value`` sub-folders is one table (mixing Parquet and CSV is an error for that folder);
* any other folder is a namespace to recurse into; a path that is itself a data file is one table.

What Spark skips is skipped: names starting with ``.`` or ``_`` (``_SUCCESS``, ``_temporary``...,
but not ``_delta_log``) and ``.crc`` files. Each folder is listed once; sizes and modification times
come from that listing. Symlink cycles are cut by remembering the real path of each visited folder
(resolved only where the walk follows a symbolic link: below a folder, a plain sub-folder's real path
is the folder's real path plus its name).
Confinement (:mod:`r2d2.lake.confine`): a symbolic link whose real path leaves the real path of the root
being walked — a folder, a data file, a hive partition, or a Delta log's file — is not followed; it
becomes a :class:`DiscoveryError` with ``escaped`` set, naming the link (for a file, the table it
belongs to is the error: a table is read whole or not at all).
Problems (permission denied, missing root, non-UTF-8 names...) become :class:`DiscoveryError` entries
and the walk goes on.

Folders are listed by a pool of threads (a listing waits on the file system, or on an object store's
HTTP round trips, and a Delta table's log is read when its folder is met): each listed folder hands
its sub-folders to the pool. Tables and errors are returned sorted by location, whatever the order in
which their folders were listed.

Object stores (``s3://``, ``gs://``, ``abfss://``): the tree under a root is listed ahead, many
prefixes at a time (:func:`r2d2.lake.fs.walk`), then walked from memory by the same rules.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from urllib.parse import unquote

import pyarrow.fs as pafs

from r2d2.errors import LakeError
from r2d2.lake import fs as lakefs
from r2d2.lake.confine import Escape, inside
from r2d2.lake.delta import DeltaSnapshot, snapshot
from r2d2.types import FileEntry, TableFormat

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_SUFFIXES: tuple[tuple[str, TableFormat], ...] = (
    (".parquet", "parquet"),
    (".parq", "parquet"),
    (".csv", "csv"),
    (".csv.gz", "csv"),
)
_PARQUET = tuple(s for s, f in _SUFFIXES if f == "parquet")
_CSV = tuple(s for s, f in _SUFFIXES if f == "csv")
_HIDDEN = (".", "_")


@dataclass(frozen=True)
class DiscoveredTable:
    location: str
    format: TableFormat
    files: tuple[FileEntry, ...]
    fingerprint: str
    partition_columns: tuple[str, ...] = ()
    delta_version: int | None = None
    # The Delta snapshot read during discovery (log statistics), reused by the profiler.
    delta_snapshot: DeltaSnapshot | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DiscoveryError:
    location: str
    message: str
    escaped: bool = False  # a symbolic link out of the root: nothing at or under ``location`` may be read


@dataclass
class Discovery:
    tables: list[DiscoveredTable] = field(default_factory=list)
    errors: list[DiscoveryError] = field(default_factory=list)
    roots: dict[str, str] = field(default_factory=dict)  # table location -> the root it was found under
    shared: int = 0  # trees whose walk the forked workers shared (discover's ``workers``)


def data_format(name: str) -> TableFormat | None:
    """Format of a data file by its name, or None when it is not a data file."""
    lower = name.lower()
    if lower.endswith(_PARQUET):
        return "parquet"
    return "csv" if lower.endswith(_CSV) else None


def skipped(name: str) -> bool:
    """Names Spark ignores (hidden, metadata and checksum files)."""
    return name.startswith(_HIDDEN) or name.endswith(".crc")


def hive_pair(name: str) -> tuple[str, str | None] | None:
    """``key=value`` folder name -> (key, value); ``__HIVE_DEFAULT_PARTITION__`` is null."""
    if "=" not in name or name.startswith("="):
        return None
    key, value = name.split("=", 1)
    raw = unquote(value)
    return key, (None if raw == HIVE_NULL else raw)


def file_fingerprint(files: Sequence[FileEntry]) -> str:
    return _fingerprint_of(_fingerprint_text(sorted(files, key=lambda e: e.path)).encode("utf-8", "surrogateescape"))


def _fingerprint_text(files: Sequence[FileEntry]) -> str:
    # one string hashed at once: the same digest as one update per file, a third of the time
    return "".join([f"{f.path}\0{f.size}\0{f.mtime_ns}\n" for f in files])


def _fingerprint_of(data: bytes) -> str:
    return "files:" + hashlib.sha256(data).hexdigest()


def delta_fingerprint(snap: DeltaSnapshot) -> str:
    ident = snap.table_id or hashlib.sha256(snap.location.encode("utf-8", "surrogateescape")).hexdigest()
    return f"delta:{snap.version}:{ident}"


def delta_table(location: str, version: int | None = None) -> DiscoveredTable:
    """A Delta table as discovered (files from the snapshot's add actions)."""
    snap = snapshot(location, version)
    files = tuple(
        FileEntry(
            path=a.path,
            size=a.size,
            mtime_ns=a.modification_time_ms * 1_000_000,
            partition=tuple((c, a.partition_values.get(c)) for c in snap.partition_columns),
        )
        for a in snap.adds
    )
    return DiscoveredTable(
        location=location,
        format="delta",
        files=files,
        fingerprint=delta_fingerprint(snap),
        partition_columns=snap.partition_columns,
        delta_version=snap.version,
        delta_snapshot=snap,
    )


LIST_THREADS = 8  # folders listed at once
# A local tree is shared between forked workers (discover's ``workers``) once a breadth-first walk of
# its top SHARE_LEVELS levels finds SHARE_MIN folders; they go out in SHARES shares (more than workers,
# so that one slow share does not leave the others idle).
SHARE_MIN = 16
SHARE_LEVELS = 3
SHARES = 8

_Folder = tuple[str, str, str]  # (path, location, real path)
# A table as it travels back from a worker: (location, format, files, fingerprint, partition columns)
# (a third of the pickling of the dataclass).
_Packed = tuple[str, TableFormat, tuple[FileEntry, ...], str, tuple[str, ...]]


@dataclass
class _Part:
    """What a worker found in its share of a tree (see :meth:`_Walker._tree_shared`)."""

    tables: list[_Packed]
    errors: list[DiscoveryError]
    visited: set[str]
    revisits: int
    deltas: list[tuple[str, str]]  # (location, real path)
    links: list[_Folder]
    partition_links: dict[str, str]


class _Walker:
    def __init__(self, threads: int = LIST_THREADS, workers: ProcessPoolExecutor | None = None) -> None:
        self.out = Discovery()
        self.visited: set[str] = set()
        self.visited_lock = threading.Lock()
        self.revisits = 0  # folders met a second time (first_visit said no)
        self.journal: list[str] | None = None  # folders first visited since _tree_shared began (to undo)
        self.partition_links: dict[str, str] = {}  # real path of a partition reached through a link -> its table
        self.threads = max(1, threads)
        self.workers = workers
        self.top = ""  # the root being walked, as given
        self.real_top: str | None = None  # its real path (local filesystems), the confinement boundary
        self.listing: lakefs.Listing | None = None  # an object store's tree, listed ahead in parallel
        # Delta tables met by the walk, opened after it by a pool: delta-rs opens a log in a few
        # milliseconds without the GIL, so the opens overlap (240 local tables: 1.0 s serial, 0.4 s)
        self.deltas: list[tuple[pafs.FileSystem, str, str]] = []  # (fs, location, real path) in this root

    def error(self, location: str, message: str) -> None:
        self.out.errors.append(DiscoveryError(lakefs.printable(location), message))

    def escaped(self, real: str) -> bool:
        return self.real_top is not None and not inside(real, self.real_top)

    def escape_error(self, location: str, link: str, target: str) -> None:
        message = str(Escape(link, target, self.top).error(lakefs.printable(location)))
        self.out.errors.append(DiscoveryError(lakefs.printable(location), message, escaped=True))

    def root(self, root: str) -> None:
        location = lakefs.normalize_location(root)
        try:
            fs, path = lakefs.resolve(location)
            info = fs.get_file_info(path)
        except (OSError, ValueError) as exc:
            self.error(location, f"cannot access {lakefs.printable(location)}: {exc}")
            return
        self.top = location
        self.real_top = lakefs.real_path(fs, path) if lakefs.is_local(fs) else None
        self.listing = None
        if not lakefs.is_local(fs) and info.type == pafs.FileType.Directory:
            self.listing = lakefs.Listing(fs, lakefs.walk(fs, path, descend=lambda e: not skipped(e.name)))
        if info.type == pafs.FileType.NotFound:
            self.error(location, f"{lakefs.printable(location)}: no such file or folder")
        elif info.type == pafs.FileType.File:
            fmt = data_format(info.base_name)
            if fmt is None:
                self.error(location, f"{lakefs.printable(location)}: not a data file (.parquet or .csv)")
                return
            # The table is the file itself: its one file has the empty relative path.
            self.add_files(
                location, fmt, [FileEntry(path="", size=info.size or 0, mtime_ns=info.mtime_ns or 0)], ()
            )
        else:
            self.walk(fs, path, location, self.real_top or lakefs.real_path(fs, path))
            self.open_deltas()

    def walk(self, fs: pafs.FileSystem, path: str, location: str, real: str) -> None:
        """Walk a folder tree: each listed folder's sub-folders are listed by the pool in turn.

        Sub-folders that are symbolic links wait until the tree without them is walked, and are then
        walked one by one in order of location: a link is the only way to meet a folder twice, and
        this way the same folder always wins (its real path, in practice), whatever the threads do."""
        trees = [(path, location, real)]
        while trees:
            links: list[tuple[str, str, str]] = []
            self._tree(fs, trees.pop(0), links)
            trees = sorted(links, key=lambda t: t[1]) + trees

    def _tree(self, fs: pafs.FileSystem, top: tuple[str, str, str], links: list[tuple[str, str, str]]) -> None:
        def step(folder: tuple[str, str, str]) -> list[tuple[str, str, str]]:
            subs, linked = self.folder(fs, *folder)
            links.extend(linked)
            return subs

        # A local folder lists in microseconds and the work per folder (Delta logs, names) holds the GIL:
        # threads only contend there (measured 0.9 s serial, 5.5 s with two threads on a 2,500-table lake);
        # forked workers do not (see _tree_shared).
        if lakefs.is_local(fs) and self.workers is not None and self._tree_shared(fs, top, links):
            return
        if self.threads == 1 or lakefs.is_local(fs):
            todo = [top]
            while todo:
                todo.extend(reversed(step(todo.pop())))
            return
        with ThreadPoolExecutor(self.threads, thread_name_prefix="r2d2-list") as pool:
            pending: set[Future[list[tuple[str, str, str]]]] = {pool.submit(step, top)}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    pending |= {pool.submit(step, sub) for sub in fut.result()}

    def plain(self, location: str, real: str) -> bool:
        """Whether the folder at ``location`` was reached without a link (its real path is the root's real
        path and the same names)."""
        return self.real_top is not None and location.startswith(self.top) and \
            real == self.real_top + location[len(self.top):]

    def first_visit(self, real: str) -> bool:
        """Mark the folder visited; False when it was already (a link cycle, or a second way in)."""
        with self.visited_lock:
            if real in self.visited:
                self.revisits += 1
                return False
            self.visited.add(real)
            if self.journal is not None:
                self.journal.append(real)
            return True

    def _tree_shared(self, fs: pafs.FileSystem, top: _Folder, links: list[_Folder]) -> bool:
        """Walk a local tree, sharing it with the forked workers when it is large; False (and nothing
        changed) when it must be walked in the usual order instead.

        The top levels are walked breadth first, here, until there are folders enough to share. Which
        folder a walk meets first only matters when it meets one twice (a link's target, a partition
        folder a link leads to); so the result is kept only when no process met any folder twice and no
        two met the same one: it is then exactly what the usual depth-first walk finds. Otherwise (links
        across the tree, a worker that died) everything is undone. Links to sub-folders are not
        followed: they come back in ``links``, walked after the tree as always."""
        assert self.workers is not None
        mark = (len(self.out.tables), len(self.out.errors), self.revisits, len(self.deltas), len(links))
        self.journal = []

        def undone() -> bool:
            tables, errors, revisits, deltas, n_links = mark
            for table in self.out.tables[tables:]:
                del self.out.roots[table.location]
            del self.out.tables[tables:], self.out.errors[errors:], self.deltas[deltas:], links[n_links:]
            self.visited.difference_update(self.journal or ())
            for real in self.journal or ():
                self.partition_links.pop(real, None)
            self.revisits = revisits
            return False

        try:
            return self._share_tree(fs, top, links, mark[2], undone)
        finally:
            self.journal = None

    def _share_tree(self, fs: pafs.FileSystem, top: _Folder, links: list[_Folder], revisits: int,
                    undone: Callable[[], bool]) -> bool:
        """:meth:`_tree_shared`'s walk (``revisits``: the count before it; ``undone``: undoes it)."""
        frontier = [top]
        for _ in range(SHARE_LEVELS):
            if len(frontier) >= SHARE_MIN:
                break
            below: list[_Folder] = []
            for folder in frontier:
                subs, linked = self.folder(fs, *folder)
                links.extend(linked)
                below.extend(subs)
            frontier = below
        parts = self._shares(frontier) if len(frontier) >= SHARE_MIN else None
        if parts is None:  # the rest of the tree, here
            todo = list(reversed(frontier))
            while todo:
                subs, linked = self.folder(fs, *todo.pop())
                links.extend(linked)
                todo.extend(reversed(subs))
            return self.revisits == revisits or undone()
        seen = len(self.visited) + sum(len(p.visited) for p in parts)
        visited = self.visited.union(*(p.visited for p in parts))
        if self.revisits != revisits or any(p.revisits for p in parts) or len(visited) != seen:
            return undone()
        self.visited = visited
        for part in parts:
            for location, fmt, files, fingerprint, partition_columns in part.tables:
                self.out.roots[location] = self.top
                self.out.tables.append(DiscoveredTable(location, fmt, files, fingerprint, partition_columns))
            self.out.errors.extend(part.errors)
            self.deltas.extend((fs, location, real) for location, real in part.deltas)
            links.extend(part.links)
            self.partition_links.update(part.partition_links)
        self.out.shared += 1
        return True

    def _shares(self, frontier: list[_Folder]) -> list[_Part] | None:
        """The walks of ``frontier``'s folders by the workers, a few shares each; None if one failed."""
        assert self.workers is not None
        try:
            futures = [self.workers.submit(_walk_share, self.top, self.real_top, frontier[i::SHARES])
                       for i in range(SHARES)]
            return [f.result() for f in futures]
        except (OSError, BrokenProcessPool):
            return None

    def add_files(
        self, location: str, fmt: TableFormat, files: list[FileEntry], partition_columns: tuple[str, ...]
    ) -> None:
        tup = tuple(sorted(files)) if len(files) > 1 else tuple(files)  # by path: paths are unique
        text = _fingerprint_text(tup)
        try:  # every name at once (the fingerprint's text holds them all)
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            bad = next(f.path for f in tup if not lakefs.is_utf8(f.path))
            self.error(
                location,
                f"{lakefs.printable(location)}: file name is not valid UTF-8: {lakefs.printable(bad)}",
            )
            return
        self.out.roots[location] = self.top
        self.out.tables.append(
            DiscoveredTable(
                location=location,
                format=fmt,
                files=tup,
                fingerprint=_fingerprint_of(data),
                partition_columns=partition_columns,
            )
        )

    def list_folder(self, fs: pafs.FileSystem, path: str, location: str) -> list[lakefs.Entry] | None:
        try:
            return self.listing.list_dir(path) if self.listing is not None else lakefs.list_dir(fs, path)
        except PermissionError as exc:
            self.error(location, f"{lakefs.printable(location)}: permission denied ({exc})")
        except (OSError, ValueError) as exc:
            self.error(location, f"{lakefs.printable(location)}: cannot list folder: {exc}")
        return None

    def folder(self, fs: pafs.FileSystem, path: str, location: str,
               real: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
        """Look at the folder ``path`` (``real``: its real path, the identity used against cycles): a
        table, or the sub-folders to walk next, as ``(path, location, real path)``: plain ones, and
        those that are links."""
        none: tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]] = ([], [])
        if not self.first_visit(real):
            owner = self.partition_links.get(real)
            if owner is not None and self.plain(location, real):
                # Met first as another table's partition, through a link: its files are that table's as
                # Spark reads it. Gone it is not: an error, never profiled, never deleted.
                self.error(location, f"{lakefs.printable(location)}: this folder is also read, through a "
                                     f"symbolic link, as a partition of {lakefs.printable(owner)}")
            return none
        entries = self.list_folder(fs, path, location)
        if entries is None:
            return none
        # One pass over the names (this runs for every folder of the lake on every scan).
        visible: list[lakefs.Entry] = []
        has_data = has_parts = False
        for e in entries:
            name = e.name
            if name.startswith(_HIDDEN) or name.endswith(".crc"):
                if name == "_delta_log" and e.is_dir:
                    if not lakefs.is_utf8(location):
                        self.error(location, f"{lakefs.printable(location)}: folder name is not valid UTF-8")
                        return none
                    self.deltas.append((fs, location, real))
                    return none
                continue
            visible.append(e)
            if e.is_file:
                has_data = has_data or data_format(name) is not None
            elif e.is_dir:
                has_parts = has_parts or hive_pair(name) is not None
        if has_data or has_parts:
            found = self.table(fs, location, real, visible)
            if found:
                return none
        subs, links = none
        for e in sorted(visible, key=lambda e: e.name):
            if e.is_dir and not hive_pair(e.name):
                sub_real = lakefs.child_real_path(fs, real, e)
                if e.is_link and self.escaped(sub_real):
                    self.escape_error(location + "/" + e.name, location + "/" + e.name, sub_real)
                    continue
                (links if e.is_link else subs).append((e.path, location + "/" + e.name, sub_real))
        return subs, links

    def open_deltas(self) -> None:
        """Open the Delta tables the walk of this root met (see ``deltas``)."""
        found, self.deltas = sorted(self.deltas, key=lambda d: d[1]), []

        def opened(item: tuple[pafs.FileSystem, str, str]) -> DiscoveredTable | LakeError:
            try:
                return delta_table(item[1])
            except LakeError as exc:
                return exc

        if len(found) > 1:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="r2d2-delta") as pool:
                tables = list(pool.map(opened, found))
        else:
            tables = [opened(d) for d in found]
        for (fs, location, real), table in zip(found, tables, strict=True):
            if isinstance(table, LakeError):
                self.error(location, str(table))
            elif self.delta_confined(fs, table, real):
                self.out.roots[location] = self.top
                self.out.tables.append(table)

    def delta_confined(self, fs: pafs.FileSystem, table: DiscoveredTable, real: str) -> bool:
        """Every data file of a Delta snapshot stays in the root (a log may name absolute paths, and a
        file or a partition folder may be a link); else the table is an escape error."""
        if self.real_top is None or not lakefs.is_local(fs):
            return True
        real_dirs: dict[str, str] = {table.location: real}  # one realpath per other folder of its files
        for f in table.files:
            path = lakefs.join(table.location, f.path)
            if lakefs.is_uri(path):
                scheme, rest = path.split("://", 1)
                if scheme.lower() != "file":  # a local table's file in an object store: not in the root
                    self.escape_error(table.location, path, path)
                    return False
                path = "/" + rest.lstrip("/")
            folder, name = os.path.split(path)
            if folder not in real_dirs:
                real_dirs[folder] = os.path.realpath(folder)
            real_file = os.path.join(real_dirs[folder], name)
            if os.path.islink(real_file):
                real_file = os.path.realpath(real_file)
            if self.escaped(real_file):
                link = path if os.path.islink(path) else folder
                self.escape_error(table.location, link, real_file)
                return False
        return True

    def table(self, fs: pafs.FileSystem, location: str, real: str, entries: list[lakefs.Entry]) -> bool:
        """Collect a (possibly hive-partitioned) file table; False if no data file was found."""
        files: list[FileEntry] = []
        formats: set[TableFormat] = set()
        layouts: set[tuple[str, ...]] = set()
        ok = self.collect(fs, location, real, "", (), entries, files, formats, layouts)
        if not ok:
            return True  # error already reported for this table
        if not files:
            return False
        if len(formats) > 1:
            self.error(location, f"{lakefs.printable(location)}: folder mixes Parquet and CSV data files")
            return True
        if len(layouts) > 1:
            shown = "; ".join(sorted("/".join(k) or "(none)" for k in layouts))
            self.error(location, f"{lakefs.printable(location)}: inconsistent hive partition layout: {shown}")
            return True
        self.add_files(location, formats.pop(), files, layouts.pop())
        return True

    def collect(
        self,
        fs: pafs.FileSystem,
        location: str,
        real: str,  # real path of the folder listed in ``entries``
        prefix: str,
        pairs: tuple[tuple[str, str | None], ...],
        entries: list[lakefs.Entry],
        files: list[FileEntry],
        formats: set[TableFormat],
        layouts: set[tuple[str, ...]],
    ) -> bool:
        layout = tuple(k for k, _ in pairs)
        for e in entries:
            if skipped(e.name):
                continue
            rel = prefix + e.name
            if e.is_file:
                fmt = data_format(e.name)
                if fmt is None:
                    continue
                if e.is_link:
                    target = os.path.realpath(e.path)
                    if self.escaped(target):
                        self.escape_error(location, location + "/" + rel, target)
                        return False
                formats.add(fmt)
                layouts.add(layout)
                files.append(FileEntry(rel, e.size, e.mtime_ns, pairs))
            elif e.is_dir:
                pair = hive_pair(e.name)
                if pair is None:
                    continue  # not a partition folder: Spark ignores it too
                sub_real = lakefs.child_real_path(fs, real, e)
                if e.is_link and self.escaped(sub_real):
                    self.escape_error(location, location + "/" + rel, sub_real)
                    return False
                if not self.first_visit(sub_real):
                    # A partition met before (through a link: a cycle, or another table's folder). Leaving
                    # it out would catalog less than Spark reads; a table never profiled is never deleted.
                    self.error(location, f"{lakefs.printable(location)}: partition folder "
                                         f"{lakefs.printable(location + '/' + rel)} is reached twice through "
                                         "symbolic links (a cycle, or a folder of another table)")
                    return False
                if e.is_link:
                    self.partition_links[sub_real] = location
                sub = self.list_folder(fs, e.path, location)
                if sub is None:
                    return False
                if not self.collect(
                    fs, location, sub_real, rel + "/", (*pairs, pair), sub, files, formats, layouts
                ):
                    return False
        return True


def _walk_share(top: str, real_top: str | None, folders: list[_Folder]) -> _Part:
    """In a forked worker: walk ``folders`` (and below) of the tree of root ``top`` (see _tree_shared)."""
    walker = _Walker(1)
    walker.top, walker.real_top = top, real_top
    fs = pafs.LocalFileSystem()
    links: list[_Folder] = []
    for folder in folders:
        walker._tree(fs, folder, links)
    tables = [(t.location, t.format, t.files, t.fingerprint, t.partition_columns) for t in walker.out.tables]
    return _Part(tables, walker.out.errors, walker.visited, walker.revisits,
                 [(location, real) for _, location, real in walker.deltas], links, walker.partition_links)


def discover(roots: Sequence[str], *, threads: int = LIST_THREADS,
             workers: ProcessPoolExecutor | None = None) -> Discovery:
    """Find the tables under ``roots`` (folders, data files or URIs); errors are collected, not raised.
    Tables and errors come sorted by location. ``workers``: forked processes
    (:func:`r2d2.engine.items.forked_workers`) that share the walk of a large local tree."""
    walker = _Walker(threads, workers)
    for root in roots:
        walker.root(root)
    walker.out.tables.sort(key=lambda t: t.location)
    walker.out.errors.sort(key=lambda e: e.location)
    return walker.out
