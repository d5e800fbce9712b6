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
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from .certinfo import CertificateParseError, CertInfo
from .errors import CheckError
from .evaluate import CertRow, Evaluation
from .sanitize import clean
from .status import Status

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
# Problems that make a certificate "invalid" in the agent's sense (expiring soon is still valid).
_INVALID_PREFIXES = ("hostname mismatch", "untrusted", "chain", "self-signed", "certificate #")


def _moment(moment: datetime) -> dict[str, Any]:
    """Go's ``Jan _2 15:04:05 2006 MST`` text, as the agent prints it, and the Unix timestamp."""
    value = f"{moment:%b} {moment.day:2d} {moment:%H:%M:%S %Y} GMT"
    return {"value": value, "timestamp": int(moment.timestamp())}


def _x509(info: CertInfo) -> dict[str, Any]:
    try:
        cert = info.cert
    except CertificateParseError:
        return {"subject": clean(info.subject, 256), "not_before": _moment(info.not_before),
                "not_after": _moment(info.not_after)}
    try:
        signature = _SIGNATURES.get(cert.signature_algorithm_oid._name, cert.signature_algorithm_oid.dotted_string)
    except Exception:  # noqa: BLE001 - an odd OID is no reason to lose the whole result
        signature = "unknown"
    try:
        key = cert.public_key()
        public_key = next((name for kind, name in _PUBLIC_KEYS if isinstance(key, kind)), "unknown")
    except Exception:  # noqa: BLE001 - unsupported key types raise on public_key()
        public_key = "unknown"
    version = 3 if cert.version == x509.Version.v3 else 1
    return {
        "version": version,
        "serial_number": f"{info.serial:x}",
        "signature_algorithm": signature,
        "issuer": clean(info.issuer, 256),
        "not_before": _moment(info.not_before),
        "not_after": _moment(info.not_after),
        "subject": clean(info.subject, 256),
        "public_key_algorithm": public_key,
        "alternative_names": [clean(name, 256) for name in info.names],
    }


def _row(row: CertRow) -> dict[str, Any]:
    return {
        "label": row.label,
        "role": row.role,
        "position": row.sent,
        "subject": clean(row.info.subject, 256),
        "issuer": clean(row.info.issuer, 256),
        "not_after": int(row.info.not_after.timestamp()),
        "days_left": round(row.days_left, 2),
        "warning_days": round(row.warn / 86400, 2),
        "critical_days": round(row.crit / 86400, 2),
        "sha256_fingerprint": row.info.sha256,
    }


def _earliest(row: CertRow) -> dict[str, Any]:
    return {**_moment(row.info.not_after), "days_left": round(row.days_left, 2), "label": row.label,
            "role": row.role, "subject": clean(row.info.subject, 256)}


def _result(evaluation: Evaluation) -> dict[str, str]:
    problems = [finding for finding in evaluation.problems if finding.status == Status.CRITICAL]
    invalid = [finding for finding in problems if finding.text.startswith(_INVALID_PREFIXES)]
    expired = [finding for finding in problems if " expired " in finding.text or "not valid before" in finding.text]
    if invalid or expired:
        if all(finding.text.startswith("self-signed") for finding in invalid) and not expired:
            return {"value": "valid-but-self-signed", "message": evaluation.summary()}
        return {"value": "invalid", "message": evaluation.summary()}
    return {"value": "valid", "message": evaluation.summary()}


def _document(endpoint: str, status: Status, message: str) -> dict[str, Any]:
    return {"endpoint": endpoint, "state": status.name, "state_id": int(status), "message": message}


def failure_json(endpoint: str, error: CheckError) -> str:
    """A failure that left no certificate to report (DNS, connect, handshake, usage, timeout)."""
    document = _document(endpoint, error.status, error.message)
    # Keys with nothing to say are left out, not null: Zabbix's JSONPath turns null into the string "null", which a
    # numeric item rejects (the item becomes unsupported), while a missing key lets the template discard the value.
    document.update({"x509": None, "result": {"value": "error", "message": error.message}, "chain": []})
    return json.dumps(document, separators=(",", ":")) + "\n"


def render_json(endpoint: str, run: Callable[[], Evaluation]) -> str:
    """Run the check and return its one JSON line."""
    try:
        evaluation = run()
    except CheckError as exc:
        return failure_json(endpoint, exc)
    document = _document(endpoint, evaluation.status, evaluation.summary())
    leaf = next((row for row in evaluation.rows if row.sent == 0), None)
    headline = evaluation.headline
    document.update({
        "x509": _x509(leaf.info) if leaf is not None else None,
        "result": _result(evaluation),
        "sha1_fingerprint": hashlib.sha1(leaf.info.der, usedforsecurity=False).hexdigest() if leaf else None,
        "sha256_fingerprint": leaf.info.sha256 if leaf else None,
        "days_left": round(headline.days_left, 2) if headline else None,
        "earliest_expiry": _earliest(headline) if headline else None,
        "chain": [_row(row) for row in evaluation.rows],
        "notes": list(evaluation.notes),
    })
    return json.dumps(document, separators=(",", ":")) + "\n"
