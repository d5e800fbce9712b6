"""Host names, IP literals, IDNA and the Target that ties them together (no I/O)."""

from __future__ import annotations

import socket

import pytest

from plugin.errors import UsageError
from plugin.target import Target, parse_host, parse_port


@pytest.mark.parametrize(
    ("text", "ascii_", "is_ip"),
    [
        ("www.example.com", "www.example.com", False),
        ("WWW.Example.COM.", "www.example.com", False),
        ("bücher.example", "xn--bcher-kva.example", False),
        ("Bücher.Example", "xn--bcher-kva.example", False),
        ("straße.de", "xn--strae-oqa.de", False),  # UTS-46/IDNA 2008, not the stdlib's IDNA 2003 "strasse.de"
        ("xn--bcher-kva.example", "xn--bcher-kva.example", False),
        ("host_name.internal", "host_name.internal", False),
        ("localhost", "localhost", False),
        ("127.0.0.1", "127.0.0.1", True),
        ("::1", "::1", True),
        ("[::1]", "::1", True),
        ("[2001:DB8::1]", "2001:db8::1", True),
    ],
)
def test_parse_host(text: str, ascii_: str, is_ip: bool) -> None:
    host = parse_host(text)
    assert host.ascii == ascii_
    assert (host.ip is not None) is is_ip


def test_ipv6_zone_is_kept_for_connecting_only() -> None:
    host = parse_host("[fe80::1%eth0]")
    assert host.ascii == "fe80::1"
    assert host.connect_text == "fe80::1%eth0"


@pytest.mark.parametrize(
    "text", ["", ".", "a..b", "-lead.example", "x" * 64 + ".example", "a b.example", "☃.net", "xn--abc.example",
             "host|x", "host\nname", "1.2.3.4%eth0", ("a." * 127) + "com"]
)
def test_bad_hosts_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_host(text)


@pytest.mark.parametrize("text", ["0", "65536", "-1", "https", "", "44 3"])
def test_bad_ports(text: str) -> None:
    with pytest.raises(UsageError, match="--port"):
        parse_port(text)


def test_target_sni_and_verification() -> None:
    target = Target.build("bücher.example", 8443, address="127.0.0.1")
    assert target.sni == "xn--bcher-kva.example"
    assert target.server_hostname == "xn--bcher-kva.example"
    assert target.connect.ascii == "127.0.0.1"
    assert target.endpoint == "bücher.example:8443"


def test_ip_literal_sends_no_sni_and_sni_option_overrides() -> None:
    assert Target.build("127.0.0.1", 443).sni is None
    overridden = Target.build("127.0.0.1", 443, sni="www.example.com")
    assert overridden.sni == "www.example.com"
    assert overridden.server_hostname == "www.example.com"
    assert Target.build("::1", 443).endpoint == "[::1]:443"


def test_family_conflicts_with_literal_address() -> None:
    with pytest.raises(UsageError, match="-6 conflicts"):
        Target.build("127.0.0.1", 443, family=socket.AF_INET6)
    with pytest.raises(UsageError, match="-4 conflicts"):
        Target.build("localhost", 443, address="::1", family=socket.AF_INET)
