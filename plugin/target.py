"""The validated description of what to connect to and which name to verify.

All normalisation happens here, once, before any I/O: brackets and zone ids are stripped from IPv6 literals,
one trailing dot is dropped, ASCII names are lower-cased, and Unicode names are encoded to their IDNA A-label with
UTS-46 mapping (``idna``, imported only for non-ASCII input). The stdlib ``idna`` codec is deliberately not used:
it implements IDNA 2003 and would send ``straße.de`` as ``strasse.de``, another host.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import NamedTuple

from .errors import UsageError

__all__ = ["HostName", "Target", "parse_host", "parse_port"]

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class HostName(NamedTuple):
    """A host given on the command line.

    ``ascii`` is what goes on the wire (A-label, or the IP address text), ``display`` is what the operator typed,
    tidied. ``ip`` is set for IP literals, which get no SNI and are matched against IP SANs.
    """

    display: str
    ascii: str
    ip: IPAddress | None = None
    zone: str | None = None

    @property
    def connect_text(self) -> str:
        """The text to hand to ``getaddrinfo`` (keeps an IPv6 zone id, which only matters for connecting)."""
        return f"{self.ascii}%{self.zone}" if self.zone else self.ascii


def parse_host(text: str, option: str = "--host") -> HostName:
    """Validate and normalise a DNS name or IP literal; raise :class:`UsageError` with a sentence if it is bad."""
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    address, _, zone = value.partition("%")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        pass
    else:
        if zone and ip.version != 6:
            raise UsageError(f"{option} {text!r} is not a valid address: only IPv6 addresses take a %zone")
        return HostName(display=str(ip), ascii=str(ip), ip=ip, zone=zone or None)
    value = value.removesuffix(".")
    if not value:
        raise UsageError(f"{option} must not be empty")
    if value.isascii():
        name = value.lower()
        labels = name.split(".")
        if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
            raise UsageError(f"{option} {text!r} is not a valid host name")
        if any(label.startswith("xn--") for label in labels):
            _check_a_labels(name, text, option)
        return HostName(display=name, ascii=name)
    return HostName(display=value, ascii=_to_a_label(value, text, option))


def _to_a_label(value: str, text: str, option: str) -> str:
    import idna  # only Unicode names pay for it

    try:
        encoded: bytes = idna.encode(value, uts46=True)
    except (idna.IDNAError, UnicodeError) as exc:
        raise UsageError(f"{option} {text!r} is not a valid internationalised host name: {exc}") from None
    return encoded.decode("ascii")


def _check_a_labels(name: str, text: str, option: str) -> None:
    import idna

    try:
        idna.decode(name)
    except (idna.IDNAError, UnicodeError) as exc:
        raise UsageError(f"{option} {text!r} holds an invalid punycode label: {exc}") from None


def parse_port(text: str) -> int:
    """A TCP port 1-65535."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 65535:
        raise UsageError(f"--port {text!r} is not a TCP port (1-65535)")
    return int(value)


class Target(NamedTuple):
    """One network endpoint: where to connect, what to send in SNI, which name to verify.

    ``verify_name`` is the SNI name when ``--sni`` is given, else the host. ``sni`` is ``None`` for IP literals:
    RFC 6066 allows only host names in SNI.
    """

    host: HostName
    verify: HostName
    connect: HostName
    port: int
    family: int = socket.AF_UNSPEC
    protocol: str | None = None
    xmpp_domain: str | None = None
    alpn: tuple[str, ...] = ()

    @property
    def sni(self) -> str | None:
        return None if self.verify.ip is not None else self.verify.ascii

    @property
    def server_hostname(self) -> str:
        """What the ``ssl`` module gets: it sends it as SNI (unless an IP) and matches the certificate against it.

        Always ASCII: a ``str`` with non-ASCII characters would go through the IDNA 2003 codec.
        """
        return self.verify.ascii

    @property
    def endpoint(self) -> str:
        """``host:port`` as the operator reads it in the status line."""
        host = self.host.display
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @classmethod
    def build(
        cls,
        host: str,
        port: int,
        *,
        address: str | None = None,
        sni: str | None = None,
        family: int = socket.AF_UNSPEC,
        protocol: str | None = None,
        xmpp_domain: str | None = None,
        alpn: tuple[str, ...] = (),
    ) -> Target:
        """Validate the command-line pieces together (raises :class:`UsageError`)."""
        host_name = parse_host(host)
        verify = parse_host(sni, "--sni") if sni is not None else host_name
        connect = parse_host(address, "--address") if address is not None else host_name
        if connect.ip is not None and family != socket.AF_UNSPEC:
            wanted = 4 if family == socket.AF_INET else 6
            if connect.ip.version != wanted:
                raise UsageError(f"-{wanted} conflicts with the IPv{connect.ip.version} address {connect.display}")
        domain = None
        if protocol in ("xmpp", "xmpp-server"):
            domain_name = parse_host(xmpp_domain, "--xmpp-domain") if xmpp_domain is not None else verify
            if domain_name.ip is not None:
                raise UsageError(f"--starttls {protocol} needs an XMPP domain: give --xmpp-domain")
            domain = domain_name.ascii
        elif xmpp_domain is not None:
            raise UsageError("--xmpp-domain only applies to --starttls xmpp or xmpp-server")
        return cls(host=host_name, verify=verify, connect=connect, port=port, family=family, protocol=protocol,
                   xmpp_domain=domain, alpn=alpn)
