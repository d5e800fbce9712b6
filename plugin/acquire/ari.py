"""Acquire, ``--ari``: ACME Renewal Information (RFC 9773), the CA's own advice on when to renew the leaf.

A CA that must revoke (a validation bug, a mis-issuance) tells its subscribers to renew early through ARI: the
``renewalInfo`` resource of its ACME directory answers, for one certificate, a ``suggestedWindow`` (start, end)
and optionally an ``explanationURL``. An ACME client that ignores it, or a certificate installed by hand, misses
the signal; this reads it.

The directory comes from ``--acme-directory`` or, when that is not given, from :data:`DIRECTORIES`, keyed by the
leaf's issuer organisation. The certificate is named as RFC 9773 §4.1 says: base64url (no padding) of the AKI
keyIdentifier, ".", base64url of the serial's DER integer bytes (a leading zero byte kept). ACME is HTTPS only
(RFC 8555 §6.1), verified with the same trust store as the check. With ``--cache-dir`` (:mod:`.cache`) the
directory is kept for the cache's cap and the leaf's window for the answer's ``Retry-After`` (RFC 9773 §4.3:
taken as at least a minute and at most a day; the cap when there is none), so that a check every five minutes
asks the CA as often as it asks to be asked; a kept window is used without parsing the leaf.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, NamedTuple

from ..budget import Budget
from ..errors import CheckError
from ..sanitize import clean
from ..target import Proxy
from .cache import Cache
from .presented import Presented

__all__ = ["DIRECTORIES", "MAX_JSON_BYTES", "Ari", "certificate_id", "check_ari", "directory_for"]

# Public ACME CAs that publish renewalInfo, by the O= of the certificates they issue (documented in the README).
DIRECTORIES = {
    "Let's Encrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "Google Trust Services": "https://dv.acme-v02.api.pki.goog/directory",
}
MAX_JSON_BYTES = 64 * 1024
_RESERVE = 0.25
# RFC 9773 §4.3's example limits on a client's polling interval: Retry-After is honoured within them.
_POLL_MIN, _POLL_MAX = 60.0, 86400.0


class Ari(NamedTuple):
    """The CA's suggested renewal window for the leaf, or why there is none."""

    url: str = ""
    start: datetime | None = None
    end: datetime | None = None
    explanation: str | None = None
    why: str | None = None
    cached: bool = False  # the window is the one --cache-dir kept, not one fetched in this run


def directory_for(issuer_organization: str | None) -> str | None:
    """The ACME directory of a known public CA, from the leaf issuer's organisation."""
    return DIRECTORIES.get(issuer_organization or "")


