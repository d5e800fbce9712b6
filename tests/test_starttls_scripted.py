"""STARTTLS misbehaviour, played by a scripted peer over a real socket, ending in a real TLS handshake.

The protocols themselves are tested against their real daemons (test_starttls_daemons.py). These tests cover
what a real daemon cannot be asked to do: split replies at awkward places, inject bytes after the go-ahead,
never answer, close early.
"""

from __future__ import annotations

import ssl
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pki import CA, write_key, write_pem
from runner import run
from scripted import Close, Pause, ReadBytes, ReadLine, Send, StartTLS, scripted_server


@pytest.fixture(scope="module")
def server_tls(intermediate_ca: CA, tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    leaf = intermediate_ca.leaf(("localhost", "127.0.0.1"), not_after=timedelta(days=60))
    folder = tmp_path_factory.mktemp("scripted")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(write_pem(folder / "chain.pem", leaf, intermediate_ca.issued), write_key(folder / "k", leaf))
    return context


GREETING = b"220-mail.example.test ESMTP\r\n220-second line of the greeting\r\n220 ready\r\n"
EHLO = b"250-mail.example.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"


def smtp(*tail: object) -> list[object]:
    return [Send(GREETING, chunk=7), ReadLine(), Send(EHLO, chunk=5), ReadLine(), *tail]


def check(capsys, port: int, proto: str, root_pem: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run(capsys, "-H", "localhost", "-p", port, "--starttls", proto, "--cafile", root_pem, *extra)


def test_smtp_replies_split_across_packets(server_tls, root_pem: Path, capsys) -> None:
    with scripted_server(smtp(Send(b"220 2.0.0 go ahead\r\n"), StartTLS(server_tls))) as port:
        result = check(capsys, port, "smtp", root_pem)
    assert result.code == 0, result.out
    assert result.status.endswith("chain verified") and set(result.perf) == {"days", "days_leaf", "days_int1", "days_root"}


def test_data_after_the_go_ahead_is_refused(server_tls, root_pem: Path, capsys) -> None:
    with scripted_server(smtp(Send(b"220 go ahead\r\n250 injected\r\n"), StartTLS(server_tls))) as port:
        result = check(capsys, port, "smtp", root_pem)
    assert result.code == 2
    assert f"smtp server at 127.0.0.1:{port} sent data after agreeing to start TLS" in result.status
    assert "possible STARTTLS injection" in result.status


def test_postgres_reads_exactly_one_byte(server_tls, root_pem: Path, capsys) -> None:
    with scripted_server([ReadBytes(8), Send(b"SXYZ"), StartTLS(server_tls)]) as port:
        result = check(capsys, port, "postgres", root_pem)
    assert result.code == 2 and "sent data after agreeing to start TLS (b'XYZ')" in result.status


def test_server_that_never_answers_starttls(root_pem: Path, capsys) -> None:
    with scripted_server(smtp(Pause(30))) as port:
        started = time.monotonic()
        result = check(capsys, port, "smtp", root_pem, "-t", "1.5")
        elapsed = time.monotonic() - started
    assert result.code == 2
    assert result.status.endswith("timed out during the smtp STARTTLS reply (the 1.5s timeout ran out)")
    assert elapsed < 2.0


def test_starttls_not_offered(root_pem: Path, capsys) -> None:
    script = [Send(b"220 mail ESMTP\r\n"), ReadLine(), Send(b"250-mail\r\n250 8BITMIME\r\n"), ReadLine()]
    with scripted_server(script) as port:
        result = check(capsys, port, "smtp", root_pem)
    assert result.code == 2 and result.status.endswith(f"smtp server at 127.0.0.1:{port} does not offer STARTTLS")


def test_starttls_refused(root_pem: Path, capsys) -> None:
    with scripted_server(smtp(Send(b"454 4.7.0 TLS not available due to local problem\r\n"))) as port:
        result = check(capsys, port, "smtp", root_pem)
    assert result.code == 2
    assert "smtp server at 127.0.0.1:" in result.status
    assert result.status.endswith("refused STARTTLS: 454 4.7.0 TLS not available due to local problem")


def test_wrong_protocol_for_the_port(root_pem: Path, capsys) -> None:
    with scripted_server([Send(b"220 mail.example.test ESMTP Exim 4.96\r\n"), ReadLine()]) as port:
        result = check(capsys, port, "imap", root_pem)
    assert result.code == 2
    assert "does not speak imap (it said '220 mail.example.test ESMTP Exim 4.96')" in result.status


def test_peer_that_goes_silent_mid_dialogue(root_pem: Path, capsys) -> None:
    with scripted_server([Send(b"+OK POP3 ready\r\n")]) as port:
        result = check(capsys, port, "pop3", root_pem, "-t", "1")
    assert result.code == 2 and "timed out during the pop3 CAPA reply" in result.status


def test_peer_closes_early(root_pem: Path, capsys) -> None:
    with scripted_server([Send(b"220 mail ESMTP\r\n"), ReadLine(), Close()]) as port:
        result = check(capsys, port, "smtp", root_pem)
    assert result.code == 2
    assert result.status.endswith(f"smtp server at 127.0.0.1:{port} closed the connection during the EHLO reply")


def test_xmpp_features_split_across_packets(server_tls, root_pem: Path, capsys) -> None:
    header = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/"
              b"streams' id='1' from='localhost' version='1.0'>")
    features = (b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
                b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
                b"</stream:features>")
    hello = ("<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
             "xmlns:stream='http://etherx.jabber.org/streams'>")
    starttls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    script = [ReadBytes(len(hello)), Send(header + features, chunk=11), ReadBytes(len(starttls)),
              Send(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), StartTLS(server_tls)]
    with scripted_server(script) as port:
        result = check(capsys, port, "xmpp", root_pem)
    assert result.code == 0, result.out


def test_imap_tagged_reply_after_untagged_lines(server_tls, root_pem: Path, capsys) -> None:
    script = [Send(b"* OK ready\r\n"), ReadLine(),
              Send(b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nA1 OK done\r\n", chunk=9), ReadLine(),
              Send(b"* NOTE something\r\nA2 OK Begin TLS negotiation now\r\n"), StartTLS(server_tls)]
    with scripted_server(script) as port:
        assert check(capsys, port, "imap", root_pem).code == 0
