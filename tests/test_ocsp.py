"""--ocsp against the real `openssl ocsp` responder (-index, -rsigner, -port) on this machine, with the
certificates openssl s_server presents: good, revoked, unknown, a response signed by the wrong key, a delegated
responder, a responder that is down."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from ci import require_binary
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from pki import CA, Issued, generate_key, make_name, not_after, write_key, write_pem
from runner import run
from servers import refused_port

D = timedelta(days=1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _index_line(issued: Issued, revoked: bool) -> str:
    cert = issued.cert
    end = not_after(cert).strftime("%y%m%d%H%M%SZ")
    when = (datetime.now(timezone.utc) - 2 * D).strftime("%y%m%d%H%M%SZ")
    status, revocation = ("R", f"{when},keyCompromise") if revoked else ("V", "")
    return f"{status}\t{end}\t{revocation}\t{cert.serial_number:X}\tunknown\t/CN=localhost\n"


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def ocsp_responder(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Factory: ``ocsp_responder(ca, port, good=[...], revoked=[...], signer=None) -> process`` starts
    ``openssl ocsp`` on ``port`` (it binds every interface; the check talks to it on 127.0.0.1), answering for
    ``ca``'s certificates; a serial in neither list is "unknown". ``signer`` signs the responses instead of
    ``ca`` itself."""
    openssl = require_binary("openssl")
    procs: list[subprocess.Popen[bytes]] = []

    def start(ca: CA, port: int, good: Sequence[Issued] = (), revoked: Sequence[Issued] = (),
              signer: Issued | None = None) -> subprocess.Popen[bytes]:
        work = tmp_path / f"ocsp{len(procs)}"
        work.mkdir()
        index = work / "index.txt"
        index.write_text("".join([_index_line(c, False) for c in good] + [_index_line(c, True) for c in revoked]))
        sign = signer or ca.issued
        cmd = [openssl, "ocsp", "-index", str(index), "-port", str(port),
               "-CA", str(write_pem(work / "ca.pem", ca.issued)), "-rsigner", str(write_pem(work / "signer.pem", sign)),
               "-rkey", str(write_key(work / "signer.key", sign)), "-ndays", "1"]
        with open(work / "log", "wb") as log:
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        # Ready once it says so. Not by connecting: the responder serves one connection at a time, and an empty
        # probe connection would hold it until its own read times out.
        deadline = time.monotonic() + 5
        while "waiting for OCSP client connections" not in (work / "log").read_text(errors="replace"):
            if procs[-1].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"openssl ocsp did not start: {(work / 'log').read_text()}")
            time.sleep(0.02)
        return procs[-1]

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(5)


def _endpoint(tls_server, intermediate_ca: CA, root_pem: Path, leaf: Issued):  # type: ignore[no-untyped-def]
    port = tls_server(leaf, [intermediate_ca.issued])
    return port, ("-H", "localhost", "-p", port, "--cafile", root_pem, "--ocsp")


def _delegated(ca: CA) -> Issued:
    """A responder certificate the CA delegated OCSP signing to (id-kp-OCSPSigning)."""
    key = generate_key()
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(make_name("Test OCSP Responder")).issuer_name(ca.name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - D).not_valid_after(now + 30 * D)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False))
    return Issued(ca._sign(builder), key)


@pytest.mark.parametrize("signed_by", ["issuer", "delegated"])
def test_a_good_answer_is_ok_and_said(ocsp_responder, tls_server, intermediate_ca: CA, root_pem: Path, capsys,
                                      signed_by: str) -> None:
    port = _free_port()
    leaf = intermediate_ca.leaf(not_after=60 * D, ocsp_url=_url(port))
    ocsp_responder(intermediate_ca, port, good=[leaf],
                   signer=_delegated(intermediate_ca) if signed_by == "delegated" else None)
    _, args = _endpoint(tls_server, intermediate_ca, root_pem, leaf)
    result = run(capsys, *args)
    assert result.code == 0, result.out
    assert result.status.endswith(", chain verified, not revoked (OCSP)"), result.status
    assert "not revoked" not in run(capsys, *args[:-1]).status  # without --ocsp nothing is asked


