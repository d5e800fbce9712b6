"""One certificate as the check sees it: one record, two ways to make it, one source for every field.

:class:`CertInfo` holds what every run needs (DER, validity, subject and issuer CN, self-issued) and is made either by
:meth:`CertInfo.from_handshake` (OpenSSL's own parse of the certificate it just received, ``get_info()``) or by
:meth:`CertInfo.from_der` (``cryptography``). Both apply the same rules to the same fields; everything else
(RFC 4514 names, serial, subjectAltName, extensions, key, signature) exists only in ``cryptography``'s parse,
which :attr:`CertInfo.x509` makes on first use. Why two constructors at all: importing ``cryptography.x509``
costs 20-50 ms, a third of a healthy run, and a run that prints one OK line needs none of those other fields.

A certificate that OpenSSL accepts and ``cryptography`` refuses keeps its dates and CN; its other fields read as
empty and :attr:`CertInfo.unreadable` says why. Text fields are raw here: every output goes through
:func:`plugin.sanitize.clean`.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from . import compat

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["CertInfo", "CertificateParseError", "key_type"]


class CertificateParseError(ValueError):
    """The bytes are not a certificate this check can read."""


class _Parsed(NamedTuple):
    """The fields only ``cryptography`` provides; ``cert`` is None (and ``error`` set) when it cannot read them."""

    cert: x509.Certificate | None
    subject: str
    issuer: str
    serial: int | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    has_san: bool
    is_ca: bool
    error: str | None = None


class CertInfo:
    """One certificate. Immutable; the ``cryptography`` parse is made once, on first use, and cached."""

    __slots__ = ("_parsed", "der", "issuer_cn", "not_after", "not_before", "self_issued", "subject_cn")

    _parsed: _Parsed | None
    der: bytes
    not_before: datetime
    not_after: datetime
    subject_cn: str | None
    self_issued: bool  # subject == issuer (by name): the same rule in both constructors
    issuer_cn: str | None  # the issuer's first CN, as subject_cn is the subject's (--issuer matches it)

    def __init__(self, der: bytes, not_before: datetime, not_after: datetime, subject_cn: str | None,
                 self_issued: bool, parsed: _Parsed | None = None, issuer_cn: str | None = None) -> None:
        for name, value in (("der", der), ("not_before", not_before), ("not_after", not_after),
                            ("subject_cn", subject_cn), ("self_issued", self_issued), ("_parsed", parsed),
                            ("issuer_cn", issuer_cn)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"CertInfo is immutable ({name})")

    def __repr__(self) -> str:
        return f"CertInfo({self.short_name!r}, not_after={self.not_after:%Y-%m-%d})"

    # -- the two constructors ------------------------------------------------------------------------------------

    @classmethod
    def from_der(cls, der: bytes) -> CertInfo:
        """Parse with ``cryptography``; raise :class:`CertificateParseError` for anything it rejects."""
        parsed = _parse(der)
        if parsed.cert is None:
            raise CertificateParseError(parsed.error)
        cert = parsed.cert
        return cls(der, compat.not_valid_before(cert), compat.not_valid_after(cert), _cn(cert.subject),
                   cert.subject == cert.issuer, parsed, _cn(cert.issuer))

    @classmethod
    def from_handshake(cls, der: bytes, view: dict[str, Any] | None) -> CertInfo:
        """A certificate OpenSSL parsed in the handshake; falls back to :meth:`from_der` without a usable view."""
        if view is None:
            return cls.from_der(der)
        try:
            not_before = _openssl_time(view["notBefore"])
            not_after = _openssl_time(view["notAfter"])
            subject, issuer = view["subject"], view["issuer"]
        except (KeyError, ValueError, TypeError, OverflowError):
            return cls.from_der(der)
        return cls(der, not_before, not_after, _openssl_cn(subject), subject == issuer,
                   issuer_cn=_openssl_cn(issuer))

    # -- fields from cryptography's parse ------------------------------------------------------------------------

    @property
    def parsed(self) -> _Parsed:
        if self._parsed is None:
            object.__setattr__(self, "_parsed", _parse(self.der))
        assert self._parsed is not None
        return self._parsed

    @property
    def x509(self) -> x509.Certificate | None:
        """``cryptography``'s certificate object, or None when it cannot read this certificate."""
        return self.parsed.cert

    @property
    def unreadable(self) -> str | None:
        """Why ``cryptography`` cannot read this certificate (None when it can)."""
        return self.parsed.error

    @property
    def subject(self) -> str:
        """The subject as an RFC 4514 string (already escaped per RFC 4514: print with ``clean(..., rfc4514=True)``)."""
        return self.parsed.subject

    @property
    def issuer(self) -> str:
        return self.parsed.issuer

    @property
    def serial(self) -> int | None:
        return self.parsed.serial

    @property
    def dns_names(self) -> tuple[str, ...]:
        return self.parsed.dns_names

    @property
    def ip_addresses(self) -> tuple[str, ...]:
        return self.parsed.ip_addresses

    @property
    def has_san(self) -> bool:
        return self.parsed.has_san

    @property
    def is_ca(self) -> bool:
        return self.parsed.is_ca

    @property
    def names(self) -> tuple[str, ...]:
        return self.dns_names + self.ip_addresses

    @property
    def sha256(self) -> str:
        import hashlib  # only -v and JSON print fingerprints: not on the healthy path

        return hashlib.sha256(self.der).hexdigest()

    @property
    def pin(self) -> str | None:
        """The SubjectPublicKeyInfo's SHA-256 in curl's ``--pinnedpubkey`` form (``sha256//BASE64``); None when
        the key cannot be read."""
        cert = self.x509
        if cert is None:
            return None
        import base64
        import hashlib

        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        try:
            spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return None
        return "sha256//" + base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")

    @property
    def key_type(self) -> str | None:
        """``RSA`` or ``ECDSA`` for a certificate with such a key, else None (Ed25519, DSA, unreadable)."""
        return key_type(self.der)

    @property
    def short_name(self) -> str:
        """The subject CN, else the whole subject, else a placeholder."""
        if self.subject_cn is not None:
            return self.subject_cn
        return self.subject or "(empty subject)"

    @property
    def lifetime(self) -> float:
        """Seconds from notBefore to notAfter (at least 1, so percentages of it stay defined)."""
        return max((self.not_after - self.not_before).total_seconds(), 1.0)


