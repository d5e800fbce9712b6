"""--aia: the missing issuer fetched from the leaf's caIssuers URL, from a real HTTP server on 127.0.0.1
(Python's http.server in a subprocess), against real openssl s_server endpoints.

Without the option a missing intermediate and an untrusted CA can only be told apart by a heuristic; with it,
the path is built again with the fetched certificate and the sentence says which it is.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from pki import CA, write_pem
from runner import run
from servers import HttpFiles, banner_server, refused_port, silent_server

from plugin.acquire import http
from plugin.budget import Budget
from plugin.errors import FetchError

D = timedelta(days=1)


def test_a_missing_intermediate_is_named_once_fetched(tls_server, intermediate_ca: CA, root_pem: Path,
                                                     http_files: HttpFiles, capsys) -> None:
    url = http_files.serve("int.der", intermediate_ca.issued.der)
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, ca_issuers=url))  # the intermediate is not sent
    base = ("-H", "localhost", "-p", port, "--cafile", root_pem)
    result = run(capsys, *base, "--aia")
    assert result.code == 2
    assert result.status == (
        f"TLS_EXPIRY CRITICAL - localhost:{port}: chain incomplete: the server does not send intermediate "
        f"'CN=Test Intermediate CA' (clients that fetch it from {url}, such as browsers, work, while curl, Python, "
        "Java and most libraries fail)")
    assert http_files.requests()[-1] == "/int.der"
    # Without --aia: the heuristic sentence, and no fetch.
    before = len(http_files.requests())
    plain = run(capsys, *base)
    assert plain.code == 2 and "chain incomplete: the server does not send the intermediate" in plain.status
    assert "clients that fetch it" not in plain.status and len(http_files.requests()) == before


def test_a_pkcs7_bundle_of_issuers_is_read(tls_server, intermediate_ca: CA, root_pem: Path, http_files: HttpFiles,
                                          capsys) -> None:
    bundle = pkcs7.serialize_certificates([intermediate_ca.cert], Encoding.DER)
    url = http_files.serve("int.p7c", bundle)
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, ca_issuers=url))
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--aia")
    assert result.code == 2 and f"clients that fetch it from {url}, such as browsers, work" in result.status


def test_an_issuer_that_does_not_lead_to_the_store_is_an_untrusted_ca(tls_server, root_pem: Path, http_files: HttpFiles,
                                                                      capsys) -> None:
    other = CA.root("Other Root").intermediate("Other Intermediate")
    url = http_files.serve("other.der", other.issued.der)
    port = tls_server(other.leaf(not_after=60 * D, ca_issuers=url))
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--aia")
    assert result.code == 2
    assert result.status == (
        f"TLS_EXPIRY CRITICAL - localhost:{port}: untrusted chain: leaf 'localhost' is issued by "
        f"'CN=Other Intermediate', which is not in the trust store (its certificate, fetched from {url}, does not "
        "lead there either)")


@pytest.mark.parametrize("case", ["404", "refused", "garbage", "not-http"])
def test_a_failed_fetch_keeps_the_heuristic_and_says_why(tls_server, intermediate_ca: CA, root_pem: Path,
                                                         http_files: HttpFiles, capsys, case: str) -> None:
    url = {
        "404": http_files.url("missing.der"),
        "refused": f"http://127.0.0.1:{refused_port()}/int.der",
        "garbage": http_files.serve("junk.der", b"this is not DER"),
        "not-http": "ldap://127.0.0.1/cn=int",
    }[case]
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, ca_issuers=url))
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--aia")
    assert result.code == 2
    why = {
        "404": f"(--aia could not fetch the issuer: {url}: answered 404 File not found)",
        "refused": f"(--aia could not fetch the issuer: {url}: cannot connect: 127.0.0.1:",
        "garbage": f"(--aia could not fetch the issuer: {url}: the answer is not a certificate or a PKCS#7 bundle",
        "not-http": None,  # an ldap:// caIssuers is not fetched at all: only the heuristic
    }[case]
    assert result.status.startswith(f"TLS_EXPIRY CRITICAL - localhost:{port}: ")
    if why is None:  # the leaf names a caIssuers, so the heuristic says "missing intermediate"
        assert "--aia" not in result.status and "the server does not send the intermediate" in result.status
    else:
        assert why in result.status, result.status


def test_a_silent_issuer_server_is_bounded_by_the_timeout(tls_server, intermediate_ca: CA, root_pem: Path,
                                                          capsys) -> None:
    with silent_server() as silent:
        url = f"http://127.0.0.1:{silent}/int.der"
        port = tls_server(intermediate_ca.leaf(not_after=60 * D, ca_issuers=url))
        started = time.monotonic()
        result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--aia", "-t", "1.5")
        elapsed = time.monotonic() - started
    assert result.code == 2 and f"(--aia could not fetch the issuer: {url}: no answer within 1." in result.status
    assert elapsed < 2.0


def test_a_healthy_chain_fetches_nothing(tls_server, intermediate_ca: CA, root_pem: Path, http_files: HttpFiles,
                                         capsys) -> None:
    url = http_files.serve("never.der", intermediate_ca.issued.der)
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, ca_issuers=url), [intermediate_ca.issued])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--aia")
    assert result.code == 0 and "/never.der" not in http_files.requests()


def test_aia_is_a_network_option(intermediate_ca: CA, tmp_path: Path, capsys) -> None:
    path = write_pem(tmp_path / "leaf.pem", intermediate_ca.leaf())
    result = run(capsys, "--file", path, "--aia")
    assert result.code == 3 and "--aia cannot be used with --file" in result.status


# --- the HTTP client's own rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "why"), [
    ("https://127.0.0.1/x.der", "only http:// URLs are fetched here"),
    ("ftp://127.0.0.1/x.der", "only http:// URLs are fetched here"),
    ("file:///etc/passwd", "only http:// URLs are fetched here"),
    ("http://user:secret@127.0.0.1/x.der", "not a plain http://host/path URL"),
    ("http://127.0.0.1:99999/x.der", "not a valid URL"),
    ("http://" + "a" * 2100 + "/x", "the URL is longer than 2048 characters"),
    ("http://999.1.1.1/x.der", "is not a valid IP address or host name"),
])
def test_urls_that_are_not_fetched(url: str, why: str) -> None:
    with pytest.raises(FetchError, match=re.escape(why)):
        http.get(url, Budget(2), limit=1000)


def test_the_size_cap_holds_with_and_without_content_length(http_files: HttpFiles) -> None:
    big = http_files.serve("big.bin", b"x" * 5000)
    with pytest.raises(FetchError, match=r": 5000 bytes, more than the 4000 accepted$"):
        http.get(big, Budget(2), limit=4000)
    assert http.get(big, Budget(2), limit=5000) == b"x" * 5000
    # No Content-Length: the body itself is cut at the cap.
    with banner_server(b"HTTP/1.0 200 OK\r\n\r\n" + b"y" * 3000) as port, \
            pytest.raises(FetchError, match=r": more than the 1000 bytes accepted$"):
        http.get(f"http://127.0.0.1:{port}/", Budget(2), limit=1000)


def test_content_length_ends_the_read_and_a_shorter_body_is_cut_short() -> None:
    # These servers keep the connection open after their answer (they ignore "Connection: close").
    with banner_server(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello") as port:
        started = time.monotonic()
        assert http.get(f"http://127.0.0.1:{port}/", Budget(2), limit=1000) == b"hello"
        assert time.monotonic() - started < 1.0  # the body is complete: no wait for a close
    with banner_server(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nshort") as port, \
            pytest.raises(FetchError, match=r": no answer within 1s$"):
        http.get(f"http://127.0.0.1:{port}/", Budget(1), limit=1000)


def test_a_body_shorter_than_its_content_length_is_cut_short() -> None:
    with banner_server(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nshort", close=True) as port, \
            pytest.raises(FetchError, match=r": the answer was cut short \(5 of its 100 bytes\)$"):
        http.get(f"http://127.0.0.1:{port}/", Budget(2), limit=1000)


def test_headers_longer_than_the_limit_are_refused_wherever_the_blank_line_falls() -> None:
    head = b"HTTP/1.0 200 OK\r\nX-Padding: " + b"a" * 20000 + b"\r\n\r\n"
    with banner_server(head + b"body") as port, \
            pytest.raises(FetchError, match=r"the answer's headers are longer than 16384 bytes$"):
        http.get(f"http://127.0.0.1:{port}/", Budget(2), limit=1000)


def test_redirects_are_not_followed() -> None:
    with banner_server(b"HTTP/1.0 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n") as port, \
            pytest.raises(FetchError, match=r"answered 302 Found \(redirects are not followed\)$"):
        http.get(f"http://127.0.0.1:{port}/", Budget(2), limit=1000)
