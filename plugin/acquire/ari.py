"""Acquire, ``--ari``: ACME Renewal Information (RFC 9773), the CA's own advice on when to renew the leaf.

A CA that must revoke (a validation bug, a mis-issuance) tells its subscribers to renew early through ARI: the
``renewalInfo`` resource of its ACME directory answers, for one certificate, a ``suggestedWindow`` (start, end)
and optionally an ``explanationURL``. An ACME client that ignores it, or a certificate installed by hand, misses
the signal; this reads it.

The directory comes from ``--acme-directory`` or, when that is not given, from :data:`DIRECTORIES`, keyed by the
leaf's issuer organisation. The certificate is named as RFC 9773 §4.1 says: base64url (no padding) of the AKI
keyIdentifier, ".", base64url of the serial's DER integer bytes (a leading zero byte kept). ACME is HTTPS only
(RFC 8555 §6.1), verified with the same trust store as the check. ``Retry-After`` only matters to a cache,
which this check does not keep yet.
"""

from __future__ import annotations

import base64
import json
import ssl
from datetime import datetime
from typing import Any, NamedTuple

from ..budget import Budget
from ..errors import CheckError
from ..sanitize import clean
from .presented import Presented

__all__ = ["DIRECTORIES", "MAX_JSON_BYTES", "Ari", "certificate_id", "check_ari", "directory_for"]

# Public ACME CAs that publish renewalInfo, by the O= of the certificates they issue (documented in the README).
DIRECTORIES = {
    "Let's Encrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "Google Trust Services": "https://dv.acme-v02.api.pki.goog/directory",
}
MAX_JSON_BYTES = 64 * 1024
_RESERVE = 0.25


class Ari(NamedTuple):
    """The CA's suggested renewal window for the leaf, or why there is none."""

    url: str = ""
    start: datetime | None = None
    end: datetime | None = None
    explanation: str | None = None
    why: str | None = None


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
              budget: Budget) -> Presented:
    """``presented`` with :attr:`Presented.ari` set (a window, or why there is none)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    if not presented.certificates:
        return presented
    try:
        leaf = x509.load_der_x509_certificate(presented.certificates[0][0])
        aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except (ValueError, x509.ExtensionNotFound):
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
    try:
        # The system store, and the check's own --cafile/--capath too: a private ACME CA (step-ca) is served
        # with the private root, a public one with a public root.
        context = ssl.create_default_context()
        if cafile or capath:
            context.load_verify_locations(cafile=cafile, capath=capath)
        index = _json(directory, share, context)
        base = index.get("renewalInfo") if isinstance(index, dict) else None
        if not isinstance(base, str):
            raise CheckError(f"{clean(directory, 200)}: the directory has no renewalInfo")
        url = f"{base.rstrip('/')}/{certificate_id(aki, leaf.serial_number)}"
        answer = _json(url, share, context)
        return presented._replace(ari=_window(answer, url))
    except (CheckError, ssl.SSLError, OSError) as exc:
        why = exc.message if isinstance(exc, CheckError) else clean(str(exc), 120)
        return presented._replace(ari=Ari(why=why))


def _json(url: str, budget: Budget, context: ssl.SSLContext) -> Any:
    from . import http

    data = http.get(url, budget, limit=MAX_JSON_BYTES, accept="application/json", tls=context)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise CheckError(f"{clean(url, 200)}: the answer is not JSON") from None


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
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
