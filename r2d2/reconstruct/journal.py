"""The local journal of one quarantine operation: an fsync'ed JSON-lines file.

``<home>/quarantine/_journal/<deletion id>.jsonl``: a header line (operation, source, destination,
mode), then one line per step, each written and fsync'ed *before* the filesystem change it announces
(``rename``, ``copy``, ``stage``, ``unlink``), then ``moved`` and finally ``done``. A torn last line
(crash while appending) is ignored when reading.

Roles during a crash: the filesystem is the ground truth of where the files are; the journal says
which operation was under way, between which paths and in which mode (it survives a catalog outage,
and is written before each step); the catalog row (``deletions``) says what the operation means for
the table (written before the operation starts, updated after it ends). ``recover`` reads both and
inspects the paths the journal names.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, path: Path, **header: Any) -> Journal:
        path.parent.mkdir(parents=True, exist_ok=True)
        journal = cls(path)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": "begin", "at": _now(), **header}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(path.parent)
        return journal

    def step(self, step: str, **data: Any) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": step, "at": _now(), **data}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line
        return out

    @property
    def header(self) -> dict[str, Any]:
        entries = self.entries()
        return entries[0] if entries else {}

    @property
    def done(self) -> bool:
        return any(e.get("step") == "done" for e in self.entries())

    def finish(self, outcome: str) -> None:
        self.step("done", outcome=outcome)


def _now() -> str:
    return datetime.now(UTC).isoformat()