def certificate_id(aki: bytes, serial: int) -> str:
    """RFC 9773 §4.1: base64url(keyIdentifier) "." base64url(DER serial bytes), without padding."""
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)  # DER INTEGER contents

    def encode(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    return f"{encode(aki)}.{encode(serial_bytes)}"


def check_ari(presented: Presented, directory: str | None, cafile: str | None, capath: str | None,
              budget: Budget, cache: Cache | None = None, proxy: Proxy | None = None) -> Presented:
    """``presented`` with :attr:`Presented.ari` set (a window, or why there is none)."""
    if not presented.certificates:
        return presented
    verdict = Cache.key("verdict", f"ARI {directory or ''}", presented.certificates[0][0])
    kept = _kept(cache.load(verdict)) if cache is not None else None
    if kept is not None:  # a warm check: nothing parsed, nothing fetched
        return presented._replace(ari=kept)
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        leaf = x509.load_der_x509_certificate(presented.certificates[0][0])
        aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except (ValueError, x509.InvalidVersion, x509.ExtensionNotFound):
        aki = None
    if aki is None:
        return presented._replace(ari=Ari(why="the leaf has no authority key identifier to name it by"))
    organizations = leaf.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    organization = str(organizations[0].value) if organizations else None
    directory = directory or directory_for(organization)
    if directory is None:
        issuer = clean(leaf.issuer.rfc4514_string(), 80)
        return presented._replace(ari=Ari(why=f"no ACME directory is known for issuer '{issuer}': give "
                                              "--acme-directory"))
    share = Budget(max(budget.remaining("the renewal information") - _RESERVE, 0.01))
    contexts: list[ssl.SSLContext] = []

    def context() -> ssl.SSLContext:
        # Made only when something is fetched (loading the store costs milliseconds a warm cache saves). The
        # system store, and the check's own --cafile/--capath too: a private ACME CA (step-ca) is served with the
        # private root, a public one with a public root.
        if not contexts:
            contexts.append(ssl.create_default_context())
            if cafile or capath:
                contexts[0].load_verify_locations(cafile=cafile, capath=capath)
        return contexts[0]

    try:
        index, raw, _retry, cached = _json(directory, share, context, cache, proxy)
        base = index.get("renewalInfo") if isinstance(index, dict) else None
        if not isinstance(base, str):
            raise CheckError(f"{clean(directory, 200)}: the directory has no renewalInfo")
        if cache is not None and not cached:
            cache.store(Cache.key("GET", directory), raw, cache.until())
        url = f"{base.rstrip('/')}/{certificate_id(aki, leaf.serial_number)}"
        answer, _raw, retry, _cached = _json(url, share, context, None, proxy)  # the window is kept as a verdict, below
        ari = _window(answer, url)
        if cache is not None and ari.start is not None and ari.end is not None:
            polled = min(max(retry, _POLL_MIN), _POLL_MAX) if retry is not None else cache.max_age
            document = {"url": ari.url, "start": ari.start.timestamp(), "end": ari.end.timestamp(),
                        "explanation": ari.explanation}
            cache.store(verdict, json.dumps(document).encode("ascii"), time.time() + polled)
        return presented._replace(ari=ari)
    except (CheckError, ssl.SSLError, OSError) as exc:
        why = exc.message if isinstance(exc, CheckError) else clean(str(exc), 120)
        return presented._replace(ari=Ari(why=why))


def _json(url: str, budget: Budget, context: Callable[[], ssl.SSLContext], cache: Cache | None,
          proxy: Proxy | None) -> tuple[Any, bytes, float | None, bool]:
    """(the JSON at ``url``, its bytes, its Retry-After, whether it came from ``cache``)."""
    from . import http

    data = cache.load(Cache.key("GET", url)) if cache is not None else None
    cached, retry = data is not None, None
    if data is None:
        answer = http.fetch(url, budget, limit=MAX_JSON_BYTES, accept="application/json", tls=context(),
                            proxy=proxy)
        data, retry = answer.body, answer.retry_after
    try:
        return json.loads(data), data, retry, cached
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CheckError(f"{clean(url, 200)}: the answer is not JSON") from None


def _kept(data: bytes | None) -> Ari | None:
    """The window --cache-dir kept for this leaf, or None."""
    try:
        document = json.loads(data) if data is not None else None
    except ValueError:
        return None
    if not isinstance(document, dict) or not all(isinstance(document.get(name), (int, float))
                                                 for name in ("start", "end")):
        return None
    explanation = document.get("explanation")
    return Ari(str(document.get("url") or ""), datetime.fromtimestamp(document["start"], timezone.utc),
               datetime.fromtimestamp(document["end"], timezone.utc),
               explanation if isinstance(explanation, str) else None, cached=True)


def _window(answer: Any, url: str) -> Ari:
    window = answer.get("suggestedWindow") if isinstance(answer, dict) else None
    if not isinstance(window, dict):
        return Ari(url, why=f"{clean(url, 200)}: the answer has no suggestedWindow")
    start, end = _moment(window.get("start")), _moment(window.get("end"))
    if start is None or end is None or end < start:
        return Ari(url, why=f"{clean(url, 200)}: the suggestedWindow is not a start and an end time")
    explanation = answer.get("explanationURL")
    return Ari(url, start, end, explanation if isinstance(explanation, str) else None)


def _moment(value: object) -> datetime | None:
    """An RFC 3339 time; Python 3.10's fromisoformat takes neither "Z" nor more than 6 fractional digits."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace("z", "Z")
    text = text[:-1] + "+00:00" if text.endswith("Z") else text
    head, dot, rest = text.partition(".")
    if dot:  # only the fraction's own digits, padded or cut to the 6 that 3.10 reads; the offset follows
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{(rest[:digits] + '000000')[:6]}{rest[digits:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    try:  # in UTC, as every time the sentences show: "+02:00" is the same instant, not a later one labelled UTC
        return moment.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00 has no UTC datetime
        return None
