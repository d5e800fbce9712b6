"""Resolution and connection: several addresses, dead paths, and every OS error as a sentence (real loopback sockets).

A "black hole" here is a TCP listener on a loopback address with backlog 0 whose queue is already full: Linux
drops further SYNs, so a connect neither succeeds nor fails until the client gives up, exactly like a firewall
that swallows packets, and no packet leaves the machine. All of 127.0.0.0/8 is loopback on Linux, so 127.0.0.2
and 127.0.0.3 stand for further addresses of one name. Names resolve through a fake ``getaddrinfo`` that hands
out those loopback addresses; everything after resolution is real.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pki import CA
from runner import run
from servers import black_hole, has_ipv6_loopback

from plugin.acquire import connect
from plugin.budget import Budget
from plugin.errors import NetworkError
from plugin.target import Target

Lookup = Callable[..., list[tuple[Any, ...]]]


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection in this file stays on this machine, even if the code under test regresses."""
    for method in ("connect", "connect_ex"):
        real = getattr(socket.socket, method)

        def guarded(sock: socket.socket, address: Any, real: Any = real) -> Any:
            host = str(address[0]).partition("%")[0]
            if not ipaddress.ip_address(host).is_loopback:
                raise AssertionError(f"a connection off this machine: {address}")
            return real(sock, address)

        monkeypatch.setattr(socket.socket, method, guarded)


