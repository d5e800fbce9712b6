"""Loopback peers for tests: a real TLS server and some hostile plain-TCP ones.

* :func:`openssl_server` runs ``openssl s_server`` with a given leaf and chain.
* :func:`silent_server`, :func:`closing_server` and :func:`banner_server` are
  small threaded TCP servers that do not speak TLS.
* :func:`refused_port` returns a port where nothing listens.
* :func:`black_hole` is a listener whose backlog is full: connects hang.

Everything binds to ``127.0.0.1`` on an ephemeral port chosen by the kernel,
so there is no port-picking race, and every context manager stops its
process or threads and closes its sockets on exit, with bounded timeouts.
:func:`openssl_server`, :func:`silent_server` and :func:`black_hole` also
take another loopback ``host`` and a fixed ``port``, so that several peers
on 127.0.0.1, 127.0.0.2, ... and ::1 share one port like the addresses of
one name.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Protocol

import pytest
from cryptography import x509
from pki import Issued, write_key, write_pem

__all__ = [
    "HOST",
    "HttpFiles",
    "TLSServerFactory",
    "banner_server",
    "black_hole",
    "closing_server",
    "has_ipv6_loopback",
    "http_file_server",
    "openssl_server",
    "refused_port",
    "silent_server",
]

#: Address every server in this module listens on.
HOST = "127.0.0.1"

#: How long :func:`openssl_server` waits for ``s_server`` to start listening.
STARTUP_TIMEOUT = 5.0

#: How long teardown waits for a process or thread before giving up on it.
SHUTDOWN_TIMEOUT = 5.0

# What OpenSSL 3.0 s_server prints on stdout once it is listening, e.g.
# "ACCEPT 127.0.0.1:40123" (or "ACCEPT [::1]:40123").  It is not printed
# with -quiet.  Given a fixed port, it prints a bare "ACCEPT".
_ACCEPT_RE = re.compile(rb"^ACCEPT .*:(\d+)\r?$", re.MULTILINE)
_BARE_ACCEPT_RE = re.compile(rb"^ACCEPT\r?$", re.MULTILINE)

# Poll interval of the threaded servers; bounds how long teardown takes.
_POLL = 0.02


class TLSServerFactory(Protocol):
    """Type of the ``tls_server`` fixture: start a server, return its port."""

    def __call__(
        self,
        leaf: Issued,
        chain: Sequence[Issued | x509.Certificate] = (),
        extra_args: Sequence[str] = (),
        host: str = HOST,
    ) -> int: ...


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(SHUTDOWN_TIMEOUT)


def _wait_for_port(
    proc: subprocess.Popen[bytes], cmd: Sequence[str], stdout_path: Path, stderr_path: Path, host: str = HOST,
    fixed_port: int = 0,
) -> int:
    """Wait for s_server's ACCEPT line, then check that the port (``fixed_port``, else the reported one) answers."""

    def fail(why: str) -> RuntimeError:
        return RuntimeError(
            f"openssl s_server {why}\n"
            f"command: {shlex.join(cmd)}\n"
            f"stdout: {_read_text(stdout_path)}\n"
            f"stderr: {_read_text(stderr_path)}"
        )

    deadline = time.monotonic() + STARTUP_TIMEOUT
    port: int | None = None
    while port is None:
        printed = stdout_path.read_bytes()
        match = _ACCEPT_RE.search(printed)
        if match:
            port = int(match.group(1))
        elif fixed_port and _BARE_ACCEPT_RE.search(printed):
            port = fixed_port
        elif proc.poll() is not None:
            raise fail(f"exited with status {proc.returncode} before listening")
        elif time.monotonic() > deadline:
            raise fail(f"printed no ACCEPT line within {STARTUP_TIMEOUT}s")
        else:
            time.sleep(0.01)
    # s_server prints ACCEPT after listen(), so this normally succeeds at once.
    # The probe connection is harmless: s_server logs a failed handshake on
    # stderr and goes on accepting.
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return port
        except OSError as exc:
            if proc.poll() is not None:
                raise fail(f"exited with status {proc.returncode}") from exc
            if time.monotonic() > deadline:
                raise fail(f"does not accept connections on port {port}") from exc
            time.sleep(0.01)


