"""Line-based protocols: SMTP, LMTP, IMAP, POP3, FTP, NNTP, ManageSieve and IRC.

Each negotiator checks that the greeting is the protocol that was asked for, so that ``--starttls imap`` against
an SMTP port says so instead of timing out, and reads multi-line replies to their real end (the grammar of
RFC 5321 section 4.2 and RFC 959 section 4.2, in :func:`read_coded_reply`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .base import Hello, Negotiator
from .wire import MAX_REPLY, Conversation, shown

__all__ = [
    "FTP_GRAMMAR",
    "NNTP_GRAMMAR",
    "SMTP_GRAMMAR",
    "Ftp",
    "Imap",
    "Irc",
    "Lmtp",
    "Nntp",
    "Pop3",
    "ReplyGrammar",
    "Sieve",
    "Smtp",
    "read_coded_reply",
]

# A reply code is three ASCII digits: ``[0-9]``, never ``\d``, which also matches other scripts' digits ('٢٥٠').
# After the code: "-" (more lines follow), " " and text (the last line), or nothing (a bare last line, "250").
_CODE_LINE = re.compile(r"([0-9]{3})(?:([ -])(.*))?", re.ASCII)


class ReplyGrammar(NamedTuple):
    """How one protocol's numeric replies continue and end."""

    multiline: bool  # "ddd-" opens a multi-line reply (SMTP, FTP); an NNTP status response is one line
    free_text: bool  # inner lines may be any text (FTP); SMTP puts the reply's code on every line


SMTP_GRAMMAR = ReplyGrammar(multiline=True, free_text=False)  # RFC 5321 section 4.2, also LMTP (RFC 2033)
FTP_GRAMMAR = ReplyGrammar(multiline=True, free_text=True)  # RFC 959 section 4.2
NNTP_GRAMMAR = ReplyGrammar(multiline=False, free_text=False)  # RFC 3977 section 3.2


def read_coded_reply(
    conversation: Conversation, phase: str, grammar: ReplyGrammar = SMTP_GRAMMAR
) -> tuple[int, list[str]]:
    """One numeric reply, read to its real end: the code and the text of each line (without the codes).

    A multi-line reply ends only at a line of the same code followed by a space, or at the bare code. In FTP,
    lines in between are free text and may start with digits (``  234 not the end``, ``456-x``); in SMTP every
    line carries the code, so another line there is a broken reply, reported rather than waited out.
    """
    first = conversation.read_line(phase)
    match = _CODE_LINE.fullmatch(first)
    if match is None or (match.group(2) == "-" and not grammar.multiline):
        raise conversation.fail(f"does not speak {conversation.protocol} (it said '{shown(first)}')")
    code, separator, text = match.groups()
    lines = [text or ""]
    size = len(first)
    while separator == "-":
        line = conversation.read_line(phase)
        size += len(line)
        if size > MAX_REPLY:  # each line is bounded by read_until; an endless run of lines is bounded here
            raise conversation.fail(f"sent more than {MAX_REPLY // 1024} KB without ending its {phase}")
        match = _CODE_LINE.fullmatch(line)
        if match is not None and match.group(1) == code:
            separator = match.group(2)
            lines.append(match.group(3) or "")
        elif grammar.free_text:
            lines.append(line)
        else:
            raise conversation.fail(
                f"sent a malformed {phase} (the line '{shown(line)}' does not continue reply {code})"
            )
    return int(code), lines


def _said(code: int, lines: list[str]) -> str:
    """A coded reply for a status line: ``454 TLS not available``, or just ``454`` for a bare code."""
    return shown(f"{code} {' '.join(lines)}")


class Smtp(Negotiator):
    name = "smtp"
    default_port = 25
    hello_command = "EHLO"

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        code, lines = read_coded_reply(conversation, "greeting")
        if code != 220:
            raise conversation.fail(f"refused the session: {_said(code, lines)}")
        phase = f"{self.hello_command} reply"
        conversation.send(f"{self.hello_command} {hello.server_name}\r\n".encode("ascii"), phase)
        code, lines = read_coded_reply(conversation, phase)
        if code != 250:
            raise conversation.fail(f"rejected {self.hello_command}: {_said(code, lines)}")
        if not any(line.split()[:1] == ["STARTTLS"] for line in (item.upper() for item in lines[1:])):
            raise conversation.fail("does not offer STARTTLS")
        conversation.send(b"STARTTLS\r\n", "STARTTLS reply")
        code, lines = read_coded_reply(conversation, "STARTTLS reply")
        if code != 220:
            raise conversation.fail(f"refused STARTTLS: {_said(code, lines)}")


class Lmtp(Smtp):
    name = "lmtp"
    default_port = 24
    hello_command = "LHLO"


