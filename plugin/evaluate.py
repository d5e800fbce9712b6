"""Pure evaluation: (what was presented, policy, now) -> findings, each a state and an operator sentence.

No I/O and no clock: ``now`` is passed in, so tests can freeze time. Which certificates count:

* the leaf, and every certificate on OpenSSL's verified path, including the trust anchor even when the server
  did not send it (an expiring root breaks clients as surely as an expiring leaf);
* when there is no verified path (verification failed or was not attempted), the path is rebuilt from what was
  sent, following issuer names and signatures from the leaf up;
* anything else the server sends (an old cross-sign, a stray root) is an "extra": it only raises a WARNING when
  it has expired or is not yet valid, because old clients may still try to use it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from .certinfo import CertificateParseError, CertInfo, from_openssl, parse_certificate
from .compat import directly_issued_by
from .presented import Presented, Verification
from .sanitize import clean
from .status import Status
from .target import HostName
from .thresholds import Threshold

__all__ = ["CertRow", "Evaluation", "Finding", "Policy", "evaluate", "format_days"]

DAY = 86400.0
# How many problems the status line spells out before it says "(+N more)"; -v lists them all.
_SHOWN_PROBLEMS = 3
_SHOWN_NAMES = 4
# Problems are joined with " - ", not "; ": Nagios rewrites every ";" in plugin output to ":".
_JOIN = " - "


class Policy(NamedTuple):
    """What the operator asked for: thresholds and the name the leaf must carry (None: do not check)."""

    warning: Threshold
    critical: Threshold
    name: HostName | None = None


class Finding(NamedTuple):
    """One thing the operator should know. ``text`` is already sanitised. Lower ``order`` is told first."""

    status: Status
    text: str
    order: float = 0.0


class CertRow(NamedTuple):
    """One certificate as reported: its role, its perfdata label and its time left against the thresholds."""

    info: CertInfo
    role: str
    label: str
    sent: int | None
    on_path: bool
    left: float
    warn: float
    crit: float

    @property
    def days_left(self) -> float:
        return self.left / DAY

    @property
    def name(self) -> str:
        return f"{self.role} '{clean(self.info.short_name, 64)}'"


class Evaluation(NamedTuple):
    findings: tuple[Finding, ...]
    rows: tuple[CertRow, ...]
    headline: CertRow | None
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> Status:
        return max((finding.status for finding in self.findings), default=Status.UNKNOWN)

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.status != Status.OK)

    def summary(self) -> str:
        """The status-line text: the problems, worst first, or the healthy headline."""
        problems = self.problems
        if not problems:
            return _JOIN.join(finding.text for finding in self.findings)
        text = _JOIN.join(finding.text for finding in problems[:_SHOWN_PROBLEMS])
        if len(problems) > _SHOWN_PROBLEMS:
            text += f" (+{len(problems) - _SHOWN_PROBLEMS} more, see -v)"
        return text


def format_days(seconds: float) -> str:
    """A human span: days above two days, else hours, else minutes."""
    if seconds >= 2 * DAY:
        return f"{seconds / DAY:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(seconds, 0) / 60:.0f} minutes"


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def evaluate(presented: Presented, policy: Policy, now: datetime) -> Evaluation:
    """Evaluate one acquisition at the instant ``now`` (timezone-aware)."""
    findings: list[Finding] = []
    parsed = _parse_sent(presented.certificates, presented.parsed, findings)
    if not parsed or parsed[0][0] != 0:
        if not presented.certificates:
            findings.append(Finding(Status.CRITICAL, "the server sent no certificate"))
        return Evaluation(tuple(_sorted(findings)), (), None, _notes(presented, 0))
    leaf = parsed[0][1]
    path = _path(presented, parsed, now)
    # Certificates are identified by their DER bytes: equal bytes, same certificate, no hashing needed.
    on_path = {info.der for _, info in path}
    extras = [(sent, info) for sent, info in parsed if info.der not in on_path]

    from_file = presented.peer is None
    rows = [
        _row(info, _role(i, info, len(path), from_file), sent, True, policy, now) for i, (sent, info) in enumerate(path)
    ]
    rows = _labelled(rows)
    extra_rows = [_row(info, "extra", sent, False, policy, now) for sent, info in extras]
    extra_rows = [row._replace(label=f"extra{i}") for i, row in enumerate(extra_rows, 1)]

    for row in rows:
        findings.extend(_expiry(row, now))
    for row in extra_rows:
        findings.extend(_extra(row, now, presented.verification.ok))
    findings.extend(_trust(presented.verification, path, findings))
    if presented.tls_version in _LEGACY_VERSIONS:
        text = f"the server offers only {presented.tls_version}, which current clients refuse"
        findings.append(Finding(Status.CRITICAL, text, _FIRST))
    if policy.name is not None:
        findings.extend(_hostname(presented.verification, leaf, policy.name))

    headline = min(rows, key=lambda row: row.left)
    if not any(finding.status != Status.OK for finding in findings):
        findings.append(Finding(Status.OK, _healthy(headline, presented.verification, presented.note)))
    all_rows = tuple(rows + extra_rows)
    return Evaluation(tuple(_sorted(findings)), all_rows, headline, _notes(presented, len(all_rows)))


def _certificate(der: bytes, openssl_view: dict[str, Any] | None) -> CertInfo:
    """OpenSSL's parse from the handshake when there is one (cheap), else cryptography's (files, fallbacks)."""
    return from_openssl(der, openssl_view) if openssl_view is not None else parse_certificate(der)


def _parse_sent(
    certificates: tuple[bytes, ...], views: tuple[dict[str, Any] | None, ...], findings: list[Finding]
) -> list[tuple[int, CertInfo]]:
    """Parse what was sent, dropping exact duplicates; an unparsable certificate is itself a finding."""
    parsed: list[tuple[int, CertInfo]] = []
    seen: set[bytes] = set()
    for sent, der in enumerate(certificates):
        if der in seen:
            continue
        seen.add(der)
        try:
            parsed.append((sent, _certificate(der, views[sent] if sent < len(views) else None)))
        except CertificateParseError as exc:
            findings.append(
                Finding(Status.CRITICAL, f"certificate #{sent + 1} in the chain cannot be parsed: {clean(str(exc))}")
            )
    return parsed


def _path(
    presented: Presented, parsed: list[tuple[int, CertInfo]], now: datetime
) -> list[tuple[int | None, CertInfo]]:
    """The chain that counts: OpenSSL's verified path if there is one, else issuer links among what was sent.

    Without a verified path, an issuer valid now is preferred over an expired one with the same name and key
    (an old cross-sign), as OpenSSL's own chain building does.
    """
    by_der: dict[bytes, tuple[int | None, CertInfo]] = {info.der: (sent, info) for sent, info in parsed}
    if presented.verified_path:
        try:
            views = presented.verified_parsed or (None,) * len(presented.verified_path)
            verified = [_certificate(der, view) for der, view in zip(presented.verified_path, views)]
        except CertificateParseError:
            verified = []
        if verified and verified[0].der == parsed[0][1].der:
            return [by_der.get(info.der, (None, info)) for info in verified]
    path: list[tuple[int | None, CertInfo]] = [(parsed[0][0], parsed[0][1])]
    pool = list(parsed[1:])
    while not path[-1][1].self_issued:
        child = path[-1][1]
        candidates = [item for item in pool if _issued(child, item[1])]
        if not candidates:
            break
        parent = min(candidates, key=lambda item: not item[1].not_before <= now <= item[1].not_after)
        path.append(parent)
        pool.remove(parent)
    return path


def _issued(child: CertInfo, parent: CertInfo) -> bool:
    try:
        return directly_issued_by(child.cert, parent.cert)
    except CertificateParseError:  # a certificate only OpenSSL could read links to nothing
        return False


def _role(index: int, info: CertInfo, length: int, from_file: bool) -> str:
    if index == 0:
        # A lone self-signed CA certificate in a file (a root checked with --file) is a root. What a server
        # presents first is its leaf, even when `openssl req -x509` marked it CA:TRUE.
        return "root" if from_file and length == 1 and info.self_issued and info.is_ca else "leaf"
    if index == length - 1 and info.self_issued:
        return "root"
    return "intermediate"


def _row(info: CertInfo, role: str, sent: int | None, on_path: bool, policy: Policy, now: datetime) -> CertRow:
    lifetime = info.lifetime
    return CertRow(
        info=info,
        role=role,
        label=role,
        sent=sent,
        on_path=on_path,
        left=(info.not_after - now).total_seconds(),
        warn=policy.warning.limit(lifetime),
        crit=policy.critical.limit(lifetime),
    )


def _labelled(rows: list[CertRow]) -> list[CertRow]:
    """Perfdata labels that keep their meaning when the chain changes: leaf, int1, int2, ..., root."""
    out = []
    intermediates = 0
    for row in rows:
        if row.role == "intermediate":
            intermediates += 1
            out.append(row._replace(label=f"int{intermediates}"))
        else:
            out.append(row)
    return out


def _expiry(row: CertRow, now: datetime) -> list[Finding]:
    info = row.info
    if now < info.not_before:
        return [Finding(Status.CRITICAL, f"{row.name} is not valid before {_date(info.not_before)}", row.left)]
    if row.left <= 0:
        return [
            Finding(
                Status.CRITICAL,
                f"{row.name} expired {format_days(-row.left)} ago ({_date(info.not_after)})",
                row.left,
            )
        ]
    for status, limit in ((Status.CRITICAL, row.crit), (Status.WARNING, row.warn)):
        if row.left < limit:
            text = f"{row.name} expires in {format_days(row.left)} ({_date(info.not_after)})"
            return [Finding(status, text, row.left)]
    return []


def _extra(row: CertRow, now: datetime, verified: bool) -> list[Finding]:
    info = row.info
    where = "not on the verified path" if verified else "not part of the chain"
    who = f"the server also sends '{clean(info.subject, 64)}' issued by '{clean(info.issuer, 64)}'"
    if now < info.not_before:
        return [Finding(Status.WARNING, f"{who}, not valid before {_date(info.not_before)} ({where})", row.left)]
    if row.left <= 0:
        text = f"{who}, which expired {format_days(-row.left)} ago ({_date(info.not_after)}, {where})"
        return [Finding(Status.WARNING, text, row.left)]
    return []


_FIRST = float("-inf")  # trust, name and protocol problems lead the status line
_LEGACY_VERSIONS = frozenset({"SSLv3", "TLSv1", "TLSv1.1"})


def _trust(
    verification: Verification, path: list[tuple[int | None, CertInfo]], so_far: list[Finding]
) -> list[Finding]:
    if not verification.attempted or verification.ok:
        return []
    code = verification.code
    top = path[-1][1]
    if code == 62:  # hostname mismatch: reported by _hostname with the names the certificate carries
        return []
    if code in (9, 10):  # a time error; _expiry already names the certificate, unless OpenSSL saw another one
        if any(finding.status == Status.CRITICAL for finding in so_far):
            return []
    elif code == 18:
        return [Finding(Status.CRITICAL, f"self-signed certificate '{clean(top.short_name, 64)}' is not trusted", _FIRST)]
    elif code == 19:
        return [
            Finding(
                Status.CRITICAL,
                f"untrusted chain: it ends at the self-signed '{clean(top.short_name, 64)}', "
                "which is not in the trust store",
                _FIRST,
            )
        ]
    elif code in (2, 20):
        issuer = clean(top.issuer, 64)
        if len(path) == 1 and not top.self_issued:
            text = f"chain incomplete: the server does not send the intermediate '{issuer}' that issued the leaf"
        else:
            text = (
                f"untrusted chain: '{issuer}', the issuer of '{clean(top.short_name, 64)}', "
                "is neither sent by the server nor in the trust store"
            )
        return [Finding(Status.CRITICAL, text, _FIRST)]
    message = clean(verification.message or "unknown error")
    return [Finding(Status.CRITICAL, f"chain does not verify: {message} (OpenSSL error {code})", _FIRST)]


def _hostname(verification: Verification, leaf: CertInfo, name: HostName) -> list[Finding]:
    if verification.hostname_checked:
        matched = verification.code != 62
    else:
        from .names import matches

        matched = matches(leaf, name)
    if matched:
        return []
    if leaf.names:
        shown = ", ".join(clean(item, 64) for item in leaf.names[:_SHOWN_NAMES])
        more = f" (+{len(leaf.names) - _SHOWN_NAMES} more)" if len(leaf.names) > _SHOWN_NAMES else ""
        carries = f"it is for {shown}{more}"
    elif leaf.has_san:
        carries = "its subjectAltName lists no DNS name or IP address"
    else:
        carries = f"it has no subjectAltName (subject CN '{clean(leaf.short_name, 64)}', which clients ignore)"
    return [Finding(Status.CRITICAL, f"hostname mismatch: certificate is not valid for {name.display}, {carries}", _FIRST)]


def _healthy(headline: CertRow, verification: Verification, note: str | None) -> str:
    if verification.ok:
        trust = "chain verified"
    else:
        trust = f"trust not checked ({verification.reason})" if verification.reason else "trust not checked"
    when = f"in {format_days(headline.left)} ({_date(headline.info.not_after)})"
    text = f"{headline.name} expires first, {when}, {trust}"
    return f"{text}, {clean(note)}" if note else text


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda finding: (-finding.status, finding.order))


def _notes(presented: Presented, count: int) -> tuple[str, ...]:
    verification = presented.verification
    if not verification.attempted:
        verdict = f"trust not checked ({verification.reason})" if verification.reason else "trust not checked"
    elif verification.ok:
        verdict = "chain and name verified by OpenSSL"
    else:
        verdict = f"OpenSSL verification failed: error {verification.code}: {clean(verification.message or '')}"
    connection = f"{presented.tls_version} with {presented.peer}, " if presented.tls_version else ""
    sent = len(presented.certificates)
    notes = [f"{connection}{sent} certificate(s) sent, {count} evaluated, {verdict}"]
    if presented.alpn:
        notes.append(f"ALPN protocol: {clean(presented.alpn)}")
    if presented.note:
        notes.append(clean(presented.note))
    return tuple(notes)
