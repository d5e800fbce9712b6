"""Prove the real daemons of ``daemons_mail`` with ``openssl s_client`` (not the product).

Each STARTTLS server must present exactly two certificates (leaf +
intermediate, the leaf being ``mail_chain``'s) that verify against the
session root: ``Verify return code: 0 (ok)``.
"""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by pytest as a plugin (below); keep it rewritable
    from daemons_mail import Daemon, MailChain, XmppDaemon

pytest_plugins = ["daemons_mail"]

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", re.DOTALL)


def _pem_bodies(text: str) -> list[str]:
    return ["".join(body.split()) for body in _PEM.findall(text)]


def s_client(openssl: str, chain: MailChain, port: int, *starttls: str) -> str:
    argv = [
        openssl,
        "s_client",
        *starttls,
        "-connect",
        f"127.0.0.1:{port}",
        "-CAfile",
        str(chain.root),
        "-showcerts",
    ]
    result = subprocess.run(
        argv,
        check=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout + result.stderr


def assert_full_chain(output: str, chain: MailChain) -> None:
    assert output.count("-----BEGIN CERTIFICATE-----") == 2, output
    assert "Verify return code: 0 (ok)" in output, output
    assert _pem_bodies(output) == _pem_bodies(chain.chain.read_text()), output


def test_mail_chain_files(mail_chain: MailChain, root_pem: Path) -> None:
    assert mail_chain.dir.stat().st_mode & 0o777 == 0o755
    assert mail_chain.key.stat().st_mode & 0o777 == 0o600
    assert len(_pem_bodies(mail_chain.chain.read_text())) == 2
    assert mail_chain.root.read_bytes() == root_pem.read_bytes()


def test_exim_starttls(openssl_bin: str, mail_chain: MailChain, exim_server: Daemon) -> None:
    assert exim_server.version.startswith("Exim version 4."), exim_server
    out = s_client(openssl_bin, mail_chain, exim_server.port, "-starttls", "smtp")
    assert_full_chain(out, mail_chain)


def _ehlo(port: int) -> list[str]:
    """Greeting is read, then the full multi-line EHLO reply is returned."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")

        def reply() -> list[str]:
            lines: list[str] = []
            while True:
                raw = reader.readline(4096)
                assert raw, f"connection closed after {lines!r}"
                line = raw.decode("ascii", "replace").rstrip("\r\n")
                lines.append(line)
                if len(line) < 4 or line[3] != "-":
                    return lines

        greeting = reply()
        assert greeting[-1].startswith("220"), greeting
        sock.sendall(b"EHLO client.example.test\r\n")
        lines = reply()
        sock.sendall(b"QUIT\r\n")
        return lines


def test_exim_no_starttls(exim_no_starttls: Daemon, exim_server: Daemon) -> None:
    lines = _ehlo(exim_no_starttls.port)
    assert all(line.startswith("250") for line in lines), lines
    assert len(lines) > 1, lines  # a real multi-line EHLO reply
    assert not any("STARTTLS" in line.upper() for line in lines), lines
    # Control: the same parser sees STARTTLS on the TLS-enabled port.
    assert any(line[4:].upper() == "STARTTLS" for line in _ehlo(exim_server.port))
    assert exim_no_starttls.port != exim_server.port


def test_prosody_c2s(openssl_bin: str, mail_chain: MailChain, prosody_server: XmppDaemon) -> None:
    assert prosody_server.domain == "localhost"
    assert prosody_server.port == prosody_server.c2s != prosody_server.s2s
    assert prosody_server.version.startswith("Prosody 0."), prosody_server
    out = s_client(
        openssl_bin,
        mail_chain,
        prosody_server.c2s,
        "-starttls",
        "xmpp",
        "-xmpphost",
        prosody_server.domain,
    )
    assert_full_chain(out, mail_chain)


def test_prosody_s2s(openssl_bin: str, mail_chain: MailChain, prosody_server: XmppDaemon) -> None:
    out = s_client(
        openssl_bin,
        mail_chain,
        prosody_server.s2s,
        "-starttls",
        "xmpp-server",
        "-xmpphost",
        prosody_server.domain,
    )
    assert_full_chain(out, mail_chain)


def test_vsftpd_auth_tls(openssl_bin: str, mail_chain: MailChain, ftp_server: Daemon) -> None:
    assert ftp_server.version.startswith("vsftpd: version 3."), ftp_server
    out = s_client(openssl_bin, mail_chain, ftp_server.port, "-starttls", "ftp")
    assert_full_chain(out, mail_chain)


def test_nnrpd_starttls(openssl_bin: str, mail_chain: MailChain, nntp_server: Daemon) -> None:
    assert nntp_server.version.startswith("INN 2."), nntp_server
    out = s_client(openssl_bin, mail_chain, nntp_server.port, "-starttls", "nntp")
    assert_full_chain(out, mail_chain)


def test_inspircd_starttls(openssl_bin: str, mail_chain: MailChain, irc_server: Daemon) -> None:
    assert irc_server.version.startswith("InspIRCd-3."), irc_server
    out = s_client(openssl_bin, mail_chain, irc_server.port, "-starttls", "irc")
    assert_full_chain(out, mail_chain)
