"""What the acquire layer hands to evaluation: the certificates as they were presented, and OpenSSL's verdict."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Presented", "Verification"]


class Verification(NamedTuple):
    """OpenSSL's view of the chain, taken in the handshake.

    ``attempted`` is False when trust was not checked (``--ignore-trust``, file mode). ``code``/``message`` are
    OpenSSL's X509 verify result when it failed; OpenSSL reports only the first error, so evaluation derives
    expiry and name matching from the certificates themselves. ``hostname_checked`` is True when OpenSSL also
    matched the name (a successful verifying handshake, or the mismatch code 62).
    """

    attempted: bool
    ok: bool = False
    code: int | None = None
    message: str | None = None
    hostname_checked: bool = False
    reason: str = ""


class Presented(NamedTuple):
    """One acquisition: DER certificates in the order they were sent (duplicates kept), and what verified.

    ``verified_path`` is OpenSSL's verified chain, leaf first, ending at the trust anchor (which the server may
    not have sent); it is empty when verification failed or was not attempted. ``note`` says how the
    handshake ended when that is worth telling (a TLS 1.2 server asking for a client certificate).
    """

    source: str
    certificates: tuple[bytes, ...]
    verification: Verification
    verified_path: tuple[bytes, ...] = ()
    # OpenSSL's parsed view of each certificate above (``get_info()``), aligned with them; None where absent.
    parsed: tuple[dict[str, Any] | None, ...] = ()
    verified_parsed: tuple[dict[str, Any] | None, ...] = ()
    tls_version: str | None = None
    peer: str | None = None
    alpn: str | None = None
    note: str | None = None
