"""Pure evaluation: (what was presented, policy, now) -> findings with a kind, about certificates with labels.

No I/O and no clock: ``now`` is passed in, so tests can freeze time, and ``check`` (the ``-t`` budget) is
called in every loop that grows with the input. Which certificates count is decided once:

* in a handshake, by OpenSSL: the path it verified (including a trust anchor the server did not send), or
  the path as far as it got when verification failed;
* in file mode, by :mod:`plugin.acquire.chain`, which builds the path the way OpenSSL would, trust store first;
* everything else that was sent is an "extra" (an old cross-sign, a stray root): it only raises a WARNING when
  it has expired or is not yet valid, because old clients may still try it.

The same rules then apply to every certificate on every path: expiry against the thresholds, weak signatures
and keys, the name (never the subject CN), and what stopped OpenSSL, named after the certificate concerned. The
operator's own rules for the leaf (--pin, --issuer, --max-validity) are applied to the certificate the path starts
with, whichever way it was chosen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from ..acquire.presented import Delivered, Expected, Presented, Verification, VerifyCode
from ..certinfo import CertificateParseError, CertInfo
from ..errors import UsageError
from ..sanitize import clean
from ..status import Status
from ..target import HostName
from ..thresholds import DAY, Threshold
from .findings import CertRow, Evaluation, Finding, Kind

if TYPE_CHECKING:
    from ..acquire.aia import Aia
    from ..acquire.ari import Ari
    from ..acquire.chain import Anchors
    from ..acquire.revocation import Revocation

__all__ = ["MAX_VALIDITY_LIMIT", "Policy", "evaluate", "finding_order", "issuer_text", "max_validity_days"]

_LEGACY_VERSIONS = frozenset({"SSLv3", "TLSv1", "TLSv1.1"})
# EC curves below 256 bits, as their OID appears in a certificate's DER (secp224r1, secp192r1, secp160r1/r2/k1,
# secp192k1, secp224k1, brainpoolP160..224r1). OpenSSL's security level 2 already refuses RSA/DSA below 2048 bits
# and SHA-1/MD5 signatures in a verified path; these curves are the only weak keys it lets through, so a
# verified chain is parsed for weak crypto only when one of them appears.
_WEAK_CURVE_OIDS = (
    bytes.fromhex("06052b81040021"), bytes.fromhex("06082a8648ce3d030101"), bytes.fromhex("06052b81040008"),
    bytes.fromhex("06052b8104001e"), bytes.fromhex("06052b81040009"), bytes.fromhex("06052b8104001f"),
    bytes.fromhex("06052b81040020"), bytes.fromhex("06092b2403030208010101"), bytes.fromhex("06092b2403030208010103"),
    bytes.fromhex("06092b2403030208010105"),
)


class Policy(NamedTuple):
    """What the operator asked for: thresholds and the name the leaf must carry (None: do not check)."""

    warning: Threshold
    critical: Threshold
    name: HostName | None = None
    pins: tuple[str, ...] = ()  # --pin, each as "sha256//BASE64"
    revocation_unavailable: Status = Status.OK  # --revocation-unavailable: a CRL that cannot be had
    max_validity: int | None = None  # --max-validity: the leaf's longest validity period, in whole days
    issuers: tuple[str, ...] = ()  # --issuer: the leaf's issuer contains one of these (case-insensitive)


# --max-validity's largest DAYS: a century. More is a slip (seconds?), not a policy.
MAX_VALIDITY_LIMIT = 36500


def max_validity_days(text: str) -> int:
    """``--max-validity DAYS`` (an argparse ``type``): a whole number of days from 1 to 36500, else a usage error.

    Whole days only: the CA/Browser Forum counts any part of a day as a whole day (see :func:`_validity`), so
    ``47.5`` could only mean what ``47`` means.
    """
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 6) or not 0 < int(digits) <= MAX_VALIDITY_LIMIT:
        raise UsageError(f"--max-validity {clean(text, 40)!r} is not a whole number of days from 1 to "
                         f"{MAX_VALIDITY_LIMIT}")
    return int(digits)


def issuer_text(text: str) -> str:
    """``--issuer TEXT`` (an argparse ``type``): any text but an empty or blank one, which every issuer contains."""
    if not text.strip():
        raise UsageError(f"--issuer {clean(text, 40)!r} is empty: give a text the leaf's issuer must contain, such "
                         "as its CN or O")
    return text


def _no_check() -> None:
    return None


def evaluate(presented: Presented, policy: Policy, now: datetime, *, anchors: Anchors | None = None,
             expected: Expected | None = None, check: Callable[[], None] = _no_check) -> Evaluation:
    """Evaluate one acquisition at the instant ``now`` (timezone-aware).

    ``anchors`` (file mode) complete the path the way a trust store would; ``check`` raises when the budget
    is spent.
    """
    findings: list[Finding] = []
    sent = _parse_sent(presented.certificates, findings, check)
    if not sent:
        if not presented.certificates:
            findings.append(Finding(Kind.NO_CERTIFICATE, Status.CRITICAL, data={"file": presented.peer is None}))
        return _finish(findings, [], None, presented)

    path, extras = _choose_path(presented, sent, anchors, now, check)
    from_file = not presented.verification.attempted
    rows = _rows(path, extras, policy, now, from_file)
    on_path = [row for row in rows if row.role != "extra"]
    verification = presented.verification

    for row in rows:
        check()
        findings.extend(_expiry(row, now, from_file))
    findings.extend(_weak(on_path, verification, check))
    findings.extend(_trust(verification, on_path, findings, presented.aia))
    if presented.tls_version in _LEGACY_VERSIONS:
        findings.append(Finding(Kind.LEGACY_PROTOCOL, Status.CRITICAL, data={"version": presented.tls_version}))
    if policy.name is not None:
        findings.extend(_name(verification, on_path[0], policy.name))
    if expected is not None:
        findings.extend(_expected(on_path[0], expected))
    if policy.pins and not any(row.info.pin in policy.pins for row in on_path):
        findings.append(Finding(Kind.PIN_MISMATCH, Status.CRITICAL, on_path[0], {"pins": len(policy.pins)}))
    if policy.issuers:
        findings.extend(_issuer(on_path[0], policy.issuers))
    if policy.max_validity is not None:
        findings.extend(_validity(on_path[0], policy.max_validity))
    findings.extend(_revocation(presented.revocation, on_path, policy.revocation_unavailable))
    if presented.ari is not None:
        findings.extend(_renewal(presented.ari, on_path[0], now, policy.revocation_unavailable))

    client = _client_row(presented, policy, now)
    if client is not None:  # --client-cert: its own expiry, by the same thresholds, and the server's verdict on it
        findings.extend(_expiry(client, now, from_file))
        rows.append(client)
        if presented.client_rejected is not None:
            findings.append(Finding(Kind.CLIENT_REJECTED, Status.CRITICAL, client,
                                    {"alert": presented.client_rejected}))
    headline = min(on_path + ([client] if client is not None else []), key=lambda row: row.left)
    if not any(finding.status != Status.OK for finding in findings):
        findings.append(Finding(Kind.HEALTHY, Status.OK, headline, {
            "verified": verification.ok, "reason": verification.reason, "note": presented.note,
            **({"not_revoked": sorted({item.source for item in presented.revocation})}
               if presented.revocation and all(item.status == "good" for item in presented.revocation) else {})}))
    return _finish(findings, rows, headline, presented, expected)


def _parse_sent(certificates: tuple[Delivered, ...], findings: list[Finding],
                check: Callable[[], None]) -> list[tuple[int, CertInfo]]:
    """Parse what was sent, dropping exact duplicates; an unparsable certificate is itself a finding."""
    parsed: list[tuple[int, CertInfo]] = []
    seen: set[bytes] = set()
    for position, (der, view) in enumerate(certificates):
        check()
        if der in seen:
            continue
        seen.add(der)
        try:
            parsed.append((position, CertInfo.from_handshake(der, view)))
        except CertificateParseError as exc:
            findings.append(Finding(Kind.UNPARSABLE, Status.CRITICAL, data={"position": position, "why": str(exc)}))
    return parsed


Placed = tuple[int | None, CertInfo]  # (position in what was sent, or None for the trust store; the certificate)


def _choose_path(presented: Presented, sent: list[tuple[int, CertInfo]], anchors: Anchors | None, now: datetime,
                 check: Callable[[], None]) -> tuple[list[Placed], list[Placed]]:
    """The one decision of which certificates count: OpenSSL's path in a handshake, plugin.acquire.chain's otherwise."""
    position = {info.der: where for where, info in sent}
    path: list[Placed] = []
    if presented.path:
        for der, view in presented.path:
            check()
            try:
                path.append((position.get(der), CertInfo.from_handshake(der, view)))
            except CertificateParseError:
                break  # a store certificate nobody can read ends what can be said about the path
        if path and path[0][0] != sent[0][0]:
            path = []  # not the chain this server sent (cannot happen with OpenSSL; never trust it blindly)
    if not path:
        path = _built_path(presented, sent, anchors, now, check)
    on_path = {info.der for _, info in path}
    extras: list[Placed] = [(where, info) for where, info in sent if info.der not in on_path]
    return path, extras


def _built_path(presented: Presented, sent: list[tuple[int, CertInfo]], anchors: Anchors | None, now: datetime,
                check: Callable[[], None]) -> list[Placed]:
    """File mode (or a handshake whose path OpenSSL kept nothing of): build it as OpenSSL would."""
    from ..acquire.chain import (  # file mode: needs cryptography, which a handshake path does not
        build_path,
        choose_leaf,
    )

    readable = [(where, info, info.x509) for where, info in sent]
    usable = [(where, info, cert) for where, info, cert in readable if cert is not None]
    from_file = not presented.verification.attempted
    if not usable or (not from_file and usable[0][0] != sent[0][0]):
        return [sent[0]]  # the leaf is what the server sent first, readable or not
    certs = [cert for _, _, cert in usable]
    leaf = choose_leaf(certs) if from_file else 0
    built = build_path(certs, anchors, now, leaf=leaf, check=check)
    path: list[Placed] = []
    for element in built.path:
        if element.sent is not None:
            path.append((usable[element.sent][0], usable[element.sent][1]))
        else:
            from cryptography.hazmat.primitives.serialization import Encoding

            path.append((None, CertInfo.from_der(element.cert.public_bytes(Encoding.DER))))
    return path


def _rows(path: list[Placed], extras: list[Placed], policy: Policy, now: datetime, from_file: bool) -> list[CertRow]:
    """Roles and labels, by one rule in every mode: leaf, int1, int2, ..., root, then extra1, extra2, ..."""
    rows = []
    intermediates = 0
    for index, (where, info) in enumerate(path):
        if index == 0:
            # A lone self-signed CA certificate in a file (a root checked with --file) is a root. What a server
            # presents first is its leaf, even when `openssl req -x509` marked it CA:TRUE.
            lone_root = from_file and len(path) == 1 and info.self_issued and info.is_ca
            role = label = "root" if lone_root else "leaf"
        elif index == len(path) - 1 and (info.self_issued or where is None):
            role = label = "root"
        else:
            intermediates += 1
            role, label = "intermediate", f"int{intermediates}"
        rows.append(_row(info, role, label, where, policy, now))
    for number, (where, info) in enumerate(extras, 1):
        rows.append(_row(info, "extra", f"extra{number}", where, policy, now))
    return rows


def _client_row(presented: Presented, policy: Policy, now: datetime) -> CertRow | None:
    """The row of the certificate the check presented (``--client-cert``), labelled ``client``."""
    if not presented.client:
        return None
    try:
        info = CertInfo.from_der(presented.client)
    except CertificateParseError:
        return None  # ClientCert.load made OpenSSL read it; a certificate only OpenSSL reads has no row
    return _row(info, "client", "client", None, policy, now)


def _row(info: CertInfo, role: str, label: str, sent: int | None, policy: Policy, now: datetime) -> CertRow:
    lifetime = info.lifetime
    return CertRow(info=info, role=role, label=label, sent=sent, left=(info.not_after - now).total_seconds(),
                   warn=policy.warning.limit(lifetime), crit=policy.critical.limit(lifetime))


def _expiry(row: CertRow, now: datetime, from_file: bool) -> list[Finding]:
    extra = row.role == "extra"
    data = {"file": True} if extra and from_file else {}  # "the file also holds", not "the server also sends"
    if now < row.info.not_before:
        kind = Kind.EXTRA_NOT_YET_VALID if extra else Kind.NOT_YET_VALID
        return [Finding(kind, Status.WARNING if extra else Status.CRITICAL, row, data)]
    if row.left <= 0:
        kind = Kind.EXTRA_EXPIRED if extra else Kind.EXPIRED
        return [Finding(kind, Status.WARNING if extra else Status.CRITICAL, row, data)]
    if extra:
        return []
    for status, limit in ((Status.CRITICAL, row.crit), (Status.WARNING, row.warn)):
        if row.left < limit:
            return [Finding(Kind.EXPIRING, status, row, {"limit": limit})]
    return []


def _weak(rows: list[CertRow], verification: Verification, check: Callable[[], None]) -> list[Finding]:
    """Weak signatures and keys, by this check's rule on every path (see _WEAK_CURVE_OIDS for the shortcut)."""
    verified = verification.path_trusted and "weak" not in verification.waived
    findings = []
    for row in rows:
        check()
        if verified and not any(oid in row.info.der for oid in _WEAK_CURVE_OIDS):
            continue
        cert = row.info.x509
        if cert is None:
            continue
        from .weak import weaknesses  # cryptography again: only for chains OpenSSL did not vet

        for weakness in weaknesses(cert, self_signed_root=row.role == "root" and row.info.self_issued):
            kind = Kind.WEAK_SIGNATURE if weakness.kind == "signature" else Kind.WEAK_KEY
            findings.append(Finding(kind, Status.CRITICAL, row, {
                "algorithm": weakness.algorithm, "bits": weakness.bits, "minimum": weakness.minimum}))
    return findings


