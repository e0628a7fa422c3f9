"""Exit codes of the `r2d2` command and of the batch jobs (``jobs/``), mapped from errors in one place.

====  =====================================================================================
0     success
1     the command finished, but some tables failed or were refused (each listed with its reason)
2     usage error (bad option or argument; a destructive command without ``--yes`` off a terminal,
      or not confirmed at the prompt)
3     stopped by a known error (an :class:`~r2d2.errors.R2D2Error`; one line on stderr)
4     internal error (a bug: one line on stderr, the traceback in the log file it names)
75    another process holds the lock of this operation (``EX_TEMPFAIL``: try again later)
====  =====================================================================================

The log file is ``<home>/logs/r2d2.log`` (a temporary folder when the home cannot be written): it
gets the warnings of R2D2's loggers (e.g. the full text of an engine error whose first line was
shown) and the traceback of an internal error.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from r2d2.errors import OperationBusyError, R2D2Error
from r2d2.logs import LogFormat, formatter

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ERROR, EXIT_INTERNAL, EXIT_BUSY = 0, 1, 2, 3, 4, 75
LOG_NAME = "r2d2.log"

log = logging.getLogger("r2d2.cli")


def exit_code(exc: BaseException) -> int:
    """The exit code of a command stopped by ``exc``."""
    if isinstance(exc, OperationBusyError):
        return EXIT_BUSY
    if isinstance(exc, R2D2Error):
        return EXIT_ERROR
    return EXIT_INTERNAL


class _FolderMakingHandler(logging.FileHandler):
    """A file handler that creates its folder when it first writes (nothing is created otherwise)."""

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def _writable(folder: Path) -> bool:
    probe = folder
    while not probe.exists():
        probe = probe.parent
    return os.access(probe, os.W_OK)


def log_path(home: Path | None) -> Path:
    """Where this process logs: under ``home`` when it can be written, else a temporary folder."""
    if home is not None and _writable(home / "logs"):
        return home / "logs" / LOG_NAME
    return Path(tempfile.gettempdir()) / "r2d2-logs" / LOG_NAME


def start_logging(path: Path, fmt: LogFormat = "text") -> logging.Handler:
    """Send warnings of R2D2's loggers to ``path`` (the file is created on the first record), as text
    or JSON lines (:mod:`r2d2.logs`)."""
    root = logging.getLogger("r2d2")
    for old in [h for h in root.handlers if isinstance(h, _FolderMakingHandler)]:
        root.removeHandler(old)  # one command per process; in tests, one after another
        old.close()
    handler = _FolderMakingHandler(path, delay=True, encoding="utf-8")
    handler.setLevel(logging.WARNING)
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    return handler


def stopped(exc: BaseException, path: Path, say: Callable[[str], None]) -> int:
    """Report ``exc`` in one line (an internal error's traceback goes to the log); returns the exit code."""
    code = exit_code(exc)
    if code == EXIT_INTERNAL:
        log.error("internal error", exc_info=exc)
        first = (str(exc).strip().splitlines() or [""])[0]
        say(f"internal error ({type(exc).__name__}{': ' + first if first else ''}); "
            f"the traceback is in {path}")
    else:
        say(str(exc))
    return code
