"""--client-cert, --client-key, --client-key-password-file: mTLS against the real ``openssl s_server -Verify 1
-verify_return_error -CAfile clientca.pem`` (a server that requires a client certificate from its own CA and
refuses any other), on TLS 1.3 and TLS 1.2, with client certificates made per test."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pki import CA, Issued, write_key, write_pem
from runner import run

from check_tls_expiry import main

D = timedelta(days=1)
SECRET = "cl13nt-k3y-pa55word"
VERSIONS = ["-tls1_3", "-tls1_2"]


@pytest.fixture(scope="module")
def client_ca() -> CA:
    return CA.root("Test Client CA")


@pytest.fixture
def mtls_server(tls_server, intermediate_ca: CA, client_ca: CA, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Factory: a server on ``version`` that requires a client certificate issued by ``client_ca``."""
    cafile = write_pem(tmp_path / "clientca.pem", client_ca.issued)

    def start(version: str) -> int:
        return int(tls_server(intermediate_ca.leaf(not_after=60 * D), [intermediate_ca.issued],
                              extra_args=["-Verify", "1", "-verify_return_error", "-CAfile", str(cafile), version]))

    return start


def _client(ca: CA, tmp_path: Path, name: str, **validity: timedelta) -> tuple[Path, Path]:
    issued = ca.leaf(("monitor",), cn="monitor", client=True, **validity)
    return write_pem(tmp_path / f"{name}.pem", issued), write_key(tmp_path / f"{name}.key", issued)


def _args(port: int, root_pem: Path, cert: Path, key: Path | None = None, *extra: object) -> list[object]:
    return ["-H", "localhost", "-I", "127.0.0.1", "-p", port, "--cafile", root_pem, "--client-cert", cert,
            *(["--client-key", key] if key is not None else []), *extra]


@pytest.mark.parametrize("version", VERSIONS)
def test_an_accepted_client_certificate_is_checked_for_its_own_expiry(mtls_server, client_ca: CA, root_pem: Path,
                                                                      tmp_path: Path, capsys, version: str) -> None:
    port = mtls_server(version)
    fine = _client(client_ca, tmp_path, "fine", not_after=200 * D)
    soon = _client(client_ca, tmp_path, "soon", not_before=-80 * D, not_after=10 * D)
    ok = run(capsys, *_args(port, root_pem, *fine))
    assert ok.code == 0 and ok.status.endswith("chain verified"), ok.status
    assert ok.perf["days_client"][0] == pytest.approx(200, abs=0.1)
    warning = run(capsys, *_args(port, root_pem, *soon))
    assert warning.code == 1
    assert warning.status.startswith(f"TLS_EXPIRY WARNING - localhost:{port}: the client certificate 'monitor' "
                                     "expires in 10.0 days ("), warning.status
    assert warning.perf["days_client"][:2] == (10.0, 22.5)  # the same thresholds: 25% of its 90 days
    assert main([str(arg) for arg in _args(port, root_pem, *fine, "--output", "json")]) == 0
    chain = json.loads(capsys.readouterr().out)["chain"]
    assert [(row["label"], row["from"]) for row in chain][-1] == ("client", "client")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_refused_client_certificate_is_critical_with_the_alert(mtls_server, root_pem: Path, tmp_path: Path,
                                                                 capsys, version: str) -> None:
    port = mtls_server(version)
    stranger = _client(CA.root("Another CA"), tmp_path, "stranger", not_after=200 * D)
    result = run(capsys, *_args(port, root_pem, *stranger))
    assert result.code == 2
    assert result.status == (f"TLS_EXPIRY CRITICAL - localhost:{port}: the server refused the client certificate "
                             "'monitor' (unknown CA)"), result.status
    assert "days_leaf" in result.perf and "days_client" in result.perf  # the server's chain is still reported


@pytest.mark.parametrize("version", VERSIONS)
def test_an_expired_client_certificate(mtls_server, client_ca: CA, root_pem: Path, tmp_path: Path, capsys,
                                       version: str) -> None:
    port = mtls_server(version)
    expired = _client(client_ca, tmp_path, "expired", not_before=-90 * D, not_after=-1 * D)
    result = run(capsys, *_args(port, root_pem, *expired, "-v"))
    assert result.code == 2
    assert "the client certificate 'monitor' expired 24.0 hours ago" in result.out, result.out
    assert "[client] client: subject 'CN=monitor'" in result.out
    assert "the server refused the client certificate 'monitor' (certificate expired)" in result.out


