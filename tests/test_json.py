"""--output json for Zabbix: one JSON line, nothing on stderr, exit 0, failures inside the JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pki import CA, not_after, self_signed_leaf, write_pem
from servers import refused_port

from check_tls_expiry import main

D = timedelta(days=1)


def run_json(capsys: pytest.CaptureFixture[str], *argv: object) -> dict[str, Any]:
    assert main(["--output", "json", *(str(arg) for arg in argv)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.endswith("\n") and out.count("\n") == 1 and out.isascii()
    document: dict[str, Any] = json.loads(out)
    assert document["state"] in ("OK", "WARNING", "CRITICAL", "UNKNOWN")
    assert document["state_id"] == ("OK", "WARNING", "CRITICAL", "UNKNOWN").index(document["state"])
    assert document["result"]["value"] in ("valid", "valid-but-self-signed", "invalid", "error")
    return document


def test_healthy_endpoint_mirrors_web_certificate_get(tls_server, intermediate_ca: CA, root_pem: Path,
                                                      capsys) -> None:
    leaf = intermediate_ca.leaf(not_after=100 * D)
    port = tls_server(leaf, [intermediate_ca.issued])
    document = run_json(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert document["state"] == "OK" and document["result"]["value"] == "valid"
    x509 = document["x509"]
    assert x509["subject"] == "CN=localhost" and x509["issuer"] == "CN=Test Intermediate CA"
    assert x509["not_after"]["timestamp"] == int(not_after(leaf.cert).timestamp())
    assert x509["not_after"]["value"].endswith(" GMT") and x509["version"] == 3
    assert x509["serial_number"] == f"{leaf.cert.serial_number:x}"
    assert x509["alternative_names"] == ["localhost"]
    assert x509["signature_algorithm"] == "ECDSA-SHA256" and x509["public_key_algorithm"] == "ECDSA"
    assert document["sha256_fingerprint"] == leaf.sha256
    assert 99.9 < document["days_left"] <= 100
    assert [row["label"] for row in document["chain"]] == ["leaf", "int1", "root"]
    assert document["earliest_expiry"]["label"] == "leaf"


def test_expired_is_invalid_and_self_signed_is_flagged(tls_server, root_ca: CA, root_pem: Path, capsys) -> None:
    port = tls_server(root_ca.leaf(not_before=-30 * D, not_after=-3 * D))
    expired = run_json(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert expired["state"] == "CRITICAL" and expired["result"]["value"] == "invalid"
    assert "expired 3.0 days ago" in expired["result"]["message"] and expired["days_left"] < -2.9
    port = tls_server(self_signed_leaf(not_after=100 * D))
    self_signed = run_json(capsys, "-H", "localhost", "-p", port)
    assert self_signed["result"]["value"] == "valid-but-self-signed" and self_signed["state"] == "CRITICAL"


def test_failures_are_json_too(capsys) -> None:
    port = refused_port()
    refused = run_json(capsys, "-H", "127.0.0.1", "-p", port)
    assert refused["state"] == "CRITICAL" and "x509" not in refused and refused["chain"] == []
    assert refused["result"] == {"value": "error", "message": f"cannot connect: 127.0.0.1:{port} refused the connection"}
    # No "days_left": a JSON null would reach a numeric Zabbix item as the string "null" and make it unsupported.
    assert "days_left" not in refused and "sha256_fingerprint" not in refused
    assert "null" not in json.dumps(refused)
    usage = run_json(capsys, "-H", "localhost", "-w", "soon")
    assert usage["state"] == "UNKNOWN" and "'soon' is not a threshold" in usage["result"]["message"]


def test_hostile_text_stays_inside_valid_json(root_ca: CA, tmp_path: Path, capsys) -> None:
    from cryptography import x509 as cx
    from cryptography.x509.oid import NameOID

    evil = cx.Name([cx.NameAttribute(NameOID.COMMON_NAME, 'x"}\n|{"state":"OK"\u2028')])
    path = write_pem(tmp_path / "evil.pem", root_ca.leaf(subject=evil, not_after=100 * D))
    document = run_json(capsys, "--file", path, "-vvv")
    subject = document["x509"]["subject"]
    assert subject.startswith("CN=x") and "\\x0a\\x7c{" in subject and subject.endswith("\\u2028")
    assert not set(subject) & {"\n", "|", "\u2028"}
