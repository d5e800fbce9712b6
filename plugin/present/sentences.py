"""Present: the operator's sentences, rendered from a finding's kind and data (every output mode uses these).

Everything that came from a certificate, a server or the command line passes through
:func:`plugin.sanitize.clean` here. Rules of one consumer (Nagios rewrites ``;``) are not applied here but in
that consumer's presenter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime

from ..certinfo import CertInfo
from ..evaluate.findings import CertRow, Evaluation, Finding, Kind, ProbeOutcome
from ..sanitize import clean
from ..status import Status
from ..thresholds import DAY

__all__ = ["JOIN", "days", "describe_probe", "describe_row", "format_span", "issuer_name", "number", "probe_summary",
           "sentence", "summary"]

# How many problems the status line spells out before it says "(+N more)"; -v lists them all.
_SHOWN_PROBLEMS = 3
_SHOWN_NAMES = 4
# How many addresses a finding seen on several names before it says "and N more".
_SHOWN_ADDRESSES = 3
# Findings whose sentence names the key type itself (the leaf's expiry: "the RSA certificate 'x' expires ...").
_OWN_KEY_TYPE = frozenset({Kind.EXPIRED, Kind.EXPIRING, Kind.NOT_YET_VALID, Kind.HEALTHY})
# Problems are joined with " - ", not "; ": Nagios rewrites every ";" in plugin output to ":".
JOIN = " - "


def format_span(seconds: float, below: float | None = None) -> str:
    """A human span: days above two days, else hours, else minutes, with one decimal.

    ``below``: the bound this span is reported as being under (the threshold a WARNING or CRITICAL crossed).
    More decimals are shown when one would round the span up to the bound: a certificate CRITICAL under
    ``-c 14`` with 13.96 days left reads "13.96 days", never "14.0 days".
    """
    seconds = max(seconds, 0.0)
    if seconds >= 2 * DAY:
        unit, name = DAY, "days"
    elif seconds >= 3600:
        unit, name = 3600.0, "hours"
    else:
        return f"{math.floor(seconds / 60):d} minutes"
    value = seconds / unit
    decimals = 1
    while below is not None and decimals < 4 and round(value, decimals) >= below / unit:
        decimals += 1
    if below is not None and round(value, decimals) >= below / unit:
        value = math.floor(value * 10**decimals) / 10**decimals
    return f"{value:.{decimals}f} {name}"


def days(seconds: float) -> float:
    """Days left with two decimals, for JSON."""
    return round(seconds / DAY, 2)


def number(value: float) -> str:
    """A perfdata number: at most two decimals, never exponent notation, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _who(row: CertRow, key_type: str | None = None) -> str:
    if row.role == "client":
        return f"the client certificate '{clean(row.info.short_name, 64)}'"
    if key_type is not None and row.role == "leaf":
        return f"the {key_type} certificate '{clean(row.info.short_name, 64)}'"
    role = "intermediate" if row.role == "intermediate" else row.role
    where = " (trust store)" if row.sent is None else ""
    return f"{role} '{clean(row.info.short_name, 64)}'{where}"


def _name(text: str, limit: int = 64) -> str:
    return clean(text, limit, keep_escapes=True)


def issuer_name(info: CertInfo, limit: int = 120) -> str:
    """The issuer, safe to print: its RFC 4514 name, else (a certificate only OpenSSL can read) ``CN=`` its CN."""
    if info.issuer:
        return _name(info.issuer, limit)
    return f"CN={clean(info.issuer_cn, limit)}" if info.issuer_cn is not None else "(unreadable)"


def _expiry(finding: Finding, row: CertRow) -> str:
    info = row.info
    kind = finding.kind
    if kind in (Kind.EXTRA_EXPIRED, Kind.EXTRA_NOT_YET_VALID):
        source = "the file also holds" if finding.data.get("file") else "the server also sends"
        who = f"{source} '{_name(info.subject)}' issued by '{_name(info.issuer)}'"
        where = "not part of the path that counts"
        if kind == Kind.EXTRA_NOT_YET_VALID:
            return f"{who}, not valid before {_date(info.not_before)} ({where})"
        return f"{who}, which expired {format_span(-row.left)} ago ({_date(info.not_after)}, {where})"
    who = _who(row, finding.key_type)
    if kind == Kind.NOT_YET_VALID:
        return f"{who} is not valid before {_date(info.not_before)}"
    if kind == Kind.EXPIRED:
        return f"{who} expired {format_span(-row.left)} ago ({_date(info.not_after)})"
    return f"{who} expires in {format_span(row.left, finding.data.get('limit'))} ({_date(info.not_after)})"


