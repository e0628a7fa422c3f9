"""One listening socket per worker of ``r2d2 serve --workers N``, so that the kernel spreads connections.

uvicorn's supervisor binds one socket and every worker accepts from it. A worker whose event loop
wakes first accepts every pending connection at once, so keep-alive clients pile up on one worker:
32 ``wrk`` connections split 30/2, 26/6 and even 32/0 between two workers, which then served at the
speed of one, with a tail latency of three times the median (``bench/results/api.md``).

With ``SO_REUSEPORT`` (Linux) each worker has its own socket on the same port, and the kernel hands
each new connection to one of them by a hash of its addresses: an even split on average. The parent
keeps a socket bound (never listening, so it is handed no connection) that reserves the port and
resolves port 0. uvicorn's supervisor sends its sockets to every worker it starts, restarts included;
this one arrives in the worker as a new listening socket of the worker's own (:meth:`__reduce__`).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any, TypeVar

from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("uvicorn.error")
S = TypeVar("S", bound=socket.socket)
# Linux 5.14+: whether the connections queued on a listening socket that closes (its worker exits) go to
# another socket of the port instead of being reset (a per-network-namespace setting)
MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


def supported() -> bool:
    """Whether the kernel balances connections between ``SO_REUSEPORT`` sockets (Linux does; macOS and
    the BSDs accept the option but hand every connection to one socket)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def _reuse_port(sock: S, address: tuple[Any, ...]) -> S:
    """``sock`` bound to ``address`` with ``SO_REUSEPORT`` (closed if it cannot be)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _bound(family: int, address: tuple[Any, ...]) -> socket.socket:
    """A worker's own socket on the reserved address. When it cannot be bound (something else took the
    port while no worker listened: the reservation does not listen), the worker exits as one that
    failed to start, and the supervisor stops the server instead of restarting the worker forever."""
    try:
        return _reuse_port(socket.socket(family, socket.SOCK_STREAM), address)
    except OSError as exc:
        log.error("worker %d cannot listen on %s: %s", os.getpid(), address[:2], exc)
        sys.exit(STARTUP_FAILURE)


class PortReservation(socket.socket):
    """The parent's socket: bound to the port, never listening. Pickled for a worker (uvicorn passes its
    sockets to each worker it spawns), it unpickles as that worker's own socket on the same port;
    uvicorn's server then listens on it."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _bound, (self.family, self.getsockname())


def reserve(host: str, port: int) -> PortReservation:
    """Bind ``host:port`` for the workers' sockets (port 0: a free port, the same for every worker).

    Raises ``OSError`` when something listens on the port already. ``SO_REUSEPORT`` alone would let a
    second server of the same user join the first one's sockets, and the kernel would split the
    connections between the two: the port is first bound without it (``SO_REUSEADDR`` only, as uvicorn
    binds: connections of an earlier server waiting out their close do not count), which fails when
    any socket listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if port:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    sock = _reuse_port(PortReservation(family, socket.SOCK_STREAM), (host, port))
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    log.info("Uvicorn running on http://%s:%d, one socket per worker (Press CTRL+C to quit)",
             shown, sock.getsockname()[1])
    if migrates_queued() is False:
        log.warning("connections queued for a worker that exits (restarted, killed) are reset; "
                    "sysctl net.ipv4.tcp_migrate_req=1 hands them to the other workers")
    return sock


def migrates_queued() -> bool | None:
    """Whether the kernel hands a closing worker socket's queued connections to the others (None: this
    kernel cannot tell, before Linux 5.14)."""
    try:
        return MIGRATE_REQ.read_text().strip() != "0"
    except OSError:
        return None
