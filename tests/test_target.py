"""Host names, IP literals, IDNA and the Target that ties them together (no I/O)."""

from __future__ import annotations

import re
import socket

import pytest
from runner import run

from plugin.errors import UsageError
from plugin.target import Target, parse_host, parse_port


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation does no I/O. Should it ever regress, these tests must not reach the network either: glibc reads
    "1.2.3" as 1.2.0.3 and "01.02.03.004" as 1.2.3.4, and UTS-46 turns "www.exa\u200bmple.com" into a real name."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network I/O while validating a target")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


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
        ("1.2.3.4.", "1.2.3.4", True),
        ("1password.com", "1password.com", False),
        ("123.example", "123.example", False),
        ("a.0x1z", "a.0x1z", False),
        # UTS-46 mapping comes first, so the trailing-dot, IP-literal and ASCII checks see the mapped text.
        ("例え.テスト。", "xn--r8jz45g.xn--zckzah", False),
        ("Bücher.Example。", "xn--bcher-kva.example", False),
        ("ＢÜCHER．example", "xn--bcher-kva.example", False),
        ("ÜBER.example", "xn--ber-goa.example", False),
        ("ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ", "www.example.com", False),
        ("１２７．０．０．１", "127.0.0.1", True),
        ("［２００１：ｄｂ８：：１］", "2001:db8::1", True),
    ],
)
def test_parse_host(text: str, ascii_: str, is_ip: bool) -> None:
    host = parse_host(text)
    assert host.ascii == ascii_
    assert (host.ip is not None) is is_ip


def test_ipv6_zone_is_kept_for_connecting_only() -> None:
    host = parse_host("[fe80::1%lo]")
    assert host.ascii == "fe80::1"
    assert host.connect_text == "fe80::1%lo"
    assert parse_host("fe80::1%1").connect_text == "fe80::1%1"  # a numeric zone is an interface index


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fe80::1%nosuchif0", "--host 'fe80::1%nosuchif0': no network interface 'nosuchif0'"),
        ("[fe80::1%nosuchif0]", "--host '[fe80::1%nosuchif0]': no network interface 'nosuchif0'"),
        ("fe80::1%LO", "--host 'fe80::1%LO': no network interface 'LO'"),  # interface names are case-sensitive
        ("fe80::1%", "--host 'fe80::1%' has an empty zone id after '%'"),
        ("fe80::1%lo|x", "--host 'fe80::1%lo\\x7cx': no network interface 'lo\\x7cx'"),
    ],
)
def test_bad_zone_ids_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_host(text)
    assert caught.value.message == message


@pytest.mark.parametrize("text", ["999.1.1.1", "1.2.3", "01.02.03.004", "256.0.0.1", "123", "1.2.3.4.5", "0x7f000001",
                                  "127.1", "www.example.123", "１２７．１"])
def test_numeric_names_are_neither_addresses_nor_names(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_host(text, "--address")
    assert caught.value.message.endswith("' is not a valid IP address or host name")


@pytest.mark.parametrize("option", ["-H", "-I"])
@pytest.mark.parametrize("text", ["999.1.1.1", "1.2.3", "01.02.03.004"])
def test_numeric_names_end_as_usage_errors(capsys, option: str, text: str) -> None:
    result = run(capsys, *(["-H", "localhost"] if option == "-I" else []), option, text)
    name = "--host" if option == "-H" else "--address"
    assert result.code == 3
    assert result.status == f"TLS_EXPIRY UNKNOWN - {name} '{text}' is not a valid IP address or host name"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("www.exa\u200bmple.com", "U+200B"),  # zero width space: UTS-46 would drop it silently
        ("exa\u00admple.com", "U+00AD"),  # soft hyphen: likewise
        ("\ufeffexample.com", "U+FEFF"),  # byte order mark from a pasted file
        ("\u202eexample.com", "U+202E"),  # right-to-left override
        ("exa\ufe0fmple.com", "U+FE0F"),  # variation selector (a combining mark, which clean() keeps)
        ("bü\u2060cher.de", "U+2060"),  # word joiner in a Unicode name
        ("exa\u3164mple.com", "U+3164"),  # Hangul filler: a letter that shows nothing
    ],
)
def test_invisible_characters_are_refused(text: str, code: str) -> None:
    with pytest.raises(UsageError, match=re.escape(f"contains an invisible character {code}") + "$") as caught:
        parse_host(text)
    assert text not in caught.value.message  # echoed escaped, never raw
    point = int(code.removeprefix("U+"), 16)
    assert (f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}") in caught.value.message  # clean()'s escape


def test_control_characters_are_refused() -> None:
    with pytest.raises(UsageError) as caught:
        parse_host("host\nname")
    assert caught.value.message == "--host 'host\\x0aname' contains a control character U+000A"


def test_invisible_character_ends_as_a_usage_error_without_reaching_the_output(capsys) -> None:
    result = run(capsys, "-H", "www.exa\u200bmple.com")
    assert result.code == 3
    assert result.status.endswith("contains an invisible character U+200B")
    assert "\u200b" not in result.out and "u200b" in result.status


def test_a_legitimate_joiner_is_kept_but_not_shown() -> None:
    """ZWNJ after a virama is valid IDNA 2008 (CONTEXTJ); the name goes on the wire, the status shows the A-label."""
    target = Target.build("\u0915\u094d\u200c\u0937.example", 443)
    assert target.sni == target.endpoint.removesuffix(":443") == "xn--11b2ezcs70k.example"
    with pytest.raises(UsageError, match="joiner U\\+200C not allowed"):
        parse_host("a\u200cb.example")  # a joiner in the wrong context is refused by idna


def test_a_mapped_name_is_shown_mapped() -> None:
    assert Target.build("例え.テスト。", 443).endpoint == "例え.テスト:443"
    assert Target.build("ＢÜCHER.example", 443).endpoint == "bücher.example:443"


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