def _trust(verification: Verification, rows: list[CertRow], so_far: list[Finding], aia: Aia | None = None
           ) -> list[Finding]:
    """What stopped OpenSSL, named after the certificate it concerns."""
    code = verification.code
    if not verification.attempted or code is None:
        return []
    if code in VerifyCode.UNTRUSTED and not verification.alarm_trust:
        return []  # --ignore-trust
    top = rows[-1]
    if code == VerifyCode.DEPTH_ZERO_SELF_SIGNED_CERT:
        return [Finding(Kind.SELF_SIGNED, Status.CRITICAL, top)]
    if code == VerifyCode.SELF_SIGNED_CERT_IN_CHAIN:
        return [Finding(Kind.UNTRUSTED_ROOT, Status.CRITICAL, top)]
    if code in VerifyCode.UNTRUSTED:
        return [_missing_issuer(top, aia)]
    if code == VerifyCode.INVALID_CA:
        not_ca = next((row for row in rows[1:] if not row.info.is_ca), None)
        if not_ca is not None:
            return [Finding(Kind.NOT_A_CA, Status.CRITICAL, not_ca)]
    if code in VerifyCode.WEAK and any(f.kind in (Kind.WEAK_KEY, Kind.WEAK_SIGNATURE) for f in so_far):
        return []  # already named, with the certificate and the algorithm
    if code in VerifyCode.TIME and any(f.kind in (Kind.EXPIRED, Kind.NOT_YET_VALID) for f in so_far):
        return []
    return [Finding(Kind.VERIFY_FAILED, Status.CRITICAL, data={"code": code, "message": verification.message or ""})]