@contextmanager
def openssl_server(
    tmp_path: Path,
    leaf: Issued,
    chain: Sequence[Issued | x509.Certificate] = (),
    *,
    extra_args: Sequence[str] = (),
    host: str = HOST,
    port: int = 0,
) -> Iterator[int]:
    """Run ``openssl s_server -www`` on ``host`` (127.0.0.1; ``::1`` for IPv6) presenting ``leaf`` + ``chain``.

    Yields the TCP port: ``port``, or one the kernel picks when it is 0.  ``chain`` is sent after the leaf, in the given order
    (it is passed with ``-cert_chain``; a bundle given to ``-cert`` would only
    send its first certificate).  ``extra_args`` are appended to the command
    line, e.g. ``["-no_tls1_3"]``.

    The server handles any number of sequential connections, one at a time
    (a client that connects and then stalls blocks the next one).  Its files
    and logs live in a fresh sub-directory of ``tmp_path``.  Raises
    :class:`RuntimeError` (including the server's stderr) if it does not
    start listening within :data:`STARTUP_TIMEOUT` seconds.  On exit the
    process is terminated and reaped.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl binary not found on PATH")
    workdir = Path(tempfile.mkdtemp(prefix="s_server-", dir=tmp_path))
    cmd = [
        openssl,
        "s_server",
        # Port 0: the kernel picks a free port and s_server reports it in its
        # "ACCEPT host:port" line.  Hence no -quiet, which suppresses that line.
        "-accept",
        f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "-cert",
        str(write_pem(workdir / "leaf.pem", leaf)),
        "-key",
        str(write_key(workdir / "leaf.key", leaf)),
        "-www",
    ]
    if chain:
        cmd += ["-cert_chain", str(write_pem(workdir / "chain.pem", *chain))]
    cmd += list(extra_args)
    stdout_path = workdir / "stdout.log"
    stderr_path = workdir / "stderr.log"
    # Output goes to files, not pipes: nobody drains them while tests run, and
    # a full pipe would block the server.
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=workdir
        )
    try:
        yield _wait_for_port(proc, cmd, stdout_path, stderr_path, host, port)
    finally:
        _stop_process(proc)


def _drain(conn: socket.socket, stop: threading.Event) -> None:
    """Read and discard until the peer closes or ``stop`` is set."""
    conn.settimeout(_POLL)
    while not stop.is_set():
        try:
            if not conn.recv(65536):
                return
        except socket.timeout:
            continue
        except OSError:
            return


@contextmanager
def _tcp_server(
    handler: Callable[[socket.socket, threading.Event], None], host: str = HOST, port: int = 0
) -> Iterator[int]:
    """Listen on ``host:port`` (default 127.0.0.1:0) and run ``handler(conn, stop)`` in a thread per connection.

    On exit: ``stop`` is set, the listener and every accepted connection are
    closed, and all threads are joined.
    """
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(64)
    listener.settimeout(_POLL)
    port = listener.getsockname()[1]
    stop = threading.Event()
    lock = threading.Lock()
    conns: list[socket.socket] = []
    workers: list[threading.Thread] = []

    def run(conn: socket.socket) -> None:
        try:
            handler(conn, stop)
        except OSError:
            pass
        finally:
            conn.close()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            worker = threading.Thread(target=run, args=(conn,), daemon=True)
            with lock:
                if stop.is_set():
                    conn.close()
                    return
                conns.append(conn)
                workers.append(worker)
            worker.start()

    acceptor = threading.Thread(target=accept_loop, name=f"tcp-server-{port}", daemon=True)
    acceptor.start()
    try:
        yield port
    finally:
        stop.set()
        acceptor.join(SHUTDOWN_TIMEOUT)
        listener.close()
        with lock:
            pending = list(workers)
            sockets = list(conns)
        for worker in pending:
            worker.join(SHUTDOWN_TIMEOUT)
        for conn in sockets:
            conn.close()


@contextmanager
def silent_server(host: str = HOST, port: int = 0) -> Iterator[int]:
    """Accept TCP connections on ``host:port`` (default 127.0.0.1, a kernel-picked port) and never send a byte.

    Whatever the client sends is read and discarded; connections are kept
    open until the context exits (or the client closes).  Yields the port.
    """
    with _tcp_server(_drain, host, port) as bound:
        yield bound


@contextmanager
def closing_server() -> Iterator[int]:
    """Accept TCP connections and close them at once, sending nothing.

    The server half-closes first (``shutdown(SHUT_WR)``, i.e. a FIN right
    after accept) and only then reads the client's bytes until it closes, so
    the client reliably sees a clean EOF rather than, depending on timing,
    a connection reset.  Yields the port.
    """

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.shutdown(socket.SHUT_WR)
        _drain(conn, stop)

    with _tcp_server(handler) as port:
        yield port


@contextmanager
def banner_server(data: bytes, *, close: bool = False) -> Iterator[int]:
    """A peer that does not speak TLS: send ``data`` on connect, then read and
    discard until the client closes (with ``close``, half-close first: the
    client sees the end of ``data``).

    ``data`` is e.g. ``b"SSH-2.0-OpenSSH_9.2\\r\\n"`` or a complete HTTP
    response.  Yields the port.
    """

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(data)
        if close:
            conn.shutdown(socket.SHUT_WR)
        _drain(conn, stop)

    with _tcp_server(handler) as port:
        yield port


class HttpFiles:
    """A directory served over HTTP on 127.0.0.1 by Python's http.server, and the requests it logged."""

    def __init__(self, root: Path, port: int, log: Path) -> None:
        self.root, self.port, self.log = root, port, log

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def serve(self, name: str, data: bytes) -> str:
        """Put ``data`` at ``/name``; return its URL."""
        (self.root / name).write_bytes(data)
        return self.url(name)

    def requests(self) -> list[str]:
        return re.findall(r'"GET (\S+) HTTP', self.log.read_text(errors="replace"))