def _names(row: CertRow) -> str:
    names = row.info.names
    if not names:
        return "its subjectAltName lists no DNS name or IP address"
    shown = ", ".join(clean(item, 64) for item in names[:_SHOWN_NAMES])
    more = f" (+{len(names) - _SHOWN_NAMES} more)" if len(names) > _SHOWN_NAMES else ""
    return f"it is for {shown}{more}"


def _about_row(finding: Finding, row: CertRow) -> str:
    kind, data, info = finding.kind, finding.data, row.info
    if kind == Kind.SELF_SIGNED:
        return f"self-signed certificate '{clean(info.short_name, 64)}' is not trusted"
    if kind == Kind.UNTRUSTED_ROOT:
        return f"untrusted chain: it ends at the self-signed '{clean(info.short_name, 64)}', which is not in the " \
               "trust store"
    if kind == Kind.UNTRUSTED_ISSUER:
        if data.get("url"):  # --aia fetched it: not a missing intermediate
            return f"untrusted chain: {_who(row)} is issued by '{_name(info.issuer)}', which is not in the trust " \
                   f"store (its certificate, fetched from {clean(data['url'], 120)}, does not lead there either)"
        text = f"untrusted chain: {_who(row)} is issued by '{_name(info.issuer)}', which is neither sent by the " \
               "server nor in the trust store"
        if not data.get("likely_root"):
            text += " (a missing intermediate, or a CA this store does not trust)"
        return _aia_failed(text, data)
    if kind == Kind.MISSING_INTERMEDIATE:
        if data.get("url"):
            return f"chain incomplete: the server does not send intermediate '{_name(data['issuer'] or info.issuer)}'" \
                   f" (clients that fetch it from {clean(data['url'], 120)}, such as browsers, work, while curl, " \
                   "Python, Java and most libraries fail)"
        return _aia_failed(f"chain incomplete: the server does not send the intermediate '{_name(info.issuer)}' that "
                           "issued the leaf (browsers fetch it, most other clients fail)", data)
    if kind == Kind.HOSTNAME_MISMATCH:
        return f"hostname mismatch: certificate is not valid for {clean(data['name'], 80)}, {_names(row)}"
    if kind == Kind.NO_SAN:
        return f"hostname mismatch: {_who(row)} has no subjectAltName (browsers, Go and RFC 6125 clients ignore " \
               "the subject CN, and so does this check)"
    if kind == Kind.WEAK_SIGNATURE:
        return f"{_who(row)} is signed with {data['algorithm']}, which clients refuse"
    if kind == Kind.WEAK_KEY:
        return f"{_who(row)} has a {data['bits']}-bit {data['algorithm']} key (below {data['minimum']} bits), " \
               "which clients refuse"
    if kind == Kind.NOT_A_CA:
        return f"{_who(row)} is not a CA certificate (basicConstraints CA:FALSE or absent), so the chain does " \
               "not verify"
    if kind == Kind.PIN_MISMATCH:
        count = data["pins"]
        return f"no certificate on the path holds a pinned key ({count} pin{'s' if count != 1 else ''} given, " \
               f"the leaf's is {row.info.pin or 'unreadable'}): pinned clients will fail"
    if kind == Kind.ISSUER_MISMATCH:
        expected = " or ".join(f"'{clean(text, 80)}'" for text in data["expected"])
        return f"{_who(row)} is issued by '{issuer_name(info)}', expected {expected}"
    if kind == Kind.CLIENT_REJECTED:
        return f"the server refused {_who(row)} ({clean(data['alert'], 80)})"
    if kind == Kind.MAX_VALIDITY_EXCEEDED:
        return f"{_who(row)} is valid for {data['days']} days, more than --max-validity {data['max']}"
    if kind == Kind.NOT_RELOADED:
        return f"still serves the certificate that expires {_date(info.not_after)}, {clean(data['path'], 120)} " \
               f"holds a newer one (expires {_date(data['file_not_after'])}): reload the service"
    if kind == Kind.UNEXPECTED_CERTIFICATE:
        served, filed = _date(info.not_after), _date(data["file_not_after"])
        dates = f"both expire {served}" if served == filed else f"it expires {served}, the file's {filed}"
        text = f"serves a different certificate than {clean(data['path'], 120)} ({dates})"
        if data.get("file_type"):
            served = f"an {data['served_type']} one" if data.get("served_type") else "another key type"
            text += f": the file holds an {data['file_type']} certificate, the server sent {served} (where both " \
                    "types are served, --all-key-types compares each)"
        return text
    if kind == Kind.REVOKED:
        reason = clean(data["reason"]) if data.get("reason") else "no reason given"
        return f"{_who(row)} was revoked on {_date(data['date'])} ({reason}, {data['source']})"
    if kind == Kind.CRL_STALE:
        return f"the CRL for {_who(row)} is past its nextUpdate ({_date(data['next_update'])}): the CA's " \
               f"publication at {clean(data['url'], 120)} is stale"
    if kind == Kind.REVOCATION_UNAVAILABLE:
        return f"revocation of {_who(row)} not checked: {clean(str(data.get('why') or 'no answer'), 200)}"
    if kind == Kind.RENEW_NOW:
        window = f"window {_date(data['start'])} - {_date(data['end'])}"
        if data.get("explanation"):
            window += f", see {clean(data['explanation'], 120)}"
        if finding.status == Status.CRITICAL:
            return f"the CA asked for {_who(row)} to be renewed by {_date(data['end'])} ({window})"
        return f"the CA asks for renewal of {_who(row)} now ({window})"
    if kind == Kind.ARI_UNAVAILABLE:
        return f"renewal information (ARI) not checked: {clean(str(data.get('why') or 'no answer'), 200)}"
    if kind == Kind.OCSP_UNKNOWN:
        return f"the OCSP responder {clean(data['url'], 120)} does not know {_who(row)} (status unknown)"
    if kind == Kind.HEALTHY:
        return _healthy(finding, row)
    return _expiry(finding, row)