def _missing_issuer(top: CertRow, aia: Aia | None = None) -> Finding:
    """The path stops at ``top``, whose issuer is neither sent nor in the store.

    With ``--aia`` the issuer was fetched from the caIssuers URL (:mod:`plugin.acquire.aia`): if the path then
    reaches the store, the server does not send its intermediate; if not, the CA is not trusted here.
    Otherwise only fetching the issuer could tell for sure what it is; this says only what the certificates show.
    A leaf from a public CA names where to fetch its intermediate (AIA caIssuers, required by the CA/Browser
    Forum): then the server most likely fails to send it. An issuer whose name says it is a root, or any issuer
    of a sent CA certificate, is most likely a root this store does not trust (a private or interception CA).
    Without either sign, the sentence says both possibilities.
    """
    if aia is not None and aia.error is None:
        if aia.trusted:
            return Finding(Kind.MISSING_INTERMEDIATE, Status.CRITICAL, top, {"url": aia.url, "issuer": aia.issuer})
        return Finding(Kind.UNTRUSTED_ISSUER, Status.CRITICAL, top, {"likely_root": True, "url": aia.url})
    fetch_failed = {"aia_error": aia.error} if aia is not None else {}
    root_name = "root" in top.info.issuer.lower()
    if top.role == "leaf" and not root_name and _has_ca_issuers(top.info):
        return Finding(Kind.MISSING_INTERMEDIATE, Status.CRITICAL, top, fetch_failed)
    likely_root = root_name or top.role != "leaf"
    return Finding(Kind.UNTRUSTED_ISSUER, Status.CRITICAL, top, {"likely_root": likely_root, **fetch_failed})


