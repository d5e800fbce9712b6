"""--ari: ACME Renewal Information (RFC 9773) from a small scripted ACME responder over real HTTPS on 127.0.0.1.

No packaged ACME server here implements renewalInfo (Debian 12's pebble 2.4 has none), so the responder is a
few lines of http.server behind TLS: its directory names renewalInfo, and it answers only for the certificate
identifier RFC 9773 computes for the leaf (any other gets 404), so a wrong identifier fails the test.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from pki import CA, Issued, write_key, write_pem
from runner import run

from check_tls_expiry import main
from plugin.acquire.ari import DIRECTORIES, certificate_id, directory_for

D = timedelta(days=1)


class Acme:
    """The responder: ``answers`` maps a certificate identifier to the JSON (or raw bytes) to serve."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.directory = f"https://127.0.0.1:{port}/directory"
        self.answers: dict[str, Any] = {}
        self.asked: list[str] = []
        self.retry_after: str | None = "21600"  # RFC 9773 §4.3's header; None: left out


@pytest.fixture(scope="module")
def acme(intermediate_ca: CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Acme]:
    work = tmp_path_factory.mktemp("acme")
    server_cert = intermediate_ca.leaf(("127.0.0.1",), not_after=30 * D)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(write_pem(work / "cert.pem", server_cert, intermediate_ca.issued),
                            write_key(work / "key.pem", server_cert))
    state: dict[str, Acme] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def do_GET(self) -> None:
            acme = state["acme"]
            acme.asked.append(self.path)
            if self.path == "/directory":
                body: Any = {"newNonce": f"https://127.0.0.1:{acme.port}/nonce",
                             "renewalInfo": f"https://127.0.0.1:{acme.port}/renewal-info/"}
            elif self.path.startswith("/renewal-info/") and self.path[len("/renewal-info/"):] in acme.answers:
                body = acme.answers[self.path[len("/renewal-info/"):]]
            else:
                self.send_error(404)
                return
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if acme.retry_after is not None:
                self.send_header("Retry-After", acme.retry_after)
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state["acme"] = Acme(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["acme"]
    finally:
        server.shutdown()
        server.server_close()


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _leaf_id(issued: Issued) -> str:
    aki = issued.cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki is not None
    return certificate_id(aki, issued.cert.serial_number)


def _serve(acme: Acme, leaf: Issued, start: timedelta, end: timedelta, explanation: str | None = None) -> None:
    now = datetime.now(timezone.utc)
    answer: dict[str, Any] = {"suggestedWindow": {"start": _rfc3339(now + start), "end": _rfc3339(now + end)}}
    if explanation:
        answer["explanationURL"] = explanation
    acme.answers[_leaf_id(leaf)] = answer


def _run(capsys, tls_server, intermediate_ca: CA, root_pem: Path, acme: Acme, leaf: Issued, *extra: str):  # type: ignore[no-untyped-def]
    port = tls_server(leaf, [intermediate_ca.issued])
    return port, run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--ari", "--acme-directory",
                     acme.directory, *extra)


def test_a_window_to_come_is_ok_and_shown(tls_server, intermediate_ca: CA, root_pem: Path, acme: Acme,
                                          capsys) -> None:
    leaf = intermediate_ca.leaf(not_after=60 * D)
    _serve(acme, leaf, 30 * D, 32 * D)
    _, result = _run(capsys, tls_server, intermediate_ca, root_pem, acme, leaf, "-v")
    assert result.code == 0, result.out
    assert any(line.startswith("the CA's suggested renewal window (ARI): ") and line.endswith(
        f"UTC, from https://127.0.0.1:{acme.port}/renewal-info/{_leaf_id(leaf)}") for line in result.lines), result.out
    assert f"/renewal-info/{_leaf_id(leaf)}" in acme.asked


def test_a_window_that_has_begun_is_a_warning(tls_server, intermediate_ca: CA, root_pem: Path, acme: Acme,
                                              capsys) -> None:
    leaf = intermediate_ca.leaf(not_after=60 * D)
    _serve(acme, leaf, -D, 2 * D, "https://community.example/incident-42")
    port, result = _run(capsys, tls_server, intermediate_ca, root_pem, acme, leaf)
    assert result.code == 1
    assert result.status.startswith(f"TLS_EXPIRY WARNING - localhost:{port}: the CA asks for renewal of leaf "
                                    "'localhost' now (window ")
    assert result.status.endswith(", see https://community.example/incident-42)"), result.status
    main(["-H", "localhost", "-p", str(port), "--cafile", str(root_pem), "--ari", "--acme-directory", acme.directory,
          "--output", "json"])
    assert json.loads(capsys.readouterr().out)["ari"]["status"] == "renew_now"  # the Zabbix trigger's value


