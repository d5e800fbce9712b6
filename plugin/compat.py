"""The one place that knows how library and interpreter versions differ.

Supported floors: Python 3.10 (private ``_sslobj.get_unverified_chain``; public from 3.13) and cryptography 38
(Debian 12: no ``not_valid_after_utc`` before 42, no ``verify_directly_issued_by`` before 40).
"""

from __future__ import annotations

import ssl
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["USE_PRIVATE_CHAIN", "Delivered", "crl_next_update", "handshake_certificates", "not_valid_after",
           "not_valid_before", "ocsp_revocation_time", "ocsp_times", "revocation_date"]


def not_valid_before(cert: x509.Certificate) -> datetime:
    if hasattr(cert, "not_valid_before_utc"):
        return cert.not_valid_before_utc
    return cert.not_valid_before.replace(tzinfo=timezone.utc)


def not_valid_after(cert: x509.Certificate) -> datetime:
    if hasattr(cert, "not_valid_after_utc"):
        return cert.not_valid_after_utc
    return cert.not_valid_after.replace(tzinfo=timezone.utc)


def crl_next_update(crl: x509.CertificateRevocationList) -> datetime | None:
    if hasattr(crl, "next_update_utc"):
        return crl.next_update_utc
    value = crl.next_update
    return value.replace(tzinfo=timezone.utc) if value is not None else None


def revocation_date(entry: x509.RevokedCertificate) -> datetime:
    if hasattr(entry, "revocation_date_utc"):
        return entry.revocation_date_utc
    return entry.revocation_date.replace(tzinfo=timezone.utc)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def ocsp_times(response: Any) -> tuple[datetime, datetime | None]:
    """An OCSP response's (thisUpdate, nextUpdate) as aware UTC datetimes (``*_utc`` only from cryptography 43)."""
    if hasattr(response, "this_update_utc"):
        return response.this_update_utc, response.next_update_utc
    this_update = _utc(response.this_update)
    assert this_update is not None
    return this_update, _utc(response.next_update)


def ocsp_revocation_time(response: Any) -> datetime | None:
    if hasattr(response, "revocation_time_utc"):
        return response.revocation_time_utc  # type: ignore[no-any-return]
    return _utc(response.revocation_time)


# One certificate as a handshake delivered it: DER, and OpenSSL's own parse of it when available.
Delivered = tuple[bytes, "dict[str, Any] | None"]


def handshake_certificates(sock: ssl.SSLSocket, *, verified: bool) -> tuple[Delivered, ...]:
    """The certificates of a handshake: as sent (``verified=False``) or as OpenSSL built the path (``True``).

    The one place that touches a private API. ``sock._sslobj.get_unverified_chain()`` /
    ``get_verified_chain()`` (Python 3.10+) return ``_ssl.Certificate`` objects that carry OpenSSL's own parse
    (``get_info()``), so a healthy check needs no ``cryptography``. They work under CERT_NONE and after a
    failed verification (OpenSSL keeps the chain it built, which names the store certificate that failed).
    Without them (another implementation, a future Python), the public API gives DER only (3.13+) or just the
    leaf, and ``cryptography`` parses it: slower, and the same record (:meth:`CertInfo.from_handshake`).
    """
    sslobj = getattr(sock, "_sslobj", None) if USE_PRIVATE_CHAIN else None
    method = getattr(sslobj, "get_verified_chain" if verified else "get_unverified_chain", None)
    if method is not None:
        import _ssl  # Certificate.public_bytes needs the DER constant, which ``ssl`` does not re-export

        delivered: list[Delivered] = []
        for cert in method() or ():
            try:
                view: dict[str, Any] | None = cert.get_info()
            except (ValueError, TypeError, ssl.SSLError):  # the view is an optimisation: parse the DER instead
                view = None
            delivered.append((cert.public_bytes(_ssl.ENCODING_DER), view))
        return tuple(delivered)
    public = getattr(sock, "get_verified_chain" if verified else "get_unverified_chain", None)
    if public is not None and sys.version_info >= (3, 13):  # public from 3.13, DER only
        return tuple((bytes(der), None) for der in public() or ())
    if verified:
        return ()
    leaf = sock.getpeercert(binary_form=True)
    return ((leaf, None),) if leaf else ()


# Tests switch this off to run the public-API fallback on any Python.
USE_PRIVATE_CHAIN = True