@contextmanager
def http_file_server(root: Path) -> Iterator[HttpFiles]:
    """``python -m http.server`` on 127.0.0.1 (a kernel-picked port) serving ``root``; stopped on exit."""
    log = root.parent / f"{root.name}-http.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "--bind", HOST, "0"], cwd=root,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not (match := re.search(r"port (\d+)", log.read_text(errors="replace"))):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"http.server did not start: {log.read_text(errors='replace')}")
            time.sleep(0.02)
        yield HttpFiles(root, int(match[1]), log)
    finally:
        _stop_process(proc)


def has_ipv6_loopback() -> bool:
    """Whether ::1 can be bound here (containers without IPv6 cannot)."""
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        return False
    return True


def refused_port() -> int:
    """Return a port on 127.0.0.1 where nothing listens (connections are refused).

    The kernel picks a free ephemeral port which is then released again;
    another process could in principle take it, but ephemeral ports are
    handed out round-robin, so reuse within a test is very unlikely.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


@contextmanager
def black_hole(host: str = "127.0.0.2", port: int = 0) -> Iterator[int]:
    """A listener on ``host:port`` that never accepts and whose backlog is full: connects hang. Yields the port.

    Linux queues backlog + 1 connections and then drops further SYNs, so a
    connect neither succeeds nor fails until the client gives up, like a
    firewall that swallows packets (and no packet leaves the machine).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with ExitStack() as stack:
        listener = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
        listener.bind((host, port))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(16):  # Linux queues backlog + 1 connections; fill until one hangs
            filler = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
            filler.settimeout(0.3)
            try:
                filler.connect((host, port))
            except TimeoutError:
                break
        else:
            pytest.fail("the backlog never filled up: no black hole on this kernel")
        yield port


class Tinyproxy:
    """A running tinyproxy: its port, and what it logged (CONNECT requests, refusals)."""

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logged(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def tinyproxy(directory: Path, connect_ports: Sequence[int] = (), auth: tuple[str, str] | None = None) -> Iterator[Tinyproxy]:
    """Debian's tinyproxy in the foreground (``-d``) on 127.0.0.1 with a temporary configuration: CONNECT allowed
    to ``connect_ports`` only (tinyproxy answers 403 for any other; with none listed it would allow every port,
    so the list is never empty), Basic authentication when ``auth`` is given (407 without it)."""
    from ci import require_binary

    binary = require_binary("tinyproxy")
    directory.mkdir(parents=True, exist_ok=True)
    port = refused_port()  # free a moment ago; tinyproxy binds it at once
    lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 30", "MaxClients 50", "Allow 127.0.0.1",
             "LogLevel Info", *(f"ConnectPort {p}" for p in (connect_ports or (1,)))]
    if auth is not None:
        lines.append(f"BasicAuth {auth[0]} {auth[1]}")
    config = directory / "tinyproxy.conf"
    config.write_text("\n".join(lines) + "\n")
    log = directory / "tinyproxy.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, "-d", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=1.0):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"tinyproxy did not start: {log.read_text(errors='replace')}") from None
                time.sleep(0.02)
        yield Tinyproxy(port, log)
    finally:
        _stop_process(proc)
