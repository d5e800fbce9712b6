"""XMPP (RFC 6120 section 5): stream header, stream features with <starttls/>, then <proceed/>.

Features may arrive split across packets; the reader waits for the end of the features element. The stream's
``to`` is the XMPP domain, which is not always the host name (``--xmpp-domain``).
"""

from __future__ import annotations

import re

from .base import Hello, Negotiator
from .wire import Conversation, shown

__all__ = ["Xmpp", "XmppServer"]

_TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
_FEATURES_END = (b"</stream:features>", b"</stream:error>", b"</stream:stream>")
_STREAM_ERROR = re.compile(rb"<stream:error>\s*<([a-z-]+)")


class Xmpp(Negotiator):
    name = "xmpp"
    default_port = 5222
    namespace = "jabber:client"

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        domain = hello.xmpp_domain or hello.server_name
        # The domain is a validated A-label (letters, digits, dots, hyphens): nothing in it needs XML escaping.
        header = (
            f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' "
            f"xmlns='{self.namespace}' xmlns:stream='http://etherx.jabber.org/streams'>"
        )
        conversation.send(header.encode("utf-8"), "stream features")
        features = conversation.read_until(_FEATURES_END, "stream features")
        if b"<stream:stream" not in features and b"<stream " not in features:
            raise conversation.fail(f"does not speak xmpp (it said '{shown(features.decode('utf-8', 'replace'))}')")
        error = _STREAM_ERROR.search(features)
        if error is not None:
            reason = error.group(1).decode("ascii", "replace")
            raise conversation.fail(f"refused the stream for domain {domain!r}: {reason}")
        if b"<starttls" not in features or _TLS_NS.encode() not in features:
            raise conversation.fail("does not offer STARTTLS")
        conversation.send(f"<starttls xmlns='{_TLS_NS}'/>".encode(), "STARTTLS reply")
        reply = conversation.read_until((b"/>", b"</failure>", b"</proceed>"), "STARTTLS reply")
        if b"<proceed" not in reply:
            raise conversation.fail(f"refused STARTTLS: {shown(reply.decode('utf-8', 'replace'))}")


class XmppServer(Xmpp):
    name = "xmpp-server"
    default_port = 5269
    namespace = "jabber:server"
