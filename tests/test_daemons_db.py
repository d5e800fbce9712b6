"""Prove the real-daemon fixtures of ``daemons_db`` with ``openssl s_client``, not the product.

Every STARTTLS daemon must present exactly leaf + intermediate, verifiable
against the session root; the ``ssl = no`` dovecot must not offer STARTTLS.
"""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:
    # Only for annotations: importing daemons_db at run time, before pytest
    # registers it below, would trigger PytestAssertRewriteWarning.
    from daemons_db import Daemon, DaemonChain, DovecotDaemon

# Registering a plugin from a (non-conftest) test module is allowed by pytest 9;
# harmless if tests/conftest.py registers daemons_db as well.
pytest_plugins = ["daemons_db"]

HOST = "127.0.0.1"

_PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)

# (s_client -starttls protocol, fixture, attribute holding the port)
STARTTLS_CASES = [
    ("postgres", "postgres_server", "port"),
    ("mysql", "mariadb_server", "port"),
    ("ldap", "slapd_server", "port"),
    ("imap", "dovecot_server", "imap"),
    ("pop3", "dovecot_server", "pop3"),
    ("lmtp", "dovecot_server", "lmtp"),
    ("sieve", "dovecot_server", "sieve"),
]


def s_client(openssl: str, proto: str, port: int, cafile: Path) -> subprocess.CompletedProcess[bytes]:
    cmd = [openssl, "s_client", "-starttls", proto, "-connect", f"{HOST}:{port}",
           "-CAfile", str(cafile), "-showcerts"]  # fmt: skip
    if proto == "lmtp":
        cmd += ["-name", "localhost"]  # LHLO argument (default mail.example.com); dovecot accepts either
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False)


@pytest.mark.parametrize(("proto", "fixture", "attr"), STARTTLS_CASES, ids=[c[0] for c in STARTTLS_CASES])
def test_starttls_presents_verifiable_chain(
    request: pytest.FixtureRequest, openssl_bin: str, daemon_chain: DaemonChain, proto: str, fixture: str, attr: str
) -> None:
    server = request.getfixturevalue(fixture)
    result = s_client(openssl_bin, proto, getattr(server, attr), daemon_chain.root)
    out = result.stdout
    context = f"{fixture} {proto}: rc={result.returncode}\nstdout:\n{out.decode(errors='replace')}\n" \
              f"stderr:\n{result.stderr.decode(errors='replace')}"  # fmt: skip
    assert out.count(b"BEGIN CERTIFICATE") == 2, context
    assert b"Verify return code: 0 (ok)" in out, context
    presented = [x509.load_pem_x509_certificate(pem) for pem in _PEM_RE.findall(out)]
    assert presented == [daemon_chain.leaf.cert, daemon_chain.intermediate.cert], context
    assert result.returncode == 0, context


# ---------------------------------------------------------------------------
# dovecot with and without STARTTLS, spoken to over a plain socket


def _converse(port: int, send: bytes | None, done: bytes) -> str:
    """Read the greeting (up to ``\\r\\n``), optionally send ``send``, read until regex ``done``."""
    data = b""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.settimeout(10)
        stages: list[tuple[bytes | None, bytes]] = [(None, rb"\r\n")] if send is not None else []
        stages.append((send, done))
        for payload, pattern in stages:
            if payload is not None:
                sock.sendall(payload)
            while not re.search(pattern, data, re.MULTILINE):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    return data.decode("utf-8", "replace")


# protocol -> (command, regex ending the reply, capability token)
CAPABILITY_DIALOGUES = {
    "imap": (b"a1 CAPABILITY\r\n", rb"^a1 (OK|NO|BAD)", "STARTTLS"),
    "pop3": (b"CAPA\r\n", rb"^\.\r\n", "STLS"),
    "lmtp": (b"LHLO localhost\r\n", rb"^250 ", "STARTTLS"),
    "sieve": (None, rb"^OK", '"STARTTLS"'),
}


@pytest.mark.parametrize(
    ("fixture", "offers"), [("dovecot_no_starttls", False), ("dovecot_server", True)], ids=["ssl-no", "ssl-yes"]
)
@pytest.mark.parametrize("proto", sorted(CAPABILITY_DIALOGUES))
def test_dovecot_starttls_advertised_only_when_enabled(
    request: pytest.FixtureRequest, fixture: str, offers: bool, proto: str
) -> None:
    server: DovecotDaemon = request.getfixturevalue(fixture)
    assert server.starttls is offers
    command, done, token = CAPABILITY_DIALOGUES[proto]
    reply = _converse(server.ports[proto], command, done)
    assert re.search(done.decode(), reply, re.MULTILINE), reply  # a complete answer, not a timeout
    assert (token in reply.upper()) is offers, reply


# ---------------------------------------------------------------------------
# Metadata


@pytest.mark.parametrize(
    ("fixture", "pattern"),
    [
        ("postgres_server", r"^postgres \(PostgreSQL\) \d+\.\d+"),
        ("mariadb_server", r"^mariadbd Ver \d+\.\d+\.\d+-MariaDB"),
        ("slapd_server", r"^OpenLDAP: slapd \d+\.\d+\.\d+"),
        ("dovecot_server", r"^\d+\.\d+\.\d+"),
        ("dovecot_no_starttls", r"^\d+\.\d+\.\d+"),
    ],
)
def test_daemon_metadata(request: pytest.FixtureRequest, fixture: str, pattern: str) -> None:
    server: Daemon | DovecotDaemon = request.getfixturevalue(fixture)
    assert re.search(pattern, server.version), server.version
    assert server.host == HOST
    assert server.pid > 0
    assert 0 < server.startup_seconds < 20


def test_chain_files(daemon_chain: DaemonChain, root_pem: Path) -> None:
    assert daemon_chain.dir.stat().st_mode & 0o777 == 0o755
    assert daemon_chain.chain.stat().st_mode & 0o777 == 0o644
    assert daemon_chain.key.stat().st_mode & 0o777 == 0o600
    assert daemon_chain.root.read_bytes() == root_pem.read_bytes()
    certs = [x509.load_pem_x509_certificate(pem) for pem in _PEM_RE.findall(daemon_chain.chain.read_bytes())]
    assert certs == [daemon_chain.leaf.cert, daemon_chain.intermediate.cert]
    key = serialization.load_pem_private_key(daemon_chain.key.read_bytes(), password=None)
    assert key.public_key().public_numbers() == daemon_chain.leaf.cert.public_key().public_numbers()  # type: ignore[union-attr]