class Imap(Negotiator):
    name = "imap"
    default_port = 143

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        greeting = conversation.read_line("greeting")
        upper = greeting.upper()
        if upper.startswith("* BYE"):
            raise conversation.fail(f"refused the session: {shown(greeting)}")
        if not upper.startswith(("* OK", "* PREAUTH")):
            raise conversation.fail(f"does not speak imap (it said '{shown(greeting)}')")
        capabilities = upper if "[CAPABILITY " in upper else self._capabilities(conversation)
        if " STARTTLS" not in capabilities:
            raise conversation.fail("does not offer STARTTLS")
        conversation.send(b"A2 STARTTLS\r\n", "STARTTLS reply")
        reply = self._tagged(conversation, "A2", "STARTTLS reply")
        if not reply.upper().startswith("A2 OK"):
            raise conversation.fail(f"refused STARTTLS: {shown(reply)}")

    def _capabilities(self, conversation: Conversation) -> str:
        conversation.send(b"A1 CAPABILITY\r\n", "CAPABILITY reply")
        found = ""
        while True:
            line = conversation.read_line("CAPABILITY reply")
            if line.upper().startswith("* CAPABILITY"):
                found = line.upper()
            elif line.upper().startswith("A1 "):
                return found

    @staticmethod
    def _tagged(conversation: Conversation, tag: str, phase: str) -> str:
        while True:
            line = conversation.read_line(phase)
            if line.upper().startswith(f"{tag} "):
                return line


class Pop3(Negotiator):
    name = "pop3"
    default_port = 110

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        greeting = conversation.read_line("greeting")
        if greeting.startswith("-ERR"):
            raise conversation.fail(f"refused the session: {shown(greeting)}")
        if not greeting.startswith("+OK"):
            raise conversation.fail(f"does not speak pop3 (it said '{shown(greeting)}')")
        conversation.send(b"CAPA\r\n", "CAPA reply")
        if conversation.read_line("CAPA reply").startswith("+OK"):
            capabilities = []
            while (line := conversation.read_line("CAPA reply")) != ".":
                capabilities.append(line.upper().split()[:1])
            if ["STLS"] not in capabilities:
                raise conversation.fail("does not offer STARTTLS (STLS)")
        conversation.send(b"STLS\r\n", "STLS reply")
        reply = conversation.read_line("STLS reply")
        if not reply.startswith("+OK"):
            raise conversation.fail(f"refused STARTTLS: {shown(reply)}")


def _coded_upgrade(
    conversation: Conversation,
    grammar: ReplyGrammar,
    command: str,
    go_ahead: int,
    not_offered: tuple[int, ...],
    greetings: tuple[int, ...],
) -> None:
    """Greeting, one command, one coded reply: the shape FTP's AUTH TLS and NNTP's STARTTLS share."""
    code, lines = read_coded_reply(conversation, "greeting", grammar)
    if code not in greetings:
        raise conversation.fail(f"refused the session: {_said(code, lines)}")
    conversation.send(f"{command}\r\n".encode("ascii"), f"{command} reply")
    code, lines = read_coded_reply(conversation, f"{command} reply", grammar)
    if code in not_offered:
        raise conversation.fail(f"does not offer STARTTLS ({command}): {_said(code, lines)}")
    if code != go_ahead:
        raise conversation.fail(f"refused STARTTLS ({command}): {_said(code, lines)}")


class Ftp(Negotiator):
    name = "ftp"
    default_port = 21

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        _coded_upgrade(conversation, FTP_GRAMMAR, "AUTH TLS", 234, not_offered=(500, 502, 504), greetings=(220,))


class Nntp(Negotiator):
    name = "nntp"
    default_port = 119

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        _coded_upgrade(conversation, NNTP_GRAMMAR, "STARTTLS", 382, not_offered=(500, 501, 502), greetings=(200, 201))


class Sieve(Negotiator):
    name = "sieve"
    default_port = 4190

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        capabilities = []
        while True:  # the server announces its capabilities unprompted and ends with OK
            line = conversation.read_line("greeting")
            word = line.split(" ", 1)[0].upper()
            if word in ("OK", "NO", "BYE"):
                break
            if not line.startswith('"'):
                raise conversation.fail(f"does not speak sieve (it said '{shown(line)}')")
            capabilities.append(line.split(" ", 1)[0].strip('"').upper())
        if word != "OK":
            raise conversation.fail(f"refused the session: {shown(line)}")
        if "STARTTLS" not in capabilities:
            raise conversation.fail("does not offer STARTTLS")
        conversation.send(b"STARTTLS\r\n", "STARTTLS reply")
        reply = conversation.read_line("STARTTLS reply")
        if reply.split(" ", 1)[0].upper() != "OK":
            raise conversation.fail(f"refused STARTTLS: {shown(reply)}")


class Irc(Negotiator):
    """IRCv3 STARTTLS, sent before registration. Servers that ignore it stay silent: the budget ends that."""

    name = "irc"
    default_port = 6667

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        conversation.send(b"STARTTLS\r\n", "STARTTLS reply")
        while True:
            line = conversation.read_line("STARTTLS reply")
            parts = line.split()
            if not parts:
                continue
            if parts[0].upper() == "ERROR":
                raise conversation.fail(f"closed the session: {shown(line)}")
            if parts[0].upper() == "PING":
                continue
            if not parts[0].startswith(":") or len(parts) < 2:
                raise conversation.fail(f"does not speak irc (it said '{shown(line)}')")
            command = parts[1]
            if command == "670":
                return
            if command in ("691",):
                raise conversation.fail(f"refused STARTTLS: {shown(line)}")
            if command in ("421", "451"):
                raise conversation.fail(f"does not offer STARTTLS: {shown(line)}")
