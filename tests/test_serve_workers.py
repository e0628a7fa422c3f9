"""`r2d2 serve --workers N`: a real server in a subprocess; connections spread over its workers.

uvicorn's shared socket let the first worker to wake accept every pending connection (32 benchmark
connections split 32/0 between two workers); each worker now listens on its own ``SO_REUSEPORT``
socket (:mod:`r2d2.cli.reuseport`). A burst of keep-alive connections must reach both workers, every
one of them must be answered (none may wait on the parent's reserving socket), and a worker that dies
is replaced by one that takes connections in turn.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CONNECTIONS = 32
AT_LEAST = 6  # per worker; a fair split of 32 leaves either worker fewer with a probability of about 1e-4


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(k) for k in (task / "children").read_text().split()]
    except OSError:  # a thread or the process ended meanwhile
        pass
    return kids


def _workers(server: int) -> list[int]:
    """The server's uvicorn workers (its children running the app, not multiprocessing's helper)."""
    out = []
    for kid in _children(server):
        try:
            command = Path(f"/proc/{kid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:  # reaped meanwhile (a killed worker)
            continue
        if "resource_tracker" not in command:
            out.append(kid)
    return sorted(out)


def _socket_inodes(pid: int) -> set[int]:
    out = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return out
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def _sockets(port: int, state: str) -> set[int]:
    """Inodes of the loopback IPv4 TCP sockets on local ``port`` in ``state`` (01 established, 0A listening)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
            inodes.add(int(fields[9]))
    return inodes


def _listening(server: int, port: int) -> bool:
    """Whether each of the two workers listens on a socket of its own (the parent only reserves the port)."""
    listening = _sockets(port, "0A")
    workers = _workers(server)
    return len(workers) == 2 and len(listening) == 2 and all(_socket_inodes(w) & listening for w in workers)


def _spread(server: int, port: int) -> dict[int, int]:
    """Open a burst of connections, get one answer on each, and count them by the worker holding them."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(CONNECTIONS)]
    try:
        for c in conns:
            c.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        for c in conns:
            assert c.recv(64).startswith(b"HTTP/1.1 200"), "a connection was not answered"
        accepted = _sockets(port, "01")
        counts = {w: len(_socket_inodes(w) & accepted) for w in _workers(server)}
        assert sum(counts.values()) == CONNECTIONS, counts
        return counts
    finally:
        for c in conns:
            c.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A server on a port it chose itself (port 0: no window for another job to take a free port)."""
    log_path = tmp_path / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "r2d2"), "--home", str(tmp_path / "home"), "serve", "--port", "0",
         "--workers", "2", "--no-access-log", "--log-level", "info"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        port = _wait_ready(proc, log_path)
        yield proc.pid, port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        log.close()


def _wait_ready(proc: subprocess.Popen[bytes], log: Path) -> int:
    """The port, once both workers listen on it and the API answers."""
    deadline = time.monotonic() + 60
    port = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")
        said = re.search(r"running on http://127\.0\.0\.1:(\d+), one socket", log.read_text(errors="replace"))
        port = port or (int(said.group(1)) if said else None)
        if port and _listening(proc.pid, port):
            assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10).status_code == 200
            return port
        time.sleep(0.2)
    raise AssertionError("server not ready: " + log.read_text(errors="replace"))


def test_connections_spread_over_workers_and_a_dead_worker_is_replaced(server: tuple[int, int]) -> None:
    pid, port = server
    workers = _workers(pid)
    assert len(workers) == 2
    counts = _spread(pid, port)
    assert all(n >= AT_LEAST for n in counts.values()), counts

    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while workers[0] in _workers(pid) or not _listening(pid, port):
        assert time.monotonic() < deadline, "the dead worker was not replaced"
        time.sleep(0.2)
    counts = _spread(pid, port)
    assert workers[0] not in counts and workers[1] in counts
    assert all(n >= AT_LEAST for n in counts.values()), counts


def test_the_log_says_how_to_keep_a_dead_workers_queued_connections(server: tuple[int, int], tmp_path: Path) -> None:
    """Connections queued for a worker that exits are reset unless the kernel migrates them to the other
    sockets of the port (net.ipv4.tcp_migrate_req): the server says so when the setting is off."""
    from r2d2.cli import reuseport

    said = "sysctl net.ipv4.tcp_migrate_req=1" in (tmp_path / "server.log").read_text(errors="replace")
    assert said == (reuseport.migrates_queued() is False)


def test_a_second_server_on_the_port_is_refused(server: tuple[int, int], tmp_path: Path) -> None:
    """SO_REUSEPORT would let it share the first one's connections: it must fail instead."""
    pid, port = server
    out = subprocess.run(
        [str(Path(sys.executable).parent / "r2d2"), "--home", str(tmp_path / "other"), "serve", "--port",
         str(port), "--workers", "2"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 3, out
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert _listening(pid, port)  # the first server is untouched


def test_a_worker_that_cannot_bind_fails_as_a_start_up_failure() -> None:
    """Something else listens on the port (taken while no worker listened): the worker exits with
    uvicorn's start-up failure code, on which the supervisor stops the server, not restarts it forever."""
    from uvicorn.config import STARTUP_FAILURE

    from r2d2.cli import reuseport

    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit) as stopped:
            reuseport._bound(socket.AF_INET, taken.getsockname())
    assert stopped.value.code == STARTUP_FAILURE
    with reuseport.reserve("127.0.0.1", 0) as reserved:  # and a free reserved port binds, for each worker
        first = reuseport._bound(socket.AF_INET, reserved.getsockname())
        second = reuseport._bound(socket.AF_INET, reserved.getsockname())
        assert first.getsockname() == second.getsockname() == reserved.getsockname()
        first.close()
        second.close()


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:  # bound without SO_REUSEPORT: nobody may share the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [str(Path(sys.executable).parent / "r2d2"), "--home", str(tmp_path / "home"), "serve", "--port",
             str(port), "--workers", "2"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 3, out
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr


def test_the_migration_setting_is_read_as_on_off_or_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before Linux 5.14 the sysctl file does not exist: unknown (None), and the server says nothing."""
    from r2d2.cli import reuseport

    setting = tmp_path / "tcp_migrate_req"
    monkeypatch.setattr(reuseport, "MIGRATE_REQ", setting)
    assert reuseport.migrates_queued() is None  # no such file
    setting.write_text("0\n")
    assert reuseport.migrates_queued() is False
    setting.write_text("1\n")
    assert reuseport.migrates_queued() is True
