"""Acquire: resolve, connect, handshake, and record what the server presented.

Verification and path building are OpenSSL's, in the handshake, the way the operator's own clients (curl,
Postfix, psql) see it; there is no second engine for network checks. A healthy endpoint costs one verifying
handshake. When OpenSSL rejects the chain, the chain it received and the path it built are kept (OpenSSL
still has them after the failure); when the failure is the time, the name or weak crypto (the security level),
the handshake is repeated with that check waived, so the path to the trust store, and any further failure, is
still known.
``--ignore-trust`` runs the same handshakes and only stops trust failures from alarming.

Library and OS errors are translated into :mod:`plugin.errors` here and nowhere else. Every phase takes what is
left of the one ``-t`` budget and names itself when it runs out.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from .. import compat
from ..budget import Budget
from ..errors import InputError, KeyTypeNotOffered, NetworkError
from ..sanitize import clean
from ..target import Target
from .connect import Address, connect, reason, resolve
from .presented import Delivered, Presented, Verification, VerifyCode

__all__ = ["KEY_TYPES", "ClientCert", "Trust", "fetch"]

log = logging.getLogger(__name__)

_HASH_LINK = re.compile(r"^[0-9a-f]{8}\.\d+$")
# OpenSSL reasons meaning "what came back is not TLS at all".
_NOT_TLS = {"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"}
# --all-key-types: the TLS 1.2 cipher suites that authenticate with each key type (OpenSSL's cipher-string
# aliases). TLS 1.3 suites do not name a key type, and Python's ssl cannot restrict TLS 1.3 signature
# algorithms, so a key-type handshake is TLS 1.2 at most.
KEY_TYPES = {"RSA": "aRSA", "ECDSA": "aECDSA"}


class ClientCert(NamedTuple):
    """``--client-cert`` (PEM; the key too unless ``--client-key``), with the key's password when it is
    encrypted. :meth:`load` checks it once, before any I/O. The password is not part of the repr."""

    cert: str
    key: str | None = None
    password: bytes | None = None
    der: bytes = b""  # the certificate itself, for the evaluation of its own expiry

    @classmethod
    def load(cls, cert: str, key: str | None, password: bytes | None) -> ClientCert:
        """Checked: the files load, the key matches; InputError saying what is wrong otherwise."""
        from ..errors import CheckError
        from .files import load_file

        shown = clean(cert, 120)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_cert_chain(cert, key, password=password if password is not None else _no_password)
        except _NeedsPassword:
            raise InputError(f"the --client-key of {shown} is encrypted: give --client-key-password-file") from None
        except ssl.SSLError as exc:
            raise InputError(_load_failure(exc, shown, key, password is not None)) from None
        except OSError as exc:
            raise InputError(f"cannot read --client-cert {shown}: {clean(exc.strerror or str(exc))}") from None
        try:  # the certificate itself, read by file mode's rules (its key, if there, is skipped)
            der = load_file(cert).certificates[0][0]
        except CheckError as exc:
            raise InputError(f"--client-cert {shown}: {exc.message}") from None
        return cls(cert, key, password, der)

    def __repr__(self) -> str:
        return f"ClientCert({self.cert!r}, {self.key!r})"


class _NeedsPassword(Exception):
    """load_cert_chain asked for a password and none was given."""


def _no_password() -> bytes:
    raise _NeedsPassword


def _load_failure(exc: ssl.SSLError, shown: str, key: str | None, had_password: bool) -> str:
    if exc.reason == "KEY_VALUES_MISMATCH":
        return f"the --client-key {clean(key, 120)} is not the key of --client-cert {shown}" if key else \
            f"the key in --client-cert {shown} is not the certificate's"
    if (had_password and exc.reason in ("BAD_DECRYPT", "BAD_PASSWORD_READ", None)) or "bad decrypt" in str(exc):
        return f"cannot decrypt the client key of {shown}: the --client-key-password-file password is wrong"
    where = f"--client-key {clean(key, 120)}" if key else f"--client-cert {shown}"
    return f"cannot load the client certificate and key from {where}: {clean(reason(exc))} (PEM expected)"


class Trust(NamedTuple):
    """How the check is trusted and trusts: where trust anchors come from, and the client certificate it presents.
    ``ignore``: trust failures do not alarm (self-signed or private CA), but the anchors still complete the path,
    so a root given with ``--cafile`` is reported with ``days_root``."""

    cafile: str | None = None
    capath: str | None = None
    ignore: bool = False
    client: ClientCert | None = None

    @property
    def source(self) -> str:
        if self.cafile or self.capath:
            return ", ".join(f"--{key} {clean(value, 120)}" for key, value in
                             (("cafile", self.cafile), ("capath", self.capath)) if value)
        return "the system store"


def fetch(target: Target, trust: Trust, budget: Budget, *, addresses: list[Address] | None = None,
          key_type: str | None = None) -> Presented:
    """Handshake with ``target`` and return what it presented, with OpenSSL's verdict.

    ``addresses``: connect to these instead of resolving ``target.connect`` (``--all-addresses`` gives each
    probe one). ``key_type`` (a key of :data:`KEY_TYPES`): offer only that key type's TLS 1.2 cipher suites, so
    that a server holding an RSA and an ECDSA certificate shows the one asked for; a server without one raises
    :class:`KeyTypeNotOffered`.

    A server that speaks only TLS 1.0/1.1 is refused by today's OpenSSL defaults; its chain is then fetched
    again with a legacy context, so the operator learns both that and when its certificates expire.
    """
    # A bad trust file fails before any I/O.
    first = _verifying_context(trust, target, legacy=False, waived=frozenset(), key_type=key_type)
    if addresses is None:  # through a proxy the name is the proxy's to resolve, unless -I gave an address
        addresses = resolve(target, budget) if target.proxy is None or target.connect.ip is not None else []
    try:
        return _fetch(target, trust, budget, addresses, legacy=False, first=first, key_type=key_type)
    except _LegacyOnly:
        log.info("the server refused TLS 1.2 and later; retrying with TLS 1.0 allowed to fetch its chain")
        return _fetch(target, trust, budget, addresses, legacy=True, key_type=key_type)


class _LegacyOnly(Exception):
    """The server wants a protocol version below what the default context allows."""


class _VerifyFailed(Exception):
    """OpenSSL rejected the chain; what it had seen by then (sent chain, the path as far as it got)."""

    def __init__(self, code: int, message: str, sent: tuple[Delivered, ...], path: tuple[Delivered, ...]) -> None:
        super().__init__(message)
        self.code, self.message, self.sent, self.path = code, message, sent, path


# OpenSSL reasons meaning "no protocol version in common".
_VERSION_MISMATCH = {"TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE"}
# X509_V_FLAG_NO_CHECK_TIME: Python has no constant for it; SSLContext.verify_flags accepts the raw value.
_NO_CHECK_TIME = 0x200000


def _fetch(target: Target, trust: Trust, budget: Budget, addresses: list[Address], *, legacy: bool,
           first: ssl.SSLContext | None = None, key_type: str | None = None) -> Presented:
    """Verifying handshakes: one when the endpoint is healthy; when OpenSSL rejects the chain for time, name or
    weak crypto, once more with that check waived (at most three times), so the path to the store is known all
    the same. The evaluation names what was waived, with its own rules."""
    waived: set[str] = set()
    name_matched: bool | None = None
    slowest = 0.0  # connect, STARTTLS and handshake of the slowest attempt: the "time" metric
    while True:
        context = first if first is not None and not waived else _verifying_context(
            trust, target, legacy, frozenset(waived), key_type)
        started = time.monotonic()
        with _open(target, addresses, budget) as (sock, peer):
            addresses = [(sock.family, sock.getpeername())]  # retries go to the address that answered
            try:
                tls, note, rejected = _handshake(context, sock, target, budget, legacy, key_type, trust.client)
            except _VerifyFailed as failed:
                slowest = max(slowest, time.monotonic() - started)
                log.info("OpenSSL rejected the chain: error %s: %s", failed.code, clean(failed.message))
                if failed.code in VerifyCode.NAME and "name" not in waived:
                    waived.add("name")
                    name_matched = False
                    continue
                if failed.code in VerifyCode.TIME and "time" not in waived:
                    waived.add("time")
                    continue
                if failed.code in VerifyCode.WEAK and "weak" not in waived:
                    # OpenSSL's security level stops at the weak certificate before building the rest of the
                    # path; plugin.evaluate.weak names the weakness, OpenSSL (at level 0) shows the path.
                    waived.add("weak")
                    continue
                verdict = Verification(attempted=True, code=failed.code, message=failed.message,
                                       waived=frozenset(waived), name_matched=name_matched,
                                       alarm_trust=not trust.ignore, reason="--ignore-trust" if trust.ignore else "")
                if failed.sent:
                    return Presented(certificates=failed.sent, verification=verdict, path=failed.path, peer=peer,
                                     details=_details(target, trust, None, peer), seconds=slowest,
                                     client=trust.client.der if trust.client is not None else None)
                break  # this OpenSSL kept nothing: fetch the chain with a handshake that does not verify
            with tls:
                slowest = max(slowest, time.monotonic() - started)
                rejected = rejected or _client_verdict(tls, trust.client, budget)
                if "name" not in waived:
                    name_matched = True
                verdict = Verification(attempted=True, waived=frozenset(waived), name_matched=name_matched,
                                       alarm_trust=not trust.ignore, reason="--ignore-trust" if trust.ignore else "")
                return _presented(target, trust, tls, peer, verdict, note, verified=True, seconds=slowest,
                                  rejected=rejected)
    context = _context(target, legacy, key_type, client=trust.client)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    started = time.monotonic()
    with _open(target, addresses, budget) as (sock, peer):
        tls, note, rejected = _handshake(context, sock, target, budget, legacy, key_type, trust.client)
        with tls:
            slowest = max(slowest, time.monotonic() - started)
            rejected = rejected or _client_verdict(tls, trust.client, budget)
            return _presented(target, trust, tls, peer, verdict, note, verified=False, seconds=slowest,
                              rejected=rejected)


def _presented(target: Target, trust: Trust, tls: ssl.SSLSocket, peer: str, verdict: Verification,
               note: str | None, *, verified: bool, seconds: float, rejected: str | None = None) -> Presented:
    return Presented(
        client=trust.client.der if trust.client is not None else None,
        client_rejected=rejected,
        seconds=seconds,
        certificates=compat.handshake_certificates(tls, verified=False),
        verification=verdict,
        path=compat.handshake_certificates(tls, verified=True) if verified else (),
        tls_version=tls.version(),
        peer=peer,
        alpn=tls.selected_alpn_protocol(),
        note=note,
        details=_details(target, trust, tls, peer),
    )


def _details(target: Target, trust: Trust, tls: ssl.SSLSocket | None, peer: str) -> tuple[str, ...]:
    """Connection facts for -vv."""
    sni = clean(target.sni) if target.sni else "not sent (IP address)"
    lines = [f"connected to {peer}, SNI {sni}, trust anchors from {trust.source}"]
    if tls is not None:
        cipher = tls.cipher()
        lines.append(f"{tls.version()}, cipher {cipher[0] if cipher else 'unknown'}")
    return tuple(lines)


@contextmanager
def _open(target: Target, addresses: list[Address], budget: Budget) -> Iterator[tuple[socket.socket, str]]:
    """Connect, and when ``--starttls`` is given, negotiate up to the server's go-ahead (again on a retry)."""
    with connect(target, addresses, budget) as (sock, peer):
        if target.protocol is not None:
            from .starttls import REGISTRY, Conversation, Hello

            conversation = Conversation(sock, budget, target.protocol, peer)
            REGISTRY[target.protocol]().negotiate(conversation, Hello(target.server_hostname, target.xmpp_domain))
            conversation.expect_silence()
            log.debug("%s server at %s agreed to start TLS", target.protocol, peer)
        yield sock, peer


