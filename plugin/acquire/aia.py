"""Acquire, ``--aia``: fetch the issuer a chain is missing from the certificate's AIA caIssuers URL.

Browsers fetch a missing intermediate from there, so a site that does not send its intermediate works in
Chrome and fails in curl, Python, Java, Go and most mail servers. From the certificates alone a missing
intermediate cannot be told from a CA the store does not trust; with the issuer fetched it can: the path is
built again (:mod:`.chain`, OpenSSL's rules, the same trust store as the handshake) with the fetched
certificates added, and :class:`Aia` records whether it now reaches the store.

Only when OpenSSL could not find an issuer (errors 2, 20, 21), never for a healthy chain: a default check still
costs one handshake and no fetch. Caveat: the path builder decides by names and key identifiers, with a
signature only as a tie-break, as OpenSSL's path building does; the fetched certificate only changes which
sentence names the failure, which is CRITICAL either way.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from typing import NamedTuple

from ..budget import Budget
from ..errors import CheckError
from ..sanitize import clean
from ..target import Proxy
from .cache import Cache
from .presented import Presented, VerifyCode

__all__ = ["MAX_ISSUER_BYTES", "Aia", "complete"]

# An intermediate is 1-2 KB; a PKCS#7 bundle of a few of them stays far below this.
MAX_ISSUER_BYTES = 256 * 1024
# What the fetch leaves of the -t budget: the evaluation of the chain still has to run in it.
_RESERVE = 0.25
# OpenSSL found no issuer for the top of the path: what fetching it can resolve.
_NO_ISSUER = frozenset({VerifyCode.UNABLE_TO_GET_ISSUER_CERT, VerifyCode.UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                        VerifyCode.UNABLE_TO_VERIFY_LEAF_SIGNATURE})


class Aia(NamedTuple):
    """What ``--aia`` found for the certificate at the top of the path: the URL it fetched, the issuer's subject
    (when a fetched certificate is on the rebuilt path), whether that path reaches the trust store, or the error."""

    url: str
    issuer: str | None = None
    trusted: bool = False
    error: str | None = None


def complete(presented: Presented, cafile: str | None, capath: str | None, budget: Budget,
             cache: Cache | None = None, proxy: Proxy | None = None) -> Presented:
    """``presented`` with :attr:`Presented.aia` set when its path stops for want of an issuer that the top
    certificate names a caIssuers URL for; unchanged otherwise. With ``cache``, the certificates fetched are
    kept for the cache's cap (an intermediate at a URL seldom changes), and used instead of a fetch."""
    verification = presented.verification
    if not verification.attempted or verification.code not in _NO_ISSUER or not verification.alarm_trust \
            or not presented.certificates:  # (--ignore-trust: nothing would be said of it)
        return presented
    from cryptography import x509  # only here: a chain without its issuer

    top_der = presented.path[-1][0] if presented.path else presented.certificates[0][0]
    try:
        top = x509.load_der_x509_certificate(top_der)
    except (ValueError, x509.InvalidVersion):  # the evaluation names what is wrong with it
        return presented
    url = _ca_issuers(top)
    if url is None:
        return presented
    from . import http

    key = Cache.key("GET", url)
    data = cache.load(key) if cache is not None else None
    try:
        if data is not None:
            fetched = _certificates(data, url)
        else:
            # Its own share of what is left, so that a server that never answers cannot leave the check no time
            # to say so (and to evaluate the chain it has).
            share = Budget(max(budget.remaining("the fetch of the issuer") - _RESERVE, 0.01))
            data = http.get(url, share, limit=MAX_ISSUER_BYTES,
                            accept="application/pkix-cert, application/pkcs7-mime", proxy=proxy)
            fetched = _certificates(data, url)
            if cache is not None:
                cache.store(key, data, cache.until())
    except CheckError as exc:
        return presented._replace(aia=Aia(url, error=exc.message))
    return presented._replace(aia=_rebuilt(top, fetched, presented, url, cafile, capath, budget))


def _ca_issuers(cert: object) -> str | None:
    """The first http:// caIssuers URL of the certificate's AIA extension."""
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID

    assert isinstance(cert, x509.Certificate)
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for item in access:
        location = item.access_location
        if item.access_method == AuthorityInformationAccessOID.CA_ISSUERS and \
                isinstance(location, x509.UniformResourceIdentifier) and location.value.lower().startswith("http://"):
            return str(location.value)
    return None


def _certificates(data: bytes, url: str) -> list[object]:
    """A DER certificate (what RFC 5280 specifies), a PKCS#7 certs-only bundle, or PEM of either."""
    from cryptography import exceptions, x509
    from cryptography.hazmat.primitives.serialization import pkcs7

    # What the loaders raise for hostile bytes: ValueError, TypeError; a certificate of another X.509 version
    # InvalidVersion; a PKCS#7 that is not signedData UnsupportedAlgorithm (38: InternalError).
    refused = (ValueError, TypeError, x509.InvalidVersion, exceptions.UnsupportedAlgorithm, exceptions.InternalError)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # load_pem_x509_certificates (plural) is cryptography >= 39; Debian 12's 38 reads the first PEM block.
        pem = getattr(x509, "load_pem_x509_certificates", x509.load_pem_x509_certificate)
        for load in (x509.load_der_x509_certificate, pem, pkcs7.load_der_pkcs7_certificates,
                     pkcs7.load_pem_pkcs7_certificates):
            try:
                loaded = load(data)
            except refused:
                continue
            certs = loaded if isinstance(loaded, list) else [loaded]
            if certs:
                return list(certs)
    raise CheckError(f"{clean(url, 200)}: the answer is not a certificate or a PKCS#7 bundle of them")


def _rebuilt(top: object, fetched: list[object], presented: Presented, url: str, cafile: str | None,
             capath: str | None, budget: Budget) -> Aia:
    from cryptography import x509

    from .chain import Anchors, build_path

    assert isinstance(top, x509.Certificate)
    certs = [cert for cert in fetched if isinstance(cert, x509.Certificate)]
    anchors = Anchors.load(cafile, capath)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sent = [x509.load_der_x509_certificate(der) for der, _ in presented.certificates]

    def within_budget() -> None:
        budget.remaining("the path through the fetched issuer")

    built = build_path([top, *certs, *sent], anchors, datetime.now(timezone.utc), check=within_budget)
    issuer = next((element.cert for element in built.path[1:] if element.cert in certs), None)
    last = built.path[-1]
    trusted = built.complete and len(built.path) > 1 and (last.sent is None or last.cert in anchors)
    return Aia(url, issuer=issuer.subject.rfc4514_string() if issuer is not None else None,
               trusted=trusted and issuer is not None)
