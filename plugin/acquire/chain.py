"""Certificate path building without a handshake: the path OpenSSL would build, from a bundle and a trust store.

The network modes let OpenSSL build the path during the handshake (``X509_V_FLAG_TRUSTED_FIRST``, no partial
chains, verify depth 100). File mode (``--file bundle.pem``) has no handshake, so this module rebuilds that
path from the same inputs, following OpenSSL 3's ``build_chain``, so that the same certificates get the same
verdict in every mode:

* an issuer is a certificate that *likely issued* the current one (``ossl_x509_likely_issued``): its subject
  equals the current certificate's issuer under OpenSSL's name comparison (case- and whitespace-insensitive
  for text, see :func:`_name_key`); the current certificate's authorityKeyIdentifier (key id, serial, issuer
  name), where present, matches it; its key type fits the current certificate's signature algorithm;
* at every step the trust store is searched first; once a store certificate is on the path only the store is
  searched (OpenSSL stops taking certificates from the peer then), and the path ends at a self-signed one or
  where the store has no issuer;
* among several candidates: the first valid at ``now``, else the one with the latest notAfter (``find_issuer``);
* the path ends at a self-signed certificate, where no issuer is found, or at 102 certificates (depth 100:
  100 intermediates between the leaf and the anchor, as OpenSSL counts).

Deliberate differences from OpenSSL, each for a reason given where it is implemented:

* the signature breaks ties: when several candidates are likely, those whose signature definitely fails are
  dropped (OpenSSL takes the first by time and then fails verification); at most
  :data:`MAX_SIGNATURE_CHECKS` per step;
* no certificate appears twice on a path, not even from the store (OpenSSL could cycle between two store
  certificates that issued each other until the depth limit);
* nothing here *verifies*: no signature is required to hold, and keyUsage, basicConstraints, name constraints,
  policies, purposes and OpenSSL's per-certificate trust settings (``TRUSTED CERTIFICATE`` blocks) are not
  looked at. OpenSSL 3 does not look at them while choosing the path either (keyUsage included: it checks it
  only after building), so the path is the same; the verdict on it is the caller's business.

Importing this module imports ``cryptography.x509`` (20-50 ms); import it only where a path is to be built.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import ssl
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from ..compat import not_valid_after, not_valid_before
from ..errors import InputError
from ..sanitize import clean
from .der import CERTIFICATE_LABELS, element, oid_text, pem_blocks, trusted_certificate

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

__all__ = [
    "MAX_DEPTH",
    "MAX_PATH_LENGTH",
    "MAX_PATH_SIGNATURE_CHECKS",
    "MAX_SIGNATURE_CHECKS",
    "Anchors",
    "ChainPath",
    "PathElement",
    "build_path",
    "choose_leaf",
]

#: OpenSSL's default verify depth: intermediates allowed between the leaf and the trust anchor.
MAX_DEPTH = 100
#: The longest path OpenSSL builds at that depth: leaf + MAX_DEPTH intermediates + anchor. Longer chains are cut
#: here, as OpenSSL cuts them (and then reports "certificate chain too long").
MAX_PATH_LENGTH = MAX_DEPTH + 2
#: Signatures checked per step at most, to break ties between candidates (a hostile bundle can hold hundreds of
#: certificates with the same name; each check costs 20-100 microseconds).
MAX_SIGNATURE_CHECKS = 8
# ...and per path: a hostile bundle of same-named CAs that issue each other could otherwise ask for 8 checks at
# each of 100 steps (about 60-100 ms); real chains need none or a handful.
MAX_PATH_SIGNATURE_CHECKS = 32

# A c_rehash / openssl rehash link: <8 hex digits of the subject hash>.<n>
_HASH_LINK = re.compile(r"^([0-9a-f]{8})\.(\d+)$")


class PathElement(NamedTuple):
    """One certificate on the path; ``sent`` is its index in what was sent, None when only the store has it."""

    cert: x509.Certificate
    sent: int | None


class ChainPath(NamedTuple):
    """A built path, leaf first, and what was sent but is not on it.

    ``complete`` means the path *ends* well (at a trust-store certificate or a self-signed one), not that it is
    trusted or that any signature on it holds: a self-signed root that is not in the store completes a path too.
    A path cut at MAX_PATH_LENGTH is not complete, whatever its last certificate.
    ``extras`` lists each certificate once (the first copy of exact duplicates), and never a copy of one on the
    path.
    """

    path: tuple[PathElement, ...]
    extras: tuple[int, ...]
    complete: bool


# --- what OpenSSL compares: names, key identifiers, key and signature types -------------------------------------

# OpenSSL compares names by a canonical encoding (x509_name_canon): text values of these ASN.1 string types are
# converted to UTF-8, trimmed, inner whitespace runs folded to one space and ASCII lowercased; values of other
# types compare as they are. RDNs are sets: the order of attributes inside one does not matter.
_CANON_TYPES = frozenset({12, 19, 20, 22, 26, 28, 30})  # UTF8, Printable, T61, IA5, Visible, Universal, BMP
_SPACES = " \t\n\v\f\r"  # ossl_isspace
_SPACE_RUN = re.compile(f"[{_SPACES}]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_NameValue = str | tuple[int, str | bytes]
_NameKey = tuple[frozenset[tuple[str, _NameValue]], ...]


def _name_key(name: x509.Name) -> _NameKey:
    """A hashable key equal for two names exactly when OpenSSL's ``X509_NAME_cmp`` calls them equal.

    Comparing ``Name`` objects or their DER would be stricter: a PrintableString "Example CA" and a UTF8String
    "example  ca" are the same name to OpenSSL, and real chains have such pairs (re-encoded issuer names).
    Caveat: T61String is taken as cryptography decodes it; OpenSSL reads it as Latin-1.
    """
    rdns = []
    for rdn in name.rdns:
        entries: set[tuple[str, _NameValue]] = set()
        for attribute in rdn:
            value = attribute.value
            kind = getattr(getattr(attribute, "_type", None), "value", None)  # the ASN.1 string tag (private)
            canonical: _NameValue
            if isinstance(value, str) and (kind is None or kind in _CANON_TYPES):
                canonical = _SPACE_RUN.sub(" ", value.strip(_SPACES)).translate(_ASCII_LOWER)
            else:  # NumericString, BIT STRING, ...: compared with their type, as they are
                canonical = (kind if isinstance(kind, int) else -1, value)
            entries.add((attribute.oid.dotted_string, canonical))
        rdns.append(frozenset(entries))
    return tuple(rdns)


def _read_name_key(owner: object, attribute: str) -> _NameKey | None:
    """The key of ``owner.attribute``, a name cryptography decodes on access and may fail to (bad string
    contents, unknown tags): None then, and that name matches nothing."""
    try:
        return _name_key(getattr(owner, attribute))
    except (ValueError, KeyError, TypeError, UnicodeError):
        return None


# Public-key algorithm (subjectPublicKeyInfo OID) -> key family; the signature OID -> the key family it needs.
_KEY_FAMILIES = {
    "1.2.840.113549.1.1.1": "rsa",
    "1.2.840.113549.1.1.10": "rsa-pss",
    "1.2.840.10045.2.1": "ec",
    "1.3.101.112": "ed25519",
    "1.3.101.113": "ed448",
    "1.2.840.10040.4.1": "dsa",
}
_RSA_SIGNATURES = ("1.2.840.113549.1.1.2", "1.2.840.113549.1.1.3", "1.2.840.113549.1.1.4", "1.2.840.113549.1.1.5",
                   "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13", "1.2.840.113549.1.1.14",
                   "1.2.840.113549.1.1.15", "1.2.840.113549.1.1.16", "1.3.14.3.2.3", "1.3.14.3.2.29",
                   "1.3.36.3.3.1.2", "2.16.840.1.101.3.4.3.13", "2.16.840.1.101.3.4.3.14", "2.16.840.1.101.3.4.3.15",
                   "2.16.840.1.101.3.4.3.16")
_EC_SIGNATURES = ("1.2.840.10045.4.1", "1.2.840.10045.4.3.1", "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3",
                  "1.2.840.10045.4.3.4", "2.16.840.1.101.3.4.3.9", "2.16.840.1.101.3.4.3.10", "2.16.840.1.101.3.4.3.11",
                  "2.16.840.1.101.3.4.3.12")
_DSA_SIGNATURES = ("1.2.840.10040.4.3", "1.3.14.3.2.12", "1.3.14.3.2.27",
                   *(f"2.16.840.1.101.3.4.3.{arc}" for arc in range(1, 9)))
_RSA_PSS = "1.2.840.113549.1.1.10"
_SIGNATURE_KEYS: dict[str, frozenset[str]] = {
    **{oid: frozenset({"rsa"}) for oid in _RSA_SIGNATURES},
    _RSA_PSS: frozenset({"rsa", "rsa-pss"}),  # OpenSSL: an RSA key also fits an RSASSA-PSS signature
    **{oid: frozenset({"ec"}) for oid in _EC_SIGNATURES},
    **{oid: frozenset({"dsa"}) for oid in _DSA_SIGNATURES},
    "1.3.101.112": frozenset({"ed25519"}),
    "1.3.101.113": frozenset({"ed448"}),
}


def _public_key_oid(cert: x509.Certificate) -> str | None:
    """The subjectPublicKeyInfo algorithm OID, or None: what OpenSSL's key-type test looks at.

    Version difference: ``public_key_algorithm_oid`` exists from cryptography 43; before, the OID
    is read from the DER, which also works for keys a version cannot load (RSA-PSS keys on cryptography 38).
    """
    try:
        return str(cert.public_key_algorithm_oid.dotted_string)
    except AttributeError:
        pass
    except (ValueError, UnsupportedAlgorithm):
        return None
    try:
        tbs = cert.tbs_certificate_bytes
        _, position, _ = element(tbs, 0)  # TBSCertificate
        tag, _, end = element(tbs, position)
        if tag == 0xA0:  # [0] version
            position = end
        for _ in range(5):  # serialNumber, signature, issuer, validity, subject
            _, _, position = element(tbs, position)
        _, position, _ = element(tbs, position)  # subjectPublicKeyInfo
        _, position, _ = element(tbs, position)  # AlgorithmIdentifier
        tag, start, end = element(tbs, position)
        return oid_text(tbs[start:end]) if tag == 0x06 else None
    except (ValueError, IndexError):
        return None


_KeyIds = tuple[bool, bytes | None, bytes | None, int | None, _NameKey | None]


class _Facts:
    """What path building needs to know about one certificate, each read once and only when first needed.

    Every read tolerates what cryptography refuses: a certificate whose extensions cannot be decoded is
    ``invalid`` (OpenSSL's EXFLAG_INVALID: it then neither issues nor is issued), a name that cannot be decoded
    has no key (it matches nothing), a key that cannot be loaded leaves its signatures unverifiable.
    Certificates are identified by the certificate objects, whose equality and hash are those of their DER
    (``public_bytes`` would re-encode: 20-50 microseconds per certificate).
    """

    def __init__(self, cert: x509.Certificate) -> None:
        self.cert = cert

    @cached_property
    def subject(self) -> _NameKey | None:
        return _read_name_key(self.cert, "subject")

    @cached_property
    def issuer(self) -> _NameKey | None:
        return _read_name_key(self.cert, "issuer")

    @cached_property
    def not_before(self) -> datetime:
        return not_valid_before(self.cert)

    @cached_property
    def not_after(self) -> datetime:
        return not_valid_after(self.cert)

    def valid_at(self, now: datetime) -> bool:
        # OpenSSL's X509_cmp_time counts the notAfter second itself as expired, as evaluate does (left <= 0).
        return self.not_before <= now < self.not_after

    @cached_property
    def key_family(self) -> str | None:
        oid = _public_key_oid(self.cert)
        return _KEY_FAMILIES.get(oid, oid) if oid is not None else None

    @cached_property
    def public_key(self) -> CertificatePublicKeyTypes | None:
        # Loaded once: a candidate is checked at many steps of a hostile bundle, and cryptography 38 takes
        # ~180 microseconds per load.
        try:
            return self.cert.public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return None

    @cached_property
    def signature_keys(self) -> frozenset[str] | None:
        """The key families that can have made this signature; None: an algorithm this table does not know.

        OpenSSL rejects a signature algorithm it does not know; this table knows fewer than OpenSSL does (GOST,
        SM2, post-quantum ones), so an unknown one constrains nothing rather than cutting a path OpenSSL builds.
        """
        try:
            return _SIGNATURE_KEYS.get(self.cert.signature_algorithm_oid.dotted_string)
        except (ValueError, UnsupportedAlgorithm):
            return None

    @cached_property
    def key_ids(self) -> _KeyIds:
        """(invalid, subjectKeyIdentifier, AKI key id, AKI serial, AKI issuer directory name)."""
        try:
            extensions = self.cert.extensions
        except (ValueError, TypeError, KeyError, UnsupportedAlgorithm):  # duplicate or undecodable extensions
            return True, None, None, None, None
        ski: bytes | None = None
        keyid: bytes | None = None
        serial: int | None = None
        directory: _NameKey | None = None
        for extension in extensions:
            value = extension.value
            if isinstance(value, x509.SubjectKeyIdentifier):
                ski = value.digest
            elif isinstance(value, x509.AuthorityKeyIdentifier):
                keyid, serial = value.key_identifier, value.authority_cert_serial_number
                for general in value.authority_cert_issuer or ():  # X509_check_akid takes the first directoryName
                    if isinstance(general, x509.DirectoryName):
                        directory = _read_name_key(general, "value")
                        break
        return False, ski, keyid, serial, directory

    @cached_property
    def serial(self) -> int | None:
        try:
            return self.cert.serial_number
        except ValueError:
            return None

    @cached_property
    def self_signed(self) -> bool:
        """OpenSSL's EXFLAG_SS: self-issued by name, and its own AKI and signature algorithm fit its own key."""
        return self.subject is not None and self.subject == self.issuer and _likely_issued(self, self)


def _likely_issued(issuer: _Facts, child: _Facts) -> bool:
    """OpenSSL's ``ossl_x509_likely_issued(issuer, child)``: names, AKI against SKI/serial/name, key type."""
    if issuer.subject is None or issuer.subject != child.issuer:
        return False
    invalid, ski, _, _, _ = issuer.key_ids
    child_invalid, _, keyid, serial, directory = child.key_ids
    if invalid or child_invalid:
        return False
    if keyid is not None and ski is not None and keyid != ski:
        return False
    if serial is not None and serial != issuer.serial:
        return False
    if directory is not None and directory != issuer.issuer:
        return False
    needed = child.signature_keys
    return needed is None or issuer.key_family in needed


# --- signatures (the tie-breaker) -------------------------------------------------------------------------------


def _key_family(key: object) -> str | None:
    for family, kind in (("rsa", rsa.RSAPublicKey), ("ec", ec.EllipticCurvePublicKey), ("dsa", dsa.DSAPublicKey),
                         ("ed25519", ed25519.Ed25519PublicKey), ("ed448", ed448.Ed448PublicKey)):
        if isinstance(key, kind):
            return family
    return None


def _rsa_scheme(cert: x509.Certificate) -> padding.PKCS1v15 | padding.PSS | None:
    """The RSA padding of ``cert``'s signature; None when it cannot be known.

    Version difference: ``signature_algorithm_parameters`` (cryptography 41) carries the
    RSASSA-PSS parameters; before it, only PKCS#1 v1.5 signatures can be checked.
    """
    scheme = getattr(cert, "signature_algorithm_parameters", None)
    if isinstance(scheme, (padding.PSS, padding.PKCS1v15)):
        return scheme
    if cert.signature_algorithm_oid.dotted_string == _RSA_PSS:
        return None
    return padding.PKCS1v15()


def _signature_verdict(child: x509.Certificate, key: CertificatePublicKeyTypes | None) -> bool | None:
    """True: ``key`` made ``child``'s signature; False: it definitely did not; None: cannot tell.

    Verified with the key's own ``verify()`` by key type on every cryptography version, not with
    ``verify_directly_issued_by`` (cryptography 40+): that one refuses SHA-1 and MD5 signatures and names that
    differ only in encoding (ValueError, which would make them unverifiable), and loads the issuer key again on
    every call. This way cryptography 38 and the newest versions give the same answers.
    """
    try:
        needed = _SIGNATURE_KEYS.get(child.signature_algorithm_oid.dotted_string)
        if key is None or (needed is not None and _key_family(key) not in needed):
            return None  # no key, or one that cannot have made this kind of signature: nothing to check
        signature, data = child.signature, child.tbs_certificate_bytes
        if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
            return True
        digest = child.signature_hash_algorithm
        if digest is None:
            return None
        if isinstance(key, rsa.RSAPublicKey):
            scheme = _rsa_scheme(child)
            if scheme is None:
                return None
            key.verify(signature, data, scheme, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(digest))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, data, digest)
        else:
            return None
    except InvalidSignature:
        return False
    except (UnsupportedAlgorithm, ValueError, TypeError):
        return None
    return True


