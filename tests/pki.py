"""A tiny throw-away PKI for tests, built with ``cryptography``.

Every validity period is expressed as a :class:`~datetime.timedelta` offset
relative to *now* (``datetime.now(timezone.utc)`` at issuance time): a
negative offset lies in the past, a positive one in the future.  So
``not_after=timedelta(days=-2)`` gives a certificate that expired two days
ago, and ``not_before=timedelta(days=2)`` one that is not valid yet.

When ``not_before`` is left as ``None`` it defaults to a fixed offset in the
past (documented per function), moved earlier when needed so that it is
always at least one day before ``not_after``; this is what lets
``ca.leaf(not_after=timedelta(days=-2))`` work without also passing
``not_before``.

Typical use::

    root = CA.root()
    inter = root.intermediate()
    leaf = inter.leaf(["localhost", "127.0.0.1"], not_after=timedelta(days=5))
    write_pem(tmp_path / "leaf.pem", leaf)
    write_key(tmp_path / "leaf.key", leaf)

Keys are EC P-256 by default because they are generated in microseconds;
``key_type="rsa"`` (2048 bit) and ``key_type="ed25519"`` are also available.
"""

from __future__ import annotations

import ipaddress
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

__all__ = [
    "assert_issued_by",
    "load_pems",
    "not_after",
    "not_before",
    "CA",
    "KEY_TYPES",
    "Issued",
    "PrivateKey",
    "generate_key",
    "make_name",
    "self_signed_leaf",
    "write_key",
    "write_pem",
]

#: Private key types this module can generate and sign with.
PrivateKey = Union[
    ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey
]

#: Accepted values for every ``key_type`` argument.
KEY_TYPES: tuple[str, ...] = ("ec", "rsa", "ed25519")

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A certificate together with its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> bytes:
        """The certificate, PEM encoded."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        """The certificate, DER encoded."""
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def sha256(self) -> str:
        """Lower-case hex SHA-256 fingerprint of the DER certificate."""
        return self.cert.fingerprint(hashes.SHA256()).hex()


def generate_key(key_type: str = "ec") -> PrivateKey:
    """Generate a fresh private key: ``"ec"`` (P-256), ``"rsa"`` (2048) or ``"ed25519"``."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key_type {key_type!r}; expected one of {KEY_TYPES}")


