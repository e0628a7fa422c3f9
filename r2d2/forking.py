"""Whether worker processes may be forked from this process, and the threads that do not prevent it.

Kept apart (and free of imports) so that the catalog can mark its own threads without depending on the
engine that forks.
"""

from __future__ import annotations

import sys
import threading


def fork_safe(thread: threading.Thread) -> threading.Thread:
    """Mark ``thread`` as one whose locks and connections a forked worker never uses (a catalog lock's
    heartbeat: the child forgets the catalog's engines, :mod:`r2d2.catalog.db`)."""
    thread.r2d2_fork_safe = True  # type: ignore[attr-defined]
    return thread


def can_fork() -> bool:
    """Whether worker processes may be forked from this one now: on Linux, with no other thread running
    but those marked :func:`fork_safe`. A child inherits every lock as it was at the fork, and one held
    by another thread (a Spark gateway's, a pool's) would stay held in the child for ever."""
    main = threading.main_thread()
    return sys.platform == "linux" and all(
        t is main or getattr(t, "r2d2_fork_safe", False) for t in threading.enumerate())