# The SubjectPublicKeyInfo algorithm OIDs, DER-encoded with their tag: rsaEncryption and id-ecPublicKey. Each
# occurs in a certificate only as its key's algorithm (the signature algorithms have other OIDs), so a byte search
# tells the key type without parsing the certificate.
_KEY_OIDS = (("RSA", bytes.fromhex("06092a864886f70d010101")), ("ECDSA", bytes.fromhex("06072a8648ce3d0201")))

def key_type(der: bytes) -> str | None:
    """``RSA`` or ``ECDSA`` for a DER certificate with such a key, else None."""
    return next((name for name, oid in _KEY_OIDS if oid in der), None)


_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def _openssl_time(text: str) -> datetime:
    """``Mar  1 23:27:08 2027 GMT``, OpenSSL's one format in ``get_info()``, read without strptime:
    ``ssl.cert_time_to_seconds`` imports _strptime, calendar and locale (2-3 ms of a healthy run) for it.
    Anything else raises ValueError or KeyError, and the certificate is parsed by cryptography instead."""
    month, day, clock, year, zone = text.split()
    if zone != "GMT" or not (day.isdigit() and year.isdigit()):
        raise ValueError(f"not an OpenSSL time: {text!r}")
    hour, minute, second = clock.split(":")
    return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc)


def _openssl_cn(name: tuple[tuple[tuple[str, str], ...], ...]) -> str | None:
    for rdn in name:
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def _cn(name: x509.Name) -> str | None:
    from cryptography.x509.oid import NameOID

    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _parse(der: bytes) -> _Parsed:
    """``cryptography``'s full parse, or the reason it has none.

    cryptography warns (on stderr) about oversized names and negative serials; a plugin must not write to
    stderr (Zabbix merges it into the value), and such certificates are still worth reporting on.
    """
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cert = x509.load_der_x509_certificate(der)
            cert.version  # noqa: B018 - parsed lazily; touch it now so a bad version fails here
            subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
            serial = cert.serial_number
            extensions = cert.extensions
        except (ValueError, TypeError, KeyError, x509.InvalidVersion, UnsupportedAlgorithm) as exc:
            error = str(exc).split("\n")[0] or type(exc).__name__
            return _Parsed(None, "", "", None, (), (), False, False, error=_readable(error))
        try:
            san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            san = None
        try:
            is_ca = bool(extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
        except x509.ExtensionNotFound:
            is_ca = False
    return _Parsed(
        cert=cert,
        subject=subject,
        issuer=issuer,
        serial=serial,
        dns_names=tuple(san.get_values_for_type(x509.DNSName)) if san is not None else (),
        ip_addresses=tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) if san is not None else (),
        has_san=san is not None,
        is_ca=is_ca,
    )


def _readable(error: str) -> str:
    """cryptography's Rust parser reports ``ParseError { kind: UnexpectedTag { .. }, location: [..] }``: keep
    the kind, in words, instead of a Rust repr cut mid-word."""
    if error.startswith("error parsing asn1 value: ParseError"):
        kind = error.split("kind: ", 1)[-1].split(" ", 1)[0].split(",", 1)[0].rstrip("}) ")
        words = "".join(f" {char.lower()}" if char.isupper() else char for char in kind).strip()
        return f"malformed DER ({words or 'parse error'})"
    return error