def _pick(child: _Facts, candidates: list[_Facts], now: datetime, allowance: list[int]) -> _Facts | None:
    """Of the certificates that likely issued ``child``, the one OpenSSL's ``find_issuer`` takes, signatures
    breaking ties first.

    The tie-break is ours, not OpenSSL's: two CAs with the same name and no key identifiers are both "likely",
    and OpenSSL would take the first by time and then fail on the signature. Only a definite failure removes a
    candidate; a signature that cannot be checked (an unknown algorithm, a key that does not load) keeps it, and
    if every checked one fails, all stay. Candidates past the first MAX_SIGNATURE_CHECKS stay unchecked, and
    so do all once the path has used ``allowance`` (a one-element counter shared by the steps of one path).
    """
    if len(candidates) > 1:
        kept = []
        for index, candidate in enumerate(candidates):
            if index >= MAX_SIGNATURE_CHECKS or allowance[0] <= 0:
                kept.append(candidate)
                continue
            allowance[0] -= 1
            if _signature_verdict(child.cert, candidate.public_key) is not False:
                kept.append(candidate)
        candidates = kept or candidates
    best: _Facts | None = None
    for candidate in candidates:
        if candidate.valid_at(now):
            return candidate
        if best is None or candidate.not_after > best.not_after:  # strictly later: the first wins ties
            best = candidate
    return best


