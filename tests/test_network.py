"""The plugin against real `openssl s_server` instances on 127.0.0.1, with a fresh PKI per scenario."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pki import CA, self_signed_leaf, write_pem
from runner import run
from servers import banner_server, closing_server, refused_port, silent_server

from check_tls_expiry import main

D = timedelta(days=1)


@pytest.fixture
def chain_server(tls_server, intermediate_ca: CA):  # type: ignore[no-untyped-def]
    """A server presenting a leaf issued by the session intermediate, plus that intermediate."""

    def start(**leaf_options: object) -> int:
        return tls_server(intermediate_ca.leaf(**leaf_options), [intermediate_ca.issued])

    return start


def test_healthy_chain_is_ok_with_perfdata_for_every_certificate(chain_server, root_pem: Path, capsys) -> None:
    port = chain_server(not_after=200 * D)
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert result.code == 0
    assert result.status.startswith(f"TLS_EXPIRY OK - localhost:{port}: leaf 'localhost' expires first, in 200.0 days (")
    assert result.status.endswith("UTC), chain verified")
    assert ";" not in result.status  # Nagios rewrites ";" in plugin output to ":"
    assert "chain verified|days=" in result.lines[0]  # no space before "|": Icinga 2 would keep it in the output
    perf = result.perf
    assert set(perf) == {"days", "days_leaf", "days_int1", "days_root"}
    assert 199.9 < perf["days"][0] <= 200 and perf["days"] == perf["days_leaf"]
    assert perf["days_leaf"][1:] == (30, 14)
    assert perf["days_root"][0] > 3000  # the trust anchor counts even though the server did not send it


def test_verbose_lists_every_certificate(chain_server, root_pem: Path, capsys) -> None:
    port = chain_server()
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "-v")
    assert result.code == 0
    assert "|" not in result.lines[0] and result.lines[-1].startswith("| days=")
    assert "TLSv1.3 with 127.0.0.1:" in result.lines[1] and "2 certificate(s) presented, 3 evaluated" in result.lines[1]
    details = result.lines[2:5]
    assert details[0].startswith("[#1] leaf: subject 'CN=localhost', issuer 'CN=Test Intermediate CA', serial ")
    assert details[1].startswith("[#2] int1: subject 'CN=Test Intermediate CA'")
    assert details[2].startswith("[trust store] root: subject 'CN=Test Root CA'")
    for line in details:
        assert " not after 20" in line and " UTC, " in line and " days left, sha256 " in line


@pytest.mark.parametrize(
    ("not_after", "args", "code", "word"),
    [
        (20 * D, ("-w", "30d", "-c", "14d"), 1, "WARNING"),
        (10 * D, ("-w", "30", "-c", "14"), 2, "CRITICAL"),
        (20 * D, ("-w", "30:", "-c", "21:"), 2, "CRITICAL"),
        (20 * D, ("-w", "500h", "-c", "12h"), 1, "WARNING"),
        (20 * D, ("-w", "25", "-c", "10"), 1, "WARNING"),
        (20 * D, ("-w", "15", "-c", "10"), 0, "OK"),
    ],
)
def test_thresholds(chain_server, root_pem: Path, capsys, not_after, args, code, word) -> None:
    port = chain_server(not_after=not_after)
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, *args)
    assert result.code == code
    if code:
        assert f"TLS_EXPIRY {word} - localhost:{port}: leaf 'localhost' expires in " in result.status


def test_percent_thresholds_spare_short_lived_certificates(chain_server, root_pem: Path, capsys) -> None:
    port = chain_server(not_before=-2 * D, not_after=4 * D)  # 6-day lifetime, 4 days left
    short = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert short.code == 0
    assert short.perf["days_leaf"][1:] == (1.5, 0.6)  # 25% and 10% of 6 days
    port = chain_server(not_before=-75 * D, not_after=15 * D)  # 90-day certificate, 15 days left
    ninety = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert ninety.code == 1 and "leaf 'localhost' expires in 15.0 days" in ninety.status


def test_expired_leaf(chain_server, root_pem: Path, capsys) -> None:
    port = chain_server(not_before=-90 * D, not_after=-2 * D)
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert result.code == 2
    assert "leaf 'localhost' expired 2.0 days ago (" in result.status
    assert -2.02 <= result.perf["days"][0] <= -1.99


def test_not_yet_valid_leaf(chain_server, root_pem: Path, capsys) -> None:
    port = chain_server(not_before=2 * D, not_after=90 * D)
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert result.code == 2 and "leaf 'localhost' is not valid before 20" in result.status


def test_intermediate_expiring_before_the_leaf_leads(tls_server, root_ca: CA, root_pem: Path, capsys) -> None:
    short = root_ca.intermediate("Short Intermediate", not_after=10 * D)
    port = tls_server(short.leaf(not_after=60 * D), [short.issued])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "-w", "30d", "-c", "14d")
    assert result.code == 2
    assert "intermediate 'Short Intermediate' expires in 10.0 days" in result.status
    assert result.perf["days"][0] == result.perf["days_int1"][0] < 10.01


def test_expiring_root_in_the_trust_store_warns(tls_server, tmp_path: Path, capsys) -> None:
    root = CA.root("Short Root", not_after=20 * D)
    port = tls_server(root.leaf(not_after=200 * D))
    anchor = write_pem(tmp_path / "short-root.pem", root.issued)
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", anchor, "-w", "30d", "-c", "14d")
    assert result.code == 1 and "root 'Short Root' (trust store) expires in 20.0 days" in result.status


def test_untrusted_root(chain_server, capsys) -> None:
    port = chain_server()
    result = run(capsys, "-H", "localhost", "-p", port)  # the system store does not know the test root
    assert result.code == 2
    assert "untrusted chain: intermediate 'Test Intermediate CA' is issued by 'CN=Test Root CA', which is neither sent" in result.status


def test_capath(chain_server, root_pem: Path, tmp_path: Path, openssl_bin: str, capsys) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "root.pem").write_bytes(root_pem.read_bytes())
    subprocess.run([openssl_bin, "rehash", str(store)], check=True)
    result = run(capsys, "-H", "localhost", "-p", chain_server(), "--capath", store)
    assert result.code == 0 and "chain verified" in result.status


def test_self_signed(tls_server, root_pem: Path, tmp_path: Path, capsys) -> None:
    leaf = self_signed_leaf(not_after=100 * D)
    port = tls_server(leaf)
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert result.code == 2 and "self-signed certificate 'localhost' is not trusted" in result.status
    ignored = run(capsys, "-H", "localhost", "-p", port, "--ignore-trust")
    assert ignored.code == 0 and ignored.status.endswith("trust not checked (--ignore-trust)")
    pinned = run(capsys, "-H", "localhost", "-p", port, "--cafile", write_pem(tmp_path / "pin.pem", leaf))
    assert pinned.code == 0 and "chain verified" in pinned.status


def test_ignore_trust_still_checks_name_and_expiry(tls_server, capsys) -> None:
    port = tls_server(self_signed_leaf(not_before=-30 * D, not_after=-1 * D))
    expired = run(capsys, "-H", "localhost", "-p", port, "--ignore-trust")
    assert expired.code == 2 and "leaf 'localhost' expired 24.0 hours ago" in expired.status
    port = tls_server(self_signed_leaf(not_after=100 * D))
    misnamed = run(capsys, "-H", "nas.example", "-I", "127.0.0.1", "-p", port, "--ignore-trust")
    assert misnamed.code == 2 and "hostname mismatch: certificate is not valid for nas.example" in misnamed.status


def test_missing_intermediate(tls_server, intermediate_ca: CA, root_pem: Path, capsys) -> None:
    port = tls_server(intermediate_ca.leaf())
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert result.code == 2
    assert "leaf 'localhost' is issued by 'CN=Test Intermediate CA', which is neither sent by the server nor in the trust store (a missing intermediate, or a CA this store does not trust)" in result.status


def test_expired_extra_cross_sign_warns(tls_server, root_ca: CA, intermediate_ca: CA, root_pem: Path, capsys) -> None:
    old = CA.root("Old Root")
    cross = old.cross_sign(root_ca, not_before=-400 * D, not_after=-5 * D)
    port = tls_server(intermediate_ca.leaf(not_after=200 * D), [intermediate_ca.issued, cross])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert result.code == 1
    assert ("the server also sends 'CN=Test Root CA' issued by 'CN=Old Root', which expired 5.0 days ago"
            in result.status)
    assert "not part of the path that counts" in result.status
    assert set(result.perf) == {"days", "days_leaf", "days_int1", "days_root", "days_extra1"}
    assert result.perf["days"][0] > 190  # the extra does not become the headline


def test_wrong_host(chain_server, root_pem: Path, capsys) -> None:
    port = chain_server(names=("localhost", "127.0.0.1", "a.example", "b.example", "c.example"))
    result = run(capsys, "-H", "www.example.com", "-I", "127.0.0.1", "-p", port, "--cafile", root_pem)
    assert result.code == 2
    assert result.status.endswith("hostname mismatch: certificate is not valid for www.example.com, "
                                  "it is for localhost, a.example, b.example, c.example (+1 more)")


@pytest.mark.parametrize(("host", "code"), [("a.wild.example", 0), ("wild.example", 2), ("a.b.wild.example", 2)])
def test_wildcard(chain_server, root_pem: Path, capsys, host: str, code: int) -> None:
    port = chain_server(names=("*.wild.example",))
    result = run(capsys, "-H", host, "-I", "127.0.0.1", "-p", port, "--cafile", root_pem)
    assert result.code == code
    if code:
        assert "hostname mismatch" in result.status and "it is for *.wild.example" in result.status


def test_unicode_host_is_sent_as_a_label(tls_server, root_ca: CA, root_pem: Path, tmp_path: Path, capsys) -> None:
    # The server answers a different certificate unless SNI is exactly the A-label.
    right = root_ca.leaf(("xn--bcher-kva.example",), not_after=100 * D)
    wrong = root_ca.leaf(("default.example",), not_after=100 * D)
    cert2 = write_pem(tmp_path / "right.pem", right)
    key2 = tmp_path / "right.key"
    key2.write_bytes(right.key_pem)
    port = tls_server(wrong, extra_args=["-servername", "xn--bcher-kva.example", "-cert2", str(cert2),
                                         "-key2", str(key2)])
    result = run(capsys, "-H", "bücher.example", "-I", "127.0.0.1", "-p", port, "--cafile", root_pem)
    assert result.code == 0, result.out
    assert result.status.startswith(f"TLS_EXPIRY OK - bücher.example:{port}: leaf 'xn--bcher-kva.example'")


def test_ip_literal_sends_no_sni(tls_server, root_ca: CA, root_pem: Path, tmp_path: Path, capsys) -> None:
    # -servername_fatal aborts any handshake whose SNI is not "nomatch.example"; no SNI at all is accepted.
    leaf = root_ca.leaf(("localhost", "127.0.0.1"))
    cert2, key2 = write_pem(tmp_path / "2.pem", leaf), tmp_path / "2.key"
    key2.write_bytes(leaf.key_pem)
    port = tls_server(leaf, extra_args=["-servername", "nomatch.example", "-servername_fatal",
                                        "-cert2", str(cert2), "-key2", str(key2)])
    assert run(capsys, "-H", "127.0.0.1", "-p", port, "--cafile", root_pem).code == 0
    with_sni = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", port, "--cafile", root_pem)
    assert with_sni.code == 2 and "TLS handshake failed" in with_sni.status


def test_sni_override(tls_server, root_ca: CA, root_pem: Path, capsys) -> None:
    port = tls_server(root_ca.leaf(("www.example.com",)))
    result = run(capsys, "-H", "127.0.0.1", "--sni", "www.example.com", "-p", port, "--cafile", root_pem)
    assert result.code == 0 and result.status.startswith(f"TLS_EXPIRY OK - 127.0.0.1:{port}: leaf 'www.example.com'")


@pytest.mark.parametrize("key_type", ["ec", "rsa", "ed25519"])
def test_key_types(tls_server, intermediate_ca: CA, root_pem: Path, capsys, key_type: str) -> None:
    port = tls_server(intermediate_ca.leaf(key_type=key_type, not_after=100 * D), [intermediate_ca.issued])
    assert run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem).code == 0


def test_tls12_server(chain_server, tls_server, intermediate_ca: CA, root_pem: Path, capsys) -> None:
    port = tls_server(intermediate_ca.leaf(), [intermediate_ca.issued], extra_args=["-no_tls1_3"])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "-v")
    assert result.code == 0 and result.lines[1].startswith("TLSv1.2 with ")


def test_connection_refused(capsys) -> None:
    port = refused_port()
    result = run(capsys, "-H", "127.0.0.1", "-p", port)
    assert result.code == 2
    assert result.status == f"TLS_EXPIRY CRITICAL - 127.0.0.1:{port}: cannot connect: 127.0.0.1:{port} refused the connection"


def test_peer_that_does_not_speak_tls(capsys) -> None:
    with banner_server(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n") as port:
        result = run(capsys, "-H", "127.0.0.1", "-p", port)
    assert result.code == 2 and "the server does not speak TLS on this port" in result.status


def test_peer_that_closes_at_once(capsys) -> None:
    with closing_server() as port:
        result = run(capsys, "-H", "127.0.0.1", "-p", port)
    assert result.code == 2 and "closed the connection during the TLS handshake" in result.status


def test_silent_peer_ends_within_the_timeout(capsys) -> None:
    with silent_server() as port:
        started = time.monotonic()
        result = run(capsys, "-H", "127.0.0.1", "-p", port, "-t", "1.5")
        elapsed = time.monotonic() - started
    assert result.code == 2
    assert result.status.endswith("timed out during the TLS handshake (the 1.5s timeout ran out)")
    assert 1.3 < elapsed < 2.0


def test_unresolvable_name(capsys, monkeypatch) -> None:
    """The resolver's NXDOMAIN, answered here (a real lookup of .invalid would leave the machine)."""
    import socket

    def nxdomain(host: object, *args: object) -> None:
        assert host == "no-such-host.invalid"
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)
    result = run(capsys, "-H", "no-such-host.invalid", "-t", "3")
    assert result.code == 2
    assert result.status == "TLS_EXPIRY CRITICAL - no-such-host.invalid:443: cannot resolve no-such-host.invalid: " \
                            "name or service not known"


