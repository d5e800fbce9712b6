"""The validated description of what to connect to and which name to verify.

All normalisation happens here, once, before any I/O, in this order:

1. Characters nobody can see or type on purpose (controls, format characters such as U+200B ZERO WIDTH SPACE,
   bidi overrides, variation selectors, other default-ignorable code points) are refused with a usage error.
   UTS-46 would silently drop some of them (U+200B, U+00AD SOFT HYPHEN), but then the check would test a name
   other than the one in the monitoring configuration, and the operator could not see why; a pasted invisible
   character is a configuration error worth one clear sentence. ZWNJ/ZWJ (U+200C/U+200D) are the exception:
   IDNA 2008 allows them in some scripts (CONTEXTJ) and ``idna`` checks the context.
2. Non-ASCII input is UTS-46-mapped (``idna.uts46_remap``): full-width letters, digits, dots and brackets become
   ASCII, ideographic full stops become dots, upper case becomes lower case. Every later check sees the mapped text,
   so ``１２７．０．０．１`` is the IP literal 127.0.0.1 and ``例え.テスト。`` ends in a dot like ``example.com.``.
3. Brackets and a zone id are taken off IPv6 literals (the zone must name an existing interface, or be a number),
   and one trailing dot is dropped.
4. IP literals are recognised; a name whose last label is numeric (``999.1.1.1``, ``1.2.3``, ``0x7f000001``) is
   refused: no DNS name ends in a numeric label (RFC 3696 §2), and glibc's ``getaddrinfo`` would read some of these
   as IPv4 in inet_aton's legacy forms instead of looking them up (the WHATWG URL standard draws the same line).
5. ASCII names are lower-cased and checked label by label; Unicode names are encoded to their IDNA 2008 A-label
   (``idna``, imported only for non-ASCII input). The stdlib ``idna`` codec is deliberately not used: it implements
   IDNA 2003 and would send ``straße.de`` as ``strasse.de``, another host.

Every piece of operator input echoed in a message goes through :func:`plugin.sanitize.clean`.
"""

from __future__ import annotations

import re
import socket
from typing import TYPE_CHECKING, NamedTuple

from .errors import UsageError
from .sanitize import clean

