"""Acquire, first step: resolve the endpoint's name and open a TCP connection, each bounded by the budget.

Library and OS errors are translated into :mod:`plugin.errors` here: whatever ``getaddrinfo``, ``socket()`` or
``connect()`` fails with becomes a :class:`NetworkError` with a sentence, never an internal error. A name with
several addresses is connected to the RFC 8305 ("Happy Eyeballs") way, see :func:`connect`.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import zip_longest
from typing import Any

from ..budget import Budget
from ..errors import NetworkError, PhaseTimeout
from ..sanitize import clean
from ..target import HostName, Target

__all__ = ["ATTEMPT_DELAY", "Address", "connect", "peer_text", "reason", "resolve"]

log = logging.getLogger(__name__)

# (address family, socket address) as getaddrinfo returns them.
Address = tuple[int, tuple[Any, ...]]
# One getaddrinfo result: (family, type, proto, canonname, sockaddr).
_Info = tuple[Any, ...]

# RFC 8305 §5 "Connection Attempt Delay": its recommended default (the RFC bounds it to 100 ms .. 2 s).
ATTEMPT_DELAY = 0.25

_SSL_NOISE = re.compile(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$")
# What getaddrinfo says when a family is asked for and the name has no address of it: glibc answers EAI_NONAME for
# a name that /etc/hosts lists with the other family only, EAI_NODATA or EAI_ADDRFAMILY when DNS has no such
# record. All three also mean other things, so one more lookup decides (see _getaddrinfo_bounded). Not every
# platform defines the last two.
_NO_ADDRESS_OF_FAMILY = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None), getattr(socket, "EAI_ADDRFAMILY", None))
    if code is not None
)
_FAMILY_NAMES: dict[int, str] = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}
# connect() on a non-blocking socket: the handshake is under way.
_IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK})


def resolve(target: Target, budget: Budget) -> list[Address]:
    """The addresses to try for ``target.connect``, in ``getaddrinfo``'s (RFC 6724) order, without duplicates."""
    host = target.connect
    if host.ip is not None:
        try:
            infos = socket.getaddrinfo(host.connect_text, target.port, target.family, socket.SOCK_STREAM, 0,
                                       socket.AI_NUMERICHOST)
        except (OSError, UnicodeError) as exc:  # e.g. the interface of a %zone went away since validation
            raise NetworkError(f"cannot use the address {clean(host.connect_text)}: {clean(reason(exc))}") from exc
    else:
        infos = _getaddrinfo_bounded(host, target.port, target.family, budget)
    addresses: list[Address] = []
    for family, _, _, _, sockaddr in infos:
        if (family, sockaddr) not in addresses:  # /etc/hosts may list an address twice
            addresses.append((family, sockaddr))
    if not addresses:
        raise NetworkError(f"{_host_text(host)} has no {_FAMILY_NAMES.get(target.family, 'usable')} address")
    log.debug("%s resolves to %s", _host_text(host), ", ".join(peer_text(*address) for address in addresses))
    return addresses


class _OtherFamilyOnly:
    """The lookup with the requested family failed; the one without a family found these."""

    def __init__(self, infos: list[_Info]) -> None:
        self.infos = infos


