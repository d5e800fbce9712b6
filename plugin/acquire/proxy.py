"""Acquire through an HTTP proxy (``--proxy``): a tunnel by HTTP CONNECT (RFC 9110 §9.3.6), within the budget.

The endpoint's name is not resolved on the monitoring host: the proxy resolves it (a DMZ host often cannot),
unless an address was given (``-I``) or resolved for ``--all-addresses``, which is then what CONNECT asks for.
The proxy's own name is resolved and connected to like any endpoint (:mod:`.connect`: bounded, every address).

Everything the proxy says is the proxy's, and the sentences say so, naming it by ``host:port`` (never the
password): refused or unreachable, "407 Proxy Authentication Required" (with or without credentials given; tinyproxy says 401 for wrong ones),
"403 Forbidden" (CONNECT to that port not allowed), any other status. All are CRITICAL (:class:`NetworkError`):
from where the check runs, the endpoint cannot be reached. The wait for the proxy's answer is its own phase,
"the proxy CONNECT", so a proxy that accepts and never answers is named in the timeout.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from ..budget import Budget
from ..errors import NetworkError, PhaseTimeout
from ..sanitize import clean
from ..target import Proxy, Target
from .connect import connect, reason, resolve
from .http import status_line

__all__ = ["proxy_socket", "tunnel"]

_MAX_HEAD = 16384


@contextmanager
def proxy_socket(proxy: Proxy, budget: Budget) -> Iterator[tuple[socket.socket, str]]:
    """A TCP connection to the proxy itself; NetworkError naming the proxy when it cannot be had."""
    where = Target(proxy.host, proxy.host, proxy.host, proxy.port)
    with ExitStack() as stack:
        try:
            sock, peer = stack.enter_context(connect(where, resolve(where, budget), budget))
        except PhaseTimeout:
            raise budget.expired(f"the connect to the proxy {proxy.display}") from None
        except NetworkError as exc:
            why = exc.message.removeprefix("cannot connect: ")
            raise NetworkError(f"cannot reach the proxy {proxy.display}: {why}", details=exc.details) from None
        yield sock, peer


@contextmanager
def tunnel(proxy: Proxy, host: str, port: int, budget: Budget) -> Iterator[tuple[socket.socket, str]]:
    """A socket whose other end is ``host:port``, through ``proxy``; yields (socket, "host:port via proxy")."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with proxy_socket(proxy, budget) as (sock, _peer):
        request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        if (authorization := proxy.authorization()) is not None:
            request += f"Proxy-Authorization: {authorization}\r\n"
        _exchange(sock, (request + "\r\n").encode("ascii"), proxy, authority, budget)
        yield sock, f"{clean(authority, 300)} via the proxy {proxy.display}"


def _exchange(sock: socket.socket, request: bytes, proxy: Proxy, authority: str, budget: Budget) -> None:
    """Send CONNECT and read the proxy's answer head byte by byte up to its blank line (the TLS bytes that
    follow belong to the handshake); anything but 2xx is the proxy's refusal, in its words."""
    phase = "the proxy CONNECT"
    head = bytearray()
    try:
        sock.settimeout(budget.remaining(phase))
        sock.sendall(request)
        while not head.endswith(b"\r\n\r\n") and not head.endswith(b"\n\n"):
            sock.settimeout(budget.remaining(phase))  # one deadline for the whole answer
            byte = sock.recv(1)
            if not byte:
                raise NetworkError(f"the proxy {proxy.display} closed the connection instead of answering "
                                   f"CONNECT {clean(authority, 300)}")
            head += byte
            if len(head) > _MAX_HEAD:
                raise NetworkError(f"the proxy {proxy.display} answered CONNECT with more than {_MAX_HEAD} bytes "
                                   "of headers")
    except TimeoutError:
        raise budget.expired(phase) from None
    except OSError as exc:
        raise NetworkError(f"the proxy {proxy.display}: {clean(reason(exc), 120)}") from None
    first = head.decode("latin-1").split("\n", 1)[0].strip()
    status = status_line(first)
    if status is None:
        raise NetworkError(f"the proxy {proxy.display} did not answer CONNECT in HTTP ({clean(first, 60)!r})")
    code, text = status
    if 200 <= code < 300:
        return
    said = f"{code} {text}".rstrip()
    if code in (401, 407):  # 407 is the rule (RFC 9110 §15.5.8); tinyproxy answers refused credentials with 401
        hint = ("the credentials were refused" if proxy.user is not None else
                "it wants credentials: give --proxy-auth-file")
        raise NetworkError(f"the proxy {proxy.display} answered CONNECT {clean(authority, 300)} with {said} "
                           f"({hint})")
    raise NetworkError(f"the proxy {proxy.display} refused CONNECT {clean(authority, 300)}: {said}")
