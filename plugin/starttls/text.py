"""Line-based protocols: SMTP, LMTP, IMAP, POP3, FTP, NNTP, ManageSieve and IRC.

Each negotiator checks that the greeting is the protocol that was asked for, so that ``--starttls imap`` against
an SMTP port says so instead of timing out, and reads multi-line replies to their real end.
"""

from __future__ import annotations

import re

from .base import Hello, Negotiator
from .wire import Conversation, shown

__all__ = ["Ftp", "Imap", "Irc", "Lmtp", "Nntp", "Pop3", "Sieve", "Smtp"]

_CODE_LINE = re.compile(r"^(\d{3})([ -])(.*)$")


def read_coded_reply(conversation: Conversation, phase: str) -> tuple[int, list[str]]:
    """An SMTP/FTP style reply: ``ddd-`` lines continue it, the first ``ddd `` line ends it."""
    lines: list[str] = []
    while True:
        line = conversation.read_line(phase)
        match = _CODE_LINE.match(line)
        if match is None:
            if not lines:
                raise conversation.fail(f"does not speak {conversation.protocol} (it said {shown(line)!r})")
            lines.append(line)  # FTP allows free text inside a multi-line reply
            continue
        lines.append(match.group(3))
        if match.group(2) == " ":
            return int(match.group(1)), lines


class Smtp(Negotiator):
    name = "smtp"
    default_port = 25
    hello_command = "EHLO"

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        code, lines = read_coded_reply(conversation, "greeting")
        if code != 220:
            raise conversation.fail(f"refused the session: {code} {shown(' '.join(lines))}")
        conversation.send(f"{self.hello_command} {hello.server_name}\r\n".encode("ascii"), f"{self.hello_command} reply")
        code, lines = read_coded_reply(conversation, f"{self.hello_command} reply")
        if code != 250:
            raise conversation.fail(f"rejected {self.hello_command}: {code} {shown(' '.join(lines))}")
        if not any(line.split()[:1] == ["STARTTLS"] for line in (item.upper() for item in lines[1:])):
            raise conversation.fail("does not offer STARTTLS")
        conversation.send(b"STARTTLS\r\n", "STARTTLS reply")
        code, lines = read_coded_reply(conversation, "STARTTLS reply")
        if code != 220:
            raise conversation.fail(f"refused STARTTLS: {code} {shown(' '.join(lines))}")


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
            raise conversation.fail(f"does not speak imap (it said {shown(greeting)!r})")
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
            raise conversation.fail(f"does not speak pop3 (it said {shown(greeting)!r})")
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
    conversation: Conversation, command: str, go_ahead: int, not_offered: tuple[int, ...], greetings: tuple[int, ...]
) -> None:
    """Greeting, one command, one coded reply: the shape FTP's AUTH TLS and NNTP's STARTTLS share."""
    code, lines = read_coded_reply(conversation, "greeting")
    if code not in greetings:
        raise conversation.fail(f"refused the session: {code} {shown(' '.join(lines))}")
    conversation.send(f"{command}\r\n".encode("ascii"), f"{command} reply")
    code, lines = read_coded_reply(conversation, f"{command} reply")
    if code in not_offered:
        raise conversation.fail(f"does not offer STARTTLS ({command}): {code} {shown(' '.join(lines))}")
    if code != go_ahead:
        raise conversation.fail(f"refused STARTTLS ({command}): {code} {shown(' '.join(lines))}")


class Ftp(Negotiator):
    name = "ftp"
    default_port = 21

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        _coded_upgrade(conversation, "AUTH TLS", 234, not_offered=(500, 502, 504), greetings=(220,))


class Nntp(Negotiator):
    name = "nntp"
    default_port = 119

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        _coded_upgrade(conversation, "STARTTLS", 382, not_offered=(500, 501, 502), greetings=(200, 201))


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
                raise conversation.fail(f"does not speak sieve (it said {shown(line)!r})")
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
                raise conversation.fail(f"does not speak irc (it said {shown(line)!r})")
            command = parts[1]
            if command == "670":
                return
            if command in ("691",):
                raise conversation.fail(f"refused STARTTLS: {shown(line)}")
            if command in ("421", "451"):
                raise conversation.fail(f"does not offer STARTTLS: {shown(line)}")
