"""Crash-safe, resumable moves of a whole table (folder or single file) between the lake and quarantine.

Invariant: at every instant the table is whole at its source, or whole at its destination (or both).

Local filesystems (source and destination both local paths):

* ``rename`` (source and destination on one filesystem): one ``os.rename`` of the table folder
  (Delta ``_delta_log`` included) — atomic; parent folders are fsync'ed after it.
* ``copy`` (different filesystems): every file is copied into a hidden staging folder next to the
  destination, fsync'ed and its size checked; the staging folder is fsync'ed and renamed to the
  destination (atomic, the commit point); only then are the source files unlinked, one by one.

:func:`move_tree` is idempotent: called again after a crash at any step it finishes the move — a
complete destination with a leftover source is finished by unlinking what is left of the source
(only after checking that every remaining source file exists at the destination with the same size);
a partial staging folder is discarded and the copy starts again.

Object stores (either side a URI: ``s3://``, ``gs://``, ``abfss://``), which have no atomic rename,
move by **copy → verify → delete** under the journal: every file is copied to the destination
(journal ``copy`` before each) and verified — same size and same SHA-256 as the source — then a
*commit marker* (``.<name>.r2d2-complete`` next to the destination, one object written at once) is
written (journal ``stage``): the commit point. Only then are the source files deleted one by one
(journal ``unlink`` before each), and last the marker. Resuming: a marker means the destination is
complete (the source's leftovers are deleted, each only after checking it is at the destination with
the same size); no marker and the source there means the copy was not committed (a partial
destination is removed and the copy starts again); no marker and no source means the move finished.
:func:`complete` tells recover which of these holds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from r2d2.errors import SafetyError
from r2d2.lake import fs as lakefs
from r2d2.reconstruct.journal import Journal, fsync_dir
from r2d2.vocabulary import MoveMode

Fault = Callable[[str], None]


def staging_path(dst: Path) -> Path:
    return dst.parent / f".{dst.name}.r2d2-partial"


def _files(root: Path) -> list[tuple[str, int]]:
    """(relative path, size) of every file under ``root`` (``""`` when ``root`` is itself a file)."""
    if not root.is_dir() or root.is_symlink():
        return [("", root.lstat().st_size)]
    out = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            out.append((str(p.relative_to(root)), p.lstat().st_size))
    return sorted(out)


def _at(root: Path, rel: str) -> Path:
    return root / rel if rel else root


def _same_device(src: Path, dst_parent: Path) -> bool:
    return src.lstat().st_dev == dst_parent.stat().st_dev


def on_store(*locations: str | Path) -> bool:
    """Whether a move between these locations goes through an object store (copy → verify → delete)."""
    return any(lakefs.is_uri(str(x)) and lakefs.scheme_of(str(x)) != "local" for x in locations)


def marker(dst: str) -> str:
    """The commit marker of a store move into ``dst``."""
    return lakefs.join(lakefs.parent(dst), f".{dst.rstrip('/').rsplit('/', 1)[-1]}.r2d2-complete")


def exists(location: str | Path) -> bool:
    location = str(location)
    return os.path.lexists(location) if not on_store(location) else lakefs.exists(location)


def complete(src: str | Path, dst: str | Path) -> bool:
    """Whether the move of ``src`` to ``dst`` reached its commit point (the destination is whole)."""
    if not on_store(src, dst):
        return os.path.lexists(dst)
    return lakefs.exists(marker(str(dst))) or (not lakefs.exists(str(src)) and lakefs.exists(str(dst)))


def discard_partial(src: str | Path, dst: str | Path) -> None:
    """Remove what an uncommitted move left at the destination side (the source is whole)."""
    if not on_store(src, dst):
        staging = staging_path(Path(dst))
        if os.path.lexists(staging):
            shutil.rmtree(staging) if staging.is_dir() else staging.unlink()
        return
    if not lakefs.exists(marker(str(dst))) and lakefs.exists(str(src)):
        lakefs.remove(str(dst))


def move_tree(src: str | Path, dst: str | Path, *, mode: MoveMode = "auto", journal: Journal | None = None,
              fault: Fault = lambda _step: None) -> str:
    """Move ``src`` to ``dst`` (resuming an interrupted move); returns the mode used."""
    if on_store(src, dst):
        return _store_move(str(src), str(dst), journal, fault)
    src, dst = Path(src), Path(dst)
    src_there, dst_there = os.path.lexists(src), os.path.lexists(dst)
    if dst_there:
        if src_there:
            _finish_unlink(src, dst, journal, fault)
        return "resumed"
    if not src_there:
        raise SafetyError(f"neither {src} nor {dst} exists: nothing to move")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fsync_dir(dst.parent)
    if mode == "auto":
        mode = "rename" if _same_device(src, dst.parent) else "copy"
    if mode == "rename":
        if journal:
            journal.step("rename", src=str(src), dst=str(dst))
        os.rename(src, dst)
        fsync_dir(src.parent)
        fsync_dir(dst.parent)
        fault("rename")
        return "rename"
    staging = staging_path(dst)
    if os.path.lexists(staging):
        shutil.rmtree(staging) if staging.is_dir() else staging.unlink()
    if src.is_dir():
        staging.mkdir()
    for rel, size in _files(src):
        target = _at(staging, rel)
        if journal:
            journal.step("copy", src=str(_at(src, rel)), dst=str(target), size=size)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_at(src, rel), target, follow_symlinks=False)
        if not target.is_symlink():
            with open(target, "rb") as fh:
                os.fsync(fh.fileno())
        if target.lstat().st_size != size:
            raise SafetyError(f"copy of {_at(src, rel)} has {target.lstat().st_size} bytes, expected {size}")
        fault("copy")
    if src.is_dir():
        for dirpath, _dirs, _names in os.walk(staging):
            fsync_dir(Path(dirpath))
    if journal:
        journal.step("stage", src=str(staging), dst=str(dst))
    os.rename(staging, dst)
    fsync_dir(dst.parent)
    fault("staged")
    _finish_unlink(src, dst, journal, fault)
    return "copy"


def _finish_unlink(src: Path, dst: Path, journal: Journal | None, fault: Fault) -> None:
    """Unlink what is left of ``src`` once ``dst`` is complete; refuses if ``src`` has a file ``dst`` lacks."""
    left = _files(src)
    for rel, size in left:
        there = _at(dst, rel)
        if not os.path.lexists(there) or there.lstat().st_size != size:
            raise SafetyError(f"{_at(src, rel)} is not at {there} with the same size; refusing to unlink it")
    for rel, _size in left:
        if journal:
            journal.step("unlink", path=str(_at(src, rel)))
        _at(src, rel).unlink()
        fault("unlink")
    if src.is_dir() and not src.is_symlink():
        for dirpath, _dirs, _names in sorted(os.walk(src), key=lambda t: -len(t[0])):
            os.rmdir(dirpath)
    fsync_dir(src.parent)


def _sha256(location: str) -> str:
    fs, path = lakefs.resolve(location)
    digest = hashlib.sha256()
    with fs.open_input_stream(path) as stream:
        while chunk := stream.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _store_move(src: str, dst: str, journal: Journal | None, fault: Fault) -> str:
    """Copy → verify → commit marker → delete (module docstring); resumable at every step."""
    done = marker(dst)
    if lakefs.exists(done):
        _store_unlink(src, dst, done, journal, fault)
        return "resumed"
    if not lakefs.exists(src):
        if lakefs.exists(dst):
            return "resumed"
        raise SafetyError(f"neither {src} nor {dst} exists: nothing to move")
    lakefs.remove(dst)  # an uncommitted, partial copy: start again
    for rel, size in lakefs.files_under(src):
        source, target = lakefs.join(src, rel), lakefs.join(dst, rel)
        if journal:
            journal.step("copy", src=source, dst=target, size=size)
        if lakefs.is_local(lakefs.resolve(target)[0]):
            os.makedirs(lakefs.parent(target), exist_ok=True)
        lakefs.copy_file(source, target)
        got = lakefs.files_under(target)
        if got != [("", size)] or _sha256(target) != _sha256(source):
            raise SafetyError(f"copy of {source} at {target} differs from the original (size or SHA-256)")
        fault("copy")
    if journal:
        journal.step("stage", src=src, dst=dst, marker=done)
    lakefs.write_bytes(done, b"complete\n")
    fault("staged")
    _store_unlink(src, dst, done, journal, fault)
    return "copy"


def _store_unlink(src: str, dst: str, done: str, journal: Journal | None, fault: Fault) -> None:
    """Delete what is left of ``src`` once ``dst`` is committed; refuses a file ``dst`` lacks."""
    left = lakefs.files_under(src)
    there = dict(lakefs.files_under(dst))
    for rel, size in left:
        if there.get(rel) != size:
            raise SafetyError(f"{lakefs.join(src, rel)} is not at {lakefs.join(dst, rel)} with the same size; "
                              "refusing to delete it")
    for rel, _size in left:
        if journal:
            journal.step("unlink", path=lakefs.join(src, rel))
        lakefs.remove(lakefs.join(src, rel))
        fault("unlink")
    if not on_store(src):
        if os.path.isdir(src):  # a local source's empty folders
            for dirpath, _dirs, _names in sorted(os.walk(src), key=lambda t: -len(t[0])):
                os.rmdir(dirpath)
    elif not lakefs.files_under(src):  # folder markers a store client left (pyarrow keeps parents)
        lakefs.remove(src)
    lakefs.remove(done)
