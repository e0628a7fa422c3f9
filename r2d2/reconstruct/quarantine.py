"""Crash-safe, resumable moves of a whole table (folder or single file) between the lake and quarantine.

Invariant: at every instant the table is whole at its source, or whole at its destination (or both).

* ``rename`` (source and destination on one filesystem): one ``os.rename`` of the table folder
  (Delta ``_delta_log`` included) — atomic; parent folders are fsync'ed after it.
* ``copy`` (different filesystems): every file is copied into a hidden staging folder next to the
  destination, fsync'ed and its size checked; the staging folder is fsync'ed and renamed to the
  destination (atomic, the commit point); only then are the source files unlinked, one by one.

:func:`move_tree` is idempotent: called again after a crash at any step it finishes the move — a
complete destination with a leftover source is finished by unlinking what is left of the source
(only after checking that every remaining source file exists at the destination with the same size);
a partial staging folder is discarded and the copy starts again.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from r2d2.errors import SafetyError
from r2d2.reconstruct.journal import Journal, fsync_dir

MoveMode = Literal["auto", "rename", "copy"]
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


def move_tree(src: Path, dst: Path, *, mode: MoveMode = "auto", journal: Journal | None = None,
              fault: Fault = lambda _step: None) -> str:
    """Move ``src`` to ``dst`` (resuming an interrupted move); returns the mode used."""
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
