"""Present for Zabbix: one JSON line, shaped like Zabbix agent 2's ``web.certificate.get``, plus the chain.

Zabbix ignores exit codes, merges stderr into the value and kills the script at its ``Timeout``; so this mode
prints exactly one line of JSON on stdout, reports every failure inside it, and the entry point exits 0. The
agent's field names are kept (``x509.not_after.timestamp``, ``result.value``, ``sha256_fingerprint``...) so
existing triggers and habits carry over; what the agent lacks is added: the plugin's ``state``, the days left on
every certificate in the chain, and the earliest expiry. Certificate text is escaped like every other output
(``json.dumps`` escapes control characters as well).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from ..certinfo import CertInfo
from ..errors import BackstopTimeout, CheckError
from ..evaluate.findings import TRUST_KINDS, CertRow, Evaluation, Finding, Kind, ProbeOutcome
from ..sanitize import clean
from ..status import Status
from ..thresholds import DAY
from .sentences import days, issuer_name, probe_summary, sentence, summary

__all__ = ["failure_json", "render_json"]

# Zabbix agent 2 prints Go's names for these.
_SIGNATURES = {
    "sha256WithRSAEncryption": "SHA256-RSA", "sha384WithRSAEncryption": "SHA384-RSA",
    "sha512WithRSAEncryption": "SHA512-RSA", "sha1WithRSAEncryption": "SHA1-RSA",
    "ecdsa-with-SHA256": "ECDSA-SHA256", "ecdsa-with-SHA384": "ECDSA-SHA384", "ecdsa-with-SHA512": "ECDSA-SHA512",
    "ed25519": "Ed25519", "ed448": "Ed448", "RSASSA-PSS": "SHA256-RSAPSS",
}
_PUBLIC_KEYS = (
    (rsa.RSAPublicKey, "RSA"), (ec.EllipticCurvePublicKey, "ECDSA"), (ed25519.Ed25519PublicKey, "Ed25519"),
    (ed448.Ed448PublicKey, "Ed448"), (dsa.DSAPublicKey, "DSA"),
)
# Findings that make a certificate "invalid" in the agent's sense (expiring soon is still valid).
_INVALID = TRUST_KINDS | {Kind.EXPIRED, Kind.NOT_YET_VALID, Kind.HOSTNAME_MISMATCH, Kind.NO_SAN, Kind.WEAK_KEY,
                          Kind.WEAK_SIGNATURE, Kind.LEGACY_PROTOCOL, Kind.UNPARSABLE, Kind.NO_CERTIFICATE,
                          Kind.PIN_MISMATCH, Kind.ISSUER_MISMATCH, Kind.REVOKED}
# Not "invalid": a stale but valid certificate (not_reloaded, unexpected_certificate) still works for clients, and
# an address that could not be checked (unreachable) says nothing about a certificate; "state" carries both. Nor is
# a leaf valid for longer than --max-validity (max_validity_exceeded): clients accept it, the operator's rule does not.


def _moment(moment: datetime) -> dict[str, Any]:
    """Go's ``Jan _2 15:04:05 2006 MST`` text, as the agent prints it, and the Unix timestamp."""
    value = f"{moment:%b} {moment.day:2d} {moment:%H:%M:%S %Y} GMT"
    return {"value": value, "timestamp": int(moment.timestamp())}


def _x509(info: CertInfo) -> dict[str, Any]:
    cert = info.x509
    if cert is None:
        return {"subject": clean(info.short_name, 256), "not_before": _moment(info.not_before),
                "not_after": _moment(info.not_after)}
    oid = cert.signature_algorithm_oid
    signature = _SIGNATURES.get(getattr(oid, "_name", ""), oid.dotted_string)
    try:
        key = cert.public_key()
        public_key = next((name for kind, name in _PUBLIC_KEYS if isinstance(key, kind)), "unknown")
    except (ValueError, TypeError, UnsupportedAlgorithm):  # key types cryptography does not support
        public_key = "unknown"
    version = 3 if cert.version == x509.Version.v3 else 1
    return {
        "version": version,
        "serial_number": f"{info.serial:x}" if info.serial is not None else "",
        "signature_algorithm": signature,
        "issuer": clean(info.issuer, 256, keep_escapes=True),
        "not_before": _moment(info.not_before),
        "not_after": _moment(info.not_after),
        "subject": clean(info.subject, 256, keep_escapes=True),
        "public_key_algorithm": public_key,
        "alternative_names": [clean(name, 256) for name in info.names],
    }


