"""--crl and --revocation-unavailable: CRLs made by a real CA (cryptography's CRL builder, signed with the CA's
key), served by a real HTTP server on 127.0.0.1, looked up for the certificates openssl s_server presents."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from pki import CA, generate_key, not_after
from runner import run
from servers import HttpFiles, refused_port, silent_server

D = timedelta(days=1)


@pytest.fixture
def endpoint(tls_server, intermediate_ca: CA, root_pem: Path, http_files: HttpFiles):  # type: ignore[no-untyped-def]
    """Factory: a server whose leaf names ``name`` on the HTTP server as its CRL; returns (base args, leaf)."""

    def start(name: str, crl: bytes | None, *, url: str | None = None):  # type: ignore[no-untyped-def]
        target = url or http_files.url(name)
        if crl is not None:
            http_files.serve(name, crl)
        leaf = intermediate_ca.leaf(not_after=60 * D, crl_url=target)
        port = tls_server(leaf, [intermediate_ca.issued])
        return ("-H", "localhost", "-p", port, "--cafile", root_pem, "--crl"), leaf, port

    return start


def test_a_certificate_not_in_its_crl_is_ok_and_says_so(endpoint, intermediate_ca: CA, http_files: HttpFiles,
                                                       capsys) -> None:
    base, _leaf, _port = endpoint("good.crl", intermediate_ca.crl([(12345, None)]))
    result = run(capsys, *base)
    assert result.code == 0
    assert result.status.endswith(", chain verified, not revoked (CRL)"), result.status
    assert http_files.requests()[-1] == "/good.crl"
    plain = run(capsys, *base[:-1])  # without --crl: no fetch, nothing said
    assert plain.code == 0 and "CRL" not in plain.status


def test_a_revoked_leaf_is_critical_with_date_and_reason(tls_server, intermediate_ca: CA, root_pem: Path, http_files: HttpFiles, capsys) -> None:
    url = http_files.url("revoked.crl")
    leaf = intermediate_ca.leaf(not_after=60 * D, crl_url=url)
    http_files.serve("revoked.crl", intermediate_ca.crl([(leaf.cert.serial_number, x509.ReasonFlags.key_compromise)]))
    port = tls_server(leaf, [intermediate_ca.issued])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--crl")
    assert result.code == 2
    assert result.status.startswith(f"TLS_EXPIRY CRITICAL - localhost:{port}: leaf 'localhost' was revoked on ")
    assert result.status.endswith(" (key compromise, CRL)"), result.status


def test_a_stale_crl_is_a_warning(tls_server, intermediate_ca: CA, root_pem: Path, http_files: HttpFiles, capsys) -> None:
    url = http_files.url("stale.crl")
    http_files.serve("stale.crl", intermediate_ca.crl(last_update=-10 * D, next_update=-2 * D))
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, crl_url=url), [intermediate_ca.issued])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--crl")
    assert result.code == 1
    assert result.status.startswith(f"TLS_EXPIRY WARNING - localhost:{port}: the CRL for leaf 'localhost' is past "
                                    "its nextUpdate (")
    assert result.status.endswith(f"): the CA's publication at {url} is stale"), result.status


@pytest.mark.parametrize("case", ["forged", "wrong-issuer", "not-a-crl", "refused", "404"])
def test_an_unusable_crl_is_unavailable_never_good(tls_server, intermediate_ca: CA, root_ca: CA, root_pem: Path,
                                                   http_files: HttpFiles, capsys, case: str) -> None:
    url = http_files.url(f"{case}.crl")
    if case == "refused":
        url = f"http://127.0.0.1:{refused_port()}/x.crl"
    data = {
        "forged": intermediate_ca.crl(signer=generate_key()),
        "wrong-issuer": root_ca.crl(),
        "not-a-crl": b"<html>maintenance</html>",
    }.get(case)
    if data is not None:
        http_files.serve(f"{case}.crl", data)
    leaf = intermediate_ca.leaf(not_after=60 * D, crl_url=url)
    port = tls_server(leaf, [intermediate_ca.issued])
    base = ("-H", "localhost", "-p", port, "--cafile", root_pem, "--crl")
    result = run(capsys, *base)
    why = {
        "forged": "the CRL's signature does not verify with the key of 'CN=Test Intermediate CA'",
        "wrong-issuer": "the CRL is issued by 'CN=Test Root CA', not by the certificate's issuer",
        "not-a-crl": "the answer is not a CRL",
        "refused": "cannot connect: 127.0.0.1:",
        "404": "answered 404 File not found",
    }[case]
    # Default: OK, and the status line says what was not checked.
    assert result.code == 0, result.out
    assert f", chain verified - revocation of leaf 'localhost' not checked: {url}: {why}" in result.status, \
        result.status
    strict = run(capsys, *base, "--revocation-unavailable", "critical")
    assert strict.code == 2 and strict.status.startswith(
        f"TLS_EXPIRY CRITICAL - localhost:{port}: revocation of leaf 'localhost' not checked: {url}: {why}")
    assert run(capsys, *base, "--revocation-unavailable", "unknown").code == 3
    assert run(capsys, *base, "--revocation-unavailable", "warning").code == 1


def test_a_huge_crl_is_cut_at_the_cap(tls_server, intermediate_ca: CA, root_pem: Path, http_files: HttpFiles,
                                      capsys) -> None:
    from plugin.acquire.revocation import MAX_CRL_BYTES

    url = http_files.serve("huge.crl", b"\0" * (MAX_CRL_BYTES + 1))
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, crl_url=url), [intermediate_ca.issued])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--crl")
    assert result.code == 0 and f"more than the {MAX_CRL_BYTES} accepted" in result.status


def test_a_silent_crl_server_is_bounded_by_the_timeout(tls_server, intermediate_ca: CA, root_pem: Path,
                                                       capsys) -> None:
    with silent_server() as silent:
        url = f"http://127.0.0.1:{silent}/x.crl"
        port = tls_server(intermediate_ca.leaf(not_after=60 * D, crl_url=url), [intermediate_ca.issued])
        started = time.monotonic()
        result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--crl", "-t", "1.5",
                     "--revocation-unavailable", "warning")
        elapsed = time.monotonic() - started
    assert result.code == 1 and f"not checked: {url}: no answer within 1." in result.status, result.status
    assert elapsed < 2.0


def test_crl_in_json_per_certificate(tls_server, intermediate_ca: CA, root_pem: Path, http_files: HttpFiles,
                                     capsys) -> None:
    import json

    from check_tls_expiry import main

    url = http_files.url("json.crl")
    leaf = intermediate_ca.leaf(not_after=60 * D, crl_url=url)
    http_files.serve("json.crl", intermediate_ca.crl([(leaf.cert.serial_number, None)]))
    port = tls_server(leaf, [intermediate_ca.issued])
    main(["-H", "localhost", "-p", str(port), "--cafile", str(root_pem), "--crl", "--output", "json"])
    document = json.loads(capsys.readouterr().out)
    assert document["state"] == "CRITICAL" and document["result"]["value"] == "invalid"
    assert document["revoked"] == 1  # the count the Zabbix template's trigger reads
    chain = {row["label"]: row for row in document["chain"]}
    assert chain["leaf"]["revocation"] == [{"status": "revoked", "source": "CRL"}]
    assert "revocation" not in chain["int1"]  # it names no CRL
    assert [f["kind"] for f in document["findings"]] == ["revoked"]
    assert not_after(leaf.cert)  # the leaf itself is fine: only the CRL says no