def _aia_failed(text: str, data: dict[str, object]) -> str:
    error = data.get("aia_error")
    return f"{text} (--aia could not fetch the issuer: {clean(str(error), 160)})" if error else text


def _healthy(finding: Finding, row: CertRow) -> str:
    data = finding.data
    if data.get("verified"):
        trust = "chain verified"
    else:
        reason = data.get("reason")
        trust = f"trust not checked ({reason})" if reason else "trust not checked"
    text = f"{_who(row, finding.key_type)} expires first, in {format_span(row.left)} ({_date(row.info.not_after)}), " \
           f"{trust}"
    if data.get("not_revoked"):
        text += f", not revoked ({', '.join(data['not_revoked'])})"
    note = data.get("note")
    if note:
        text += f", {clean(note)}"
    if data.get("addresses"):
        count = data["addresses"]
        text += ", on both addresses" if count == 2 else f", on all {count} addresses" if count > 2 else ""
    if "key_types" in data:
        seen = data["key_types"]
        text += f" ({' and '.join(seen)} certificate{'s' if len(seen) != 1 else ''} checked)" if seen else ""
    return text


def _about_endpoint(finding: Finding) -> str:
    kind, data = finding.kind, finding.data
    if kind == Kind.LEGACY_PROTOCOL:
        return f"the server offers only {clean(data['version'])}, which current clients refuse"
    if kind == Kind.UNPARSABLE:
        return f"certificate #{data['position'] + 1} in the chain cannot be parsed: {clean(data['why'])}"
    if kind == Kind.NO_CERTIFICATE:
        return "the file holds no certificate" if data.get("file") else "the server sent no certificate"
    if kind == Kind.VERIFY_FAILED:
        return f"chain does not verify: {clean(data['message'] or 'unknown error')} (OpenSSL error {data['code']})"
    if kind == Kind.UNREACHABLE:
        return clean(data["message"], 300, keep_escapes=True)
    if kind == Kind.REVOCATION_UNAVAILABLE:
        return f"revocation not checked: {clean(str(data.get('why') or 'no answer'), 200)}"
    if kind == Kind.KEY_TYPE_UNSEEN:
        seen = f"only the {data['seen']} certificate" if data.get("seen") else "only one certificate"
        return f"{seen} could be checked: the server completes no TLS 1.2 handshake that asks for a key type " \
               "(TLS 1.3 only, where a client cannot ask for one)"
    return str(kind.value).replace("_", " ")