def test_without_a_client_certificate_the_servers_chain_is_still_checked(mtls_server, root_pem: Path,
                                                                         capsys) -> None:
    for version in VERSIONS:
        port = mtls_server(version)
        result = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", port, "--cafile", root_pem)
        assert result.code == 0 and "days_client" not in result.perf, result.out


def test_the_key_in_the_certificate_file_and_an_encrypted_key(mtls_server, client_ca: CA, root_pem: Path,
                                                              tmp_path: Path, capsys) -> None:
    port = mtls_server("-tls1_3")
    issued: Issued = client_ca.leaf(("monitor",), cn="monitor", client=True, not_after=200 * D)
    combined = tmp_path / "combined.pem"
    combined.write_bytes(issued.pem + issued.key_pem)
    assert run(capsys, *_args(port, root_pem, combined)).code == 0
    locked = tmp_path / "locked.key"
    locked.write_bytes(issued.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.BestAvailableEncryption(SECRET.encode())))
    cert = write_pem(tmp_path / "cert.pem", issued)
    password = tmp_path / "password"
    password.write_text(SECRET + "\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("not-it\n")
    good = run(capsys, *_args(port, root_pem, cert, locked, "--client-key-password-file", password, "-vvv"))
    assert good.code == 0, good.out
    missing = run(capsys, *_args(port, root_pem, cert, locked))
    assert missing.code == 3 and "is encrypted: give --client-key-password-file" in missing.status
    bad = run(capsys, *_args(port, root_pem, cert, locked, "--client-key-password-file", wrong))
    assert bad.code == 3 and "password is wrong" in bad.status, bad.status
    for result in (good, missing, bad):
        assert SECRET not in result.out


def test_bad_client_options_are_usage_errors(client_ca: CA, root_ca: CA, tmp_path: Path, capsys) -> None:
    cert, key = _client(client_ca, tmp_path, "mine", not_after=200 * D)
    _, other_key = _client(client_ca, tmp_path, "other", not_after=200 * D)
    base = ["-H", "localhost", "-p", "1"]
    cases = {
        "--client-key only applies to --client-cert": [*base, "--client-key", key],
        "--client-key-password-file only applies to --client-cert": [*base, "--client-key-password-file", key],
        f"the --client-key {other_key} is not the key of --client-cert {cert}":
            [*base, "--client-cert", cert, "--client-key", other_key],
        "cannot read --client-cert": [*base, "--client-cert", tmp_path / "missing.pem"],
        "--client-cert cannot be used with --file": ["--file", cert, "--client-cert", cert],
        "cannot load the client certificate and key": [*base, "--client-cert", cert],  # no key in the file
    }
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)  # OpenSSL would wait on it for a writer, before any timeout runs
    cases[f"--client-cert {fifo} is not a regular file"] = [*base, "--client-cert", fifo]
    cases[f"--client-key {fifo} is not a regular file"] = [*base, "--client-cert", cert, "--client-key", fifo]
    cases[f"--client-cert {tmp_path} is not a regular file"] = [*base, "--client-cert", tmp_path]
    for expected, argv in cases.items():
        result = run(capsys, *argv)
        assert result.code == 3 and expected in result.status, (expected, result.status)


def test_the_same_verdict_over_several_addresses(mtls_server, client_ca: CA, root_pem: Path, tmp_path: Path,
                                                 capsys) -> None:
    port = mtls_server("-tls1_3")
    stranger = _client(CA.root("Another CA"), tmp_path, "stranger", not_after=200 * D)
    one = run(capsys, *_args(port, root_pem, *stranger))
    argv = ["-H", "localhost", "-I", "127.0.0.1,127.0.0.1", "-p", port, "--cafile", root_pem,
            "--client-cert", stranger[0], "--client-key", stranger[1]]
    both = run(capsys, *argv)
    assert both.code == one.code == 2
    assert "the server refused the client certificate 'monitor' (unknown CA)" in both.status, both.status
    assert main([str(arg) for arg in argv] + ["--output", "json"]) == 0
    kinds = [finding["kind"] for finding in json.loads(capsys.readouterr().out)["findings"]]
    assert "client_rejected" in kinds