__all__ = ["HostName", "Proxy", "Target", "parse_host", "parse_port", "split_addresses"]

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
# A last label that is a number (decimal, or inet_aton's 0x hex): the WHATWG URL standard's "ends in a number".
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$", re.IGNORECASE)
# idna's messages repeat the offending label as a Python repr (with backslash escapes); the message already
# quotes what the operator typed, so that echo is dropped.
_IDNA_ECHO = re.compile(r" (?:in|of) (['\"]).*?\1")
# The joiners IDNA 2008 allows in context (CONTEXTJ, RFC 5892 appendix A.1/A.2); ``idna`` enforces the context.
_JOINERS = frozenset("\u200c\u200d")
# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt) outside the Cf category: invisible, and either
# dropped by UTS-46 (variation selectors, CGJ, Mongolian FVS) or disallowed (Hangul fillers).
_IGNORABLE = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164), (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)
if TYPE_CHECKING:
    import ipaddress

    IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class HostName(NamedTuple):
    """A host given on the command line.

    ``ascii`` is what goes on the wire (A-label, or the IP address text), ``display`` is what the operator typed,
    tidied (UTS-46-mapped, lower case, no trailing dot; the A-label when the name holds an invisible joiner), and
    never contains an invisible character. ``ip`` is set for IP literals, which get no SNI and are matched against
    IP SANs.
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
    if not value:
        raise UsageError(f"{option} must not be empty")
    _refuse_unseen(value, text, option)
    # The zone id is an interface name: case-sensitive, and never mapped (UTS-46 would lower-case "ETH0").
    head, percent, zone = value.partition("%")
    if not head.isascii():
        head = _remap(head, text, option)
    if percent:
        if head.startswith("[") and zone.endswith("]"):
            head, zone = head[1:], zone[:-1]
        return _zoned(head, zone, text, option)
    if head.startswith("[") and head.endswith("]"):
        head = head[1:-1]
    name = head.removesuffix(".")
    ip = _ip(name)
    if ip is not None:
        return HostName(display=str(ip), ascii=str(ip), ip=ip)
    if not name:
        raise UsageError(f"{option} must not be empty")
    if _NUMERIC_LABEL.match(name.rsplit(".", 1)[-1]):
        raise UsageError(f"{option} {_quote(text)} is not a valid IP address or host name")
    if name.isascii():
        name = name.lower()
        labels = name.split(".")
        if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
            raise UsageError(f"{option} {_quote(text)} is not a valid host name")
        if any(label.startswith("xn--") for label in labels):
            _check_a_labels(name, text, option)
        return HostName(display=name, ascii=name)
    encoded = _to_a_label(name, text, option)
    # A joiner is legitimate in its script but invisible in a status line: show such a name by its A-label.
    return HostName(display=encoded if _JOINERS & set(name) else name, ascii=encoded)


def _quote(text: str, limit: int = 120) -> str:
    """Operator input for a message, in quotes, with :func:`clean`'s escapes.

    ``clean`` leaves combining marks and letters alone, but some default-ignorable ones (variation selectors,
    Hangul fillers) are as invisible as a zero-width space, so they get the same ``\\uXXXX`` escape here.
    """
    out: list[str] = []
    length = 0
    for char in text:
        piece = _escape(char) if _ignorable(char) else clean(char)
        if length + len(piece) > limit:
            out.append("...")  # cut between escapes, never inside one
            break
        out.append(piece)
        length += len(piece)
    return "'" + "".join(out) + "'"


def _ignorable(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in _IGNORABLE)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _ip(text: str) -> IPAddress | None:
    if ":" not in text and not (text and text.strip("0123456789.") == ""):
        return None  # neither IPv6 (a colon) nor dotted IPv4: a healthy check by name never imports ipaddress
    import ipaddress

    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _refuse_unseen(value: str, text: str, option: str) -> None:
    """Refuse control and invisible characters (see the module docstring for why, rather than dropping them)."""
    for char in value:
        if char.isascii():
            if not char.isprintable():
                raise UsageError(f"{option} {_quote(text)} contains a control character U+{ord(char):04X}")
            continue
        import unicodedata  # only for non-ASCII input

        category = unicodedata.category(char)
        code = ord(char)
        if category == "Cc":
            what = "a control character"
        elif char in _JOINERS:
            continue
        elif category in ("Cf", "Zl", "Zp") or _ignorable(char):
            what = "an invisible character"
        elif category in ("Co", "Cs", "Cn"):
            what = "a private-use or unassigned character"
        else:
            continue
        raise UsageError(f"{option} {_quote(text)} contains {what} U+{code:04X}")


def _zoned(address: str, zone: str, text: str, option: str) -> HostName:
    """An IPv6 literal with a zone id (``fe80::1%eth0``); the zone must name an interface of this host."""
    ip = _ip(address)
    if ip is None:
        raise UsageError(f"{option} {_quote(text)} is not a valid host name")
    if ip.version != 6:
        raise UsageError(f"{option} {_quote(text)} is not a valid address: only IPv6 addresses take a %zone")
    if not zone:
        raise UsageError(f"{option} {_quote(text)} has an empty zone id after '%'")
    # A numeric zone is an interface index, which getaddrinfo takes as it is.
    if not (zone.isascii() and zone.isdigit()):
        try:
            socket.if_nametoindex(zone)
        except (OSError, ValueError):
            raise UsageError(f"{option} {_quote(text)}: no network interface {_quote(zone)}") from None
    return HostName(display=str(ip), ascii=str(ip), ip=ip, zone=zone)


def _idna_reason(exc: Exception) -> str:
    message = _IDNA_ECHO.sub("", str(exc)) or type(exc).__name__
    return clean(message[:1].lower() + message[1:], 120)


def _remap(value: str, text: str, option: str) -> str:
    """UTS-46 mapping, before any other check. ``std3_rules`` off: brackets, colons and digits of an IP literal
    must survive, and ASCII names get their own stricter check afterwards."""
    import idna  # only Unicode names pay for it

    try:
        mapped: str = idna.uts46_remap(value, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError) as exc:
        reason = _idna_reason(exc)
        raise UsageError(f"{option} {_quote(text)} is not a valid internationalised host name: {reason}") from None
    return mapped


def _to_a_label(value: str, text: str, option: str) -> str:
    import idna

    try:
        encoded: bytes = idna.encode(value, uts46=True)
    except (idna.IDNAError, UnicodeError) as exc:
        reason = _idna_reason(exc)
        raise UsageError(f"{option} {_quote(text)} is not a valid internationalised host name: {reason}") from None
    return encoded.decode("ascii")


def _check_a_labels(name: str, text: str, option: str) -> None:
    import idna

    try:
        idna.decode(name)
    except (idna.IDNAError, UnicodeError) as exc:
        raise UsageError(f"{option} {_quote(text)} holds an invalid punycode label: {_idna_reason(exc)}") from None


def split_addresses(text: str) -> list[str]:
    """``-I A,B,...``: the items of a comma list, each validated later as a host (IPv6 needs no brackets: it has
    no commas). An empty item is a usage error, not a silent skip: ``-I 192.0.2.1,`` is a typo."""
    items = [item.strip() for item in text.split(",")]
    if len(items) > 1 and not all(items):
        raise UsageError(f"--address {_quote(text)} has an empty item in its comma list")
    return items


def parse_port(text: str) -> int:
    """A TCP port 1-65535."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 65535:
        raise UsageError(f"--port {_quote(text)} is not a TCP port (1-65535)")
    return int(value)


