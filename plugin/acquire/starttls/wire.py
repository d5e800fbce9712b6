"""The plaintext phase of STARTTLS, read without read-ahead.

Every read takes exactly the bytes of one reply (a line, a terminator-delimited element, or a fixed count) and
leaves the rest in the kernel: the first bytes after the go-ahead belong to TLS. Reads peek first (MSG_PEEK)
and then consume only up to the end of what was asked for, so a multi-line reply split across packets, or two
replies in one packet, are both handled without assuming one ``recv()`` is one reply.

After the go-ahead, :meth:`Conversation.expect_silence` makes sure the server sent nothing more: bytes there
would be plaintext that an attacker injected before the handshake (the CVE-2011-0411 class of bug), so they are
an error, never something to parse.

At ``-vv`` (INFO) every line sent and received is logged, made safe and short, as ``starttls smtp C: EHLO host``
and ``starttls smtp S: 250-STARTTLS``; binary protocols show their bytes in hex. Only the plaintext phase is
logged: the conversation ends at the go-ahead, and what follows it is TLS.
"""

from __future__ import annotations

import logging
import select
import socket

from ...budget import Budget
from ...errors import NetworkError
from ...sanitize import clean

__all__ = ["MAX_REPLY", "Conversation", "StartTLSError", "shown", "shown_bytes"]

log = logging.getLogger(__name__)

MAX_REPLY = 64 * 1024  # no legitimate greeting or capability list is larger
_CHUNK = 4096
_TRANSCRIPT_WIDTH = 120  # one transcript line; a capability list is read in full, only the log is cut
_HEX_BYTES = 16  # enough of a binary answer to recognise it (a TLS record, an HTTP reply, an error packet)


class StartTLSError(NetworkError):
    """The plaintext phase failed: wrong protocol, STARTTLS not offered or refused, early close, injection."""


class Conversation:
    """A blocking socket in its plaintext phase, every read bounded by the shared budget."""

    def __init__(self, sock: socket.socket, budget: Budget, protocol: str, peer: str) -> None:
        self.sock = sock
        self.budget = budget
        self.protocol = protocol
        self.peer = peer

    def fail(self, what: str) -> StartTLSError:
        return StartTLSError(f"{self.protocol} server at {self.peer} {what}")

    def send(self, data: bytes, phase: str) -> None:
        self._transcript("C", data, text=_is_text(data))
        self.sock.settimeout(self.budget.remaining(f"the {self.protocol} {phase}"))
        try:
            self.sock.sendall(data)
        except TimeoutError as exc:
            raise self.budget.expired(f"the {self.protocol} {phase}") from exc
        except OSError as exc:
            raise self.fail(f"closed the connection during the {phase}") from exc

    def _peek(self, phase: str) -> bytes:
        label = f"the {self.protocol} {phase}"
        self.sock.settimeout(self.budget.remaining(label))
        try:
            data = self.sock.recv(_CHUNK, socket.MSG_PEEK)
        except TimeoutError as exc:
            raise self.budget.expired(label) from exc
        except OSError as exc:
            raise self.fail(f"closed the connection during the {phase}") from exc
        if not data:
            raise self.fail(f"closed the connection during the {phase}")
        return data

    def _consume(self, count: int) -> bytes:
        chunks = []
        while count > 0:
            chunk = self.sock.recv(count)  # peeked already, so this does not block
            if not chunk:
                break
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def read_until(self, terminators: tuple[bytes, ...], phase: str) -> bytes:
        """Read up to and including the first of ``terminators``; never past it."""
        buffer = b""
        while True:
            peeked = self._peek(phase)
            window = buffer + peeked
            ends = [window.find(term, max(len(buffer) - len(term), 0)) for term in terminators]
            hits = [pos + len(term) for pos, term in zip(ends, terminators) if pos >= 0]
            if hits:
                buffer += self._consume(min(hits) - len(buffer))
                self._transcript("S", buffer, text=True)  # only text protocols read up to a terminator
                return buffer
            buffer += self._consume(len(peeked))
            if len(buffer) > MAX_REPLY:
                raise self.fail(f"sent more than {MAX_REPLY // 1024} KB without ending its {phase}")

    def read_line(self, phase: str) -> str:
        """One line, without its line ending, decoded leniently (protocol text is ASCII; junk is kept visible)."""
        return self.read_until((b"\n",), phase).rstrip(b"\r\n").decode("utf-8", "replace")

    def read_exact(self, count: int, phase: str) -> bytes:
        data = b""
        while len(data) < count:
            peeked = self._peek(phase)
            data += self._consume(min(len(peeked), count - len(data)))
        self._transcript("S", data, text=False)
        return data

    def expect_silence(self) -> None:
        """After the go-ahead the server must wait for our ClientHello; anything already sent is injected."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        if not readable:
            return
        try:
            pending = self.sock.recv(_CHUNK, socket.MSG_PEEK)
        except OSError:
            return  # the handshake will report the broken connection
        if pending:
            raise self.fail(
                f"sent data after agreeing to start TLS ({shown_bytes(pending)}), refusing to continue "
                "(possible STARTTLS injection)"
            )

    def _transcript(self, direction: str, data: bytes, *, text: bool) -> None:
        """Log one exchange for ``-vv``: text line by line, binary data as :func:`shown_bytes` renders it."""
        if not log.isEnabledFor(logging.INFO):
            return
        for entry in _text_lines(data) if text else [shown_bytes(data)]:
            log.info("starttls %s %s: %s", self.protocol, direction, entry)


def _is_text(data: bytes) -> bool:
    """Printable ASCII and line endings only, as every command of a text protocol is."""
    return all(0x20 <= byte < 0x7F or byte in b"\t\r\n" for byte in data)


def _text_lines(data: bytes) -> list[str]:
    lines = data.decode("utf-8", "replace").split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # the line ending of the last line, not an empty line of its own
    return [clean(line.rstrip("\r"), _TRANSCRIPT_WIDTH) for line in lines]


def shown(line: str) -> str:
    """A server reply, made safe and short for a status line."""
    return clean(line.strip(), 80)


def shown_bytes(data: bytes) -> str:
    r"""Bytes from the server for an operator, never as a Python ``b'...'`` repr.

    One byte reads ``the byte 'N'`` (or ``the byte 0x00``); text reads ``the text '250 ok\x0d\x0a'``, its line
    endings made visible by :func:`clean`; anything else is a short hex dump, ``the bytes 16 03 01 00 2a ...``.
    """
    if len(data) == 1:
        byte = data[0]
        # A quote or a backslash inside quotes would read ambiguously; hex is unambiguous for them.
        printable = 0x21 <= byte < 0x7F and byte not in b"'\\|"
        return clean(f"the byte '{chr(byte)}'" if printable else f"the byte 0x{byte:02x}")
    if _is_text(data):
        return f"the text '{clean(data.decode('ascii'), 60)}'"
    dump = " ".join(f"{byte:02x}" for byte in data[:_HEX_BYTES])
    return clean(f"the bytes {dump}{' ...' if len(data) > _HEX_BYTES else ''}")