def _has_ca_issuers(info: CertInfo) -> bool:
    cert = info.x509
    if cert is None:
        return False
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID

    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return any(item.access_method == AuthorityInformationAccessOID.CA_ISSUERS for item in access)


def _expected(leaf: CertRow, expected: Expected) -> list[Finding]:
    """Renewed but never loaded: the served leaf is not the one in --expect-file."""
    if leaf.info.der == expected.leaf.der:
        return []
    data = {"path": expected.path, "file_not_after": expected.leaf.not_after}
    if leaf.info.key_type != expected.leaf.key_type:
        # The file may be the RSA one of a dual-certificate server whose other one this handshake got, or the
        # renewal changed the key type: a different certificate either way, and the sentence says which types.
        data.update(served_type=leaf.info.key_type, file_type=expected.leaf.key_type)
        return [Finding(Kind.UNEXPECTED_CERTIFICATE, Status.WARNING, leaf, data)]
    if expected.leaf.not_after > leaf.info.not_after:
        # Still the old certificate: WARNING now, CRITICAL once the one served is itself below -c.
        status = Status.CRITICAL if leaf.left < leaf.crit else Status.WARNING
        return [Finding(Kind.NOT_RELOADED, status, leaf, data)]
    return [Finding(Kind.UNEXPECTED_CERTIFICATE, Status.WARNING, leaf, data)]