class Proxy(NamedTuple):
    """An HTTP proxy to reach the endpoint through (``--proxy http://[user:pass@]host:port``): HTTP CONNECT for
    the TLS connection (STARTTLS included), absolute-form requests for the ``http://`` fetches.

    Security caveat: Basic authentication sends the password in the clear to the proxy, as every client of an
    ``http://`` proxy does; keep it out of process lists with ``--proxy-auth-file``. The password is never
    part of :attr:`display` nor of the repr.
    """

    host: HostName
    port: int
    user: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str, credentials: str | None = None) -> Proxy:
        """Validate ``--proxy`` (raises :class:`UsageError`); ``credentials``: the ``user:password`` line of
        ``--proxy-auth-file``, which replaces any in the URL."""
        from urllib.parse import unquote, urlsplit

        shown = _without_password(url)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UsageError(f"--proxy {shown!r} is not an http://host:port URL") from None
        if parts.scheme.lower() != "http":
            raise UsageError(f"--proxy {shown!r}: only http:// proxies are supported (HTTP CONNECT)")
        if not parts.hostname or port is None or port == 0:
            raise UsageError(f"--proxy {shown!r} needs a host and a port: http://host:port")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise UsageError(f"--proxy {shown!r} is not an http://host:port URL (no path)")
        user = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        if credentials is not None:
            user, colon, password = credentials.partition(":")
            if not colon or not user:
                raise UsageError("--proxy-auth-file must hold one user:password line")
        for value in (user, password):
            if value is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
                raise UsageError("the proxy credentials hold a control character")
        host = parse_host(parts.hostname, "--proxy")
        return cls(host, port, user, password)

    @property
    def display(self) -> str:
        """``host:port`` (user name included, never the password) for sentences."""
        host = f"[{self.host.display}]" if ":" in self.host.display else self.host.display
        return f"{clean(self.user, 40) + '@' if self.user else ''}{host}:{self.port}"

    def authorization(self) -> str | None:
        """The Proxy-Authorization header's value (Basic, RFC 7617), or None without credentials."""
        if self.user is None:
            return None
        import base64

        token = f"{self.user}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(token).decode("ascii")

    def __repr__(self) -> str:
        return f"Proxy({self.display!r})"


def _without_password(url: str) -> str:
    """The URL as it may be echoed: the userinfo's password replaced."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        userinfo, _, host = rest.partition("@")
        user = userinfo.split(":", 1)[0]
        return clean(f"{scheme}://{user}:***@{host}" if ":" in userinfo else url, 120)
    return clean(url, 120)


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
    proxy: Proxy | None = None  # --proxy: reached through it (HTTP CONNECT), not resolved here

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
        proxy: Proxy | None = None,
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
                   xmpp_domain=domain, alpn=alpn, proxy=proxy)