def _getaddrinfo_bounded(host: HostName, port: int, family: int, budget: Budget) -> list[_Info]:
    """getaddrinfo in a helper thread: the C call cannot be interrupted, but we can stop waiting for it.

    With ``-4``/``-6``, a name without an address of that family fails like a name that does not exist (glibc:
    EAI_NONAME). One more lookup without a family, in the same thread and so within the same wait, tells "no
    IPv6 address" from "cannot resolve".
    """
    query = host.connect_text
    outcome: list[object] = []

    def lookup() -> object:
        try:
            return socket.getaddrinfo(query, port, family, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if family == socket.AF_UNSPEC or exc.errno not in _NO_ADDRESS_OF_FAMILY:
                return exc
            try:
                return _OtherFamilyOnly(socket.getaddrinfo(query, port, socket.AF_UNSPEC, socket.SOCK_STREAM))
            except (OSError, UnicodeError):
                return exc  # the name itself does not resolve: the first answer says so

    def work() -> None:
        try:
            outcome.append(lookup())
        except Exception as exc:  # noqa: BLE001 - handed over to the waiting thread, which decides what it means
            outcome.append(exc)

    worker = threading.Thread(target=work, name="resolve", daemon=True)
    worker.start()
    worker.join(budget.remaining("name resolution"))
    if not outcome:
        raise budget.expired("name resolution")
    result = outcome[0]
    if isinstance(result, _OtherFamilyOnly):
        wanted = [info for info in result.infos if info[0] == family]
        if wanted:  # a resolver that only answers when asked without a family: take what it gave
            return wanted
        raise NetworkError(_no_address_of(host, family, result.infos))
    if isinstance(result, (OSError, UnicodeError)):  # UnicodeError: the stdlib's IDNA codec refused a label
        raise NetworkError(f"cannot resolve {_host_text(host)}: {clean(reason(result))}") from result
    if isinstance(result, BaseException):
        raise result  # not an answer from the resolver but a bug, and reported as one
    infos: list[_Info] = result  # type: ignore[assignment]
    return infos


def _no_address_of(host: HostName, family: int, others: list[_Info]) -> str:
    """The sentence for a name that only has addresses of the other family:
    "localhost has no IPv6 address (only IPv4: 127.0.0.1)"."""
    wanted = _FAMILY_NAMES.get(family, "such")
    found = list(dict.fromkeys(str(info[4][0]) for info in others))
    kinds = "/".join(sorted({_FAMILY_NAMES.get(info[0], "other") for info in others}))
    listed = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    return f"{_host_text(host)} has no {wanted} address (only {kinds}: {clean(listed, 120)})"


def _host_text(host: HostName) -> str:
    """The name as the operator wrote it, and the A-label that was looked up when that differs."""
    shown = clean(host.display)
    return shown if host.display == host.ascii else f"{shown} ({clean(host.ascii)})"


@contextmanager
def connect(target: Target, addresses: list[Address], budget: Budget, *,
            attempt_delay: float = ATTEMPT_DELAY) -> Iterator[tuple[socket.socket, str]]:
    """A TCP connection to the first address that accepts; yields (socket, "addr:port") and closes it after.

    With several addresses this is RFC 8305's "Happy Eyeballs v2" rather than one address after the other: the
    addresses are interleaved by family (§4: IPv6, IPv4, IPv6, ... in getaddrinfo's order), a new attempt starts
    every ``attempt_delay`` (250 ms, §5) while the earlier ones are still pending, or at once when one fails, and
    the first to connect wins; the others are closed. A dead path (an IPv6 route that drops packets, a firewall
    that swallows SYNs) so costs 250 ms instead of the whole ``-t`` budget, every address gets the time that is
    left rather than a fixed share, and the check sees the endpoint the way browsers and curl do. The price, two
    connections in flight for a moment, is one clients already impose on every server. Sequential fair shares
    (``remaining / addresses left``) were the alternative: they still spend half of ``-t`` on a black hole before
    trying the address that works, and give each address less time than a slow but healthy server may need.

    Every attempt's outcome is logged at INFO ("connect to [::1]:443: refused", "connect to 127.0.0.1:443:
    connected in 1.2 ms"). When none connects, the :class:`NetworkError` names each address and how it failed
    ("cannot connect: 127.0.0.1:443 did not answer within 2.5s, [::1]:443 refused the connection") and carries
    the same lines as ``details``. A single address that does not answer keeps the plain phase timeout.
    """
    if target.proxy is not None:  # --proxy: CONNECT to the address given or resolved, else to the name
        from .proxy import tunnel

        host = addresses[0][1][0] if addresses else target.connect.ascii
        with tunnel(target.proxy, host, target.port, budget) as (sock, peer):
            yield sock, peer
        return
    sock, peer = _race(addresses, budget, attempt_delay)
    with sock:
        yield sock, peer


class _Attempt:
    """One address: its socket while pending, and how it ended."""

    def __init__(self, family: int, sockaddr: tuple[Any, ...]) -> None:
        self.family = family
        self.sockaddr = sockaddr
        self.peer = peer_text(family, sockaddr)
        self.sock: socket.socket | None = None
        self.started = 0.0
        self.fragment = ""  # for the error message: "127.0.0.1:443 refused the connection"
        self.note = "not tried"  # for the log and the details: "refused"

    def end(self, fragment: str, note: str) -> None:
        """This attempt failed: close its socket and say how."""
        self.close()
        self.fragment, self.note = fragment, note
        log.info("connect to %s: %s", self.peer, note)

    def failed_with(self, code: int) -> None:
        if code == errno.ECONNREFUSED:
            self.end(f"{self.peer} refused the connection", "refused")
            return
        why = _strerror(code)
        if code in (errno.EINVAL, errno.EADDRNOTAVAIL, errno.ENETUNREACH) and self._link_local_without_zone():
            why += " (a link-local address needs a zone id, e.g. fe80::1%eth0)"
        self.end(f"{self.peer}: {why}", why)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _link_local_without_zone(self) -> bool:
        if self.family != socket.AF_INET6 or len(self.sockaddr) < 4 or self.sockaddr[3]:
            return False
        try:
            import ipaddress  # an error path only

            return ipaddress.IPv6Address(str(self.sockaddr[0]).partition("%")[0]).is_link_local
        except ValueError:
            return False


def _race(addresses: list[Address], budget: Budget, delay: float) -> tuple[socket.socket, str]:
    if not addresses:
        raise NetworkError("cannot connect: no address to connect to")
    attempts = [_Attempt(family, sockaddr) for family, sockaddr in _interleave(addresses)]
    waiting = deque(attempts)
    pending: list[_Attempt] = []
    selector = selectors.DefaultSelector()
    next_start = time.monotonic()
    try:
        while waiting or pending:
            left = _left(budget)
            if left <= 0:
                break
            now = time.monotonic()
            if waiting and (not pending or now >= next_start):
                attempt = waiting.popleft()
                code = _start(attempt)
                if code == 0:
                    return _won(attempt, pending, waiting, budget)
                if code is not None and code in _IN_PROGRESS and attempt.sock is not None:
                    selector.register(attempt.sock, selectors.EVENT_WRITE, attempt)
                    pending.append(attempt)
                    next_start = now + delay
                else:
                    if code is not None:
                        attempt.failed_with(code)
                    next_start = now  # a failure frees the next address at once (RFC 8305 §5)
                continue
            wait = min(left, next_start - now) if waiting else left
            # Several may become ready together: the earliest started (preferred) address wins.
            ready = sorted((key.data for key, _ in selector.select(max(wait, 0.0))), key=attempts.index)
            for attempt in ready:
                sock = attempt.sock
                if sock is None:  # only attempts with a socket are registered
                    continue
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                selector.unregister(sock)
                pending.remove(attempt)
                if code == 0:
                    return _won(attempt, pending, waiting, budget)
                attempt.failed_with(code)
                next_start = time.monotonic()
    finally:
        selector.close()
        for attempt in pending:  # every attempt still pending here lost or timed out; the winner left the list
            attempt.close()
    ran_out = bool(pending or waiting)
    for attempt in pending:
        seconds = _seconds(attempt.elapsed())
        attempt.end(f"{attempt.peer} did not answer within {seconds}", f"no answer within {seconds}")
    for attempt in waiting:
        attempt.note = "not tried, the timeout ran out"
        log.info("connect to %s: %s", attempt.peer, attempt.note)
    if ran_out and len(attempts) == 1:
        raise budget.expired(f"connect to {attempts[0].peer}")
    fragments = [attempt.fragment for attempt in attempts if attempt.fragment]
    if waiting:
        fragments.append("not tried: " + ", ".join(attempt.peer for attempt in waiting))
    message = f"cannot connect: {', '.join(fragments)}"
    if ran_out:
        message += f" (the {budget.total:g}s timeout ran out)"
    raise NetworkError(clean(message, 300), details=tuple(f"connect to {a.peer}: {a.note}" for a in attempts))


def _start(attempt: _Attempt) -> int | None:
    """Create the socket and start a non-blocking connect: its errno so far, or None when it already failed."""
    attempt.started = time.monotonic()
    log.debug("connect to %s: started", attempt.peer)
    try:
        attempt.sock = socket.socket(attempt.family, socket.SOCK_STREAM)
    except OSError as exc:
        why = _socket_failure(attempt.family, exc)
        attempt.end(f"{attempt.peer}: {why}", why)
        return None
    try:
        attempt.sock.setblocking(False)
        return attempt.sock.connect_ex(attempt.sockaddr)
    except (OSError, OverflowError, ValueError) as exc:  # an address the socket cannot take (e.g. a bad scope id)
        why = clean(reason(exc))
        attempt.end(f"{attempt.peer}: {why}", why)
        return None


def _won(winner: _Attempt, pending: list[_Attempt], waiting: deque[_Attempt],
         budget: Budget) -> tuple[socket.socket, str]:
    sock = winner.sock
    if sock is None:
        raise RuntimeError("a connected attempt without a socket")  # cannot happen: _start set it
    winner.sock = None  # the caller owns it now
    log.info("connect to %s: connected in %s", winner.peer, _milliseconds(winner.elapsed()))
    for attempt in pending:
        log.info("connect to %s: abandoned after %s, %s connected first", attempt.peer,
                 _milliseconds(attempt.elapsed()), winner.peer)
        attempt.close()
    pending.clear()
    for attempt in waiting:
        log.debug("connect to %s: not needed", attempt.peer)
    # Blocking again, bounded by what is left; every later phase sets its own timeout from the budget too.
    sock.settimeout(max(_left(budget), 0.001))
    return sock, winner.peer


def _interleave(addresses: list[Address]) -> list[Address]:
    """RFC 8305 §4: alternate address families, starting with getaddrinfo's first choice."""
    first = addresses[0][0] if addresses else socket.AF_UNSPEC
    preferred = [address for address in addresses if address[0] == first]
    others = [address for address in addresses if address[0] != first]
    return [address for pair in zip_longest(preferred, others) for address in pair if address is not None]


def _left(budget: Budget) -> float:
    try:
        return budget.remaining("connect")
    except PhaseTimeout:
        return 0.0


def _socket_failure(family: int, exc: OSError) -> str:
    kind = _FAMILY_NAMES.get(family, f"address family {family}")
    if exc.errno == errno.EAFNOSUPPORT:
        return f"cannot create an {kind} socket: address family not supported (this host has no {kind})"
    return f"cannot create an {kind} socket: {clean(reason(exc))}"


def _strerror(code: int) -> str:
    text = os.strerror(code)
    return text[:1].lower() + text[1:]


def _seconds(value: float) -> str:
    return f"{value:.2g}s" if value < 10 else f"{value:.0f}s"


def _milliseconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else _seconds(value)


def peer_text(family: int, sockaddr: tuple[Any, ...]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    if family != socket.AF_INET6:
        return f"{host}:{port}"
    if len(sockaddr) >= 4 and sockaddr[3] and "%" not in str(host):
        try:
            zone = socket.if_indextoname(sockaddr[3])
        except OSError:
            zone = str(sockaddr[3])
        host = f"{host}%{zone}"
    return f"[{host}]:{port}"


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