def test_alpn_for_postgresql_direct_tls(chain_server, tls_server, intermediate_ca: CA, root_pem: Path,
                                        capsys) -> None:
    # PostgreSQL 17's direct TLS (sslnegotiation=direct) is a plain TLS handshake with ALPN "postgresql".
    port = tls_server(intermediate_ca.leaf(), [intermediate_ca.issued], extra_args=["-alpn", "postgresql"])
    result = run(capsys, "-H", "localhost", "-p", port, "--alpn", "postgresql", "--cafile", root_pem, "-v")
    assert result.code == 0 and "ALPN protocol: postgresql" in result.lines
    plain = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "-v")
    assert plain.code == 0 and not any(line.startswith("ALPN") for line in plain.lines)


def test_without_the_private_chain_api_the_verdict_is_the_same(chain_server, root_pem: Path, capsys,
                                                               monkeypatch) -> None:
    """plugin.compat confines the private ``_sslobj`` chain API to one function; without it (another Python),
    the public API is used and cryptography parses the DER: the verdict and the leaf's numbers are the same."""
    from plugin import compat

    port = chain_server(not_after=20 * D, not_before=-80 * D)
    fast = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    monkeypatch.setattr(compat, "USE_PRIVATE_CHAIN", False)
    public = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert public.code == fast.code == 1
    assert public.status == fast.status
    assert public.perf["days_leaf"] == fast.perf["days_leaf"]
    if sys.version_info >= (3, 13):  # the public API has the whole chain only from 3.13
        assert public.perf == fast.perf


