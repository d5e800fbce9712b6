"""Every --starttls protocol against its real server software on 127.0.0.1.

Each daemon runs once per session (tests/daemons_db.py, tests/daemons_mail.py) and presents the leaf and the
intermediate of the session PKI; the root is given with --cafile. A missing daemon skips on a laptop, with the
reason, and fails under CI=true.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from runner import run

# protocol, fixture, attribute holding the port
PROTOCOLS = [
    ("smtp", "exim_server", "port"),
    ("lmtp", "dovecot_server", "lmtp"),
    ("imap", "dovecot_server", "imap"),
    ("pop3", "dovecot_server", "pop3"),
    ("sieve", "dovecot_server", "sieve"),
    ("ftp", "ftp_server", "port"),
    ("ldap", "slapd_server", "port"),
    ("xmpp", "prosody_server", "c2s"),
    ("xmpp-server", "prosody_server", "s2s"),
    ("postgres", "postgres_server", "port"),
    ("mysql", "mariadb_server", "port"),
    ("nntp", "nntp_server", "port"),
    ("irc", "irc_server", "port"),
]


def _port(request: pytest.FixtureRequest, fixture: str, attribute: str) -> int:
    return int(getattr(request.getfixturevalue(fixture), attribute))


@pytest.mark.parametrize(("protocol", "fixture", "attribute"), PROTOCOLS, ids=[p[0] for p in PROTOCOLS])
def test_protocol_against_its_daemon(request, protocol: str, fixture: str, attribute: str, root_pem: Path,
                                     capsys) -> None:
    port = _port(request, fixture, attribute)
    result = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", port, "--starttls", protocol,
                 "--cafile", root_pem, "-v")
    assert result.code == 0, result.out
    assert result.status.startswith(f"TLS_EXPIRY OK - localhost:{port}: leaf 'localhost' expires first")
    assert result.status.endswith("chain verified")
    assert "2 certificate(s) presented, 3 evaluated" in result.lines[1]
    assert set(result.perf) == {"days", "days_leaf", "days_int1", "days_root"}
    print(f"{protocol}: {request.getfixturevalue(fixture).version}: {result.status}")


def test_default_ports_come_from_the_registry() -> None:
    from plugin.acquire.starttls import REGISTRY

    assert {name: cls.default_port for name, cls in REGISTRY.items()} == {
        "smtp": 25, "lmtp": 24, "imap": 143, "pop3": 110, "ftp": 21, "ldap": 389, "xmpp": 5222,
        "xmpp-server": 5269, "postgres": 5432, "mysql": 3306, "nntp": 119, "sieve": 4190, "irc": 6667,
    }


def test_smtp_server_without_starttls(exim_no_starttls, root_pem: Path, capsys) -> None:
    port = exim_no_starttls.port
    result = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", port, "--starttls", "smtp",
                 "--cafile", root_pem)
    assert result.code == 2
    assert result.status.endswith(f"smtp server at 127.0.0.1:{port} does not offer STARTTLS")


def test_imap_server_without_starttls(dovecot_no_starttls, root_pem: Path, capsys) -> None:
    port = dovecot_no_starttls.imap
    result = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", port, "--starttls", "imap",
                 "--cafile", root_pem)
    assert result.code == 2
    assert result.status.endswith(f"imap server at 127.0.0.1:{port} does not offer STARTTLS")


@pytest.mark.parametrize(
    ("protocol", "fixture", "attribute", "message"),
    [
        ("imap", "exim_server", "port", "imap server at 127.0.0.1:{port} does not speak imap (it said '220 "),
        ("smtp", "dovecot_server", "imap", "smtp server at 127.0.0.1:{port} does not speak smtp (it said '* OK"),
        ("pop3", "dovecot_server", "imap", "pop3 server at 127.0.0.1:{port} does not speak pop3 (it said '* OK"),
        ("postgres", "mariadb_server", "port", "postgres server at 127.0.0.1:{port} does not speak postgres"),
        ("ldap", "postgres_server", "port", "ldap server at 127.0.0.1:{port} "),
    ],
)
def test_wrong_protocol_for_the_port(request, protocol: str, fixture: str, attribute: str, message: str,
                                     root_pem: Path, capsys) -> None:
    port = _port(request, fixture, attribute)
    result = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", port, "--starttls", protocol,
                 "--cafile", root_pem, "-t", "3")
    assert result.code == 2
    assert message.format(port=port) in result.status, result.status


def test_xmpp_domain_the_server_does_not_serve(prosody_server, root_pem: Path, capsys) -> None:
    result = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", prosody_server.c2s, "--starttls", "xmpp",
                 "--xmpp-domain", "wrong.example", "--cafile", root_pem)
    assert result.code == 2
    assert "refused the stream for domain 'wrong.example': host-unknown" in result.status
