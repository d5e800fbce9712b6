"""The numeric reply grammar of SMTP/LMTP (RFC 5321), FTP (RFC 959) and NNTP (RFC 3977), over a real socket.

Each case writes the server's bytes, followed by a sentinel line, into one end of a socket pair and reads one
reply with ``read_coded_reply`` from the other end. The reply must come out as the RFC reads it, and the next
line read must be the sentinel: a reply that ended too early or too late would leave the wrong bytes behind.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from plugin.budget import Budget
from plugin.errors import PhaseTimeout
from plugin.acquire.starttls.text import FTP_GRAMMAR, NNTP_GRAMMAR, SMTP_GRAMMAR, ReplyGrammar, read_coded_reply
from plugin.acquire.starttls.wire import Conversation, StartTLSError

SENTINEL = b"NEXT REPLY\r\n"


class Case(NamedTuple):
    name: str
    grammar: ReplyGrammar
    protocol: str
    data: bytes
    code: int
    lines: list[str]


PARSED = [
    # RFC 5321 section 4.2 / 4.3 and appendix D: one-line and multi-line replies.
    Case("smtp greeting", SMTP_GRAMMAR, "smtp", b"220 foo.com Simple Mail Transfer Service Ready\r\n",
         220, ["foo.com Simple Mail Transfer Service Ready"]),
    Case("smtp ehlo (appendix D.1)", SMTP_GRAMMAR, "smtp",
         b"250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n",
         250, ["foo.com greets bar.com", "8BITMIME", "SIZE", "DSN", "HELP"]),
    Case("smtp section 4.2.1 example", SMTP_GRAMMAR, "smtp",
         b"123-First line\r\n123-Second line\r\n123-234 text beginning with numbers\r\n123 The last line\r\n",
         123, ["First line", "Second line", "234 text beginning with numbers", "The last line"]),
    Case("smtp bare code ends a multi-line reply", SMTP_GRAMMAR, "smtp",
         b"250-mail.example.test\r\n250-STARTTLS\r\n250\r\n", 250, ["mail.example.test", "STARTTLS", ""]),
    Case("smtp bare code alone", SMTP_GRAMMAR, "smtp", b"220\r\n", 220, [""]),
    Case("smtp code, space, no text", SMTP_GRAMMAR, "smtp", b"250 \r\n", 250, [""]),
    Case("smtp continuation without text", SMTP_GRAMMAR, "smtp", b"250-\r\n250 ok\r\n", 250, ["", "ok"]),
    Case("smtp refusal (section 4.3.2)", SMTP_GRAMMAR, "smtp", b"554 No SMTP service here\r\n",
         554, ["No SMTP service here"]),
    Case("smtp bare LF line endings", SMTP_GRAMMAR, "smtp", b"250-mail\n250-STARTTLS\n250\n",
         250, ["mail", "STARTTLS", ""]),
    Case("smtp mixed CRLF and LF", SMTP_GRAMMAR, "smtp", b"250-mail\r\n250-STARTTLS\n250 HELP\r\n",
         250, ["mail", "STARTTLS", "HELP"]),
    Case("lmtp bare code", SMTP_GRAMMAR, "lmtp", b"250-lmtp.example\r\n250-STARTTLS\r\n250\r\n",
         250, ["lmtp.example", "STARTTLS", ""]),
    # RFC 959 section 4.2: inner lines are free text, even when they start with digits.
    Case("ftp section 4.2 example", FTP_GRAMMAR, "ftp",
         b"123-First line\r\nSecond line\r\n  234 A line beginning with numbers\r\n123 The last line\r\n",
         123, ["First line", "Second line", "  234 A line beginning with numbers", "The last line"]),
    Case("ftp inner lines with other codes", FTP_GRAMMAR, "ftp",
         b"220-Welcome\r\n456-x\r\n234 not the end\r\n  234 not the end either\r\n220 ready\r\n",
         220, ["Welcome", "456-x", "234 not the end", "  234 not the end either", "ready"]),
    Case("ftp inner line of the same code with a hyphen", FTP_GRAMMAR, "ftp",
         b"220-Welcome\r\n220-second\r\n220 ready\r\n", 220, ["Welcome", "second", "ready"]),
    Case("ftp bare code ends a multi-line reply", FTP_GRAMMAR, "ftp", b"220-Welcome\r\nfree text\r\n220\r\n",
         220, ["Welcome", "free text", ""]),
    Case("ftp same digits without a space do not end it", FTP_GRAMMAR, "ftp",
         b"220-Welcome\r\n2200 not the end\r\n220\tnot the end\r\n220 ready\r\n",
         220, ["Welcome", "2200 not the end", "220\tnot the end", "ready"]),
    Case("ftp non-ASCII digits are text", FTP_GRAMMAR, "ftp",
         "220-Welcome\r\n٢٢٠ not a code\r\n220 ready\r\n".encode(), 220, ["Welcome", "٢٢٠ not a code", "ready"]),
    Case("ftp AUTH TLS go-ahead", FTP_GRAMMAR, "ftp", b"234 AUTH TLS OK.\r\n", 234, ["AUTH TLS OK."]),
    Case("ftp bare go-ahead", FTP_GRAMMAR, "ftp", b"234\n", 234, [""]),
    # RFC 3977 section 3.2 and RFC 4642: status responses are one line.
    Case("nntp posting allowed", NNTP_GRAMMAR, "nntp", b"200 NNTP Service Ready, posting permitted\r\n",
         200, ["NNTP Service Ready, posting permitted"]),
    Case("nntp posting prohibited", NNTP_GRAMMAR, "nntp", b"201 NNTP Service Ready, posting prohibited\r\n",
         201, ["NNTP Service Ready, posting prohibited"]),
    Case("nntp starttls go-ahead", NNTP_GRAMMAR, "nntp", b"382 Continue with TLS negotiation\r\n",
         382, ["Continue with TLS negotiation"]),
    Case("nntp bare code", NNTP_GRAMMAR, "nntp", b"200\r\n", 200, [""]),
]


class Broken(NamedTuple):
    name: str
    grammar: ReplyGrammar
    protocol: str
    data: bytes
    message: str


REFUSED = [
    Broken("non-ASCII digits are no reply code", SMTP_GRAMMAR, "smtp", "٢٥٠ mail ESMTP\r\n".encode(),
           "does not speak smtp (it said '٢٥٠ mail ESMTP')"),
    Broken("fullwidth digits are no reply code", FTP_GRAMMAR, "ftp", "２２０ ready\r\n".encode(),
           "does not speak ftp (it said '２２０ ready')"),
    Broken("four digits are no reply code", SMTP_GRAMMAR, "smtp", b"2200 mail\r\n",
           "does not speak smtp (it said '2200 mail')"),
    Broken("two digits are no reply code", NNTP_GRAMMAR, "nntp", b"20 ready\r\n",
           "does not speak nntp (it said '20 ready')"),
    Broken("text is no reply", FTP_GRAMMAR, "ftp", b"SSH-2.0-OpenSSH_9.6\r\n",
           "does not speak ftp (it said 'SSH-2.0-OpenSSH_9.6')"),
    Broken("nntp has no multi-line status", NNTP_GRAMMAR, "nntp", b"200-ready\r\n200 ready\r\n",
           "does not speak nntp (it said '200-ready')"),
    Broken("smtp lines all carry the code", SMTP_GRAMMAR, "smtp", b"250-mail\r\n251 other\r\n",
           "sent a malformed EHLO reply (the line '251 other' does not continue reply 250)"),
    Broken("smtp has no free text lines", SMTP_GRAMMAR, "smtp", b"250-mail\r\nfree text\r\n250 ok\r\n",
           "sent a malformed EHLO reply (the line 'free text' does not continue reply 250)"),
    Broken("smtp non-ASCII digits do not end a reply", SMTP_GRAMMAR, "smtp", "250-mail\r\n٢٥٠ ok\r\n".encode(),
           "sent a malformed EHLO reply (the line '٢٥٠ ok' does not continue reply 250)"),
]


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = socket.socketpair()
    with client, server:
        yield client, server


def _feed(server: socket.socket, data: bytes) -> threading.Thread:
    """Write from a thread, so that a reply larger than the socket buffer cannot block the test."""

    def write() -> None:
        try:
            server.sendall(data)
        except OSError:
            pass  # the reader gave up and closed its end, as it should

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


@pytest.mark.parametrize("case", PARSED, ids=[case.name for case in PARSED])
def test_reply_is_read_to_its_rfc_end(case: Case, pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    _feed(server, case.data + SENTINEL)
    conversation = Conversation(client, Budget(5), case.protocol, "test peer")
    assert read_coded_reply(conversation, "reply", case.grammar) == (case.code, case.lines)
    assert conversation.read_line("next reply") == SENTINEL.decode().rstrip("\r\n")


@pytest.mark.parametrize("case", REFUSED, ids=[case.name for case in REFUSED])
def test_broken_reply_is_reported(case: Broken, pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    _feed(server, case.data + SENTINEL)
    conversation = Conversation(client, Budget(5), case.protocol, "test peer")
    with pytest.raises(StartTLSError) as raised:
        read_coded_reply(conversation, "EHLO reply", case.grammar)
    assert str(raised.value) == f"{case.protocol} server at test peer {case.message}"


@pytest.mark.parametrize(
    ("grammar", "data"),
    [
        (FTP_GRAMMAR, b"123-First line\r\n  234 not the end\r\n456-x\r\n456 y\r\n123-still going\r\n"),
        (SMTP_GRAMMAR, b"250-mail\r\n250-STARTTLS\r\n"),
    ],
    ids=["ftp other codes", "smtp continuation"],
)
def test_unfinished_reply_waits_for_its_end(grammar: ReplyGrammar, data: bytes,
                                            pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    _feed(server, data)
    with pytest.raises(PhaseTimeout, match="timed out during the smtp greeting"):
        read_coded_reply(Conversation(client, Budget(0.3), "smtp", "test peer"), "greeting", grammar)


def test_endless_free_text_reply_is_bounded(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    writer = _feed(server, b"220-Welcome\r\n" + b"free text, never the end\r\n" * 4000)
    with pytest.raises(StartTLSError, match="sent more than 64 KB without ending its greeting"):
        read_coded_reply(Conversation(client, Budget(5), "ftp", "test peer"), "greeting", FTP_GRAMMAR)
    client.close()  # lets the writer thread finish
    writer.join(5)
