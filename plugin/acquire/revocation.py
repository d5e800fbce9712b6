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

import threading
import warnings
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

from ..budget import Budget
from ..errors import CheckError
from ..sanitize import clean
from .presented import Presented

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["MAX_CRL_BYTES", "Revocation", "check_crls"]

# Large CAs publish CRLs of a few MB; beyond this the check says "unavailable" rather than read on.
MAX_CRL_BYTES = 8 * 1024 * 1024
# What the fetches leave of the -t budget: the evaluation still has to run in it.
_RESERVE = 0.25


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


def check_crls(presented: Presented, budget: Budget) -> Presented:
    """``presented`` with :attr:`Presented.revocation` set for every certificate of its path that has an issuer
    on the path (all but the anchor)."""
    from cryptography import x509

    if not presented.path:
        return presented._replace(revocation=(Revocation(0, "unavailable", why="no verified path to check"),))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            path = [x509.load_der_x509_certificate(der) for der, _ in presented.path]
        except ValueError:
            return presented._replace(revocation=(Revocation(0, "unavailable", why="a certificate of the path "
                                                                                  "cannot be read"),))
    share = Budget(max(budget.remaining("the CRL fetches") - _RESERVE, 0.01))
    # Certificates are read here, in this thread: cryptography's objects are not safe to share between threads
    # (38 raises "Already borrowed"), so the threads only fetch bytes, and the CRLs are judged after.
    verdicts: list[Revocation] = []
    jobs: list[tuple[int, str]] = []
    for position, cert in enumerate(path[:-1]):
        url, problem = _distribution_point(cert)
        if problem is not None:
            verdicts.append(Revocation(position, "unavailable", why=problem))
        elif url is not None:
            jobs.append((position, url))
    fetched: list[bytes | CheckError | None] = [None] * len(jobs)

    def work(index: int) -> None:
        from . import http

        try:
            fetched[index] = http.get(jobs[index][1], share, limit=MAX_CRL_BYTES, accept="application/pkix-crl")
        except CheckError as exc:
            fetched[index] = exc

    threads = [threading.Thread(target=work, args=(index,), name=f"crl-{index}", daemon=True)
               for index in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(share.total, 0.01) + 0.05)
    for (position, url), data in zip(jobs, fetched):
        if isinstance(data, bytes):
            verdicts.append(_judge(position, path[position], path[position + 1], data, url))
        else:
            why = data.message if data is not None else f"{clean(url, 200)}: the fetch did not finish in time"
            verdicts.append(Revocation(position, "unavailable", url=url, why=why))
    return presented._replace(revocation=tuple(sorted(verdicts, key=lambda item: item.position)))


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
        try:
            crl = x509.load_der_x509_crl(data)
        except ValueError:
            try:
                crl = x509.load_pem_x509_crl(data)
            except ValueError:
                return Revocation(position, "unavailable", url=url, why=f"{shown}: the answer is not a CRL")
        if crl.issuer != issuer.subject:
            return Revocation(position, "unavailable", url=url, why=f"{shown}: the CRL is issued by "
                              f"'{clean(crl.issuer.rfc4514_string(), 80)}', not by the certificate's issuer")
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
        flag = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except (x509.ExtensionNotFound, ValueError):
        return None
    # key_compromise -> "key compromise"; unspecified says nothing
    return None if flag == x509.ReasonFlags.unspecified else flag.name.replace("_", " ").replace("ca ", "CA ")