def fake_dns(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]],
             missing: dict[tuple[str, int], int] | None = None) -> None:
    """Resolve ``names`` to the given IP addresses (every other name as before).

    ``missing`` maps (name, family) to the gaierror code glibc gives for a family the name lacks.
    """
    real: Lookup = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, family: int = 0, *args: Any) -> list[tuple[Any, ...]]:
        if host not in names:
            return real(host, port, family, *args)
        if missing and (host, family) in missing:
            raise socket.gaierror(missing[host, family], "Name or service not known")
        infos = []
        for ip in names[host]:
            ip_family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            if family in (socket.AF_UNSPEC, ip_family):
                sockaddr = (ip, port, 0, 0) if ip_family == socket.AF_INET6 else (ip, port)
                infos.append((ip_family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        if not infos:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return infos

    monkeypatch.setattr(connect.socket, "getaddrinfo", getaddrinfo)


def refusing_port(host: str, port: int) -> int:
    """``port`` itself when nothing listens on ``host:port`` (so one name's addresses share the port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        assert probe.connect_ex((host, port)) == errno.ECONNREFUSED
    return port


# -- several addresses -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dead", ["::1", "127.0.0.2"])
def test_a_dead_address_costs_250_ms_not_the_budget(tls_server, intermediate_ca: CA, root_pem: Path, capsys,
                                                    monkeypatch, dead: str) -> None:
    """A dual-stack name whose IPv6 path swallows packets: the check is OK through IPv4, without waiting for -t."""
    if ":" in dead and not has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    port = tls_server(intermediate_ca.leaf(("dual.example",)), [intermediate_ca.issued])
    with black_hole(dead, port):
        fake_dns(monkeypatch, {"dual.example": [dead, "127.0.0.1"]})
        started = time.monotonic()
        result = run(capsys, "-H", "dual.example", "-p", port, "--cafile", root_pem, "-t", "5", "-vv")
        elapsed = time.monotonic() - started
    assert result.code == 0, result.out
    assert elapsed < 2, elapsed  # one attempt delay and a handshake; the old loop waited out all of -t
    peer = f"[{dead}]:{port}" if ":" in dead else f"{dead}:{port}"
    connected = rf"connect to 127\.0\.0\.1:{port}: connected in \d+\.\d ms"
    abandoned = rf"connect to {re.escape(peer)}: abandoned after 2\d\d\.\d ms, 127\.0\.0\.1:{port} connected first"
    for line in (connected, abandoned):
        assert any(re.fullmatch(line, printed) for printed in result.lines), result.out


def test_two_black_holes_are_bounded_by_the_timeout_and_both_named(capsys, monkeypatch) -> None:
    with black_hole("127.0.0.2") as port, black_hole("127.0.0.3", port):
        fake_dns(monkeypatch, {"holes.example": ["127.0.0.2", "127.0.0.3"]})
        started = time.monotonic()
        result = run(capsys, "-H", "holes.example", "-p", port, "-t", "2")
        elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed
    assert result.code == 2
    # The first waited for all that was left of -t after start-up, the second 250 ms less.
    assert re.fullmatch(rf"TLS_EXPIRY CRITICAL - holes\.example:{port}: cannot connect: "
                        rf"127\.0\.0\.2:{port} did not answer within (?:1\.9|2)s, 127\.0\.0\.3:{port} did not answer "
                        r"within 1\.[67]s \(the 2s timeout ran out\)", result.status), result.status


def test_the_error_names_each_address_and_how_it_failed(capsys, monkeypatch) -> None:
    """The first address does not answer, the second refuses: the old loop gave the first all of -t and then
    blamed the second ("timed out during connect to <second>"), which it never tried."""
    with black_hole("127.0.0.2") as port:
        refusing_port("127.0.0.3", port)
        fake_dns(monkeypatch, {"mixed.example": ["127.0.0.2", "127.0.0.3"]})
        result = run(capsys, "-H", "mixed.example", "-p", port, "-t", "1.5", "-vv")
    assert result.code == 2
    assert re.fullmatch(rf"TLS_EXPIRY CRITICAL - mixed\.example:{port}: cannot connect: 127\.0\.0\.2:{port} did not "
                        rf"answer within 1\.[45]s, 127\.0\.0\.3:{port} refused the connection "
                        r"\(the 1\.5s timeout ran out\)", result.status), result.status
    assert f"connect to 127.0.0.3:{port}: refused" in result.lines
    no_answer = rf"connect to 127\.0\.0\.2:{port}: no answer within 1\.[45]s"
    assert any(re.fullmatch(no_answer, line) for line in result.lines), result.out


def test_a_refusing_address_hands_over_at_once(tls_server, intermediate_ca: CA, root_pem: Path, capsys,
                                               monkeypatch) -> None:
    port = tls_server(intermediate_ca.leaf(("two.example",)), [intermediate_ca.issued])
    refusing_port("127.0.0.3", port)
    fake_dns(monkeypatch, {"two.example": ["127.0.0.3", "127.0.0.1"]})
    result = run(capsys, "-H", "two.example", "-p", port, "--cafile", root_pem, "-vv")
    assert result.code == 0, result.out
    assert f"connect to 127.0.0.3:{port}: refused" in result.lines
    assert any(line.startswith(f"connect to 127.0.0.1:{port}: connected in ") for line in result.lines)


def test_connect_unit_details_and_attempt_order() -> None:
    """Per-address outcomes travel with the error as details, in the order the addresses were tried."""
    with black_hole("127.0.0.2") as port:
        refused = refusing_port("127.0.0.3", port)
        addresses = [(socket.AF_INET, ("127.0.0.2", port)), (socket.AF_INET, ("127.0.0.3", refused))]
        started = time.monotonic()
        with pytest.raises(NetworkError) as caught, connect.connect(Target.build("x.example", port), addresses,
                                                                     Budget(1), attempt_delay=0.1):
            pass
        assert time.monotonic() - started < 1.4
    assert caught.value.details[0] == f"connect to 127.0.0.2:{port}: no answer within 1s"
    assert caught.value.details[1] == f"connect to 127.0.0.3:{port}: refused"


def test_addresses_not_reached_before_the_timeout_are_named_as_not_tried() -> None:
    with black_hole("127.0.0.2") as port:
        addresses = [(socket.AF_INET, (f"127.0.0.{n}", port)) for n in (2, 2, 2)]
        with pytest.raises(NetworkError, match=rf"not tried: 127\.0\.0\.2:{port} \(the 0\.3s timeout ran out\)$"), \
                connect.connect(Target.build("x.example", port), addresses, Budget(0.3), attempt_delay=0.2):
            pass


def test_one_black_hole_keeps_the_plain_phase_timeout(capsys) -> None:
    with black_hole("127.0.0.2") as port:
        started = time.monotonic()
        result = run(capsys, "-H", "127.0.0.2", "-p", port, "-t", "1")
        elapsed = time.monotonic() - started
    assert result.code == 2 and elapsed < 1.5
    assert result.status.endswith(f"timed out during connect to 127.0.0.2:{port} (the 1s timeout ran out)")


def test_families_are_interleaved() -> None:
    v6 = [(socket.AF_INET6, (f"2001:db8::{n}", 443, 0, 0)) for n in (1, 2, 3)]
    v4 = [(socket.AF_INET, (f"192.0.2.{n}", 443)) for n in (1, 2)]
    order = connect._interleave([*v6, *v4])
    assert order == [v6[0], v4[0], v6[1], v4[1], v6[2]]
    assert connect._interleave([*v4, *v6]) == [v4[0], v6[0], v4[1], v6[1], v6[2]]


# -- OS errors become sentences ----------------------------------------------------------------------------------

class _NoIPv6Socket(socket.socket):
    """``socket()`` as on a kernel built without IPv6."""

    def __init__(self, family: int = -1, *args: Any, **kwargs: Any) -> None:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, os.strerror(errno.EAFNOSUPPORT))
        super().__init__(family, *args, **kwargs)


def test_no_ipv6_in_the_kernel_is_a_sentence_not_an_internal_error(capsys, monkeypatch) -> None:
    monkeypatch.setattr(connect.socket, "socket", _NoIPv6Socket)
    result = run(capsys, "-H", "::1", "-p", "443")
    assert result.code == 2
    assert result.status == ("TLS_EXPIRY CRITICAL - [::1]:443: cannot connect: [::1]:443: cannot create an IPv6 "
                             "socket: address family not supported (this host has no IPv6)")


def test_no_ipv6_in_the_kernel_falls_through_to_ipv4(tls_server, intermediate_ca: CA, root_pem: Path, capsys,
                                                     monkeypatch) -> None:
    port = tls_server(intermediate_ca.leaf(("dual.example",)), [intermediate_ca.issued])
    fake_dns(monkeypatch, {"dual.example": ["::1", "127.0.0.1"]})
    monkeypatch.setattr(connect.socket, "socket", _NoIPv6Socket)
    started = time.monotonic()
    result = run(capsys, "-H", "dual.example", "-p", port, "--cafile", root_pem, "-vv")
    assert result.code == 0, result.out
    assert time.monotonic() - started < 1  # a failed attempt hands over at once, no attempt delay
    assert f"connect to [::1]:{port}: cannot create an IPv6 socket: address family not supported (this host has no " \
           "IPv6)" in result.lines


def test_a_bad_zone_id_is_a_usage_error_before_any_io(capsys, monkeypatch) -> None:
    def no_io(*args: object) -> None:
        raise AssertionError("no I/O for an invalid target")

    monkeypatch.setattr(connect.socket, "getaddrinfo", no_io)
    for option in ("-H", "-I"):
        result = run(capsys, *(["-H", "localhost"] if option == "-I" else []), option, "fe80::1%nosuchif0")
        assert result.code == 3
        name = "--host" if option == "-H" else "--address"
        assert result.status == f"TLS_EXPIRY UNKNOWN - {name} 'fe80::1%nosuchif0': no network interface 'nosuchif0'"


def test_getaddrinfo_failing_on_a_literal_is_a_sentence(monkeypatch) -> None:
    """The interface of a %zone may vanish between validation and connect; getaddrinfo then fails on a literal."""
    target = Target.build("fe80::1%lo", 443)

    def vanished(*args: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(connect.socket, "getaddrinfo", vanished)
    with pytest.raises(NetworkError, match=r"^cannot use the address fe80::1%lo: name or service not known$"):
        connect.resolve(target, Budget(1))


def test_a_bug_in_the_resolver_thread_is_not_reported_as_a_timeout(monkeypatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(connect.socket, "getaddrinfo", broken)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="boom"):
        connect.resolve(Target.build("name.example", 443), Budget(3))
    assert time.monotonic() - started < 1


def test_name_resolution_that_hangs_is_bounded_with_a_family_too(monkeypatch) -> None:
    monkeypatch.setattr(connect.socket, "getaddrinfo", lambda *args: time.sleep(10))
    started = time.monotonic()
    with pytest.raises(NetworkError, match=r"timed out during name resolution \(the 0.5s timeout ran out\)"):
        connect.resolve(Target.build("hangs.example", 443, family=socket.AF_INET6), Budget(0.5))
    assert time.monotonic() - started < 0.8


# -- -4/-6 on a name without that family -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("flag", "addresses", "family", "sentence"),
    [
        ("-6", ["127.0.0.1"], socket.AF_INET6, "v4only.example has no IPv6 address (only IPv4: 127.0.0.1)"),
        ("-4", ["::1"], socket.AF_INET, "v4only.example has no IPv4 address (only IPv6: ::1)"),
    ],
)
def test_family_flag_on_a_name_without_that_family(capsys, monkeypatch, flag: str, addresses: list[str],
                                                   family: int, sentence: str) -> None:
    # glibc answers EAI_NONAME, as for a name that does not exist (observed for "localhost" -6 on these hosts).
    fake_dns(monkeypatch, {"v4only.example": addresses}, missing={("v4only.example", family): socket.EAI_NONAME})
    result = run(capsys, "-H", "v4only.example", flag, "-p", "443")
    assert result.code == 2
    assert result.status == f"TLS_EXPIRY CRITICAL - v4only.example:443: {sentence}"


def test_family_flag_on_a_name_that_does_not_exist_still_says_cannot_resolve(capsys, monkeypatch) -> None:
    fake_dns(monkeypatch, {"gone.example": []})
    result = run(capsys, "-H", "gone.example", "-6", "-p", "443")
    assert result.status == "TLS_EXPIRY CRITICAL - gone.example:443: cannot resolve gone.example: name or service " \
                            "not known"


