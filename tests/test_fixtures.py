"""Self-tests of the test infrastructure (tests/pki.py, tests/servers.py, conftest).

They use only the stdlib ``ssl`` module and the ``openssl`` binary, never the
product, so a failure here means the fixtures are broken, not the plugin.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import stat
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

import ci
from pki import (
    CA,
    Issued,
    assert_issued_by,
    load_pems,
    make_name,
    not_after,
    not_before,
    self_signed_leaf,
    write_key,
    write_pem,
)
from servers import (
    HOST,
    TLSServerFactory,
    banner_server,
    closing_server,
    openssl_server,
    refused_port,
    silent_server,
)

_PEM_RE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.DOTALL
)


def _spki(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def presented_chain(openssl_bin: str, port: int) -> list[x509.Certificate]:
    """The certificates the server sends, in order, as seen by ``s_client -showcerts``."""
    proc = subprocess.run(
        [openssl_bin, "s_client", "-connect", f"{HOST}:{port}", "-showcerts"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=10,
        check=False,
    )
    return [x509.load_pem_x509_certificate(m) for m in _PEM_RE.findall(proc.stdout)]


def stdlib_handshake(
    port: int, cafile: Path, server_hostname: str = "localhost"
) -> tuple[str, bytes]:
    """Verified TLS handshake with the stdlib; returns (TLS version, leaf DER)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection((HOST, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            der = tls.getpeercert(binary_form=True)
            version = tls.version()
            assert der is not None and version is not None
            return version, der


# --------------------------------------------------------------------- pki


def test_leaf_profile(root_ca: CA, intermediate_ca: CA) -> None:
    names = ["localhost", "127.0.0.1", "::1", "*.wild.example", "xn--bcher-kva.example"]
    leaf = intermediate_ca.leaf(names)
    cert = leaf.cert
    assert cert.issuer == intermediate_ca.name
    assert cert.subject == make_name("localhost")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [names[0], names[3], names[4]]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_encipherment
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = intermediate_ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    left = not_after(cert) - datetime.now(timezone.utc)
    assert timedelta(days=19, hours=23) < left <= timedelta(days=20)
    assert len(leaf.sha256) == 64 and leaf.der.startswith(b"\x30")
    assert leaf.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    # CA profiles
    inter_bc = intermediate_ca.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert inter_bc.critical and inter_bc.value.ca and inter_bc.value.path_length == 0
    assert root_ca.cert.subject == root_ca.cert.issuer
    assert_issued_by(intermediate_ca.cert, root_ca.cert)
    assert_issued_by(cert, intermediate_ca.cert)


def test_leaf_rsa_key_usage_and_no_san(intermediate_ca: CA) -> None:
    leaf = intermediate_ca.leaf([], key_type="rsa")
    with pytest.raises(x509.ExtensionNotFound):
        leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert leaf.cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment
    assert leaf.cert.subject == make_name("Test Leaf")


# cryptography warns (UserWarning) whenever it *parses* a CN longer than 64
# octets; the product will see the same warning for such certificates.
@pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
def test_hostile_subject(intermediate_ca: CA) -> None:
    evil = "evil | CRITICAL - pwned\nsecond line\tü" + "x" * 80
    leaf = intermediate_ca.leaf(["localhost"], subject=make_name(evil))
    reloaded = x509.load_pem_x509_certificate(leaf.pem)
    assert reloaded.subject.rfc4514_string() == make_name(evil).rfc4514_string()
    assert reloaded.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == evil


def test_past_not_after_gets_consistent_not_before(intermediate_ca: CA) -> None:
    cert = intermediate_ca.leaf(not_after=timedelta(days=-2)).cert
    assert not_before(cert) < not_after(cert) < datetime.now(timezone.utc)


def test_cross_sign(root_ca: CA) -> None:
    other = CA.root("Other Root CA")
    cross = other.cross_sign(root_ca, not_after=timedelta(days=-10))
    assert cross.cert.subject == root_ca.name
    assert cross.cert.issuer == other.name
    assert _spki(cross.cert) == _spki(root_ca.cert)
    assert not_after(cross.cert) < datetime.now(timezone.utc)
    assert cross.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert_issued_by(cross.cert, other.cert)


def test_self_signed_leaf() -> None:
    leaf = self_signed_leaf(["localhost"], key_type="ed25519")
    assert leaf.cert.subject == leaf.cert.issuer
    assert not leaf.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert_issued_by(leaf.cert, leaf.cert)


def test_write_helpers(tmp_path: Path, root_ca: CA, intermediate_ca: CA) -> None:
    bundle = write_pem(tmp_path / "bundle.pem", intermediate_ca.issued, root_ca.cert)
    certs = load_pems(bundle.read_bytes())
    assert certs == [intermediate_ca.cert, root_ca.cert]
    key = write_key(tmp_path / "leaf.key", intermediate_ca.issued)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes() == intermediate_ca.issued.key_pem


# ------------------------------------------------------------ TLS server


def test_server_presents_leaf_and_chain(
    tls_server: TLSServerFactory, openssl_bin: str, intermediate_ca: CA
) -> None:
    leaf = intermediate_ca.leaf()
    port = tls_server(leaf, [intermediate_ca.issued])
    assert presented_chain(openssl_bin, port) == [leaf.cert, intermediate_ca.cert]


def test_server_without_chain_sends_only_leaf(
    tls_server: TLSServerFactory, openssl_bin: str, intermediate_ca: CA
) -> None:
    leaf = intermediate_ca.leaf()
    port = tls_server(leaf)
    assert presented_chain(openssl_bin, port) == [leaf.cert]


def test_stdlib_verifies_and_server_survives_many_connections(
    tls_server: TLSServerFactory, intermediate_ca: CA, root_pem: Path
) -> None:
    leaf = intermediate_ca.leaf(["localhost", "127.0.0.1"])
    port = tls_server(leaf, [intermediate_ca.issued])
    for hostname in ["localhost", "127.0.0.1", "localhost", "127.0.0.1"]:
        _, der = stdlib_handshake(port, root_pem, hostname)
        assert der == leaf.der
    # A client that connects and goes away without a handshake (like a
    # port probe) must not take the server down either.
    socket.create_connection((HOST, port), timeout=5).close()
    assert stdlib_handshake(port, root_pem)[1] == leaf.der


def test_stdlib_rejects_wrong_hostname(
    tls_server: TLSServerFactory, intermediate_ca: CA, root_pem: Path
) -> None:
    port = tls_server(intermediate_ca.leaf(["localhost"]), [intermediate_ca.issued])
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        stdlib_handshake(port, root_pem, "other.example")
    assert info.value.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH


def test_expired_leaf_is_rejected(
    tls_server: TLSServerFactory, intermediate_ca: CA, root_pem: Path
) -> None:
    port = tls_server(intermediate_ca.leaf(not_after=timedelta(days=-2)), [intermediate_ca.issued])
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        stdlib_handshake(port, root_pem)
    assert info.value.verify_code == 10  # X509_V_ERR_CERT_HAS_EXPIRED


def test_self_signed_leaf_is_rejected(tls_server: TLSServerFactory, root_pem: Path) -> None:
    port = tls_server(self_signed_leaf())
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        stdlib_handshake(port, root_pem)
    assert info.value.verify_code == 18  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_other_key_types_handshake(
    tls_server: TLSServerFactory, intermediate_ca: CA, root_pem: Path, key_type: str
) -> None:
    leaf = intermediate_ca.leaf(key_type=key_type)
    port = tls_server(leaf, [intermediate_ca.issued])
    assert stdlib_handshake(port, root_pem)[1] == leaf.der


def test_extra_args_are_passed(
    tls_server: TLSServerFactory, intermediate_ca: CA, root_pem: Path
) -> None:
    port = tls_server(intermediate_ca.leaf(), [intermediate_ca.issued], ["-no_tls1_3"])
    assert stdlib_handshake(port, root_pem)[0] == "TLSv1.2"


def test_expired_cross_sign_in_chain(
    tls_server: TLSServerFactory,
    openssl_bin: str,
    root_ca: CA,
    intermediate_ca: CA,
    root_pem: Path,
) -> None:
    cross = CA.root("Legacy Root CA").cross_sign(root_ca, not_after=timedelta(days=-10))
    leaf = intermediate_ca.leaf()
    port = tls_server(leaf, [intermediate_ca.issued, cross])
    assert presented_chain(openssl_bin, port) == [leaf.cert, intermediate_ca.cert, cross.cert]
    # OpenSSL prefers the trusted root over the expired cross-sign.
    assert stdlib_handshake(port, root_pem)[1] == leaf.der


def test_openssl_server_stops_on_exit(
    openssl_bin: str, tmp_path: Path, intermediate_ca: CA
) -> None:
    with openssl_server(tmp_path, intermediate_ca.leaf()) as port:
        socket.create_connection((HOST, port), timeout=5).close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, port), timeout=5)


