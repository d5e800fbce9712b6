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
from runner import Outcome, run
from scripted import Close, Pause, ReadBytes, ReadLine, Send, StartTLS, scripted_server


@pytest.fixture(scope="module")
def server_tls(intermediate_ca: CA, tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    leaf = intermediate_ca.leaf(("localhost", "127.0.0.1"), not_after=timedelta(days=60))
    folder = tmp_path_factory.mktemp("scripted")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    chain = write_pem(folder / "chain.pem", leaf, intermediate_ca.issued)
    context.load_cert_chain(chain, write_key(folder / "k", leaf))
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
    assert result.status.endswith("chain verified")
    assert set(result.perf) == {"days", "days_leaf", "days_int1", "days_root"}


def test_data_after_the_go_ahead_is_refused(server_tls, root_pem: Path, capsys) -> None:
    with scripted_server(smtp(Send(b"220 go ahead\r\n250 injected\r\n"), StartTLS(server_tls))) as port:
        result = check(capsys, port, "smtp", root_pem)
    assert result.code == 2
    assert result.status.endswith(
        f"smtp server at 127.0.0.1:{port} sent data after agreeing to start TLS (the text '250 injected\\x0d\\x0a'), "
        "refusing to continue (possible STARTTLS injection)"
    )


def test_postgres_reads_exactly_one_byte(server_tls, root_pem: Path, capsys) -> None:
    with scripted_server([ReadBytes(8), Send(b"SXYZ"), StartTLS(server_tls)]) as port:
        result = check(capsys, port, "postgres", root_pem)
    assert result.code == 2 and "sent data after agreeing to start TLS (the text 'XYZ')" in result.status


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


# --- reply grammar (RFC 5321, RFC 959, RFC 3977), end to end -------------------------------------------------


def test_smtp_ehlo_reply_ending_in_a_bare_code(server_tls, root_pem: Path, capsys) -> None:
    """RFC 5321 section 4.2: the last line of a reply may be the bare code, "250" and nothing after it."""
    ehlo = b"250-mail.example.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250\r\n"
    script = [Send(GREETING), ReadLine(), Send(ehlo, chunk=6), ReadLine(), Send(b"220 go ahead\r\n"),
              StartTLS(server_tls)]
    with scripted_server(script) as port:
        result = check(capsys, port, "smtp", root_pem, "-t", "3")
    assert result.code == 0, result.out
    assert result.status.endswith("chain verified")


def test_smtp_bare_codes_and_bare_line_feeds_throughout(server_tls, root_pem: Path, capsys) -> None:
    script = [Send(b"220\n"), ReadLine(), Send(b"250-mail\n250-STARTTLS\n250\n"), ReadLine(), Send(b"220\n"),
              StartTLS(server_tls)]
    with scripted_server(script) as port:
        result = check(capsys, port, "smtp", root_pem, "-t", "3")
    assert result.code == 0, result.out


def test_smtp_reply_with_a_stray_code_is_reported_not_waited_out(root_pem: Path, capsys) -> None:
    script = [Send(b"220 mail ESMTP\r\n"), ReadLine(), Send(b"250-mail\r\n250-STARTTLS\r\n251 HELP\r\n"), ReadLine()]
    with scripted_server(script) as port:
        result = check(capsys, port, "smtp", root_pem, "-t", "3")
    assert result.code == 2
    assert result.status.endswith(f"smtp server at 127.0.0.1:{port} sent a malformed EHLO reply "
                                  "(the line '251 HELP' does not continue reply 250)")


def test_ftp_multi_line_greeting_with_inner_codes(server_tls, root_pem: Path, capsys) -> None:
    """RFC 959 section 4.2: only "220 " (or a bare "220") ends the greeting; inner lines are free text."""
    greeting = b"220-Welcome\r\n456-x\r\n234 not the end\r\n  234 not the end either\r\n220 ready\r\n"
    script = [Send(greeting, chunk=9), ReadLine(), Send(b"234 AUTH TLS OK.\r\n"), StartTLS(server_tls)]
    with scripted_server(script) as port:
        result = check(capsys, port, "ftp", root_pem, "-t", "3")
    assert result.code == 0, result.out


def test_nntp_bare_status_codes(server_tls, root_pem: Path, capsys) -> None:
    script = [Send(b"200\r\n"), ReadLine(), Send(b"382\r\n"), StartTLS(server_tls)]
    with scripted_server(script) as port:
        result = check(capsys, port, "nntp", root_pem, "-t", "3")
    assert result.code == 0, result.out


# --- what the server said, as the operator reads it ------------------------------------------------------------


@pytest.mark.parametrize(("answer", "shown"), [(b"2", "the byte '2'"), (b"\x00", "the byte 0x00"),
                                                (b"'", "the byte 0x27")], ids=["printable", "nul", "quote"])
def test_postgres_unknown_answer_is_readable(answer: bytes, shown: str, root_pem: Path, capsys) -> None:
    with scripted_server([ReadBytes(8), Send(answer)]) as port:
        result = check(capsys, port, "postgres", root_pem)
    assert result.code == 2
    assert result.status.endswith(f"postgres server at 127.0.0.1:{port} does not speak postgres (it answered {shown})")


def test_ldap_non_ldap_answer_is_hex(root_pem: Path, capsys) -> None:
    # A TLS alert, as an LDAPS port answers a plaintext request.
    with scripted_server([ReadBytes(31), Send(b"\x15\x03\x03\x00\x02\x02\x32")]) as port:
        result = check(capsys, port, "ldap", root_pem)
    assert result.code == 2
    assert result.status.endswith("does not speak ldap (it answered the bytes 15 03)")


def test_mysql_non_mysql_greeting_is_readable(root_pem: Path, capsys) -> None:
    with scripted_server([Send(b"SSH-2.0-OpenSSH_9.6\r\n")]) as port:
        result = check(capsys, port, "mysql", root_pem)
    assert result.code == 2
    assert result.status.endswith("does not speak mysql (it sent the text 'SSH-')")


def test_binary_injection_after_the_go_ahead_is_hex(server_tls, root_pem: Path, capsys) -> None:
    with scripted_server([ReadBytes(8), Send(b"S" + bytes(range(0x10, 0x24))), StartTLS(server_tls)]) as port:
        result = check(capsys, port, "postgres", root_pem)
    assert result.code == 2
    assert ("sent data after agreeing to start TLS (the bytes 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f ...)"
            in result.status)


def test_control_characters_in_a_greeting_are_escaped_once(root_pem: Path, capsys) -> None:
    with scripted_server([Send(b"\x1b[31mHELLO\x00\r\n"), ReadLine()]) as port:
        result = check(capsys, port, "smtp", root_pem)
    assert result.code == 2
    assert result.status.endswith(r"does not speak smtp (it said '\x1b[31mHELLO\x00')")


# --- the transcript at -vv -------------------------------------------------------------------------------------


def _transcript(result: Outcome) -> list[str]:
    return [line for line in result.lines if line.startswith("starttls ")]


def test_vv_shows_the_starttls_transcript(server_tls, root_pem: Path, capsys) -> None:
    with scripted_server(smtp(Send(b"220 2.0.0 go ahead\r\n"), StartTLS(server_tls))) as port:
        result = check(capsys, port, "smtp", root_pem, "-vv")
    assert result.code == 0, result.out
    assert _transcript(result) == [
        "starttls smtp S: 220-mail.example.test ESMTP",
        "starttls smtp S: 220-second line of the greeting",
        "starttls smtp S: 220 ready",
        "starttls smtp C: EHLO localhost",
        "starttls smtp S: 250-mail.example.test",
        "starttls smtp S: 250-PIPELINING",
        "starttls smtp S: 250-STARTTLS",
        "starttls smtp S: 250 8BITMIME",
        "starttls smtp C: STARTTLS",
        "starttls smtp S: 220 2.0.0 go ahead",
    ]


def test_v_does_not_show_the_transcript(server_tls, root_pem: Path, capsys) -> None:
    with scripted_server(smtp(Send(b"220 2.0.0 go ahead\r\n"), StartTLS(server_tls))) as port:
        result = check(capsys, port, "smtp", root_pem, "-v")
    assert result.code == 0, result.out
    assert _transcript(result) == []


def test_transcript_is_cleaned_shortened_and_stops_at_the_go_ahead(server_tls, root_pem: Path, capsys) -> None:
    ehlo = b"250-mail|days=1\x1b[2J\r\n250-STARTTLS\r\n250 " + b"X" * 300 + b"\r\n"
    script = [Send(b"220 mail\r\n"), ReadLine(), Send(ehlo), ReadLine(), Send(b"220 go ahead\r\n250 injected\r\n"),
              StartTLS(server_tls)]
    with scripted_server(script) as port:
        result = check(capsys, port, "smtp", root_pem, "-vv")
    assert result.code == 2
    transcript = _transcript(result)
    assert r"starttls smtp S: 250-mail\x7cdays=1\x1b[2J" in transcript
    assert f"starttls smtp S: 250 {'X' * 116}..." in transcript
    assert transcript[-1] == "starttls smtp S: 220 go ahead"  # the injected line is not part of the dialogue


def test_binary_transcript_is_hex(server_tls, root_pem: Path, capsys) -> None:
    with scripted_server([ReadBytes(8), Send(b"S"), StartTLS(server_tls)]) as port:
        result = check(capsys, port, "postgres", root_pem, "-vv")
    assert result.code == 0, result.out
    assert _transcript(result) == ["starttls postgres C: the bytes 00 00 00 08 04 d2 16 2f",
                                   "starttls postgres S: the byte 'S'"]
