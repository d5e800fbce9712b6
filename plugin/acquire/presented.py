"""What the acquire layer hands to evaluation: the certificates as they were presented, and OpenSSL's verdict."""


from typing import Any, NamedTuple

from ..certinfo import CertInfo
from ..compat import Delivered

__all__ = ["Delivered", "Expected", "Presented", "Verification", "VerifyCode"]


class VerifyCode:
    """The OpenSSL ``X509_V_ERR_*`` codes this check treats specially (``include/openssl/x509_vfy.h``)."""

    UNABLE_TO_GET_ISSUER_CERT = 2
    CERT_SIGNATURE_FAILURE = 7
    CERT_NOT_YET_VALID = 9
    CERT_HAS_EXPIRED = 10
    ERROR_IN_CERT_NOT_BEFORE_FIELD = 13
    ERROR_IN_CERT_NOT_AFTER_FIELD = 14
    DEPTH_ZERO_SELF_SIGNED_CERT = 18
    SELF_SIGNED_CERT_IN_CHAIN = 19
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
    UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21
    INVALID_CA = 24
    PATH_LENGTH_EXCEEDED = 25
    INVALID_PURPOSE = 26
    HOSTNAME_MISMATCH = 62
    IP_ADDRESS_MISMATCH = 64
    EE_KEY_TOO_SMALL = 66
    CA_KEY_TOO_SMALL = 67
    CA_MD_TOO_WEAK = 68

    # Failures that only concern time: the path is re-verified with X509_V_FLAG_NO_CHECK_TIME to learn the rest.
    TIME = frozenset({CERT_NOT_YET_VALID, CERT_HAS_EXPIRED, ERROR_IN_CERT_NOT_BEFORE_FIELD,
                      ERROR_IN_CERT_NOT_AFTER_FIELD})
    # Failures that only concern the name: re-verified without the name check.
    NAME = frozenset({HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH})
    # The chain does not reach the trust store: what --ignore-trust does not alarm on.
    UNTRUSTED = frozenset({UNABLE_TO_GET_ISSUER_CERT, DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN,
                           UNABLE_TO_GET_ISSUER_CERT_LOCALLY, UNABLE_TO_VERIFY_LEAF_SIGNATURE})
    # Weak keys and digests: named by the evaluation's own rules (plugin.evaluate.weak), which apply on every path.
    WEAK = frozenset({EE_KEY_TOO_SMALL, CA_KEY_TOO_SMALL, CA_MD_TOO_WEAK})


class Verification(NamedTuple):
    """OpenSSL's verdict on the chain, taken in the handshake (``attempted`` False in file mode).

    OpenSSL stops at the first error. A time or name error alone is waived and the handshake repeated
    (``waived``), so that the path, and whether anything else fails, is still known. ``code``/``message`` is
    the failure that remained (None: the path verified, apart from what was waived). ``name_matched`` is OpenSSL's
    answer on the name (None when it never got that far). ``alarm_trust`` is False under ``--ignore-trust``.
    """

    attempted: bool
    code: int | None = None
    message: str | None = None
    waived: frozenset[str] = frozenset()
    name_matched: bool | None = None
    alarm_trust: bool = True
    reason: str = ""

    @property
    def ok(self) -> bool:
        """The chain verified and the name matched, nothing waived."""
        return self.attempted and self.code is None and not self.waived

    @property
    def path_trusted(self) -> bool:
        """OpenSSL built a path to the trust store (time and name aside)."""
        return self.attempted and self.code is None


class Presented(NamedTuple):
    """One acquisition: the certificates in the order they were sent (duplicates kept), and what verified.

    ``path`` is the chain OpenSSL built, leaf first: the verified path (ending at the trust anchor, which the
    server may not have sent), or after a failure the chain as far as OpenSSL got. Empty in file mode, where
    :mod:`plugin.acquire.chain` builds the path. ``details`` are connection facts for ``-vv``; ``note`` says how the
    handshake ended when that is worth telling (a TLS 1.2 server asking for a client certificate).
    """

    certificates: tuple[Delivered, ...]
    verification: Verification
    path: tuple[Delivered, ...] = ()
    tls_version: str | None = None
    peer: str | None = None
    alpn: str | None = None
    note: str | None = None
    details: tuple[str, ...] = ()
    seconds: float | None = None  # connect, STARTTLS and handshake time of the slowest handshake (None: a file)
    aia: Any = None  # --aia: a plugin.acquire.aia.Aia when the missing issuer was fetched (typed loosely: no import)
    revocation: tuple[Any, ...] = ()  # --crl: plugin.acquire.revocation.Revocation per certificate of the path
    ari: Any = None  # --ari: a plugin.acquire.ari.Ari (the CA's renewal window, or why there is none)
    client: bytes | None = None  # --client-cert: the DER of the certificate the check presented
    client_rejected: str | None = None  # the server's alert, in words, when it refused that certificate


class Expected(NamedTuple):
    """``--expect-file``: the leaf the service should be serving (the file a renewal job wrote), and the path."""

    path: str
    leaf: CertInfo
