"""One certificate, parsed once, and only as deeply as the check needs.

A healthy check needs the dates, the subject CN and whether a certificate is self-issued, and OpenSSL has parsed
all of that during the handshake (``_ssl.Certificate.get_info()``). Everything else (the RFC 4514 subject and
issuer, serial, subjectAltName, extensions, the ``cryptography`` object for signature checks) comes from
``cryptography`` on first use: importing ``cryptography.x509`` costs 20-50 ms, a quarter of a healthy run, so a
run that prints one OK line does not pay for it. Files and anything without OpenSSL's view are parsed by
``cryptography`` at once, so a broken certificate is reported as such.

Text fields are kept raw here; every output mode passes them through :func:`plugin.sanitize.clean`.
"""

from __future__ import annotations

import ssl
import warnings
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["CertInfo", "CertificateParseError", "from_openssl", "parse_certificate"]


class CertificateParseError(ValueError):
    """The bytes are not a certificate this check can read."""


class _Details(NamedTuple):
    """The fields only ``cryptography`` provides."""

    cert: x509.Certificate | None
    subject: str
    issuer: str
    serial: int
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    has_san: bool


class CertInfo:
    """One certificate: DER, validity, subject CN, and the rest on demand."""

    __slots__ = ("_details", "der", "not_after", "not_before", "self_issued", "subject_cn")

    def __init__(
        self,
        der: bytes,
        not_before: datetime,
        not_after: datetime,
        subject_cn: str | None,
        self_issued: bool,
        details: _Details | None = None,
    ) -> None:
        self.der = der
        self.not_before = not_before
        self.not_after = not_after
        self.subject_cn = subject_cn
        self.self_issued = self_issued
        self._details = details

    def __repr__(self) -> str:
        return f"CertInfo({self.short_name!r}, not_after={self.not_after:%Y-%m-%d})"

    @property
    def details(self) -> _Details:
        if self._details is None:
            try:
                self._details = _parse(self.der)[1]
            except CertificateParseError as exc:
                # OpenSSL accepted what cryptography rejects: report what OpenSSL saw, say the rest is unreadable.
                unreadable = f"(unreadable: {exc})"
                self._details = _Details(None, unreadable, unreadable, 0, (), (), False)
        return self._details

    @property
    def cert(self) -> x509.Certificate:
        """cryptography's object; raises :class:`CertificateParseError` when cryptography cannot read it."""
        cert = self.details.cert
        if cert is None:
            raise CertificateParseError(self.details.subject)
        return cert

    @property
    def subject(self) -> str:
        return self.details.subject

    @property
    def issuer(self) -> str:
        return self.details.issuer

    @property
    def serial(self) -> int:
        return self.details.serial

    @property
    def dns_names(self) -> tuple[str, ...]:
        return self.details.dns_names

    @property
    def ip_addresses(self) -> tuple[str, ...]:
        return self.details.ip_addresses

    @property
    def has_san(self) -> bool:
        return self.details.has_san

    @property
    def names(self) -> tuple[str, ...]:
        return self.dns_names + self.ip_addresses

    @property
    def sha256(self) -> str:
        import hashlib  # only -v and JSON print fingerprints

        return hashlib.sha256(self.der).hexdigest()

    @property
    def is_ca(self) -> bool:
        from cryptography import x509

        try:
            return bool(self.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
        except Exception:  # noqa: BLE001 - absent or malformed: either way not usable as a CA marker
            return False

    @property
    def short_name(self) -> str:
        """The subject CN, or the whole subject when there is no CN."""
        if self.subject_cn is not None:
            return self.subject_cn
        return self.subject or "(empty subject)"

    @property
    def lifetime(self) -> float:
        """Seconds from notBefore to notAfter (at least 1, so percentages of it stay defined)."""
        return max((self.not_after - self.not_before).total_seconds(), 1.0)


def parse_certificate(der: bytes) -> CertInfo:
    """Parse one DER certificate with cryptography; raise :class:`CertificateParseError` for anything it rejects."""
    fields, details = _parse(der)
    return CertInfo(der, *fields, details=details)


def from_openssl(der: bytes, info: dict[str, Any]) -> CertInfo:
    """A certificate OpenSSL parsed in the handshake (``get_info()``); cryptography is left for later.

    Falls back to :func:`parse_certificate` when the dictionary lacks what is needed.
    """
    try:
        not_before = _openssl_time(info["notBefore"])
        not_after = _openssl_time(info["notAfter"])
        subject, issuer = info["subject"], info["issuer"]
    except (KeyError, ValueError, TypeError):
        return parse_certificate(der)
    return CertInfo(der, not_before, not_after, _openssl_cn(subject), subject == issuer)


def _openssl_time(text: str) -> datetime:
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(text), timezone.utc)


def _openssl_cn(subject: tuple[tuple[tuple[str, str], ...], ...]) -> str | None:
    for rdn in subject:
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def _parse(der: bytes) -> tuple[tuple[datetime, datetime, str | None, bool], _Details]:
    """cryptography's full parse.

    cryptography warns (on stderr) about oversized names and negative serials; a plugin must not write to
    stderr (Zabbix merges it into the value), and such certificates are still worth reporting on.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _parse_fields(der)
        except Exception as exc:  # noqa: BLE001 - malformed DER surfaces as ValueError, KeyError, InvalidVersion, ...
            raise CertificateParseError(f"{type(exc).__name__}: {exc}") from None


def _parse_fields(der: bytes) -> tuple[tuple[datetime, datetime, str | None, bool], _Details]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from . import compat

    cert = x509.load_der_x509_certificate(der)
    cert.version  # noqa: B018 - parsed lazily; touch it now so a bad version fails here, not in an output mode
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    cn_attributes = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cn_attributes[0].value if cn_attributes else None
    details = _Details(
        cert=cert,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=cert.serial_number,
        dns_names=tuple(san.get_values_for_type(x509.DNSName)) if san is not None else (),
        ip_addresses=tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) if san is not None else (),
        has_san=san is not None,
    )
    fields = (
        compat.not_valid_before(cert),
        compat.not_valid_after(cert),
        cn if isinstance(cn, str) or cn is None else cn.decode("utf-8", "replace"),
        cert.subject == cert.issuer,
    )
    return fields, details
