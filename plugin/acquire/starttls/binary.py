"""Binary protocols: LDAP (RFC 4511 StartTLS extended operation), PostgreSQL (SSLRequest), MySQL/MariaDB."""

from __future__ import annotations

import struct

from .base import Hello, Negotiator
from .wire import Conversation, shown, shown_bytes

__all__ = ["Ldap", "Mysql", "Postgres"]

_LDAP_OID = b"1.3.6.1.4.1.1466.20037"
# LDAPMessage { messageID 1, extendedReq [APPLICATION 23] { requestName [0] "1.3.6.1.4.1.1466.20037" } }
LDAP_STARTTLS = b"\x30\x1d\x02\x01\x01\x77\x18\x80\x16" + _LDAP_OID
_LDAP_RESULTS = {2: "protocolError", 52: "unavailable", 53: "unwillingToPerform"}


class Ldap(Negotiator):
    name = "ldap"
    default_port = 389

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        conversation.send(LDAP_STARTTLS, "StartTLS response")
        header = conversation.read_exact(2, "StartTLS response")
        if header[0] != 0x30:
            raise conversation.fail(f"does not speak ldap (it answered {shown_bytes(header)})")
        length = header[1]
        if length & 0x80:  # long form: the low bits say how many length bytes follow
            count = length & 0x7F
            if not 1 <= count <= 3:
                raise conversation.fail("sent an LDAP message with an impossible length")
            length = int.from_bytes(conversation.read_exact(count, "StartTLS response"), "big")
        if length > 64 * 1024:
            raise conversation.fail("sent an LDAP message larger than 64 KB")
        body = conversation.read_exact(length, "StartTLS response")
        code = _extended_result(body)
        if code is None:
            raise conversation.fail("answered StartTLS with something that is not an ExtendedResponse")
        if code == 2:
            raise conversation.fail("does not offer STARTTLS (protocolError)")
        if code != 0:
            raise conversation.fail(f"refused STARTTLS: resultCode {code} ({_LDAP_RESULTS.get(code, 'error')})")


def _extended_result(body: bytes) -> int | None:
    """resultCode of ``messageID, [APPLICATION 24] { resultCode ENUMERATED, ... }``; None if not that shape."""
    if len(body) < 3 or body[0] != 0x02:
        return None
    position = 2 + body[1]  # skip messageID
    if position + 2 > len(body) or body[position] != 0x78:
        return None
    position += 2 if body[position + 1] < 0x80 else 2 + (body[position + 1] & 0x7F)
    if position + 3 > len(body) or body[position] != 0x0A or body[position + 1] != 1:
        return None
    return body[position + 2]


class Postgres(Negotiator):
    """SSLRequest, then exactly one byte. Reading more would accept injected bytes (CVE-2021-23214/23222)."""

    name = "postgres"
    default_port = 5432
    SSL_REQUEST = struct.pack("!II", 8, 80877103)

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        conversation.send(self.SSL_REQUEST, "SSLRequest reply")
        answer = conversation.read_exact(1, "SSLRequest reply")
        if answer == b"N":
            raise conversation.fail("does not offer STARTTLS (SSL is off)")
        if answer == b"E":
            raise conversation.fail("refused STARTTLS (it answered the SSLRequest with an error)")
        if answer != b"S":
            raise conversation.fail(f"does not speak postgres (it answered {shown_bytes(answer)})")


class Mysql(Negotiator):
    """Read the server greeting, check CLIENT_SSL, send an SSLRequest packet; the server then waits for TLS."""

    name = "mysql"
    default_port = 3306
    CLIENT_SSL = 0x0800
    # length 32, sequence 1; capabilities incl. CLIENT_SSL and PROTOCOL_41; max packet 16 MB; charset 33 (utf8)
    SSL_REQUEST = b"\x20\x00\x00\x01" + b"\x85\xae\x7f\x00" + b"\x00\x00\x00\x01" + b"\x21" + b"\x00" * 23

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        header = conversation.read_exact(4, "greeting")
        length = int.from_bytes(header[:3], "little")
        if header[3] != 0 or not 1 <= length <= 16 * 1024:
            raise conversation.fail(f"does not speak mysql (it sent {shown_bytes(header)})")
        payload = conversation.read_exact(length, "greeting")
        if payload[0] == 0xFF:
            message = payload[9:] if payload[3:4] == b"#" else payload[3:]
            raise conversation.fail(f"refused the session: {shown(message.decode('utf-8', 'replace'))}")
        version_end = payload.find(b"\x00", 1)
        if payload[0] != 0x0A or version_end < 0 or len(payload) < version_end + 16:
            raise conversation.fail("does not speak mysql (unknown greeting)")
        capabilities = int.from_bytes(payload[version_end + 14 : version_end + 16], "little")
        if not capabilities & self.CLIENT_SSL:
            raise conversation.fail("does not offer STARTTLS (no CLIENT_SSL capability)")
        conversation.send(self.SSL_REQUEST, "SSLRequest")