def _issuer(leaf: CertRow, texts: tuple[str, ...]) -> list[Finding]:
    """--issuer: one of ``texts`` must occur, ignoring case, in the leaf's issuer: in its RFC 4514 name
    (``CN=R11,O=Let's Encrypt,C=US``) or in one of its attribute values as written, which is how a CN or an
    organisation with a comma (``O=Entrust\\, Inc.`` in RFC 4514) is matched.

    The first certificate of the path is judged whatever its role: a self-signed replacement is what this catches.
    """
    info = leaf.info
    values = [info.issuer, info.issuer_cn or ""]  # the CN: also when only OpenSSL could read the certificate
    cert = info.x509
    if cert is not None:
        values += [attribute.value for attribute in cert.issuer if isinstance(attribute.value, str)]
    folded = [value.casefold() for value in values if value]
    if any(text.casefold() in value for text in texts for value in folded):
        return []
    return [Finding(Kind.ISSUER_MISMATCH, Status.CRITICAL, leaf, {"expected": texts})]


def _validity(leaf: CertRow, max_days: int) -> list[Finding]:
    """--max-validity, counted as the CA/Browser Forum counts (Baseline Requirements 1.6.1 and 6.3.2): the validity
    period runs from notBefore *through* notAfter (RFC 5280), one second more than their difference, and any part
    of a day counts as a day. A 90-day ACME certificate (notAfter = notBefore + 90 days - 1 s) is 90 days.

    Only an end-entity certificate is judged: not a self-signed CA certificate (a root), whether it is alone in
    --file or the only certificate a server sends, so both ways of checking it agree.
    """
    info = leaf.info
    if info.self_issued and info.is_ca:
        return []
    seconds = (info.not_after - info.not_before).total_seconds() + 1
    if seconds <= max_days * DAY:
        return []
    days = math.ceil(seconds / DAY)
    return [Finding(Kind.MAX_VALIDITY_EXCEEDED, Status.WARNING, leaf, {"days": days, "max": max_days})]


def _name(verification: Verification, leaf: CertRow, name: HostName) -> list[Finding]:
    if verification.name_matched is not None:
        matched = verification.name_matched
    else:
        from .names import matches  # service_identity: only where OpenSSL did not match the name

        matched = matches(leaf.info, name)
    if matched:
        return []
    kind = Kind.HOSTNAME_MISMATCH if leaf.info.has_san else Kind.NO_SAN
    return [Finding(kind, Status.CRITICAL, leaf, {"name": name.display})]


# Trust, name, protocol and parse problems lead the status line; expiry problems follow, soonest first.
_LEADING = frozenset(Kind) - {Kind.EXPIRED, Kind.EXPIRING, Kind.NOT_YET_VALID, Kind.EXTRA_EXPIRED,
                              Kind.EXTRA_NOT_YET_VALID, Kind.HEALTHY}