def _context(target: Target, legacy: bool = False, key_type: str | None = None,
             weak: bool = False, client: ClientCert | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if client is not None:  # checked by ClientCert.load before any I/O
        context.load_cert_chain(client.cert, client.key, password=client.password)
    # Pinned, not inherited: Python builds differ in their floor, and an older server must take the legacy path
    # below (which says so) rather than fail later on a signature algorithm.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if legacy:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1 is deprecated, and meant here
            context.minimum_version = ssl.TLSVersion.TLSv1
    if key_type is not None:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    suites = KEY_TYPES[key_type] if key_type is not None else "DEFAULT"
    if legacy or weak:
        context.set_ciphers(f"{suites}:@SECLEVEL=0")
    elif key_type is not None:
        context.set_ciphers(suites)
    if target.alpn:
        context.set_alpn_protocols(list(target.alpn))
    return context


def _verifying_context(trust: Trust, target: Target, legacy: bool, waived: frozenset[str],
                       key_type: str | None = None) -> ssl.SSLContext:
    # Built explicitly rather than with create_default_context(): from Python 3.13 that adds X509_STRICT and
    # PARTIAL_CHAIN, which would make this check disagree with the OpenSSL clients operators actually run.
    context = _context(target, legacy, key_type, weak="weak" in waived, client=trust.client)
    context.verify_flags = ssl.VERIFY_X509_TRUSTED_FIRST | (_NO_CHECK_TIME if "time" in waived else 0)
    # No fallback to the subject CN: browsers, Go and RFC 6125 ignore it, and so does the offline matcher.
    context.hostname_checks_common_name = False
    context.check_hostname = "name" not in waived
    if trust.cafile or trust.capath:
        try:
            context.load_verify_locations(cafile=trust.cafile, capath=trust.capath)
        except (OSError, ssl.SSLError) as exc:
            where = f"--cafile {trust.cafile}" if trust.cafile else f"--capath {trust.capath}"
            raise InputError(f"cannot load trust anchors from {clean(where)}: {clean(reason(exc))}") from exc
    else:
        _load_system_trust(context)
    return context


def _load_system_trust(context: ssl.SSLContext) -> None:
    """Use the system store, preferring the hashed directory: OpenSSL then reads only the roots it needs.

    Parsing the whole bundle costs about 40 ms per run; the directory lookup is lazy. Distributions without hash
    links (or an SSL_CERT_FILE override) get OpenSSL's default paths.
    """
    paths = ssl.get_default_verify_paths()
    if paths.capath and not os.environ.get(paths.openssl_cafile_env):
        try:
            with os.scandir(paths.capath) as entries:
                hashed = any(_HASH_LINK.match(entry.name) for entry in entries)
        except OSError:
            hashed = False
        if hashed:
            context.load_verify_locations(capath=paths.capath)
            return
    context.set_default_verify_paths()


def _handshake(
    context: ssl.SSLContext, sock: socket.socket, target: Target, budget: Budget, legacy: bool,
    key_type: str | None = None, client: ClientCert | None = None,
) -> tuple[ssl.SSLSocket, str | None, str | None]:
    """Wrap and handshake; return the TLS socket, a note when the server ended it after its certificates, and,
    with ``client``, the server's alert in words when it refused the client certificate.

    The ``ssl`` module bounds the whole handshake by the socket timeout it starts with. The handshake is driven
    explicitly so that, when a TLS 1.2 server aborts after sending its certificates because it wants a client
    certificate (or refuses the one given), the chain it sent (already verified by OpenSSL at that point) can
    still be reported. In TLS 1.3 the client's handshake is complete before the server has judged the client
    certificate, so with ``client`` the caller then waits briefly for the server's alert
    (:func:`_client_verdict`).
    """
    phase = "the TLS handshake"
    sock.settimeout(budget.remaining(phase))
    tls = context.wrap_socket(sock, server_hostname=target.server_hostname, do_handshake_on_connect=False)
    try:
        tls.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        # OpenSSL keeps the chain it received and the path it built: read them before the socket goes.
        failed = _VerifyFailed(exc.verify_code, exc.verify_message or reason(exc),
                               compat.handshake_certificates(tls, verified=False),
                               compat.handshake_certificates(tls, verified=True))
        tls.close()
        raise failed from exc
    except ssl.SSLError as exc:
        if client is not None and _is_alert(exc) and compat.handshake_certificates(tls, verified=False):
            return tls, None, _alert_words(exc)
        if exc.reason in _CLIENT_CERTIFICATE_WANTED and compat.handshake_certificates(tls, verified=False):
            return tls, f"the server then asked for a client certificate ({reason(exc)})", None
        tls.close()
        raise _translate(exc, budget, phase, legacy, key_type) from exc
    except OSError as exc:
        tls.close()
        raise _translate(exc, budget, phase, legacy, key_type) from exc
    if tls.version() is None:
        # do_handshake() returns without an error when the peer already reset the connection.
        tls.close()
        raise NetworkError("the server closed the connection before the TLS handshake")
    return tls, None, None


# TLS 1.3 with --client-cert: how long to wait for the server to refuse the client certificate. A server that
# accepts it says nothing until the client speaks; one that refuses sends its alert at once (on loopback within
# a millisecond, over a WAN one round trip).
_CLIENT_VERDICT_WAIT = 0.3


def _client_verdict(tls: ssl.SSLSocket, client: ClientCert | None, budget: Budget) -> str | None:
    """With ``client``, after a TLS 1.3 handshake: the server's alert in words if it refused the client
    certificate, else None. Not part of the ``time`` metric: it is a wait for a message, not the handshake."""
    if client is None or tls.version() != "TLSv1.3":
        return None
    try:
        tls.settimeout(max(min(_CLIENT_VERDICT_WAIT, budget.remaining("the client certificate's verdict") - 0.1),
                           0.01))
        tls.recv(1)  # data (or a close) means the server went on: accepted
    except ssl.SSLError as exc:
        return _alert_words(exc) if _is_alert(exc) else None
    except OSError:  # a timeout (no alert came) or a reset: nothing said against the certificate
        return None
    return None


def _is_alert(exc: ssl.SSLError) -> bool:
    return bool(exc.reason) and "_ALERT_" in str(exc.reason)


def _alert_words(exc: ssl.SSLError) -> str:
    """SSLV3_ALERT_BAD_CERTIFICATE -> "bad certificate", TLSV1_ALERT_UNKNOWN_CA -> "unknown CA"."""
    words = str(exc.reason).split("_ALERT_", 1)[-1].replace("_", " ").lower()
    return re.sub(r"\bca\b", "CA", words)


# OpenSSL reasons a TLS 1.2 server gives when it wants a client certificate we do not have.
_CLIENT_CERTIFICATE_WANTED = {"SSLV3_ALERT_HANDSHAKE_FAILURE", "TLSV13_ALERT_CERTIFICATE_REQUIRED",
                              "SSLV3_ALERT_BAD_CERTIFICATE"}


def _translate(exc: OSError, budget: Budget, phase: str, legacy: bool, key_type: str | None = None) -> Exception:
    """A library error from the handshake as the project's error (or the legacy-retry signal)."""
    if isinstance(exc, TimeoutError):
        return budget.expired(phase)
    if key_type is not None and not (isinstance(exc, ssl.SSLError) and exc.reason in _VERSION_MISMATCH
                                     and not legacy):
        # Refusing the only suites offered is how a server says it has no such certificate: an alert (which one
        # varies: handshake_failure, insufficient_security, internal_error from a TLS 1.3-only OpenSSL) or a
        # closed connection. A version mismatch is first retried with TLS 1.0 allowed, as in the default check.
        return KeyTypeNotOffered(key_type, clean(reason(exc)))
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError)):
        return NetworkError("the server closed the connection during the TLS handshake")
    if isinstance(exc, ssl.SSLError):
        if exc.reason in _VERSION_MISMATCH and not legacy:
            return _LegacyOnly()
        if exc.reason in _NOT_TLS:
            return NetworkError(f"the server does not speak TLS on this port ({reason(exc)})")
    return NetworkError(f"TLS handshake failed: {clean(reason(exc))}")
