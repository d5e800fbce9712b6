"""Acquire over HTTP: the one small, strict client for what certificates point to (caIssuers, CRLs, OCSP, ARI).

GET for caIssuers and CRLs, POST for OCSP (RFC 6960 appendix A). Deliberately a few lines of HTTP/1.0 on a socket from :mod:`.connect`, not ``urllib``: urllib follows redirects,
reads proxy settings from the environment and opens ``file://`` and ``ftp://`` URLs, none of which a URL taken
from a server's certificate may make the monitoring host do; and ``http.client`` closes the socket under its
response, so the deadline could not be kept per read. HTTP/1.0 means no chunked bodies and no keep-alive.
Here:

* only ``http://`` URLs (RFC 5280 §4.2.2.1: caIssuers, CRLs and OCSP go over plain HTTP; what is fetched is
  signed, so TLS would add nothing but another handshake to fail; ACME is the exception, https:// only, verified
  with the context the caller gives), no credentials in the URL, a host that
  :func:`plugin.target.parse_host` accepts, at most 2048 characters;
* resolution and connect as for the check itself (bounded, every address, RFC 8305), under the same ``-t``
  budget, and one deadline for the whole answer, so a server that drips a byte a second cannot stretch it;
* no redirects, status 200 only, the content type where the protocol defines one (OCSP), and at most ``limit``
  bytes (checked against Content-Length first, then while reading);
* the error is a :class:`plugin.errors.FetchError` naming the URL and what happened.

Security caveat: the URL comes from a certificate the server sent, so a server can make the check send one GET
to a host and port of its choosing, as every browser that fetches missing intermediates does. That is why the
options that fetch (``--aia``, ``--crl``, ``--ocsp``) are off by default.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple
from urllib.parse import urlsplit

from .. import __version__
from ..budget import Budget
from ..errors import CheckError, FetchError, PhaseTimeout
from ..sanitize import clean
from ..target import Proxy, Target
from .connect import connect, reason, resolve

__all__ = ["MAX_URL", "Answer", "fetch", "get", "post", "status_line"]

MAX_URL = 2048
_CHUNK = 16384
_MAX_HEAD = 16384


def _where(url: str, tls: ssl.SSLContext | None = None) -> tuple[str, int, str]:
    """(host, port, path) of an http:// URL (https:// with ``tls``), or FetchError saying why it is not fetched."""
    shown = clean(url, 200)
    if len(url) > MAX_URL:
        raise FetchError(f"{shown}: the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError as exc:
        raise FetchError(f"{shown}: not a valid URL ({clean(str(exc))})") from None
    scheme = "https" if tls is not None else "http"
    if parts.scheme.lower() != scheme:
        raise FetchError(f"{shown}: only {scheme}:// URLs are fetched here")
    if tls is not None and parts.port is None:
        port = 443
    if parts.username is not None or parts.password is not None or not parts.hostname:
        raise FetchError(f"{shown}: not a plain http://host/path URL")
    path = parts.path or "/"
    return parts.hostname, port, path + (f"?{parts.query}" if parts.query else "")


class Answer(NamedTuple):
    """A 200 answer: its body, and its ``Retry-After`` in seconds from now (None when absent or unreadable)."""

    body: bytes
    retry_after: float | None = None


def get(url: str, budget: Budget, *, limit: int, accept: str = "*/*", tls: ssl.SSLContext | None = None,
        proxy: Proxy | None = None) -> bytes:
    """The body of a GET of ``url`` (at most ``limit`` bytes), within what is left of ``budget``. With ``tls``
    (ACME, RFC 8555 requires HTTPS) the URL must be https:// and the server is verified with that context. With
    ``proxy`` (``--proxy``): an http:// URL is asked of the proxy (absolute form), an https:// one through a
    CONNECT tunnel."""
    return fetch(url, budget, limit=limit, accept=accept, tls=tls, proxy=proxy).body


def fetch(url: str, budget: Budget, *, limit: int, accept: str = "*/*", tls: ssl.SSLContext | None = None,
          proxy: Proxy | None = None) -> Answer:
    """:func:`get`, with the answer's ``Retry-After`` (what ARI's caching honours)."""
    return _request(url, budget, limit=limit, accept=accept, tls=tls, proxy=proxy)


def post(url: str, body: bytes, budget: Budget, *, limit: int, content_type: str, expect: str,
         proxy: Proxy | None = None) -> bytes:
    """The body of a POST of ``body`` to ``url`` (OCSP, RFC 6960 appendix A); the answer must be of the
    ``expect`` content type."""
    return _request(url, budget, limit=limit, accept=expect, body=body, content_type=content_type,
                    expect=expect, proxy=proxy).body


def _request(url: str, budget: Budget, *, limit: int, accept: str, body: bytes | None = None,
             content_type: str | None = None, expect: str | None = None,
             tls: ssl.SSLContext | None = None, proxy: Proxy | None = None) -> Answer:
    host, port, path = _where(url, tls)
    shown = clean(url, 200)
    try:
        target = Target.build(host, port)
    except CheckError as exc:  # the certificate's host is not a valid name or address
        raise FetchError(f"{shown}: {exc.message}") from None
    phase = f"the fetch of {shown}"
    try:
        with _open(target, budget, proxy, tls is None) as sock:
            # A plain http:// request through the proxy names the whole URL (RFC 9112 §3.2.2, absolute form).
            message = _message(target, path, accept, body, content_type, proxy if tls is None else None)
            if tls is None:
                answer, head = _exchange(sock, message, budget, limit, phase, shown)
            else:
                with _secured(sock, tls, target, budget, phase, shown) as secured:
                    answer, head = _exchange(secured, message, budget, limit, phase, shown)
    except PhaseTimeout:
        raise FetchError(f"{shown}: no answer within {budget.total:.2g}s") from None
    except FetchError:
        raise
    except CheckError as exc:  # resolution or connect failed: the sentence already says how
        raise FetchError(f"{shown}: {exc.message}") from None
    mime = (_header(head, "content-type") or "").split(";")[0].strip().lower() or None  # no parameters
    if expect is not None and mime != expect:
        raise FetchError(f"{shown}: the answer is {clean(mime or 'untyped', 60)}, not {expect}")
    return Answer(answer, _retry_after(_header(head, "retry-after")))


@contextmanager
def _secured(sock: socket.socket, tls: ssl.SSLContext, target: Target, budget: Budget, phase: str,
             shown: str) -> Iterator[ssl.SSLSocket]:
    """The TLS handshake of an https:// fetch, verified (chain and name) with ``tls``."""
    sock.settimeout(budget.remaining(phase))
    try:
        secured = tls.wrap_socket(sock, server_hostname=target.host.ascii)
    except ssl.SSLCertVerificationError as exc:
        raise FetchError(f"{shown}: the server's certificate does not verify "
                         f"({clean(exc.verify_message or reason(exc), 80)})") from None
    except TimeoutError:
        raise FetchError(f"{shown}: no answer within {budget.total:.2g}s") from None
    except (OSError, ssl.SSLError) as exc:
        raise FetchError(f"{shown}: TLS handshake failed ({clean(reason(exc), 80)})") from None
    with secured:
        yield secured


@contextmanager
def _open(target: Target, budget: Budget, proxy: Proxy | None, plain: bool) -> Iterator[socket.socket]:
    """The connection a request goes over: to the server; to the proxy (a plain http:// request); or a CONNECT
    tunnel through it (https://)."""
    if proxy is None:
        with connect(target, resolve(target, budget), budget) as (sock, _peer):
            yield sock
        return
    from .proxy import proxy_socket, tunnel

    if plain:
        with proxy_socket(proxy, budget) as (sock, _peer):
            yield sock
    else:
        with tunnel(proxy, target.connect.ascii, target.port, budget) as (sock, _peer):
            yield sock


def _message(target: Target, path: str, accept: str, body: bytes | None, content_type: str | None,
             proxy: Proxy | None = None) -> bytes:
    host = target.host.ascii if target.port == 80 else f"{target.host.ascii}:{target.port}"
    if ":" in target.host.ascii:  # an IPv6 literal in the Host header takes brackets
        host = f"[{target.host.ascii}]" + ("" if target.port == 80 else f":{target.port}")
    method = "GET" if body is None else "POST"
    where = f"http://{host}{path}" if proxy is not None else path
    head = (f"{method} {where} HTTP/1.0\r\nHost: {host}\r\nAccept: {accept}\r\n"
            f"User-Agent: check_tls_expiry/{__version__}\r\nConnection: close\r\n")
    if proxy is not None and (authorization := proxy.authorization()) is not None:
        head += f"Proxy-Authorization: {authorization}\r\n"
    if body is not None:
        head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode("ascii") + (body or b"")


def _exchange(sock: socket.socket, message: bytes, budget: Budget, limit: int, phase: str,
              shown: str) -> tuple[bytes, bytes]:
    """HTTP/1.0 (so no chunked body and no keep-alive to handle): the answer is read to its end, under one
    deadline for the whole of it, and at most ``limit`` bytes of body plus the headers' allowance. Returns the
    body and the head (status line and headers)."""
    answer = bytearray()
    head: bytes | None = None
    declared: int | None = None  # Content-Length: the read ends there, and a shorter body is cut short
    try:
        sock.settimeout(budget.remaining(phase))
        sock.sendall(message)
        while declared is None or len(answer) - len(head or b"") - 4 < declared:
            sock.settimeout(budget.remaining(phase))  # one deadline for the whole answer, not one per read
            chunk = sock.recv(_CHUNK)
            if not chunk:
                break
            answer += chunk
            if head is None and b"\r\n\r\n" in answer:
                head = bytes(answer[: answer.index(b"\r\n\r\n")])
                if len(head) > _MAX_HEAD:  # the blank line may arrive in the read after the limit
                    raise FetchError(f"{shown}: the answer's headers are longer than {_MAX_HEAD} bytes")
                declared = _status(head, shown, limit)
            if head is None and len(answer) > _MAX_HEAD:
                raise FetchError(f"{shown}: the answer's headers are longer than {_MAX_HEAD} bytes")
            if head is not None and len(answer) - len(head) - 4 > limit:
                raise FetchError(f"{shown}: more than the {limit} bytes accepted")
    except PhaseTimeout:
        raise FetchError(f"{shown}: no answer within {budget.total:.2g}s") from None
    except TimeoutError:  # socket.timeout is TimeoutError since Python 3.10
        raise FetchError(f"{shown}: no answer within {budget.total:.2g}s") from None
    except OSError as exc:
        raise FetchError(f"{shown}: {clean(reason(exc))}") from None
    if head is None:
        raise FetchError(f"{shown}: the server closed the connection before a complete answer")
    body = bytes(answer[len(head) + 4:])
    if declared is not None and len(body) < declared:
        raise FetchError(f"{shown}: the answer was cut short ({len(body)} of its {declared} bytes)")
    return body[:declared] if declared is not None else body, head


def _header(head: bytes, wanted: str) -> str | None:
    """The value of the first header named ``wanted`` (lower case)."""
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == wanted:
            return value.strip()
    return None


def _retry_after(value: str | None) -> float | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date, as seconds from now; None when absent or unreadable."""
    if value is None:
        return None
    if value.isascii() and value.isdigit():
        return float(min(int(value[:12]), 10**9))
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        return None
    return max(moment.timestamp() - time.time(), 0.0)


def status_line(line: str) -> tuple[int, str] | None:
    """The code and (cleaned) reason of an HTTP status line, None when it is not one. For the fetches here and
    for the proxy's answer to CONNECT. isascii(): str.isdigit() is also true for "²", which int() refuses."""
    parts = line.split(" ", 2)
    code = parts[1] if len(parts) > 1 else ""
    if not parts[0].startswith("HTTP/") or not (code.isascii() and code.isdigit() and len(code) == 3):
        return None
    return int(code), clean(parts[2] if len(parts) > 2 else "", 60)


def _status(head: bytes, shown: str, limit: int) -> int | None:
    """Refuse anything but 200, and a declared length above the cap, as soon as the headers are in; return the
    declared Content-Length (None without a readable one), where the read ends."""
    first = head.decode("latin-1").split("\r\n", 1)[0]
    status = status_line(first)
    if status is None:
        raise FetchError(f"{shown}: the answer is not HTTP ({clean(first, 60)!r})")
    code, text = status
    if code != 200:
        redirect = " (redirects are not followed)" if 300 <= code < 400 else ""
        raise FetchError(f"{shown}: answered {code} {text}".rstrip() + redirect)
    length = _header(head, "content-length") or ""
    if not (length.isascii() and length.isdigit()):
        return None
    if len(length) > 18 or int(length) > limit:
        declared = f"{int(length)} bytes" if len(length) <= 18 else "a Content-Length of more than 18 digits"
        raise FetchError(f"{shown}: {declared}, more than the {limit} accepted")
    return int(length)