class _Index:
    """Certificates by subject name key, in the order given (the caller passes each certificate once)."""

    def __init__(self, facts: Iterable[_Facts]) -> None:
        self.by_subject: dict[_NameKey, list[_Facts]] = {}
        for fact in facts:
            if fact.subject is not None:
                self.by_subject.setdefault(fact.subject, []).append(fact)

    def likely_issuers(self, child: _Facts, skip: Callable[[_Facts], bool]) -> list[_Facts]:
        if child.issuer is None:
            return []
        bucket = self.by_subject.get(child.issuer, ())
        return [fact for fact in bucket if not skip(fact) and _likely_issued(fact, child)]


def _unique(certificates: Iterable[x509.Certificate]) -> dict[x509.Certificate, int]:
    """Each certificate (by DER) -> the position of its first copy."""
    first: dict[x509.Certificate, int] = {}
    for position, cert in enumerate(certificates):
        first.setdefault(cert, position)
    return first


# --- the trust store ------------------------------------------------------------------------------------------


class Anchors:
    """The trust store: read at :meth:`load`, parsed on first use (a run whose path needs no store parses none).

    Caveats: only the certificates count; OpenSSL's per-certificate trust settings in ``TRUSTED CERTIFICATE``
    blocks (rejected or limited purposes) are ignored, and certificates that cannot be read are skipped.
    """

    def __init__(self, *, blobs: Sequence[bytes] = (), certificates: Sequence[x509.Certificate] = ()) -> None:
        self._blobs = tuple(blobs)
        self._certificates = tuple(certificates)
        self._index: _Index | None = None
        self._members: frozenset[x509.Certificate] = frozenset()

    @classmethod
    def load(cls, cafile: str | None = None, capath: str | None = None) -> Anchors:
        """The certificates of ``cafile`` (a PEM bundle) and of the hash links in ``capath``, or the system's.

        With neither: ``ssl.get_default_verify_paths()``, its cafile when it exists (``SSL_CERT_FILE`` honoured),
        else the hash links of its capath (``SSL_CERT_DIR`` honoured), else an empty store. OpenSSL's
        ``set_default_verify_paths`` consults both; distributions fill both with the same certificates.
        An unreadable cafile or capath directory raises :class:`InputError`; an unreadable link in the directory
        is skipped, as OpenSSL's directory lookup skips it.
        """
        if cafile is None and capath is None:
            paths = ssl.get_default_verify_paths()
            if paths.cafile:
                cafile = paths.cafile
            elif paths.capath:
                capath = paths.capath
            else:
                return cls()
        blobs: list[bytes] = []
        if cafile is not None:
            try:
                blobs.append(Path(cafile).read_bytes())
            except OSError as exc:
                raise InputError(f"cannot read the trust store {clean(cafile)}: {clean(exc.strerror or str(exc))}"
                                 ) from exc
        if capath is not None:
            blobs.extend(_read_hash_links(capath))
        return cls(blobs=blobs)

    @classmethod
    def of(cls, certificates: Sequence[x509.Certificate]) -> Anchors:
        """A store holding exactly ``certificates``, in this order (tests, ``--cafile`` contents)."""
        return cls(certificates=certificates)

    def _store(self) -> _Index:
        if self._index is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                certificates = list(self._certificates)
                for blob in self._blobs:
                    certificates.extend(_pem_certificates(blob))
                self._index = _Index(_Facts(cert) for cert in _unique(certificates))
                self._members = frozenset(certificates)
            self._blobs = ()  # parsed once; the bytes are no longer needed
        return self._index

    def __contains__(self, cert: object) -> bool:
        """Whether this exact certificate (same DER) is in the store: tells a trusted root from a sent one."""
        if not isinstance(cert, x509.Certificate):
            return False
        self._store()
        return cert in self._members

    def issuers_of(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """The store certificates that likely issued ``cert`` (see the module docstring), in store order."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [fact.cert for fact in self._store().likely_issuers(_Facts(cert), lambda fact: False)]


def _read_hash_links(capath: str) -> list[bytes]:
    """The contents of the ``<hash>.<n>`` entries of ``capath``, in OpenSSL's lookup order (.0, .1, ..., .10)."""
    try:
        with os.scandir(capath) as entries:
            links = []
            for entry in entries:
                match = _HASH_LINK.match(entry.name)
                if match:
                    links.append((match.group(1), int(match.group(2)), entry.path))
    except OSError as exc:
        raise InputError(f"cannot read the trust store directory {clean(capath)}: "
                         f"{clean(exc.strerror or str(exc))}") from exc
    blobs = []
    for _, _, path in sorted(links):
        try:
            blobs.append(Path(path).read_bytes())
        except OSError:  # a dangling link, a directory, no permission: that entry is not in the store
            continue
    return blobs


def _pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle; blocks that are not valid certificates are skipped, as OpenSSL does.

    ``load_pem_x509_certificates`` (cryptography 39+) reads a healthy bundle in one call; it refuses the whole
    bundle for one bad block and ignores TRUSTED CERTIFICATE blocks, so then each block is read on its own.
    """
    load_all = getattr(x509, "load_pem_x509_certificates", None)
    if load_all is not None and b"TRUSTED CERTIFICATE" not in data:
        try:
            return list(load_all(data))
        except ValueError:
            pass
    certificates = []
    for label, body in pem_blocks(data)[0]:
        if label not in CERTIFICATE_LABELS:
            continue
        try:
            der: bytes | None = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            continue
        if der and label == b"TRUSTED CERTIFICATE":
            der = trusted_certificate(der)
        if not der:
            continue
        try:
            certificates.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    return certificates


# --- the leaf and the path ------------------------------------------------------------------------------------


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError, TypeError, KeyError, UnsupportedAlgorithm):
        return False  # absent, or extensions that cannot be read: not known to be a CA


def choose_leaf(sent: Sequence[x509.Certificate]) -> int:
    """The index of the end-entity certificate, wherever a file puts it.

    The first (file order) that is not a CA (basicConstraints absent or CA:FALSE) and likely issued no other
    certificate in ``sent``; else the first that likely issued no other; else 0. Exact duplicates count once.
    Caveat: "issued" is OpenSSL's likely-issued test (names, key identifiers, key types), not a signature check.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unique = [(position, _Facts(cert)) for cert, position in _unique(sent).items()]
        index = _Index(fact for _, fact in unique)
        issuers: set[int] = set()  # id() of every certificate that likely issued another one
        for _, child in unique:
            for candidate in index.by_subject.get(child.issuer, ()) if child.issuer is not None else ():
                # known issuers are skipped: a set of same-named CAs then costs O(n) likely-issued tests, not O(n^2)
                if id(candidate) not in issuers and candidate is not child and _likely_issued(candidate, child):
                    issuers.add(id(candidate))
        childless = [(position, fact) for position, fact in unique if id(fact) not in issuers]
        for position, fact in childless:
            if not _is_ca(fact.cert):
                return position
        return childless[0][0] if childless else 0


def build_path(sent: Sequence[x509.Certificate], anchors: Anchors | None, now: datetime, *,
               leaf: int = 0, check: Callable[[], None] = lambda: None) -> ChainPath:
    """The path OpenSSL (trusted first, depth 100) would build from ``sent[leaf]`` with ``sent`` as untrusted
    certificates and ``anchors`` as the store, at the instant ``now`` (timezone-aware).

    Bounded: one dict lookup per step over the certificates of the wanted name, at most MAX_SIGNATURE_CHECKS
    signature checks per step, at most MAX_PATH_LENGTH - 1 steps; ``check()`` is called once per step (a budget
    check: whatever it raises propagates). Without ``anchors`` the path follows what was sent only: with an
    expired cross-signed copy of a root as the only certificate of that name, it follows that copy, as OpenSSL
    does when the root is not in its store.
    """
    if not 0 <= leaf < len(sent):
        raise IndexError(f"leaf index {leaf} is outside the {len(sent)} certificates sent")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = _unique(sent)
        facts = {position: _Facts(cert) for cert, position in first.items()}  # one per DER, by first position
        start = facts[first[sent[leaf]]]
        pool = _Index(fact for fact in facts.values() if fact is not start)
        store = anchors._store() if anchors is not None else None

        current = start
        path = [PathElement(start.cert, leaf)]
        on_path = {start.cert}  # by DER: a store certificate may be a copy of a sent one
        used = {id(start)}  # the pool's own objects: a cheaper test for the pool's many candidates
        from_store = False  # once a store certificate is on the path, OpenSSL looks only in the store
        complete = False
        allowance = [MAX_PATH_SIGNATURE_CHECKS]
        while True:
            if current.self_signed:
                complete = True
                break
            if len(path) >= MAX_PATH_LENGTH:
                break
            check()
            # Trusted first: a store issuer wins over any sent one, even over a sent copy of itself.
            candidates = store.likely_issuers(current, lambda fact: fact.cert in on_path) if store is not None else []
            if candidates:
                from_store = True
            elif from_store:
                complete = True  # ends at a store certificate whose issuer the store does not have
                break
            else:
                candidates = pool.likely_issuers(current, lambda fact: id(fact) in used)
            issuer = _pick(current, candidates, now, allowance)
            if issuer is None:
                break
            position = first.get(issuer.cert)
            path.append(PathElement(issuer.cert, position))
            on_path.add(issuer.cert)
            used.add(id(facts[position]) if position is not None else id(issuer))
            current = issuer

        extras = tuple(position for position, fact in facts.items() if id(fact) not in used)
    return ChainPath(tuple(path), extras, complete)