def test_handshake_time_is_reported(chain_server, root_pem: Path, tmp_path: Path, intermediate_ca: CA,
                                    capsys) -> None:
    """``time``: connect, STARTTLS and handshake of the (slowest) handshake, in seconds, as check_tcp and
    Checkmk's check_cert report it; a file check has none."""
    import json

    port = chain_server(not_after=200 * D)
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert result.time is not None and 0 < result.time < 5
    assert result.out.rstrip("\n").endswith(f"time={result.time:.6f}s;;;0")
    code = main(["-H", "localhost", "-p", str(port), "--cafile", str(root_pem), "--output", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and 0 < document["time"] < 5
    path = write_pem(tmp_path / "leaf.pem", intermediate_ca.leaf())
    assert run(capsys, "--file", path).time is None


def _openssl_pin(openssl: str, pem: bytes) -> str:
    """curl's recipe for a --pinnedpubkey value, with the openssl binary (not the product)."""
    key = subprocess.run([openssl, "x509", "-pubkey", "-noout"], input=pem, capture_output=True, check=True).stdout
    der = subprocess.run([openssl, "pkey", "-pubin", "-outform", "der"], input=key, capture_output=True,
                         check=True).stdout
    digest = subprocess.run([openssl, "dgst", "-sha256", "-binary"], input=der, capture_output=True,
                            check=True).stdout
    return "sha256//" + base64.b64encode(digest).decode("ascii")


def test_pins_of_the_leaf_the_intermediate_and_an_unrelated_key(tls_server, intermediate_ca: CA, root_pem: Path,
                                                                 openssl_bin: str, capsys) -> None:
    leaf = intermediate_ca.leaf(not_after=200 * D)
    port = tls_server(leaf, [intermediate_ca.issued])
    leaf_pin, int_pin = _openssl_pin(openssl_bin, leaf.pem), _openssl_pin(openssl_bin, intermediate_ca.pem)
    unrelated = _openssl_pin(openssl_bin, CA.root("Unrelated").pem)
    base = ("-H", "localhost", "-p", port, "--cafile", root_pem)
    # -v prints each certificate's pin in the form --pin takes.
    verbose = run(capsys, *base, "-v")
    assert any(line.startswith("[#1] leaf:") and line.endswith(f"pin {leaf_pin}") for line in verbose.lines)
    assert run(capsys, *base, "--pin", leaf_pin).code == 0
    assert run(capsys, *base, "--pin", int_pin.replace("sha256//", "sha256/")).code == 0  # curl's other form
    assert run(capsys, *base, "--pin", f"{unrelated},{int_pin}").code == 0  # a backup pin may be missing
    wrong = run(capsys, *base, "--pin", unrelated)
    assert wrong.code == 2
    assert wrong.status.endswith(f"no certificate on the path holds a pinned key (1 pin given, the leaf's is "
                                 f"{leaf_pin}): pinned clients will fail")
    for bad in ("sha256//short", "md5//" + leaf_pin[8:], "nope"):
        assert run(capsys, *base, "--pin", bad).code == 3
