"""The one exception hierarchy of R2D2.

Every error a caller can see derives from :class:`R2D2Error`. Messages name the table or file and the
reason, so that a per-table error stored in the catalog is useful on its own.
"""

from __future__ import annotations


class R2D2Error(Exception):
    """Base class of every error raised by R2D2."""


class ConfigError(R2D2Error):
    """A setting is missing or invalid."""


class FolderBlockedError(R2D2Error, NotADirectoryError):
    """A folder R2D2 must create has a file in its place (or in a parent's): a known error with a clear
    message, and still an ``OSError`` for the callers that handle failed writes."""


class LakeError(R2D2Error):
    """A lake path cannot be listed or read.

    ``location`` is the table (or root) the error belongs to; ``path`` the file, when one is at fault.
    """

    def __init__(self, message: str, *, location: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.location = location
        self.path = path


class TableReadError(LakeError):
    """A table's files or metadata cannot be read (corrupt footer, permission denied, empty file...)."""


class UnsupportedTableError(LakeError):
    """A table uses a feature R2D2 does not support (e.g. Delta deletion vectors)."""


class CatalogError(R2D2Error):
    """The catalog database cannot be reached, migrated or queried."""


class NotFoundError(R2D2Error):
    """A table, plan, run or other catalog object does not exist."""


class EngineError(R2D2Error):
    """The compute engine (Spark) failed or is misconfigured."""


class DetectionError(R2D2Error):
    """Containment detection cannot proceed."""


class PlanError(R2D2Error):
    """The optimizer cannot build or solve a plan."""


class SafetyError(R2D2Error):
    """A safety check failed: R2D2 refuses to touch data."""


class ReconstructError(R2D2Error):
    """A table cannot be rebuilt from its recipe, or the rebuilt content does not match."""


class PathEscapeError(SafetyError):
    """A path leaves its root through a symbolic link: R2D2 never reads, moves or writes through it.

    ``location`` is the path asked for, ``link`` the link that leads out, ``target`` where it leads and
    ``root`` the root it had to stay in.
    """

    def __init__(self, location: str, *, link: str, target: str, root: str) -> None:
        super().__init__(f"{location}: the symbolic link {link} points to {target}, outside the root {root}; "
                         "R2D2 does not read, move or write through it")
        self.location = location
        self.link = link
        self.target = target
        self.root = root


class OperationBusyError(R2D2Error):
    """Another process or thread holds the lock of an operation that must run alone (retry later).

    ``lock`` names the lock (``destructive``, ``detect``...); ``holder`` describes who holds it: a
    mapping with ``operation``, ``host``, ``pid`` and ``started_at`` (ISO text), as far as known.
    """

    def __init__(self, lock: str, holder: dict[str, object]) -> None:
        self.lock = lock
        self.holder = dict(holder)
        labels = {"host": "host", "pid": "pid", "started_at": "started"}
        who = ", ".join(f"{labels[k]} {v}" for k, v in self.holder.items() if k in labels and v is not None)
        super().__init__(f"the {lock} lock is held by {holder.get('operation') or 'another operation'}"
                         + (f" ({who})" if who else "") + "; try again when it has finished")


def describe(exc: BaseException) -> str:
    """One line for a per-table error: an R2D2 error's message (it names its table and file), else
    the exception's type and first line."""
    text = (str(exc).strip().splitlines() or [""])[0][:500]
    if isinstance(exc, R2D2Error) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
