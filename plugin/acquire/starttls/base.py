"""What every STARTTLS negotiator is: a name, a default port, and one ``negotiate`` call."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from .wire import Conversation

__all__ = ["Hello", "Negotiator"]


class Hello(NamedTuple):
    """What a negotiator may need to introduce itself: the name we verify, and the XMPP domain."""

    server_name: str
    xmpp_domain: str | None = None


class Negotiator:
    """Upgrade one plaintext connection. ``negotiate`` returns once the server has said "go ahead"."""

    name: ClassVar[str]
    default_port: ClassVar[int]

    def negotiate(self, conversation: Conversation, hello: Hello) -> None:
        raise NotImplementedError