def test_revoked_is_critical_with_the_reason(ocsp_responder, tls_server, intermediate_ca: CA, root_pem: Path,
                                             capsys) -> None:
    port = _free_port()
    leaf = intermediate_ca.leaf(not_after=60 * D, ocsp_url=_url(port))
    ocsp_responder(intermediate_ca, port, revoked=[leaf])
    tls_port, args = _endpoint(tls_server, intermediate_ca, root_pem, leaf)
    result = run(capsys, *args)
    assert result.code == 2
    assert result.status.startswith(f"TLS_EXPIRY CRITICAL - localhost:{tls_port}: leaf 'localhost' was revoked on ")
    assert result.status.endswith(" (key compromise, OCSP)"), result.status


def test_unknown_is_a_warning(ocsp_responder, tls_server, intermediate_ca: CA, root_pem: Path, capsys) -> None:
    port = _free_port()
    leaf = intermediate_ca.leaf(not_after=60 * D, ocsp_url=_url(port))
    ocsp_responder(intermediate_ca, port)  # the leaf is not in its index
    tls_port, args = _endpoint(tls_server, intermediate_ca, root_pem, leaf)
    result = run(capsys, *args)
    assert result.code == 1
    assert result.status.startswith(f"TLS_EXPIRY WARNING - localhost:{tls_port}: the OCSP responder {_url(port)} "
                                    "does not know leaf 'localhost' (status unknown)"), result.status


def test_a_response_signed_by_the_wrong_key_is_not_believed(ocsp_responder, tls_server, intermediate_ca: CA,
                                                            root_pem: Path, capsys) -> None:
    port = _free_port()
    leaf = intermediate_ca.leaf(not_after=60 * D, ocsp_url=_url(port))
    # Another CA's certificate signs a "revoked" answer: neither the issuer nor a responder it delegated.
    ocsp_responder(intermediate_ca, port, revoked=[leaf], signer=CA.root("Mallory").issued)
    _, args = _endpoint(tls_server, intermediate_ca, root_pem, leaf)
    result = run(capsys, *args)
    assert result.code == 0, result.out  # not revoked on its word, and not "good" either
    assert (f"revocation of leaf 'localhost' not checked: {_url(port)}: the response is not signed by "
            "'CN=Test Intermediate CA' nor by a responder it delegated") in result.status
    assert run(capsys, *args, "--revocation-unavailable", "critical").code == 2


def test_a_responder_that_is_down_is_unavailable(tls_server, intermediate_ca: CA, root_pem: Path, capsys) -> None:
    url = _url(refused_port())
    leaf = intermediate_ca.leaf(not_after=60 * D, ocsp_url=url)
    _, args = _endpoint(tls_server, intermediate_ca, root_pem, leaf)
    result = run(capsys, *args, "--revocation-unavailable", "warning")
    assert result.code == 1
    assert f"revocation of leaf 'localhost' not checked: {url}: cannot connect: 127.0.0.1:" in result.status


def test_crl_and_ocsp_together(ocsp_responder, http_files, tls_server, intermediate_ca: CA, root_pem: Path,
                               capsys) -> None:
    import json

    from check_tls_expiry import main

    port = _free_port()
    leaf = intermediate_ca.leaf(not_after=60 * D, ocsp_url=_url(port), crl_url=http_files.url("both.crl"))
    http_files.serve("both.crl", intermediate_ca.crl())
    ocsp_responder(intermediate_ca, port, good=[leaf])
    _, args = _endpoint(tls_server, intermediate_ca, root_pem, leaf)
    result = run(capsys, *args, "--crl")
    assert result.code == 0 and result.status.endswith(", not revoked (CRL, OCSP)"), result.status
    main([str(arg) for arg in (*args, "--crl", "--output", "json")])
    chain = {row["label"]: row for row in json.loads(capsys.readouterr().out)["chain"]}
    assert sorted(chain["leaf"]["revocation"], key=lambda item: item["source"]) == [
        {"status": "good", "source": "CRL"}, {"status": "good", "source": "OCSP"}]