def _addresses(labels: tuple[str, ...]) -> str:
    shown = [clean(label, 80) for label in labels[:_SHOWN_ADDRESSES]]
    if len(labels) > _SHOWN_ADDRESSES:
        return f"{', '.join(shown)} and {len(labels) - _SHOWN_ADDRESSES} more addresses"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _names_itself(finding: Finding, text: str) -> bool:
    """An error that already says where ("cannot connect: 127.0.0.3:443 refused", "cannot resolve x.example")."""
    label = clean(str(finding.data.get("label", "")), 80)
    host = label.rsplit(":", 1)[0].strip("[]")  # "127.0.0.3:443", "[::1]:443", "name:443"
    return bool(host) and re.search(rf"(?<![\w.-]){re.escape(host)}(?![\w.-])", text) is not None


def sentence(finding: Finding) -> str:
    """The finding in the operator's words (safe to print: certificate text is escaped).

    A finding from one of several handshakes says where: "on 127.0.0.2:443, leaf 'x' expires in 5.0 days", and
    from a key-type handshake which chain ("the RSA certificate 'x' expires ...", "the RSA chain: ...").
    """
    text = _about_row(finding, finding.row) if finding.row is not None else _about_endpoint(finding)
    if finding.key_type is not None and not (finding.kind in _OWN_KEY_TYPE and finding.row is not None
                                             and finding.row.role == "leaf"):
        text = f"the {finding.key_type} chain: {text}"
    if finding.where and not (finding.kind == Kind.UNREACHABLE and _names_itself(finding, text)):
        text = f"on {_addresses(finding.where)}, {text}"
    return text


def summary(evaluation: Evaluation, render: Callable[[Finding], str] = sentence) -> str:
    """The status-line text: the problems, worst first, or the healthy headline."""
    problems = evaluation.problems
    if not problems:
        return JOIN.join(render(finding) for finding in evaluation.findings)
    text = JOIN.join(render(finding) for finding in problems[:_SHOWN_PROBLEMS])
    if len(problems) > _SHOWN_PROBLEMS:
        text += f" (+{len(problems) - _SHOWN_PROBLEMS} more, see -v)"
    if evaluation.addresses is not None and evaluation.addresses > 1:
        fine = evaluation.addresses - evaluation.failing
        if fine:
            text += f" ({fine} other address{'es' if fine != 1 else ''} fine)"
        else:
            text += f" (none of the {evaluation.addresses} addresses is fine)"
    return text


def probe_summary(outcome: ProbeOutcome) -> str:
    """What one handshake of several says on its own: its status-line text, or its error."""
    if outcome.evaluation is not None:
        return summary(outcome.evaluation)
    return clean(outcome.error.message, 300, keep_escapes=True) if outcome.error is not None else "no result"


def describe_probe(outcome: ProbeOutcome) -> str:
    """One -v line per address (and key type): its state, its leaf, serial and days left."""
    scope = f"{clean(outcome.label, 80)}{f' ({outcome.key_type})' if outcome.key_type else ''}"
    evaluation = outcome.evaluation
    leaf = next((row for row in evaluation.rows if row.role != "extra"), None) if evaluation else None
    if leaf is None:
        return f"{scope}: {outcome.status.name}, {probe_summary(outcome)}"
    serial = f"{leaf.info.serial:x}" if leaf.info.serial is not None else "unreadable"
    return (f"{scope}: {outcome.status.name}, {leaf.label} '{clean(leaf.info.short_name, 64)}', serial {serial}, "
            f"{number(leaf.days_left)} days left")


def describe_row(row: CertRow) -> str:
    """One -v line per certificate."""
    info = row.info
    position = f"#{row.sent + 1}" if row.sent is not None else "client" if row.role == "client" else "trust store"
    serial = f"{info.serial:x}" if info.serial is not None else "unreadable"
    subject = _name(info.subject, 200) if info.unreadable is None else f"(unreadable: {clean(info.unreadable)})"
    return (
        f"[{position}] {row.label}: subject '{subject}', issuer '{_name(info.issuer, 200)}', "
        f"serial {serial}, not after {info.not_after:%Y-%m-%d %H:%M:%S} UTC, "
        f"{number(row.days_left)} days left, sha256 {info.sha256}, pin {info.pin or 'unreadable'}"
    )
