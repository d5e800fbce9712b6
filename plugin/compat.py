"""The one place that knows how library and interpreter versions differ.

Supported floors: Python 3.10 (private ``_sslobj.get_unverified_chain``; public from 3.13) and cryptography 38
(Debian 12: no ``not_valid_after_utc`` before 42, no ``verify_directly_issued_by`` before 40).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    from cryptography import x509

__all__ = ["directly_issued_by", "not_valid_after", "not_valid_before", "presented_chain", "verified_chain"]


def not_valid_before(cert: x509.Certificate) -> datetime:
    if hasattr(cert, "not_valid_before_utc"):
        return cert.not_valid_before_utc
    return cert.not_valid_before.replace(tzinfo=timezone.utc)


def not_valid_after(cert: x509.Certificate) -> datetime:
    if hasattr(cert, "not_valid_after_utc"):
        return cert.not_valid_after_utc
    return cert.not_valid_after.replace(tzinfo=timezone.utc)


def directly_issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """True when ``parent``'s name and key issued ``child`` (signature checked where cryptography can)."""
    if child.issuer != parent.subject:
        return False
    check = getattr(child, "verify_directly_issued_by", None)
    if check is None:  # cryptography < 40: the name match is all we can say
        return True
    try:
        check(parent)
    except Exception:  # noqa: BLE001 - InvalidSignature, ValueError, TypeError (unsupported key): not issued by it
        return False
    return True


Chain = tuple[tuple[bytes, ...], tuple["dict[str, Any] | None", ...]]


def _chain(objects: Any) -> Chain:
    """DER and OpenSSL's parsed view (``get_info()``) of each certificate; the view is None where unavailable."""
    if not objects:
        return (), ()
    if isinstance(objects[0], bytes):
        return tuple(objects), (None,) * len(objects)
    import _ssl  # Certificate.public_bytes needs the DER constant, which ``ssl`` does not re-export

    ders = tuple(cert.public_bytes(_ssl.ENCODING_DER) for cert in objects)
    infos: list[dict[str, Any] | None] = []
    for cert in objects:
        try:
            infos.append(cert.get_info())
        except Exception:  # noqa: BLE001 - the view is an optimisation; cryptography parses the DER instead
            infos.append(None)
    return ders, tuple(infos)


# The chains come from the private ``_sslobj`` on every version: it returns ``_ssl.Certificate`` objects (DER and
# OpenSSL's parsed view), works under CERT_NONE, and still exists on 3.13, where the public methods return DER only.


def presented_chain(sock: ssl.SSLSocket) -> Chain:
    """The certificates the server sent, in order (works under CERT_NONE too)."""
    sslobj = getattr(sock, "_sslobj", None)
    if sslobj is not None and hasattr(sslobj, "get_unverified_chain"):
        return _chain(sslobj.get_unverified_chain())
    return _chain(sock.get_unverified_chain())  # type: ignore[attr-defined]  # public from 3.13


def verified_chain(sock: ssl.SSLSocket) -> Chain:
    """OpenSSL's verified path, leaf to trust anchor; only meaningful after a verifying handshake succeeded."""
    sslobj = getattr(sock, "_sslobj", None)
    if sslobj is not None and hasattr(sslobj, "get_verified_chain"):
        return _chain(sslobj.get_verified_chain())
    return _chain(sock.get_verified_chain())  # type: ignore[attr-defined]