def finding_order(finding: Finding) -> tuple[int, bool, float]:
    """Worst state first; among OK findings the healthy headline first, the notes after it."""
    left = finding.row.left if finding.row is not None else 0.0
    return (-int(finding.status), finding.kind != Kind.HEALTHY, float("-inf") if finding.kind in _LEADING else left)


def _renewal(ari: Ari, leaf: CertRow, now: datetime, unavailable: Status) -> list[Finding]:
    """--ari: the window has begun: WARNING; it has ended: CRITICAL; a window to come: only -v and JSON."""
    if ari.start is None or ari.end is None:
        return [Finding(Kind.ARI_UNAVAILABLE, unavailable, leaf, {"why": ari.why})]
    if now < ari.start:
        return []
    data = {"start": ari.start, "end": ari.end, "explanation": ari.explanation}
    return [Finding(Kind.RENEW_NOW, Status.CRITICAL if now >= ari.end else Status.WARNING, leaf, data)]


def _revocation(results: tuple[Revocation, ...], rows: list[CertRow], unavailable: Status) -> list[Finding]:
    """--crl/--ocsp: revoked is CRITICAL; a stale CRL and a responder that does not know the certificate are
    WARNING; an answer that could not be had gets what the operator chose."""
    findings = []
    for item in results:
        row = rows[item.position] if item.position < len(rows) else None
        data = {"url": item.url, "source": item.source}
        if item.status == "revoked":
            findings.append(Finding(Kind.REVOKED, Status.CRITICAL, row, {**data, "date": item.revoked_on,
                                                                          "reason": item.reason}))
        elif item.status == "stale":
            findings.append(Finding(Kind.CRL_STALE, Status.WARNING, row, {**data, "next_update": item.next_update}))
        elif item.status == "unknown":
            findings.append(Finding(Kind.OCSP_UNKNOWN, Status.WARNING, row, data))
        elif item.status == "unavailable":
            findings.append(Finding(Kind.REVOCATION_UNAVAILABLE, unavailable, row, {**data, "why": item.why}))
    return findings


def _finish(findings: list[Finding], rows: list[CertRow], headline: CertRow | None,
            presented: Presented, expected: Expected | None = None) -> Evaluation:
    on_path = [row for row in rows if row.role not in ("extra", "client")]
    revocation = tuple((on_path[item.position].label, item.status, item.source, item.cached)
                       for item in presented.revocation if item.position < len(on_path))
    ari = presented.ari
    return Evaluation(tuple(sorted(findings, key=finding_order)), tuple(rows), headline,
                      _notes(presented, len(rows), expected), presented.details, presented.seconds,
                      revocation=revocation, ari=dict(ari._asdict()) if ari is not None else None)


def _notes(presented: Presented, count: int, expected: Expected | None) -> tuple[str, ...]:
    """The -v header: what was presented and what OpenSSL said, in words built from facts, not findings."""
    verification = presented.verification
    if not verification.attempted:
        verdict = f"trust not checked ({verification.reason})" if verification.reason else "trust not checked"
    elif verification.ok:
        verdict = "chain and name verified by OpenSSL"
    elif verification.code is None:
        verdict = f"path verified by OpenSSL, {' and '.join(sorted(verification.waived))} check waived"
    else:
        verdict = f"OpenSSL verification failed: error {verification.code}: {clean(verification.message or '')}"
    connection = f"{presented.tls_version} with {presented.peer}, " if presented.tls_version else ""
    sent = len(presented.certificates)
    notes = [f"{connection}{sent} certificate(s) presented, {count} evaluated, {verdict}"]
    if expected is not None:
        same = bool(presented.certificates) and presented.certificates[0][0] == expected.leaf.der
        notes.append(f"{'serves' if same else 'does not serve'} the certificate in --expect-file "
                     f"{clean(expected.path, 120)}")
    ari = presented.ari
    if ari is not None and ari.start is not None and ari.end is not None:
        notes.append(f"the CA's suggested renewal window (ARI): {ari.start:%Y-%m-%d %H:%M} - {ari.end:%Y-%m-%d %H:%M} "
                     f"UTC, from {clean(ari.url, 200)}")
    if presented.alpn:
        notes.append(f"ALPN protocol: {clean(presented.alpn)}")
    if presented.note:
        notes.append(clean(presented.note))
    return tuple(notes)