def make_name(cn: str) -> x509.Name:
    """Return a subject/issuer name consisting of a single CN.

    Any text is accepted, including ``|``, newlines, control characters and
    non-ASCII (encoded as UTF8String).  Unlike a plain
    :class:`x509.NameAttribute`, a CN longer than the 64 octets allowed by
    RFC 5280 is also accepted (cryptography would raise ``ValueError``), which
    is useful for hostile-input tests.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attr = x509.NameAttribute(NameOID.COMMON_NAME, cn, _validate=False)
    return x509.Name([attr])


def _signature_hash(signer: PrivateKey) -> hashes.SHA256 | None:
    # Ed25519 signs the message itself; it must be given no digest.
    return None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _validity(
    not_before: timedelta | None, not_after: timedelta, default_before: timedelta
) -> tuple[datetime, datetime]:
    if not_before is None:
        not_before = min(default_before, not_after - _ONE_DAY)
    now = datetime.now(timezone.utc)
    return now + not_before, now + not_after


def _san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(key: PrivateKey) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    names: Sequence[str],
    validity: tuple[datetime, datetime],
    usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.SERVER_AUTH,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(key), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    )
    if names:
        builder = builder.add_extension(_san(names), critical=False)
    return builder


def _default_leaf_subject(names: Sequence[str], cn: str | None) -> x509.Name:
    if cn is None:
        cn = names[0] if names else "Test Leaf"
    return make_name(cn)


class CA:
    """A certificate authority that can issue intermediates, leaves and cross-signs."""

    def __init__(self, issued: Issued) -> None:
        self.issued = issued

    def __repr__(self) -> str:
        return f"CA({self.name.rfc4514_string()!r})"

    @property
    def cert(self) -> x509.Certificate:
        """The CA certificate."""
        return self.issued.cert

    @property
    def key(self) -> PrivateKey:
        """The CA private key."""
        return self.issued.key

    @property
    def name(self) -> x509.Name:
        """The CA subject name (the issuer name of what it signs)."""
        return self.issued.cert.subject

    @property
    def pem(self) -> bytes:
        """The CA certificate, PEM encoded."""
        return self.issued.pem

    def _aki(self) -> x509.AuthorityKeyIdentifier:
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)

    def _sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return builder.sign(self.key, _signature_hash(self.key))

    @classmethod
    def root(
        cls,
        cn: str = "Test Root CA",
        *,
        not_before: timedelta | None = None,
        not_after: timedelta = timedelta(days=3650),
        key_type: str = "ec",
    ) -> CA:
        """Create a self-signed root CA.

        ``not_before`` defaults to 365 days ago.  Extensions: basicConstraints
        (critical, CA:TRUE), keyUsage (critical, keyCertSign + cRLSign), SKI.
        """
        key = generate_key(key_type)
        start, end = _validity(not_before, not_after, timedelta(days=-365))
        name = make_name(cn)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                critical=False,
            )
        )
        cert = builder.sign(key, _signature_hash(key))
        return cls(Issued(cert, key))

    def intermediate(
        self,
        cn: str = "Test Intermediate CA",
        *,
        not_before: timedelta | None = None,
        not_after: timedelta = timedelta(days=1825),
        key_type: str = "ec",
    ) -> CA:
        """Issue a subordinate CA (pathlen 0) signed by this CA.

        ``not_before`` defaults to 30 days ago.  Extensions: basicConstraints
        (critical, CA:TRUE, pathlen:0), keyUsage (critical, keyCertSign +
        cRLSign), SKI, AKI.
        """
        key = generate_key(key_type)
        start, end = _validity(not_before, not_after, timedelta(days=-30))
        builder = (
            x509.CertificateBuilder()
            .subject_name(make_name(cn))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                critical=False,
            )
            .add_extension(self._aki(), critical=False)
        )
        return CA(Issued(self._sign(builder), key))

    def leaf(
        self,
        names: Sequence[str] = ("localhost",),
        *,
        cn: str | None = None,
        not_before: timedelta | None = None,
        not_after: timedelta = timedelta(days=20),
        key_type: str = "ec",
        subject: x509.Name | None = None,
        ca_issuers: str | None = None,
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        client: bool = False,
    ) -> Issued:
        """Issue a TLS server (end-entity) certificate signed by this CA.

        ``ca_issuers``: a URL for the AIA extension's caIssuers (where clients fetch this CA's certificate);
        ``crl_url``: a URL for the CRL distribution points extension; ``ocsp_url``: an AIA OCSP responder.
        ``client``: a TLS client certificate (extendedKeyUsage clientAuth instead of serverAuth), for mTLS.

        ``names`` become the subjectAltName: entries that parse with
        :func:`ipaddress.ip_address` become ``IPAddress``, everything else is
        passed verbatim as ``DNSName`` (wildcards and A-labels such as
        ``"xn--bcher-kva.example"`` are fine; cryptography rejects non-ASCII
        DNS names).  An empty ``names`` omits the SAN extension entirely.

        The subject is ``CN=<cn>``, where ``cn`` defaults to the first name
        (or ``"Test Leaf"`` if ``names`` is empty); ``subject`` replaces the
        whole subject (see :func:`make_name` for arbitrary/hostile text).
        ``not_before`` defaults to one day ago.  Extensions: basicConstraints
        (critical, CA:FALSE), keyUsage (critical, digitalSignature, plus
        keyEncipherment for RSA), extendedKeyUsage serverAuth, SKI, AKI, SAN.
        """
        key = generate_key(key_type)
        if subject is None:
            subject = _default_leaf_subject(names, cn)
        validity = _validity(not_before, not_after, -_ONE_DAY)
        builder = _leaf_builder(subject, self.name, key, names, validity,
                                ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH)
        builder = builder.add_extension(self._aki(), critical=False)
        access = [x509.AccessDescription(method, x509.UniformResourceIdentifier(url)) for method, url in
                  ((AuthorityInformationAccessOID.CA_ISSUERS, ca_issuers), (AuthorityInformationAccessOID.OCSP, ocsp_url))
                  if url is not None]
        if access:
            builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
        if crl_url is not None:
            point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        return Issued(self._sign(builder), key)

    def crl(self, revoked: Sequence[tuple[int, x509.ReasonFlags | None]] = (), *,
            last_update: timedelta = timedelta(days=-1), next_update: timedelta = timedelta(days=6),
            signer: PrivateKey | None = None) -> bytes:
        """A DER CRL issued by this CA listing ``revoked`` (serial, reason) as revoked two days ago; dates relative
        to now; ``signer`` signs it instead of this CA's key (a forged CRL)."""
        now = datetime.now(timezone.utc)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.name)
                   .last_update(now + last_update).next_update(now + next_update))
        for serial, reason in revoked:
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - timedelta(days=2))
            if reason is not None:
                entry = entry.add_extension(x509.CRLReason(reason), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        key = signer if signer is not None else self.key
        crl = builder.sign(key, _signature_hash(key))  # type: ignore[arg-type]
        return crl.public_bytes(serialization.Encoding.DER)

    def cross_sign(
        self,
        other: CA,
        *,
        not_before: timedelta | None = None,
        not_after: timedelta = timedelta(days=365),
    ) -> Issued:
        """Cross-certify ``other``: a CA certificate for ``other``'s subject and
        public key, issued and signed by this CA.

        The result's ``key`` is ``other``'s private key.  ``not_before``
        defaults to 30 days ago; pass e.g. ``not_after=timedelta(days=-10)``
        for an expired cross-sign.  basicConstraints is copied from ``other``
        (critical); keyUsage is critical keyCertSign + cRLSign; SKI is the same
        as ``other``'s; AKI points at this CA.
        """
        start, end = _validity(not_before, not_after, timedelta(days=-30))
        try:
            bc = other.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            bc = x509.BasicConstraints(ca=True, path_length=None)
        builder = (
            x509.CertificateBuilder()
            .subject_name(other.name)
            .issuer_name(self.name)
            .public_key(other.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(bc, critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(other.key.public_key()),
                critical=False,
            )
            .add_extension(self._aki(), critical=False)
        )
        return Issued(self._sign(builder), other.key)


def self_signed_leaf(
    names: Sequence[str] = ("localhost",),
    *,
    cn: str | None = None,
    not_before: timedelta | None = None,
    not_after: timedelta = timedelta(days=20),
    key_type: str = "ec",
    subject: x509.Name | None = None,
) -> Issued:
    """Create a self-signed end-entity certificate (subject == issuer).

    Same profile and arguments as :meth:`CA.leaf` (CA:FALSE, no keyCertSign),
    minus the AKI.
    """
    key = generate_key(key_type)
    if subject is None:
        subject = _default_leaf_subject(names, cn)
    validity = _validity(not_before, not_after, -_ONE_DAY)
    builder = _leaf_builder(subject, subject, key, names, validity)
    return Issued(builder.sign(key, _signature_hash(key)), key)


def write_pem(path: Path, *items: Issued | x509.Certificate) -> Path:
    """Write the PEM certificates of ``items``, concatenated in order, to ``path``."""
    data = b"".join(
        item.pem
        if isinstance(item, Issued)
        else item.public_bytes(serialization.Encoding.PEM)
        for item in items
    )
    path.write_bytes(data)
    return path


def write_key(path: Path, issued: Issued) -> Path:
    """Write ``issued``'s private key (unencrypted PKCS#8 PEM) to ``path`` with mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(issued.key_pem)
    os.chmod(path, 0o600)
    return path


# --- version-independent helpers for tests (cryptography 38, Debian 12, lacks the *_utc and issuer APIs) -----


def not_after(cert: x509.Certificate) -> datetime:
    """``not_valid_after_utc`` on every cryptography version this project supports."""
    value = getattr(cert, "not_valid_after_utc", None)
    return value if value is not None else cert.not_valid_after.replace(tzinfo=timezone.utc)


def not_before(cert: x509.Certificate) -> datetime:
    value = getattr(cert, "not_valid_before_utc", None)
    return value if value is not None else cert.not_valid_before.replace(tzinfo=timezone.utc)


def assert_issued_by(child: x509.Certificate, parent: x509.Certificate) -> None:
    """Raise unless ``parent``'s name and key signed ``child`` (cryptography 38 has no verify_directly_issued_by)."""
    assert child.issuer == parent.subject
    key = parent.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        assert child.signature_hash_algorithm is not None
        key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(child.signature_hash_algorithm))
    elif isinstance(key, rsa.RSAPublicKey):
        from cryptography.hazmat.primitives.asymmetric import padding

        assert child.signature_hash_algorithm is not None
        key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), child.signature_hash_algorithm)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(child.signature, child.tbs_certificate_bytes)
    else:  # pragma: no cover - the test PKI makes only these key types
        raise AssertionError(f"unexpected key type {type(key).__name__}")


def load_pems(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (``load_pem_x509_certificates`` needs cryptography 39)."""
    marker = b"-----END CERTIFICATE-----"
    blocks = [block + marker for block in data.split(marker) if b"-----BEGIN CERTIFICATE-----" in block]
    return [x509.load_pem_x509_certificate(block) for block in blocks]
