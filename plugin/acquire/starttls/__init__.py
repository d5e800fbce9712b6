"""STARTTLS: upgrade a plaintext connection before the TLS handshake.

One small negotiator class per protocol, found through the explicit registry below (no import-time magic, so
``--help`` and the Icinga 2 command can list exactly what exists). The byte exchanges follow each protocol's RFC
and OpenSSL's ``s_client -starttls``; ``wire.Conversation`` does the reading, never past the go-ahead.
"""

from __future__ import annotations

from .base import Hello, Negotiator
from .binary import Ldap, Mysql, Postgres
from .text import Ftp, Imap, Irc, Lmtp, Nntp, Pop3, Sieve, Smtp
from .wire import Conversation, StartTLSError
from .xmpp import Xmpp, XmppServer

__all__ = ["REGISTRY", "Conversation", "Hello", "Negotiator", "StartTLSError"]

REGISTRY: dict[str, type[Negotiator]] = {
    negotiator.name: negotiator
    for negotiator in (Smtp, Lmtp, Imap, Pop3, Ftp, Ldap, Xmpp, XmppServer, Postgres, Mysql, Nntp, Sieve, Irc)
}
