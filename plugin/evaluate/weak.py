"""Weak cryptography in one certificate, named in the operator's words: detection only, no sentences.

Why a module of its own: OpenSSL reports a weak signature or key only when its security level rejects the
certificate during a *verifying* handshake. A ``--file`` check, an ``--insecure`` run or a store whose security
level lets SHA-1 through would otherwise say nothing about a certificate that browsers refuse. These pure
functions give the same answer on every code path; the presentation layer turns :class:`Weakness` into words.

Rules:

* A signature made with MD2, MD4, MD5, SHA-0 or SHA-1 is weak (collisions are practical, so a CA's signature
  over such a hash can be transplanted), except on a self-signed root: trust in a root comes from the store,
  not from its self-signature, which no client checks.
* An RSA or DSA key below 2048 bits, or an EC key below 256 bits, is weak, on roots too: a root's key signs
  everything beneath it.
* Ed25519 and Ed448 are never weak. A key this ``cryptography`` cannot load (a curve it does not support, an
  unknown algorithm) gives no verdict rather than an error: the check still reports what it can.

The signature is judged from the dotted OID, not from ``cryptography``'s hash object, because old releases
(Debian 12's 38) raise UnsupportedAlgorithm for OIDs they do not know (MD2, MD4, the OIW aliases) and the dotted
string is always there. Only RSASSA-PSS names its hash in parameters; see :func:`_pss_hash_name`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, NamedTuple

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["MINIMUM_BITS", "RSASSA_PSS", "WEAK_SIGNATURE_OIDS", "Weakness", "weak_signature_hash", "weaknesses"]


class Weakness(NamedTuple):
    """One weak part of a certificate."""

    kind: Literal["signature", "key"]
    algorithm: str  # operator words: "SHA-1", "MD5", ... for a signature; "RSA", "DSA", "EC" for a key
    bits: int | None  # key size for "key"; None for "signature"
    minimum: int | None  # the rule's minimum bits for "key"; None for "signature"


#: The smallest key size that is not weak, per key algorithm (operator words).
MINIMUM_BITS: Final[Mapping[str, int]] = MappingProxyType({"RSA": 2048, "DSA": 2048, "EC": 256})

#: Signature algorithm OIDs (dotted) whose hash is weak, with that hash in operator words. The OIW (1.3.14)
#: aliases are obsolete but still turn up in old private PKIs; SHA-0 ("SHA") is weaker still than SHA-1.
WEAK_SIGNATURE_OIDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "1.2.840.113549.1.1.2": "MD2",  # md2WithRSAEncryption
        "1.2.840.113549.1.1.3": "MD4",  # md4WithRSAEncryption
        "1.2.840.113549.1.1.4": "MD5",  # md5WithRSAEncryption
        "1.2.840.113549.1.1.5": "SHA-1",  # sha1WithRSAEncryption
        "1.2.840.10040.4.3": "SHA-1",  # dsa-with-sha1
        "1.2.840.10045.4.1": "SHA-1",  # ecdsa-with-SHA1
        "1.3.14.7.2.3.1": "MD2",  # md2WithRSA (OIW)
        "1.3.14.3.2.2": "MD4",  # md4WithRSA (OIW)
        "1.3.14.3.2.4": "MD4",  # md4WithRSAEncryption (OIW)
        "1.3.14.3.2.3": "MD5",  # md5WithRSA (OIW)
        "1.3.14.3.2.13": "SHA-0",  # dsaWithSHA (OIW; the withdrawn original SHA)
        "1.3.14.3.2.15": "SHA-0",  # shaWithRSASignature (OIW)
        "1.3.14.3.2.27": "SHA-1",  # dsaWithSHA1 (OIW)
        "1.3.14.3.2.29": "SHA-1",  # sha1WithRSASignature (OIW)
    }
)

#: RSASSA-PSS: the OID names no hash; its parameters do (SHA-1 when they leave it at the DEFAULT).
RSASSA_PSS: Final = "1.2.840.113549.1.1.10"

# ``cryptography``'s hash names (HashAlgorithm.name) that are weak, for the PSS hash it reports.
_WEAK_HASH_NAMES: Final[Mapping[str, str]] = MappingProxyType({"md5": "MD5", "sha1": "SHA-1"})


def weak_signature_hash(oid: str, pss_hash: str | None = None) -> str | None:
    """The weak hash (operator words) of signature algorithm ``oid`` (dotted), or None when it is not weak.

    ``pss_hash`` is ``cryptography``'s name for the hash an RSASSA-PSS signature's parameters name ("sha1"),
    None when unknown: then there is no verdict, not a guess. It is ignored for every other OID, whose hash is
    fixed by the OID itself. An OID not in the table (SHA-2, SHA-3, EdDSA, one nobody knows) is not weak.
    """
    if oid == RSASSA_PSS:
        return _WEAK_HASH_NAMES.get(pss_hash) if pss_hash is not None else None
    return WEAK_SIGNATURE_OIDS.get(oid)


def weaknesses(cert: x509.Certificate, *, self_signed_root: bool) -> tuple[Weakness, ...]:
    """The weak parts of ``cert``: its signature (unless ``self_signed_root``), then its public key."""
    found: list[Weakness] = []
    # cryptography warns (to stderr, which Zabbix merges into the value) about odd certificates it still reads.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not self_signed_root:
            oid = cert.signature_algorithm_oid.dotted_string
            hashed = weak_signature_hash(oid, _pss_hash_name(cert) if oid == RSASSA_PSS else None)
            if hashed is not None:
                found.append(Weakness("signature", hashed, None, None))
        key = _weak_key(cert)
        if key is not None:
            found.append(key)
    return tuple(found)


def _weak_key(cert: x509.Certificate) -> Weakness | None:
    # Imported here, not at module level: a healthy check that never parses a certificate with cryptography
    # should not pay for importing it (see plugin/certinfo.py).
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError, TypeError):
        return None  # a curve or algorithm this cryptography cannot load: no verdict, and no error either
    if isinstance(key, rsa.RSAPublicKey):
        algorithm, bits = "RSA", key.key_size
    elif isinstance(key, dsa.DSAPublicKey):
        algorithm, bits = "DSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        algorithm, bits = "EC", key.curve.key_size  # the curve's order size: 192 for P-192, 163 for sect163k1
    else:
        return None  # Ed25519, Ed448 (and X25519/X448 keys, which sign nothing): fixed, strong sizes
    minimum = MINIMUM_BITS[algorithm]
    return Weakness("key", algorithm, bits, minimum) if bits < minimum else None


# --- Version compatibility (for plugin/compat.py) ---------------------------------------------------------------
# cryptography releases that read RSASSA-PSS parameters (50 does) return the PSS hash from
# ``signature_hash_algorithm``, SHA1 when the parameters leave it at its DEFAULT. Debian 12's 38 knows only OIDs
# that name their hash and raises UnsupportedAlgorithm for PSS: there the hash is unknown and PSS gets no
# verdict (a SHA-1 PSS certificate is vanishingly rare; parsing the DER ourselves is not worth the risk).
def _pss_hash_name(cert: x509.Certificate) -> str | None:
    """``cryptography``'s name ("sha1", "sha256") for the hash of ``cert``'s PSS signature, or None if unknown."""
    from cryptography.exceptions import UnsupportedAlgorithm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            algorithm = cert.signature_hash_algorithm
        except (UnsupportedAlgorithm, ValueError, TypeError):
            return None
    return algorithm.name if algorithm is not None else None