def _row(row: CertRow, revocation: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    # "position" (index in what was sent) is left out for a trust-store certificate, which "from" says.
    where = {"position": row.sent, "from": "server"} if row.sent is not None else {
        "from": "client" if row.role == "client" else "trust store"}
    return {
        "label": row.label,
        "role": row.role,
        **where,
        "subject": clean(row.info.subject, 256, keep_escapes=True),
        "issuer": clean(row.info.issuer, 256, keep_escapes=True),
        "not_after": int(row.info.not_after.timestamp()),
        "days_left": days(row.left),
        "warning_days": round(row.warn / DAY, 2),
        "critical_days": round(row.crit / DAY, 2),
        "sha256_fingerprint": row.info.sha256,
        **({"pin": row.info.pin} if row.info.pin else {}),
        **({"revocation": revocation[row.label]} if row.label in revocation else {}),
    }


def _ari(ari: dict[str, Any], renew: Finding | None) -> dict[str, Any]:
    """--ari: the CA's suggested renewal window (Unix timestamps) and what it means now ("window": renew later,
    "renew_now", "overdue"), or why there is none ("unavailable"); never a null."""
    if ari.get("start") is None or ari.get("end") is None:
        return {"status": "unavailable", "message": clean(str(ari.get("why") or ""), 200)}
    status = "window" if renew is None else "overdue" if renew.status == Status.CRITICAL else "renew_now"
    document: dict[str, Any] = {"status": status, "window_start": int(ari["start"].timestamp()),
                                "window_end": int(ari["end"].timestamp()), "url": clean(ari["url"], 200)}
    if ari.get("explanation"):
        document["explanation_url"] = clean(ari["explanation"], 200)
    if ari.get("cached"):
        document["cached"] = True
    return document


def _revocation(evaluation: Evaluation) -> dict[str, list[dict[str, Any]]]:
    """--crl/--ocsp per certificate label: [{"status": "good", "source": "CRL"}, ...], with "cached": true for
    an answer --cache-dir kept (verified again in this run)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for label, status, source, cached in evaluation.revocation:
        entry: dict[str, Any] = {"status": status, "source": source}
        if cached:
            entry["cached"] = True
        found.setdefault(label, []).append(entry)
    return found


def _finding(finding: Finding) -> dict[str, Any]:
    document: dict[str, Any] = {"kind": finding.kind.value, "state": finding.status.name,
                                "message": sentence(finding)}
    if finding.row is not None:
        document["label"] = finding.row.label
    if finding.where:
        document["addresses"] = [clean(label, 80) for label in finding.where]
    if finding.key_type is not None:
        document["key_type"] = finding.key_type
    if finding.kind == Kind.MAX_VALIDITY_EXCEEDED:  # numbers for a Zabbix item or trigger
        document.update(validity_days=finding.data["days"], max_validity_days=finding.data["max"])
    elif finding.kind == Kind.ISSUER_MISMATCH and finding.row is not None:
        document.update(issuer=issuer_name(finding.row.info, 256),
                        expected=[clean(text, 80) for text in finding.data["expected"]])
    return document


def _probe(outcome: ProbeOutcome) -> dict[str, Any]:
    """One address (and key type) of a check that makes several handshakes."""
    document: dict[str, Any] = {"address": clean(outcome.label, 80)}
    if outcome.key_type is not None:
        document["key_type"] = outcome.key_type
    document.update({"state": outcome.status.name, "message": probe_summary(outcome)})
    evaluation = outcome.evaluation
    leaf = next((row for row in evaluation.rows if row.role != "extra"), None) if evaluation is not None else None
    if evaluation is not None and evaluation.headline is not None:
        document["days_left"] = days(evaluation.headline.left)
    if leaf is not None:
        document["leaf"] = {
            "subject": clean(leaf.info.subject, 256, keep_escapes=True),
            "serial_number": f"{leaf.info.serial:x}" if leaf.info.serial is not None else "",
            "not_after": int(leaf.info.not_after.timestamp()), "days_left": days(leaf.left),
            "sha256_fingerprint": leaf.info.sha256, **({"pin": leaf.info.pin} if leaf.info.pin else {}),
        }
    if evaluation is not None and evaluation.seconds is not None:
        document["time"] = round(evaluation.seconds, 6)
    return document


def _earliest(row: CertRow) -> dict[str, Any]:
    return {**_moment(row.info.not_after), "days_left": days(row.left), "label": row.label,
            "role": row.role, "subject": clean(row.info.subject, 256, keep_escapes=True)}


def _result(evaluation: Evaluation) -> dict[str, str]:
    """The agent's verdict, from the kinds: self-signed alone is "valid-but-self-signed", as the agent says."""
    invalid = {finding.kind for finding in evaluation.problems if finding.kind in _INVALID}
    message = summary(evaluation)
    if not evaluation.rows:  # every address failed: no certificate to judge, as in a failed single check
        return {"value": "error", "message": message}
    if invalid == {Kind.SELF_SIGNED}:
        return {"value": "valid-but-self-signed", "message": message}
    return {"value": "invalid" if invalid else "valid", "message": message}


def _document(endpoint: str, status: Status, message: str) -> dict[str, Any]:
    return {"endpoint": endpoint, "state": status.name, "state_id": int(status), "message": message}


def failure_json(endpoint: str, error: CheckError | BackstopTimeout) -> str:
    """A failure that left no certificate to report (DNS, connect, handshake, usage, timeout)."""
    document = _document(endpoint, error.status, error.message)
    # Keys with nothing to say are left out, never null: Zabbix's JSONPath turns null into the string "null",
    # which a numeric item rejects (the item becomes unsupported), while a missing key lets the template discard
    # the value.
    document.update({"result": {"value": "error", "message": error.message}, "chain": [], "findings": []})
    if error.details:
        document["notes"] = [clean(line, 200) for line in error.details]
    return json.dumps(document, separators=(",", ":")) + "\n"


def render_json(endpoint: str, job: Callable[[], Evaluation]) -> str:
    """Run the check and return its one JSON line."""
    try:
        evaluation = job()
    except CheckError as exc:
        return failure_json(endpoint, exc)
    document = _document(endpoint, evaluation.status, summary(evaluation))
    document["result"] = _result(evaluation)
    leaf = next((row for row in evaluation.rows if row.label in ("leaf", "root") and row.role != "extra"), None)
    if leaf is not None:
        document.update({
            "x509": _x509(leaf.info),
            "sha1_fingerprint": hashlib.sha1(leaf.info.der, usedforsecurity=False).hexdigest(),
            "sha256_fingerprint": leaf.info.sha256,
        })
    headline = evaluation.headline
    if headline is not None:
        document.update({"days_left": days(headline.left), "earliest_expiry": _earliest(headline)})
    if evaluation.seconds is not None:
        document["time"] = round(evaluation.seconds, 6)
    if evaluation.addresses is not None:
        document.update({"addresses_checked": evaluation.addresses, "addresses_failing": evaluation.failing})
    if evaluation.ari is not None:
        document["ari"] = _ari(evaluation.ari, next((finding for finding in evaluation.findings
                                                     if finding.kind == Kind.RENEW_NOW), None))
    if evaluation.revocation:  # --crl/--ocsp ran: a count for Zabbix's item and trigger
        document["revoked"] = len({label for label, status, _, _ in evaluation.revocation if status == "revoked"})
    if evaluation.probes:
        document["addresses"] = [_probe(outcome) for outcome in evaluation.probes]
    document.update({
        "chain": [_row(row, _revocation(evaluation)) for row in evaluation.rows],
        "findings": [_finding(finding) for finding in evaluation.findings],
        "notes": list(evaluation.notes + evaluation.details),
    })
    return json.dumps(document, separators=(",", ":")) + "\n"