def test_openssl_server_startup_failure_is_reported(
    openssl_bin: str, tmp_path: Path, intermediate_ca: CA
) -> None:
    mismatched = Issued(intermediate_ca.leaf().cert, intermediate_ca.leaf().key)
    with pytest.raises(RuntimeError, match=r"(?s)exited with status.*stderr: .*\S"):
        with openssl_server(tmp_path, mismatched):
            pass


# ------------------------------------------------------- plain TCP peers


def test_silent_server_never_sends() -> None:
    with silent_server() as port:
        with socket.create_connection((HOST, port), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05hello")
            sock.settimeout(0.1)
            with pytest.raises(socket.timeout):
                sock.recv(1)


def test_silent_server_tls_handshake_times_out() -> None:
    ctx = ssl.create_default_context()
    with silent_server() as port:
        with socket.create_connection((HOST, port), timeout=0.1) as sock:
            with pytest.raises((socket.timeout, TimeoutError)):
                ctx.wrap_socket(sock, server_hostname="localhost")


def test_closing_server_closes() -> None:
    with closing_server() as port:
        for _ in range(3):
            with socket.create_connection((HOST, port), timeout=5) as sock:
                assert sock.recv(1) == b""


def test_closing_server_tls_handshake_sees_eof() -> None:
    ctx = ssl.create_default_context()
    with closing_server() as port:
        with socket.create_connection((HOST, port), timeout=5) as sock:
            with pytest.raises((ssl.SSLEOFError, ssl.SSLZeroReturnError)):  # Python builds differ
                ctx.wrap_socket(sock, server_hostname="localhost")


def test_banner_server_sends_banner() -> None:
    banner = b"SSH-2.0-OpenSSH_9.2\r\n"
    with banner_server(banner) as port:
        with socket.create_connection((HOST, port), timeout=5) as sock:
            received = b""
            while len(received) < len(banner):
                chunk = sock.recv(100)
                assert chunk
                received += chunk
            assert received == banner


def test_banner_server_tls_handshake_fails() -> None:
    ctx = ssl.create_default_context()
    with banner_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") as port:
        with socket.create_connection((HOST, port), timeout=5) as sock:
            with pytest.raises(ssl.SSLError):
                ctx.wrap_socket(sock, server_hostname="localhost")


def test_refused_port() -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, refused_port()), timeout=5)


# ----------------------------------------------------------- conftest


def test_require_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ci.require_binary("sh")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        ci.require_binary("no-such-binary-for-tests")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        ci.require_binary("no-such-binary-for-tests")
