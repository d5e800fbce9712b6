"""One certificate, parsed once into the fields the check reports.

Text fields are kept raw here; every output mode passes them through :func:`plugin.sanitize.clean`.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from . import compat

__all__ = ["CertInfo", "CertificateParseError", "parse_certificate"]


class CertificateParseError(ValueError):
    """The bytes are not a certificate this check can read."""


@dataclass(frozen=True)
class CertInfo:
    der: bytes = field(repr=False)
    cert: x509.Certificate = field(repr=False, compare=False)
    subject: str
    issuer: str
    subject_cn: str | None
    serial: int
    not_before: datetime
    not_after: datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    has_san: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def self_issued(self) -> bool:
        return self.cert.subject == self.cert.issuer

    @property
    def is_ca(self) -> bool:
        try:
            return bool(self.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
        except Exception:  # noqa: BLE001 - absent or malformed: either way not usable as a CA marker
            return False

    @property
    def short_name(self) -> str:
        """The subject CN, or the whole subject when there is no CN."""
        return self.subject_cn if self.subject_cn is not None else (self.subject or "(empty subject)")

    @property
    def lifetime(self) -> float:
        """Seconds from notBefore to notAfter (at least 1, so percentages of it stay defined)."""
        return max((self.not_after - self.not_before).total_seconds(), 1.0)

    @property
    def names(self) -> tuple[str, ...]:
        return self.dns_names + self.ip_addresses


def _cn(name: x509.Name) -> str | None:
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def parse_certificate(der: bytes) -> CertInfo:
    """Parse one DER certificate; raise :class:`CertificateParseError` for anything cryptography rejects.

    cryptography warns (on stderr) about oversized names and negative serials; a plugin must not write to
    stderr (Zabbix merges it into the value), and such certificates are still worth reporting on.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _parse(der)


def _parse(der: bytes) -> CertInfo:
    try:
        cert = x509.load_der_x509_certificate(der)
        cert.version  # noqa: B018 - parsed lazily; touch it now so a bad version fails here, not in an output mode
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            san = None
        dns_names = tuple(san.get_values_for_type(x509.DNSName)) if san is not None else ()
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) if san is not None else ()
        return CertInfo(
            der=der,
            cert=cert,
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            subject_cn=_cn(cert.subject),
            serial=cert.serial_number,
            not_before=compat.not_valid_before(cert),
            not_after=compat.not_valid_after(cert),
            dns_names=dns_names,
            ip_addresses=ips,
            has_san=san is not None,
        )
    except Exception as exc:  # noqa: BLE001 - malformed DER surfaces as ValueError, KeyError, InvalidVersion, ...
        raise CertificateParseError(f"{type(exc).__name__}: {exc}") from None
