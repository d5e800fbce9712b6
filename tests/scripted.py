"""A scripted peer over a real loopback socket, for STARTTLS misbehaviour that real daemons do not show.

Real daemons cover the protocols themselves (tests/daemons_*.py). What they cannot be made to do on purpose is
misbehave: split a reply across packets at awkward places, inject bytes after the go-ahead, or go silent. This
peer plays a fixed script, then (optionally) completes a real TLS handshake with Python's ``ssl`` module, so the
plugin's whole path still runs against real TLS.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Close", "Pause", "ReadBytes", "ReadLine", "Send", "StartTLS", "scripted_server"]


@dataclass(frozen=True)
class Send:
    """Send ``data``; with ``chunk`` set, in pieces of that size with a short pause between (separate packets)."""

    data: bytes
    chunk: int = 0


@dataclass(frozen=True)
class ReadLine:
    """Read one client line."""


@dataclass(frozen=True)
class ReadBytes:
    count: int


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Close:
    """Close the connection (the default at the end of a script is to stay open and silent)."""


@dataclass(frozen=True)
class StartTLS:
    """Wrap the connection as a TLS server with this context and complete the handshake."""

    context: ssl.SSLContext


Step = Send | ReadLine | ReadBytes | Pause | StartTLS | Close


def _play(conn: socket.socket, script: Sequence[Step], stop: threading.Event) -> None:
    conn.settimeout(10)
    buffer = b""
    try:
        for step in script:
            if stop.is_set():
                return
            if isinstance(step, Send):
                size = step.chunk or len(step.data) or 1
                for start in range(0, len(step.data), size):
                    conn.sendall(step.data[start : start + size])
                    if step.chunk:
                        time.sleep(0.02)
            elif isinstance(step, ReadLine):
                while b"\n" not in buffer:
                    data = conn.recv(1)  # one byte at a time: the scripted peer must not eat the ClientHello
                    if not data:
                        return
                    buffer += data
                buffer = buffer.split(b"\n", 1)[1]
            elif isinstance(step, ReadBytes):
                while len(buffer) < step.count:
                    data = conn.recv(step.count - len(buffer))
                    if not data:
                        return
                    buffer += data
                buffer = buffer[step.count :]
            elif isinstance(step, Pause):
                stop.wait(step.seconds)
            elif isinstance(step, Close):
                return
            elif isinstance(step, StartTLS):
                with step.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)  # wait for the client to finish and close
                return
    except (OSError, ssl.SSLError):
        return
    finally:
        stop.wait(0)  # keep the connection open until the script ends


@contextmanager
def scripted_server(script: Sequence[Step], connections: int = 4) -> Iterator[int]:
    """Serve ``script`` to up to ``connections`` sequential clients on 127.0.0.1; yields the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()
    open_conns: list[socket.socket] = []

    def serve() -> None:
        served = 0
        while not stop.is_set() and served < connections:
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            served += 1
            open_conns.append(conn)
            _play(conn, script, stop)
            if not isinstance(script[-1], (StartTLS, Close)):
                stop.wait(30)  # a silent peer stays silent until the test ends
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        for conn in open_conns:
            try:
                conn.close()
            except OSError:
                pass
        listener.close()
        thread.join(5)
