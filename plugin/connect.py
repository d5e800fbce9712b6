"""Acquire, first step: resolve the endpoint's name and open a TCP connection, each bounded by the budget.

Library and OS errors are translated into :mod:`plugin.errors` here.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .budget import Budget
from .errors import NetworkError
from .sanitize import clean
from .target import Target

__all__ = ["Address", "connect", "reason", "resolve"]

log = logging.getLogger(__name__)

# (address family, socket address) as getaddrinfo returns them.
Address = tuple[int, tuple[Any, ...]]

_SSL_NOISE = re.compile(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$")


def resolve(target: Target, budget: Budget) -> list[Address]:
    host = target.connect
    if host.ip is not None:
        flags = socket.AI_NUMERICHOST
        infos = socket.getaddrinfo(host.connect_text, target.port, target.family, socket.SOCK_STREAM, 0, flags)
    else:
        infos = _getaddrinfo_bounded(host.connect_text, target.port, target.family, budget)
    addresses: list[Address] = [(family, sockaddr) for family, _, _, _, sockaddr in infos]
    if not addresses:
        raise NetworkError(f"{host.display} has no address for the requested family")
    return addresses


def _getaddrinfo_bounded(host: str, port: int, family: int, budget: Budget) -> list[tuple]:  # type: ignore[type-arg]
    """getaddrinfo in a helper thread: the C call cannot be interrupted, but we can stop waiting for it."""
    import threading

    outcome: list[object] = []

    def work() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
        except OSError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work, name="resolve", daemon=True)
    worker.start()
    worker.join(budget.remaining("name resolution"))
    if not outcome:
        raise budget.expired("name resolution")
    result = outcome[0]
    if isinstance(result, socket.gaierror):
        raise NetworkError(f"cannot resolve {host}: {clean(reason(result))}") from result
    if isinstance(result, OSError):
        raise NetworkError(f"cannot resolve {host}: {clean(reason(result))}") from result
    return result  # type: ignore[return-value]


@contextmanager
def connect(target: Target, addresses: list[Address], budget: Budget) -> Iterator[tuple[socket.socket, str]]:
    """A TCP connection to the first address that accepts; yields (socket, "addr:port") and closes it after."""
    errors: list[str] = []
    for family, sockaddr in addresses:
        peer = _peer_text(family, sockaddr)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(budget.remaining(f"connect to {peer}"))
            sock.connect(sockaddr)
        except TimeoutError as exc:
            sock.close()
            if len(addresses) == 1:
                raise budget.expired(f"connect to {peer}") from exc
            errors.append(f"{peer} did not answer")
        except OSError as exc:
            sock.close()
            refused = isinstance(exc, ConnectionRefusedError)
            errors.append(f"{peer} refused the connection" if refused else f"{peer}: {reason(exc)}")
            log.info("connect to %s failed: %s", peer, exc)
        else:
            log.debug("connected to %s", peer)
            with sock:
                yield sock, peer
            return
    raise NetworkError(f"cannot connect: {clean(', '.join(errors), 200)}")


def _peer_text(family: int, sockaddr: tuple[Any, ...]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"


def reason(exc: BaseException) -> str:
    """A short, stable description of an OS or OpenSSL error (no errno numbers, no file/line of OpenSSL)."""
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None)
        if reason:
            return str(reason).replace("_", " ").lower()
        # Python's table of OpenSSL reasons is fixed at build time; newer reasons only appear in the text.
        return _SSL_NOISE.sub("", str(exc)) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__
