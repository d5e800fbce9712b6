"""Does the leaf certificate belong to the name we asked for?

On the healthy path OpenSSL answers this inside the handshake. Where it cannot (file mode, ``--ignore-trust``,
or a chain that failed verification before OpenSSL reached the name check) the answer comes from
``service_identity``, a maintained RFC 6125 implementation: wildcard and IP-SAN rules are subtle enough that this
project does not hand-roll them. Like OpenSSL it ignores the subject CN when a subjectAltName is present, and
unlike some old clients it never falls back to the CN at all.
"""

from __future__ import annotations

import warnings

from ..certinfo import CertInfo
from ..target import HostName

__all__ = ["matches"]


def matches(info: CertInfo, name: HostName) -> bool:
    """True when the certificate is valid for ``name`` (an A-label or an IP literal)."""
    # Imported here: a healthy check never needs it (OpenSSL matched the name in the handshake).
    from service_identity import CertificateError, VerificationError
    from service_identity.cryptography import verify_certificate_hostname, verify_certificate_ip_address

    cert = info.x509
    if cert is None or not info.has_san:
        # No subjectAltName, no match: service_identity before 23 falls back to the subject CN (with a warning),
        # which browsers, Go, RFC 6125 and OpenSSL as configured here (hostname_checks_common_name) do not.
        return False
    with warnings.catch_warnings():
        # Old service_identity releases warn about certificates without SAN; the answer is what matters here.
        warnings.simplefilter("ignore")
        try:
            if name.ip is not None:
                verify_certificate_ip_address(cert, str(name.ip))
            else:
                verify_certificate_hostname(cert, name.ascii)
        except (CertificateError, VerificationError):
            return False
        except (ValueError, TypeError):  # a malformed SAN extension cannot match anything
            return False
    return True