def test_a_window_that_has_ended_is_critical(tls_server, intermediate_ca: CA, root_pem: Path, acme: Acme,
                                             capsys) -> None:
    leaf = intermediate_ca.leaf(not_after=60 * D)
    _serve(acme, leaf, -3 * D, -D)
    port, result = _run(capsys, tls_server, intermediate_ca, root_pem, acme, leaf)
    assert result.code == 2
    assert result.status.startswith(f"TLS_EXPIRY CRITICAL - localhost:{port}: the CA asked for leaf 'localhost' "
                                    "to be renewed by "), result.status
    main(["-H", "localhost", "-p", str(port), "--cafile", str(root_pem), "--ari", "--acme-directory", acme.directory,
          "--output", "json"])
    assert json.loads(capsys.readouterr().out)["ari"]["status"] == "overdue"


@pytest.mark.parametrize("case", ["unknown id", "not json", "no window"])
def test_an_answer_that_cannot_be_had_is_not_checked(tls_server, intermediate_ca: CA, root_pem: Path, acme: Acme,
                                                     capsys, case: str) -> None:
    leaf = intermediate_ca.leaf(not_after=60 * D)
    if case == "not json":
        acme.answers[_leaf_id(leaf)] = b"<html>maintenance</html>"
    elif case == "no window":
        acme.answers[_leaf_id(leaf)] = {"explanationURL": "https://example.invalid/"}
    url = f"https://127.0.0.1:{acme.port}/renewal-info/{_leaf_id(leaf)}"
    why = {"unknown id": f"{url}: answered 404 Not Found", "not json": f"{url}: the answer is not JSON",
           "no window": f"{url}: the answer has no suggestedWindow"}[case]
    _, result = _run(capsys, tls_server, intermediate_ca, root_pem, acme, leaf)
    assert result.code == 0, result.out
    assert result.status.endswith(f" - renewal information (ARI) not checked: {why}"), result.status
    _, strict = _run(capsys, tls_server, intermediate_ca, root_pem, acme, leaf, "--revocation-unavailable", "warning")
    assert strict.code == 1


def test_an_untrusted_acme_server_is_not_believed(tls_server, intermediate_ca: CA, acme: Acme, tmp_path: Path,
                                                  capsys) -> None:
    """The endpoint is trusted through its own root; the ACME server's certificate chains to a root the check
    is not given: its window is not read."""
    other = CA.root("Other Root")
    other_pem = write_pem(tmp_path / "other.pem", other.issued)
    leaf = other.leaf(not_after=60 * D)
    port = tls_server(leaf)
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", other_pem, "--ari", "--acme-directory",
                 acme.directory)
    assert result.code == 0 and "the server's certificate does not verify" in result.status, result.status


def test_the_json_carries_the_window(tls_server, intermediate_ca: CA, root_pem: Path, acme: Acme, capsys) -> None:
    leaf = intermediate_ca.leaf(not_after=60 * D)
    _serve(acme, leaf, 30 * D, 32 * D, "https://community.example/why")
    port = tls_server(leaf, [intermediate_ca.issued])
    main(["-H", "localhost", "-p", str(port), "--cafile", str(root_pem), "--ari", "--acme-directory", acme.directory,
          "--output", "json"])
    ari = json.loads(capsys.readouterr().out)["ari"]
    assert ari["status"] == "window" and ari["window_end"] - ari["window_start"] == 2 * 86400
    assert ari["explanation_url"] == "https://community.example/why"


def test_without_a_known_directory_it_says_so(tls_server, intermediate_ca: CA, root_pem: Path, capsys) -> None:
    port = tls_server(intermediate_ca.leaf(not_after=60 * D), [intermediate_ca.issued])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--ari")
    assert result.code == 0
    assert result.status.endswith(" - renewal information (ARI) not checked: no ACME directory is known for issuer "
                                  "'CN=Test Intermediate CA': give --acme-directory"), result.status


def test_the_certificate_identifier_is_rfc_9773s() -> None:
    # RFC 9773 §4.1's example: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4 and
    # serial 0x87654321 (DER bytes 00 87 65 43 21: the leading zero is kept).
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    assert certificate_id(aki, 0x87654321) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def test_the_table_of_public_acme_cas() -> None:
    assert directory_for("Let's Encrypt") == "https://acme-v02.api.letsencrypt.org/directory"
    assert directory_for("Some Private CA") is None and directory_for(None) is None
    assert all(url.startswith("https://") for url in DIRECTORIES.values())


@pytest.mark.parametrize(("args", "message"), [
    (("--ari", "--acme-directory", "http://127.0.0.1/directory"), "is not an https:// URL (ACME is HTTPS only)"),
    (("--acme-directory", "https://127.0.0.1/directory"), "--acme-directory only applies to --ari"),
])
def test_acme_directory_usage(capsys, args: tuple[str, ...], message: str) -> None:
    result = run(capsys, "-H", "localhost", *args)
    assert result.code == 3 and message in result.status
