"""Acquire, ``--crl``: look every certificate of the verified path up in the CRL its CRL distribution point names.

Opt-in, bounded and strict, because revocation checks are where peers' false alarms come from:

* only ``http://`` distribution points (RFC 5280 §4.2.1.13; what Let's Encrypt publishes since it ended OCSP),
  fetched with :mod:`.http` (no redirects, a size cap: CRLs can be large), concurrently for the certificates of
  the path, within the ``-t`` budget minus a reserve for the evaluation;
* a CRL counts only when it is DER (or PEM) X.509 v2 CRL issued by the certificate's issuer (the next one on the
  path: names compared, signature verified with its key), so that a forged or misplaced CRL cannot revoke a
  certificate, nor say "good";
* the verdict is a :class:`Revocation` per certificate: ``good``, ``revoked`` (with date and reason), ``stale``
  (past its nextUpdate; it still says whether the certificate is listed) or ``unavailable`` (with why). The
  evaluation alarms on ``revoked`` (CRITICAL) and ``stale`` (WARNING); ``unavailable`` gets the state of
  ``--revocation-unavailable`` (OK by default, and said in the status line all the same).

A trust anchor is not looked up: nothing above it could have revoked it. Delta CRLs, indirect CRLs and
distribution points with reasons or a CRL issuer are not followed: such a certificate is ``unavailable``,
saying so, never ``good``.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

from ..budget import Budget
from ..errors import CheckError
from ..sanitize import clean
from ..target import Proxy
from .cache import Cache
from .presented import Presented
from .threads import run_concurrently

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.x509 import ocsp

__all__ = ["MAX_CRL_BYTES", "MAX_OCSP_BYTES", "Revocation", "check"]

# Large CAs publish CRLs of a few MB; beyond this the check says "unavailable" rather than read on.
MAX_CRL_BYTES = 8 * 1024 * 1024
# An OCSP response is a few KB, with a delegated responder's certificate.
MAX_OCSP_BYTES = 64 * 1024
# How far an OCSP response's thisUpdate may lie in the future (clock skew between responder and monitor).
_SKEW_SECONDS = 300
# What the fetches leave of the -t budget: the evaluation still has to run in it.
_RESERVE = 0.25
# The verdicts whose answer --cache-dir keeps: a stale CRL is past its nextUpdate already, and an answer that
# could not be judged is not worth keeping.
_KEPT = frozenset({"good", "revoked", "unknown"})


class Revocation(NamedTuple):
    """The revocation status of the certificate at ``position`` on the path (0: the leaf)."""

    position: int
    status: str  # "good", "revoked", "stale", "unavailable"
    source: str = "CRL"
    url: str = ""
    revoked_on: datetime | None = None
    reason: str | None = None
    next_update: datetime | None = None
    why: str | None = None
    cached: bool = False  # judged from the answer --cache-dir kept, not from a fetch of this run


def check(presented: Presented, budget: Budget, *, crl: bool = True, ocsp: bool = False,
          cache: Cache | None = None, proxy: Proxy | None = None) -> Presented:
    """``presented`` with :attr:`Presented.revocation` set for every certificate of its path that has an issuer
    on the path (all but the anchor): one :class:`Revocation` per source asked for (``crl``, ``ocsp``) that the
    certificate names.

    With ``cache`` (``--cache-dir``): when every certificate's verdict for every source is kept, they are the
    answer, and nothing is parsed or fetched (a warm check does not even import cryptography). Otherwise the
    path is checked, a CRL or OCSP answer kept there is judged instead of fetched, and what was judged is kept:
    the answer until its nextUpdate (at most the cache's cap), and each certificate's verdict with it."""
    if not presented.path:
        return presented._replace(revocation=(Revocation(0, "unavailable", why="no verified path to check"),))
    sources = tuple(source for source, wanted in (("CRL", crl), ("OCSP", ocsp)) if wanted)
    if cache is not None:
        known = _kept_verdicts(presented, sources, cache)
        if known is not None:
            return presented._replace(revocation=known)
    from cryptography import x509

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            path = [x509.load_der_x509_certificate(der) for der, _ in presented.path]
        except (ValueError, x509.InvalidVersion):
            return presented._replace(revocation=(Revocation(0, "unavailable", why="a certificate of the path "
                                                                                  "cannot be read"),))
    share = Budget(max(budget.remaining("the revocation checks") - _RESERVE, 0.01))
    # Certificates are read here, in this thread: cryptography's objects are not safe to share between threads
    # (38 raises "Already borrowed"), so the threads only move bytes, and the answers are judged after.
    verdicts: list[Revocation] = []
    # What each (position, source) came to, for the cache: a verdict, None (the certificate names no such URL),
    # or absent from the dict (not worth keeping: the fetch or the answer failed).
    settled: dict[tuple[int, str], Revocation | None] = {}
    jobs: list[tuple[int, str, str, bytes | None]] = []  # (position, source, url, OCSP request or None)
    for position, cert in enumerate(path[:-1]):
        for source, locate in (("CRL", _distribution_point), ("OCSP", _responder)):
            if source not in sources:
                continue
            url, problem = locate(cert)
            if problem is not None:  # the certificate's own content: as true next time
                verdicts.append(Revocation(position, "unavailable", source=source, why=problem))
                settled[position, source] = verdicts[-1]
            elif url is not None:
                jobs.append((position, source, url, _ocsp_request(cert, path[position + 1])
                             if source == "OCSP" else None))
            else:
                settled[position, source] = None
    keys = [Cache.key("GET" if request is None else "POST", url, request or b"") for _, _, url, request in jobs]
    fetched: list[bytes | CheckError | None] = [None] * len(jobs)
    kept = [cache.load(key) if cache is not None else None for key in keys]
    missing = [index for index, data in enumerate(kept) if data is None]

    def work(slot: int) -> None:
        from . import http

        index = missing[slot]
        _, _source, url, request = jobs[index]
        try:
            if request is None:
                fetched[index] = http.get(url, share, limit=MAX_CRL_BYTES, accept="application/pkix-crl",
                                          proxy=proxy)
            else:
                fetched[index] = http.post(url, request, share, limit=MAX_OCSP_BYTES,
                                           content_type="application/ocsp-request",
                                           expect="application/ocsp-response", proxy=proxy)
        except CheckError as exc:
            fetched[index] = exc

    run_concurrently(len(missing), work, share, name="revocation", grace=0.05)
    for (position, source, url, _), key, data, hit in zip(jobs, keys, fetched, kept):
        answer = hit if hit is not None else data
        if isinstance(answer, bytes):
            judge = _judge if source == "CRL" else _judge_ocsp
            verdict = judge(position, path[position], path[position + 1], answer, url)
            verdicts.append(verdict._replace(cached=hit is not None))
            # An OCSP answer without nextUpdate says "newer information is always available" (RFC 6960
            # §4.2.2.1): not kept. A CRL without one (not RFC 5280 conforming) lives to the cap.
            if verdict.status in _KEPT and (verdict.next_update is not None or source == "CRL"):
                settled[position, source] = verdict
                if cache is not None and hit is None:
                    cache.store(key, answer, _until(cache, verdict))
        else:
            why = answer.message if answer is not None else f"{clean(url, 200)}: the fetch did not finish in time"
            verdicts.append(Revocation(position, "unavailable", source=source, url=url, why=why))
    if cache is not None:
        _keep_verdicts(presented, settled, cache)
    return presented._replace(revocation=tuple(sorted(verdicts, key=lambda item: item.position)))


def _until(cache: Cache, verdict: Revocation | None) -> float:
    """A verdict (and its answer) lives until the answer's nextUpdate, at most the cache's cap."""
    next_update = verdict.next_update if verdict is not None else None
    return cache.until(next_update.timestamp() if next_update is not None else None)


def _verdict_key(presented: Presented, position: int, source: str) -> str:
    """A certificate's verdict is named by the certificate and its issuer (what the answer was judged against)."""
    return Cache.key("verdict", source, presented.path[position][0] + b"\0" + presented.path[position + 1][0])


def _keep_verdicts(presented: Presented, settled: dict[tuple[int, str], Revocation | None], cache: Cache) -> None:
    import json

    for (position, source), verdict in settled.items():
        document = {"status": "none"} if verdict is None else {
            "status": verdict.status, "url": verdict.url, "reason": verdict.reason, "why": verdict.why,
            "revoked_on": verdict.revoked_on.timestamp() if verdict.revoked_on is not None else None,
            "next_update": verdict.next_update.timestamp() if verdict.next_update is not None else None}
        cache.store(_verdict_key(presented, position, source), json.dumps(document).encode("ascii"),
                    _until(cache, verdict))


def _kept_verdicts(presented: Presented, sources: tuple[str, ...], cache: Cache) -> tuple[Revocation, ...] | None:
    """Every certificate's verdict for every source, from the cache, or None when any one is missing."""
    import json

    def moment(value: object) -> datetime | None:
        return datetime.fromtimestamp(value, timezone.utc) if isinstance(value, (int, float)) else None

    def text(value: object) -> str | None:
        return value if isinstance(value, str) else None

    verdicts: list[Revocation] = []
    for position in range(len(presented.path) - 1):
        for source in sources:
            data = cache.load(_verdict_key(presented, position, source))
            try:
                document = json.loads(data) if data is not None else None
            except ValueError:
                document = None
            if not isinstance(document, dict) or document.get("status") not in (*_KEPT, "unavailable", "none"):
                return None
            if document["status"] != "none":
                verdicts.append(Revocation(position, document["status"], source=source,
                                           url=text(document.get("url")) or "", reason=text(document.get("reason")),
                                           why=text(document.get("why")), revoked_on=moment(document.get(
                                               "revoked_on")), next_update=moment(document.get("next_update")),
                                           cached=True))
    return tuple(verdicts)


def _distribution_point(cert: x509.Certificate) -> tuple[str | None, str | None]:
    """(the first plain http:// CRL URL, None) or (None, why the certificate's CRLs are not looked up)."""
    from cryptography import x509

    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return None, None
    except ValueError as exc:
        return None, f"its CRL distribution points cannot be read ({clean(str(exc), 80)})"
    for point in points:
        if point.reasons is not None or point.crl_issuer is not None or not point.full_name:
            continue  # partitioned or indirect CRLs: not followed (see the module docstring)
        for name in point.full_name:
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.lower().startswith("http://"):
                return str(name.value), None
    return None, "it names no plain http:// CRL"


def _judge(position: int, cert: x509.Certificate, issuer: x509.Certificate, data: bytes, url: str) -> Revocation:
    from cryptography import x509

    from ..compat import crl_next_update, revocation_date

    shown = clean(url, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refused = (ValueError, x509.InvalidVersion)  # a CRL of another version is not a ValueError
        try:
            crl = x509.load_der_x509_crl(data)
        except refused:
            try:
                crl = x509.load_pem_x509_crl(data)
            except refused:
                return Revocation(position, "unavailable", url=url, why=f"{shown}: the answer is not a CRL")
        try:  # cryptography reads names lazily: a hostile issuer fails here (ValueError; 38: KeyError)
            crl_issuer = crl.issuer
            issued_by = crl_issuer == issuer.subject
            crl_issuer_text = crl_issuer.rfc4514_string()
        except (ValueError, KeyError, TypeError):
            return Revocation(position, "unavailable", url=url, why=f"{shown}: the CRL's issuer name cannot be read")
        if not issued_by:
            return Revocation(position, "unavailable", url=url, why=f"{shown}: the CRL is issued by "
                              f"'{clean(crl_issuer_text, 80)}', not by the certificate's issuer")
        try:
            valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
        except (TypeError, ValueError):
            valid = False
        if not valid:
            return Revocation(position, "unavailable", url=url, why=f"{shown}: the CRL's signature does not verify "
                              f"with the key of '{clean(issuer.subject.rfc4514_string(), 80)}'")
        next_update = crl_next_update(crl)
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if entry is not None:
        return Revocation(position, "revoked", url=url, revoked_on=revocation_date(entry), reason=_reason(entry),
                          next_update=next_update)
    if next_update is not None and next_update < datetime.now(timezone.utc):
        return Revocation(position, "stale", url=url, next_update=next_update)
    return Revocation(position, "good", url=url, next_update=next_update)


def _reason(entry: x509.RevokedCertificate) -> str | None:
    from cryptography import x509

    try:
        return _reason_text(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason)
    except (x509.ExtensionNotFound, ValueError):
        return None


def _reason_text(flag: x509.ReasonFlags | None) -> str | None:
    """key_compromise -> "key compromise", ca_compromise -> "CA compromise"; unspecified says nothing."""
    from cryptography import x509

    if flag is None or flag == x509.ReasonFlags.unspecified:
        return None
    return flag.name.replace("_", " ").replace("ca ", "CA ")


def _responder(cert: x509.Certificate) -> tuple[str | None, str | None]:
    """(the first http:// OCSP responder of the AIA extension, None), or (None, why not), or (None, None)."""
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID

    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None, None
    except ValueError as exc:
        return None, f"its AIA extension cannot be read ({clean(str(exc), 80)})"
    urls = [item.access_location.value for item in access if item.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(item.access_location, x509.UniformResourceIdentifier)]
    plain = [url for url in urls if url.lower().startswith("http://")]
    if plain:
        return str(plain[0]), None
    return (None, "it names no plain http:// OCSP responder") if urls else (None, None)


def _ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    # SHA-1 CertID: what RFC 6960 responders (and RFC 5019's lightweight profile) all accept.
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    return request.public_bytes(serialization.Encoding.DER)


def _judge_ocsp(position: int, cert: x509.Certificate, issuer: x509.Certificate, data: bytes,
                url: str) -> Revocation:
    """RFC 6960: a successful response about this certificate, signed by its issuer or by a responder the
    issuer delegated (id-kp-OCSPSigning), whose thisUpdate is not in the future and nextUpdate not past."""
    from cryptography.x509 import ocsp

    from ..compat import ocsp_revocation_time, ocsp_times

    shown = clean(url, 200)

    def unavailable(why: str) -> Revocation:
        return Revocation(position, "unavailable", source="OCSP", url=url, why=f"{shown}: {why}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            response = ocsp.load_der_ocsp_response(data)
        except ValueError:
            return unavailable("the answer is not an OCSP response")
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return unavailable(f"the responder answered {response.response_status.name.lower()}")
        try:
            serial = response.serial_number
            status = response.certificate_status
            this_update, next_update = ocsp_times(response)
        except ValueError as exc:
            return unavailable(f"the response cannot be read ({clean(str(exc), 80)})")
        if serial != cert.serial_number:
            return unavailable("the response is about another certificate")
        try:  # names and algorithms are read lazily: hostile ones fail here, not at load
            signer = _ocsp_signer(response, issuer)
            if signer is None:
                return unavailable(f"the response is not signed by '{clean(issuer.subject.rfc4514_string(), 80)}' "
                                   "nor by a responder it delegated")
            if not _signed(signer.public_key(), response.signature, response.tbs_response_bytes,
                           response.signature_hash_algorithm):
                return unavailable("the response's signature does not verify")
        except _unreadable() as exc:
            return unavailable(f"the response cannot be read ({clean(type(exc).__name__, 40)})")
    now = datetime.now(timezone.utc)
    if (this_update - now).total_seconds() > _SKEW_SECONDS:
        return unavailable("the response's thisUpdate is in the future")
    if next_update is not None and next_update < now:
        return unavailable("the response is past its nextUpdate")
    if status == ocsp.OCSPCertStatus.REVOKED:
        return Revocation(position, "revoked", source="OCSP", url=url, revoked_on=ocsp_revocation_time(response),
                          reason=_reason_text(response.revocation_reason), next_update=next_update)
    if status == ocsp.OCSPCertStatus.UNKNOWN:
        return Revocation(position, "unknown", source="OCSP", url=url, next_update=next_update)
    return Revocation(position, "good", source="OCSP", url=url, next_update=next_update)


def _ocsp_signer(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate | None:
    """The issuer itself, or a certificate in the response that the issuer signed for OCSP signing."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from cryptography.x509.oid import ExtendedKeyUsageOID

    def key_hash(cert: x509.Certificate) -> bytes:
        spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        digest = hashes.Hash(hashes.SHA1())
        digest.update(_bit_string(spki))
        return digest.finalize()

    def names(cert: x509.Certificate) -> bool:
        return (response.responder_name is not None and response.responder_name == cert.subject) or (
            response.responder_key_hash is not None and response.responder_key_hash == key_hash(cert))

    if names(issuer):
        return issuer
    for cert in response.certificates:
        try:
            if not names(cert) or cert.issuer != issuer.subject:
                continue
            algorithm = cert.signature_hash_algorithm
        except _unreadable():
            continue  # a delegate whose name or algorithm cannot be read signs nothing here
        try:
            usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (x509.ExtensionNotFound, ValueError):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in usage and _signed(issuer.public_key(), cert.signature,
                                                                 cert.tbs_certificate_bytes, algorithm):
            return cert
    return None


def _unreadable() -> tuple[type[Exception], ...]:
    """What cryptography raises for a part of a hostile answer it reads lazily: a name that does not parse
    (ValueError; 38: KeyError), an unknown signature algorithm (UnsupportedAlgorithm)."""
    from cryptography.exceptions import UnsupportedAlgorithm

    return (ValueError, KeyError, TypeError, UnsupportedAlgorithm)


def _bit_string(spki: bytes) -> bytes:
    """The subjectPublicKey of a DER SubjectPublicKeyInfo: its BIT STRING's contents after the unused-bits octet
    (what RFC 6960's responder KeyHash is taken over)."""
    from .der import element

    _, start, _ = element(spki, 0)  # SEQUENCE
    _, _, algorithm_end = element(spki, start)  # AlgorithmIdentifier
    tag, bits_start, bits_end = element(spki, algorithm_end)
    if tag != 0x03:
        raise ValueError("no BIT STRING in the SubjectPublicKeyInfo")
    return spki[bits_start + 1:bits_end]


def _signed(key: object, signature: bytes, data: bytes, algorithm: object) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)  # type: ignore[arg-type]
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))  # type: ignore[arg-type]
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True
