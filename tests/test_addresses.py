"""Several addresses of one endpoint (-I A,B,..., --all-addresses, with --all-key-types): real servers only.

Every peer is real and on this machine: ``openssl s_server`` processes on 127.0.0.1, 127.0.0.2, ... and ::1,
all on one port like the addresses of one name; "refused" is an address where nothing listens on that port; a
black hole is a listener whose backlog is full (connects hang); a silent server accepts and never speaks TLS.
The name behind ``--all-addresses`` is a unique ``multi-<random>.tls-expiry.test`` that a module fixture adds to
/etc/hosts (three lines: 127.0.0.1, 127.0.0.2 and ::1) and takes out again, so glibc's own resolver answers.

Nothing here may resolve or reach anything off this machine: the autouse guard refuses a connect to a
non-loopback address, and lets through to getaddrinfo only IP literals and names that /etc/hosts answers for
the family asked (a name that /etc/hosts lacks, or lacks for that family, would fall through to DNS: glibc
then queries the nameserver of /etc/resolv.conf). Names under ``.invalid`` (RFC 6761: never resolve) are
answered "Name or service not known" by the guard itself, without asking anyone.
"""

from __future__ import annotations

import contextlib
import errno
import io
import ipaddress
import json
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ci import unavailable
from pki import CA, Issued, not_after, write_pem
from runner import Outcome, assert_contract, run
from servers import black_hole, has_ipv6_loopback, openssl_server, silent_server

from check_tls_expiry import main

D = timedelta(days=1)
#: The name --all-addresses resolves, through /etc/hosts (see the ``multi_name`` fixture).
NAME = f"multi-{secrets.token_hex(4)}.tls-expiry.test"
#: Where /etc/hosts sends NAME.
NAME_ADDRESSES = ("127.0.0.1", "127.0.0.2", "::1")
HOSTS = Path("/etc/hosts")
#: The acceptance criterion of -t: every combination of addresses and key types ends within -t + 0.5 s.
GRACE = 0.5

_REAL_GETADDRINFO = socket.getaddrinfo
# Names the guard lets glibc look up, with the families /etc/hosts answers for ("localhost" is only sure to be
# there for IPv4); NAME joins while the fixture has it in /etc/hosts.
_LOOKUPS: dict[str, set[int]] = {"localhost": {socket.AF_UNSPEC, socket.AF_INET}}


# -- the guard -----------------------------------------------------------------------------------------------------

def _loopback(host: object) -> bool:
    try:
        return ipaddress.ip_address(str(host).partition("%")[0]).is_loopback
    except ValueError:
        return False


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def loopback_guard() -> Iterator[None]:
    """While active, a connect off this machine or a lookup that could leave it is an AssertionError."""
    with pytest.MonkeyPatch.context() as patch:
        for method in ("connect", "connect_ex"):
            real = getattr(socket.socket, method)

            def guarded(sock: socket.socket, address: Any, real: Any = real) -> Any:
                if not _loopback(address[0]):
                    raise AssertionError(f"a connection off this machine: {address}")
                return real(sock, address)

            patch.setattr(socket.socket, method, guarded)

        def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                        flags: int = 0) -> list[tuple[Any, ...]]:
            text = host.decode() if isinstance(host, bytes) else str(host)
            if text.rstrip(".").endswith(".invalid"):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            if not _literal(text):
                if family not in _LOOKUPS.get(text.rstrip(".").lower(), set()):
                    raise AssertionError(f"a lookup that /etc/hosts does not answer (it would ask DNS): {text!r} "
                                         f"family {family}")
            elif not _loopback(text):
                raise AssertionError(f"an address off this machine: {text!r}")
            infos = _REAL_GETADDRINFO(host, port, family, type, proto, flags)
            for info in infos:
                if not _loopback(info[4][0]):
                    raise AssertionError(f"{text!r} resolved off this machine: {info[4]}")
            return infos

        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    """Every connection and lookup in this file stays on this machine, even if the code under test regresses."""
    with loopback_guard():
        yield


# -- peers ---------------------------------------------------------------------------------------------------------

def label(host: str, port: int) -> str:
    """How the plugin names an address: ``127.0.0.2:443``, ``[::1]:443``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def refuses(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == errno.ECONNREFUSED


@dataclass(frozen=True)
class Pool:
    """Servers on several loopback addresses sharing one port: ``leaves[host]`` is what ``host`` serves."""

    port: int
    leaves: dict[str, Issued]

    def at(self, host: str) -> str:
        return label(host, self.port)


def start_pool(stack: ExitStack, workdir: Path, leaves: dict[str, Issued], chain: list[Issued],
               extra: Callable[[ExitStack, int], None] | None = None, free: tuple[str, ...] = ()) -> Pool:
    """Start one s_server per address of ``leaves`` on one port (the first picks it), then ``extra(stack, port)``.

    ``free``: addresses that must refuse on that port. A port the kernel gave 127.0.0.1 may be taken on another
    address by some other process: then the whole pool starts again on a new port.
    """
    if any(":" in host for host in leaves) and not has_ipv6_loopback():
        unavailable("this machine has no IPv6 loopback (::1)")
    hosts = list(leaves)
    for _ in range(5):
        attempt = ExitStack()
        try:
            port = attempt.enter_context(openssl_server(workdir, leaves[hosts[0]], chain, host=hosts[0]))
            for host in hosts[1:]:
                attempt.enter_context(openssl_server(workdir, leaves[host], chain, host=host, port=port))
            if not all(refuses(host, port) for host in free):
                raise RuntimeError(f"something listens on port {port} of {free}")
            if extra is not None:
                extra(attempt, port)
        except (RuntimeError, OSError):
            attempt.close()
            continue
        stack.enter_context(attempt)
        return Pool(port, leaves)
    raise RuntimeError(f"could not start servers on {hosts} on one port")


@pytest.fixture(scope="module")
def chain(intermediate_ca: CA) -> list[Issued]:
    return [intermediate_ca.issued]


@pytest.fixture(scope="module")
def certs(intermediate_ca: CA) -> dict[str, Issued]:
    """Leaves of 90-day lifetimes, valid for localhost and NAME: three healthy ones (60 days left, different
    serials) and one that warns with the default -w 30d,25% -c 14d,10% (15 days left: below 22.5, above 9)."""
    names = ("localhost", NAME)
    healthy = {f"healthy{n}": intermediate_ca.leaf(names, not_after=60 * D, not_before=-30 * D) for n in (1, 2, 3)}
    return {**healthy, "warning": intermediate_ca.leaf(names, not_after=15 * D, not_before=-75 * D),
            "stale": intermediate_ca.leaf(names, not_after=15 * D, not_before=-75 * D)}


@pytest.fixture(scope="module")
def pool(openssl_bin: str, certs: dict[str, Issued], chain: list[Issued],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    """One port: 127.0.0.1, ::1 and 127.0.0.4 healthy (three different leaves), 127.0.0.2 WARNING, 127.0.0.5 and
    127.0.0.6 the same WARNING leaf ("stale"); nothing on 127.0.0.3 (refused), 127.0.0.7 and 127.0.0.8 (free for
    a black hole or a silent server)."""
    leaves = {"127.0.0.1": certs["healthy1"], "127.0.0.2": certs["warning"], "::1": certs["healthy2"],
              "127.0.0.4": certs["healthy3"], "127.0.0.5": certs["stale"], "127.0.0.6": certs["stale"]}
    with ExitStack() as stack:
        yield start_pool(stack, tmp_path_factory.mktemp("pool"), leaves, chain,
                         free=("127.0.0.3", "127.0.0.7", "127.0.0.8"))


@pytest.fixture(scope="module")
def multi_name() -> Iterator[str]:
    """NAME in /etc/hosts on 127.0.0.1, 127.0.0.2 and ::1 for this module; the file is restored byte for byte.

    glibc's files backend returns every line of a name to getaddrinfo (checked here); with AF_INET it also maps
    the ::1 line to 127.0.0.1, so ``-4`` sees 127.0.0.1 twice (the plugin drops duplicates).
    """
    block = "# check_tls_expiry tests/test_addresses.py (removed after the test run)\n" + "".join(
        f"{address} {NAME}\n" for address in NAME_ADDRESSES)
    try:
        original = HOSTS.read_bytes()
        added = (b"" if not original or original.endswith(b"\n") else b"\n") + block.encode()
        with HOSTS.open("ab") as hosts:
            hosts.write(added)
    except OSError as exc:
        unavailable(f"{HOSTS} is not writable ({exc}): --all-addresses needs a name with several addresses")
    _LOOKUPS[NAME] = {socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6}
    try:
        found = [info[4][0] for info in _REAL_GETADDRINFO(NAME, 443, socket.AF_UNSPEC, socket.SOCK_STREAM)]
        if sorted(set(found)) != sorted(NAME_ADDRESSES):
            unavailable(f"glibc resolves {NAME} (three lines in /etc/hosts) to {found}, not {NAME_ADDRESSES}")
        yield NAME
    finally:
        _LOOKUPS.pop(NAME, None)
        current = HOSTS.read_bytes()
        if current == original + added:
            HOSTS.write_bytes(original)  # in place: same inode, mode and owner (it may be a bind mount)
        elif added in current:  # someone else changed the file meanwhile: take out only our lines
            HOSTS.write_bytes(current.replace(added, b"", 1))


# -- helpers -------------------------------------------------------------------------------------------------------

def perf_value(result: Outcome, name: str) -> float:
    return result.perf[name][0]


def verbose_line(result: Outcome, address: str, state: str, leaf: Issued | None = None,
                 days: float | None = None) -> str:
    """The -v line of one address; asserts it is there."""
    lines = [line for line in result.lines if line.startswith(f"{address}: ")]
    assert len(lines) == 1, (address, result.out)
    line = lines[0]
    if leaf is None:
        assert line.startswith(f"{address}: {state}, "), line
        return line
    match = re.fullmatch(rf"{re.escape(address)}: {state}, leaf 'localhost', serial "
                         rf"{leaf.cert.serial_number:x}, (?P<days>\d+(?:\.\d{{1,2}})?) days left", line)
    assert match, line
    if days is not None:
        assert float(match.group("days")) == pytest.approx(days, abs=0.02), line
    return line


def expiry(leaf: Issued, days: float = 15.0) -> str:
    return f"leaf 'localhost' expires in {days:.1f} days ({not_after(leaf.cert):%Y-%m-%d %H:%M} UTC)"


def run_captured(*argv: object) -> tuple[Outcome, float]:
    """main() outside a test function (module fixtures have no capsys), timed, guarded like a test."""
    out = io.StringIO()
    with loopback_guard(), contextlib.redirect_stdout(out):
        started = time.monotonic()
        code = main([str(arg) for arg in argv])
        elapsed = time.monotonic() - started
    return assert_contract(code, out.getvalue()), elapsed


# -- 1. several live addresses ---------------------------------------------------------------------------------

@pytest.mark.parametrize("addresses", [("-I", "127.0.0.1,127.0.0.2,::1"),
                                       ("-I", "127.0.0.1", "-I", "[::1]", "-I", "127.0.0.2")],
                         ids=["comma-list", "repeated"])
def test_one_warning_address_among_three(pool: Pool, certs: dict[str, Issued], root_pem: Path, capsys,
                                         addresses: tuple[str, ...]) -> None:
    base = ("-H", "localhost", "-p", pool.port, "--cafile", root_pem, *addresses)
    result = run(capsys, *base)
    assert result.code == 1, result.out
    assert result.status == (f"TLS_EXPIRY WARNING - localhost:{pool.port}: on {pool.at('127.0.0.2')}, "
                             f"{expiry(certs['warning'])} (2 other addresses fine)")
    assert "127.0.0.1:" not in result.status and "[::1]" not in result.status
    assert perf_value(result, "addresses") == 3 and perf_value(result, "addresses_failing") == 1
    assert result.perf["addresses"][1:] == (None, None)
    # days: the minimum over the addresses; the per-certificate labels: the worst address's chain.
    assert result.perf["days"] == (pytest.approx(15, abs=0.02), 22.5, 9)
    assert result.perf["days_leaf"] == (pytest.approx(15, abs=0.02), 22.5, 9)
    assert {"days_int1", "days_root"} <= set(result.perf)

    verbose = run(capsys, *base, "-v")
    assert verbose.code == 1 and verbose.status == result.status
    verbose_line(verbose, pool.at("127.0.0.1"), "OK", certs["healthy1"], 60)
    verbose_line(verbose, pool.at("127.0.0.2"), "WARNING", certs["warning"], 15)
    verbose_line(verbose, pool.at("::1"), "OK", certs["healthy2"], 60)
    order = [line.split(": ", 1)[0] for line in verbose.lines if line.startswith(("127.", "[::1]"))]
    assert order == [pool.at(host.strip("[]")) for value in addresses[1::2] for host in value.split(",")]
    assert f"certificates of {pool.at('127.0.0.2')}:" in verbose.lines
    assert f"[#1] leaf: subject 'CN=localhost', issuer 'CN=Test Intermediate CA', serial " \
           f"{certs['warning'].cert.serial_number:x}, " in verbose.out  # the rows are the worst address's


def test_json_lists_every_address(pool: Pool, certs: dict[str, Issued], root_pem: Path, capsys) -> None:
    code = main(["-H", "localhost", "-p", str(pool.port), "--cafile", str(root_pem), "-I", "127.0.0.1,127.0.0.2,::1",
                 "--output", "json"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    document = json.loads(out)
    assert document["state"] == "WARNING" and document["state_id"] == 1
    assert document["message"] == f"on {pool.at('127.0.0.2')}, {expiry(certs['warning'])} (2 other addresses fine)"
    assert document["addresses_checked"] == 3 and document["addresses_failing"] == 1
    assert document["days_left"] == pytest.approx(15, abs=0.02)
    assert document["sha256_fingerprint"] == certs["warning"].sha256  # the top-level leaf: the worst address's
    served = {"127.0.0.1": ("OK", "healthy1", 60), "127.0.0.2": ("WARNING", "warning", 15),
              "::1": ("OK", "healthy2", 60)}
    assert [entry["address"] for entry in document["addresses"]] == [pool.at(host) for host in served]
    for entry, (host, (state, cert, days)) in zip(document["addresses"], served.items()):
        leaf = certs[cert]
        assert set(entry) == {"address", "state", "message", "days_left", "leaf", "time"}, entry
        assert entry["state"] == state
        assert entry["days_left"] == pytest.approx(days, abs=0.02)
        assert entry["leaf"] == {"subject": "CN=localhost", "serial_number": f"{leaf.cert.serial_number:x}",
                                 "not_after": int(not_after(leaf.cert).timestamp()),
                                 "days_left": entry["days_left"], "sha256_fingerprint": leaf.sha256,
                                 "pin": entry["leaf"]["pin"]}
        assert entry["leaf"]["pin"].startswith("sha256//")
        assert isinstance(entry["time"], float) and 0 < entry["time"] < 2.5
        assert entry["message"] == (expiry(leaf) if state != "OK" else
                                    f"leaf 'localhost' expires first, in 60.0 days "
                                    f"({not_after(leaf.cert):%Y-%m-%d %H:%M} UTC), chain verified")
    problems = [finding for finding in document["findings"] if finding["state"] != "OK"]
    assert problems == [{"kind": "expiring", "state": "WARNING", "label": "leaf",
                         "message": f"on {pool.at('127.0.0.2')}, {expiry(certs['warning'])}",
                         "addresses": [pool.at("127.0.0.2")]}]


def test_all_healthy(pool: Pool, certs: dict[str, Issued], root_pem: Path, capsys) -> None:
    base = ("-H", "localhost", "-p", pool.port, "--cafile", root_pem)
    result = run(capsys, *base, "-I", "127.0.0.1,::1,127.0.0.4")
    assert result.code == 0, result.out
    soonest = min((certs[name] for name in ("healthy1", "healthy2", "healthy3")), key=lambda leaf: not_after(leaf.cert))
    assert result.status == (f"TLS_EXPIRY OK - localhost:{pool.port}: leaf 'localhost' expires first, in 60.0 days "
                             f"({not_after(soonest.cert):%Y-%m-%d %H:%M} UTC), chain verified, on all 3 addresses")
    assert perf_value(result, "addresses") == 3 and perf_value(result, "addresses_failing") == 0
    assert perf_value(result, "days") == pytest.approx(60, abs=0.02)
    two = run(capsys, *base, "-I", "127.0.0.1,::1")
    assert two.code == 0 and two.status.endswith(", chain verified, on both addresses"), two.status
    assert perf_value(two, "addresses") == 2 and perf_value(two, "addresses_failing") == 0


def test_the_same_finding_on_two_addresses_is_said_once(pool: Pool, certs: dict[str, Issued], root_pem: Path,
                                                       capsys) -> None:
    base = ("-H", "localhost", "-p", pool.port, "--cafile", root_pem, "-I", "127.0.0.5,127.0.0.1,127.0.0.6")
    result = run(capsys, *base, "-v")
    assert result.code == 1, result.out
    assert result.status == (f"TLS_EXPIRY WARNING - localhost:{pool.port}: on {pool.at('127.0.0.5')} and "
                             f"{pool.at('127.0.0.6')}, {expiry(certs['stale'])} (1 other address fine)")
    assert result.status.count("expires in") == 1
    assert perf_value(result, "addresses") == 3 and perf_value(result, "addresses_failing") == 2
    verbose_line(result, pool.at("127.0.0.5"), "WARNING", certs["stale"], 15)
    verbose_line(result, pool.at("127.0.0.6"), "WARNING", certs["stale"], 15)
    verbose_line(result, pool.at("127.0.0.1"), "OK", certs["healthy1"], 60)
    # Two different certificates expiring alike are two findings, each naming its own address.
    different = run(capsys, "-H", "localhost", "-p", pool.port, "--cafile", root_pem, "-I", "127.0.0.2,127.0.0.5")
    assert different.code == 1
    assert f"on {pool.at('127.0.0.2')}, {expiry(certs['warning'])}" in different.status
    assert f"on {pool.at('127.0.0.5')}, {expiry(certs['stale'])}" in different.status
    assert different.status.endswith("(none of the 2 addresses is fine)"), different.status


# -- 2. dead addresses among live ones -------------------------------------------------------------------------

def test_a_refused_address_is_named_and_the_others_still_count(pool: Pool, certs: dict[str, Issued], root_pem: Path,
                                                              capsys) -> None:
    base = ("-H", "localhost", "-p", pool.port, "--cafile", root_pem)
    alone = run(capsys, *base, "-I", "127.0.0.1,127.0.0.3,::1")
    assert alone.code == 2, alone.out
    assert alone.status == (f"TLS_EXPIRY CRITICAL - localhost:{pool.port}: cannot connect: {pool.at('127.0.0.3')} "
                            "refused the connection (2 other addresses fine)")
    assert perf_value(alone, "addresses") == 3 and perf_value(alone, "addresses_failing") == 1
    assert perf_value(alone, "days") == pytest.approx(60, abs=0.02)  # from the live addresses

    result = run(capsys, *base, "-I", "127.0.0.1,127.0.0.2,127.0.0.3,::1", "-v")
    assert result.code == 2, result.out
    assert f"cannot connect: {pool.at('127.0.0.3')} refused the connection" in result.status
    assert f"on {pool.at('127.0.0.2')}, {expiry(certs['warning'])}" in result.status  # the WARNING is not hidden
    assert result.status.endswith("(2 other addresses fine)")
    assert perf_value(result, "addresses") == 4 and perf_value(result, "addresses_failing") == 2
    assert perf_value(result, "days") == pytest.approx(15, abs=0.02)
    verbose_line(result, pool.at("127.0.0.1"), "OK", certs["healthy1"], 60)
    verbose_line(result, pool.at("127.0.0.2"), "WARNING", certs["warning"], 15)
    assert verbose_line(result, pool.at("127.0.0.3"), "CRITICAL") == \
        f"{pool.at('127.0.0.3')}: CRITICAL, cannot connect: {pool.at('127.0.0.3')} refused the connection"
    verbose_line(result, pool.at("::1"), "OK", certs["healthy2"], 60)

    code = main([str(arg) for arg in (*base, "-I", "127.0.0.1,127.0.0.3", "--output", "json")])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["state"] == "CRITICAL"
    assert document["addresses_checked"] == 2 and document["addresses_failing"] == 1
    assert document["addresses"][1] == {"address": pool.at("127.0.0.3"), "state": "CRITICAL",
                                        "message": f"cannot connect: {pool.at('127.0.0.3')} refused the connection"}
    assert document["addresses"][0]["state"] == "OK" and document["addresses"][0]["leaf"]["sha256_fingerprint"] == \
        certs["healthy1"].sha256
    assert [finding["addresses"] for finding in document["findings"] if finding["kind"] == "unreachable"] == \
        [[pool.at("127.0.0.3")]]


# A black hole holds its probe until -t is spent; the chains the live addresses brought are still evaluated
# (in a short overtime inside the safety net) and reported. An early version said only "timed out during the
# evaluation of the chain" and lost every address.


def test_a_black_hole_is_named_and_the_others_still_count(pool: Pool, certs: dict[str, Issued], root_pem: Path,
                                                         capsys) -> None:
    with black_hole("127.0.0.7", pool.port):
        started = time.monotonic()
        result = run(capsys, "-H", "localhost", "-p", pool.port, "--cafile", root_pem, "-t", "1", "-v",
                     "-I", "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.7")
        elapsed = time.monotonic() - started
    assert elapsed < 1 + GRACE, elapsed
    assert result.code == 2, result.out
    assert pool.at("127.0.0.7") in result.status, result.status
    assert f"cannot connect: {pool.at('127.0.0.3')} refused the connection" in result.status
    assert f"on {pool.at('127.0.0.2')}, {expiry(certs['warning'])}" in result.out
    assert perf_value(result, "addresses") == 4 and perf_value(result, "addresses_failing") == 3
    verbose_line(result, pool.at("127.0.0.1"), "OK", certs["healthy1"], 60)
    verbose_line(result, pool.at("127.0.0.2"), "WARNING", certs["warning"], 15)
    verbose_line(result, pool.at("127.0.0.7"), "CRITICAL")


# -- 3. --all-addresses through /etc/hosts ---------------------------------------------------------------------

def test_all_addresses_of_a_name(multi_name: str, pool: Pool, certs: dict[str, Issued], root_pem: Path,
                                 capsys) -> None:
    base = ("-H", multi_name, "-p", pool.port, "--cafile", root_pem)
    warning = expiry(certs["warning"])  # the leaves' CN is localhost; NAME is in their SAN
    result = run(capsys, *base, "--all-addresses", "-v")
    assert result.code == 1, result.out
    assert result.status == (f"TLS_EXPIRY WARNING - {multi_name}:{pool.port}: on {pool.at('127.0.0.2')}, {warning} "
                             "(2 other addresses fine)")
    assert perf_value(result, "addresses") == 3 and perf_value(result, "addresses_failing") == 1
    assert perf_value(result, "days") == pytest.approx(15, abs=0.02)
    listed = sorted(line.split(": ", 1)[0] for line in result.lines if re.match(r"^(?:127\.|\[::1\])", line))
    assert listed == sorted(pool.at(host) for host in NAME_ADDRESSES)
    assert f"{pool.at('127.0.0.2')}: WARNING, leaf 'localhost', serial {certs['warning'].cert.serial_number:x}" \
        in result.out

    # Without --all-addresses: one handshake, with whichever address connects first, and no address counts.
    single = run(capsys, *base)
    assert "addresses" not in single.perf and "(2 other addresses fine)" not in single.status

    # -I NAME is expanded the same way; an IP item beside it stays one address.
    named = run(capsys, *base, "--all-addresses", "-I", f"{multi_name},127.0.0.3")
    assert named.code == 2, named.out
    assert perf_value(named, "addresses") == 4 and perf_value(named, "addresses_failing") == 2
    assert f"cannot connect: {pool.at('127.0.0.3')} refused the connection" in named.status
    assert f"on {pool.at('127.0.0.2')}, {warning}" in named.status


def test_all_addresses_with_a_family(multi_name: str, pool: Pool, certs: dict[str, Issued], root_pem: Path,
                                     capsys) -> None:
    base = ("-H", multi_name, "-p", pool.port, "--cafile", root_pem, "--all-addresses", "-v")
    v4 = run(capsys, *base, "-4")
    assert v4.code == 1, v4.out
    # glibc hands out 127.0.0.1 twice for -4 (its own line, and ::1 mapped): one address all the same.
    assert perf_value(v4, "addresses") == 2 and perf_value(v4, "addresses_failing") == 1
    assert v4.status.endswith("(1 other address fine)") and pool.at("127.0.0.2") in v4.status
    assert "[::1]" not in v4.out
    assert sum(line.startswith(f"{pool.at('127.0.0.1')}: ") for line in v4.lines) == 1

    v6 = run(capsys, *base, "-6")
    assert v6.code == 0, v6.out
    assert perf_value(v6, "addresses") == 1 and perf_value(v6, "addresses_failing") == 0
    assert v6.status == (f"TLS_EXPIRY OK - {multi_name}:{pool.port}: leaf 'localhost' expires first, in 60.0 days "
                         f"({not_after(certs['healthy2'].cert):%Y-%m-%d %H:%M} UTC), chain verified")
    verbose = [line for line in v6.lines if re.match(r"^(?:127\.|\[::1\])", line)]
    assert len(verbose) == 1 and verbose[0].startswith(f"{pool.at('::1')}: OK, leaf 'localhost', serial "
                                                       f"{certs['healthy2'].cert.serial_number:x}, ")


# -- 4. -t bounds every combination ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Timed:
    result: Outcome
    elapsed: float
    dead: tuple[str, ...]  # addresses that cannot answer, each must be named
    live: dict[str, tuple[str, Issued]]  # address -> (state, leaf) of the ones that answer
    count: int


@pytest.fixture(scope="module")
def timed_runs(pool: Pool, multi_name: str, certs: dict[str, Issued], chain: list[Issued], root_pem: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Timed]]:
    """Each scenario run once with -t 2 (and -v), timed around main(); the tests below read the results.

    * ``eight``: -I 127.0.0.1..127.0.0.8 on a port of their own with --all-key-types (24 handshakes): live
      servers on .1 (healthy), .2 (WARNING) and .5 (healthy), black holes on .3, .6 and .8, a silent server on
      .4, nothing on .7 (refused).
    * ``all-addresses``: --all-addresses --all-key-types --expect-file on NAME (.1, .2, ::1 of the pool) plus -I
      with a black hole (.7) and a silent server (.8).
    """
    workdir = tmp_path_factory.mktemp("timed")
    runs: dict[str, Timed] = {}

    def dead_ones(stack: ExitStack, port: int) -> None:
        for host in ("127.0.0.3", "127.0.0.6", "127.0.0.8"):
            stack.enter_context(black_hole(host, port))
        stack.enter_context(silent_server("127.0.0.4", port))

    with ExitStack() as stack:
        leaves = {"127.0.0.1": certs["healthy1"], "127.0.0.2": certs["warning"], "127.0.0.5": certs["healthy3"]}
        eight = start_pool(stack, workdir, leaves, chain, extra=dead_ones, free=("127.0.0.7",))
        result, elapsed = run_captured("-H", "localhost", "-p", eight.port, "--cafile", root_pem, "-t", "2", "-v",
                                       "--all-key-types", "-I", ",".join(f"127.0.0.{n}" for n in range(1, 9)))
        runs["eight"] = Timed(result, elapsed, tuple(eight.at(f"127.0.0.{n}") for n in (3, 4, 6, 7, 8)),
                              {eight.at("127.0.0.1"): ("OK", certs["healthy1"]),
                               eight.at("127.0.0.2"): ("WARNING", certs["warning"]),
                               eight.at("127.0.0.5"): ("OK", certs["healthy3"])}, 8)

    renewed = write_pem(workdir / "renewed.pem", certs["healthy2"])  # what ::1 serves; the others are stale
    with black_hole("127.0.0.7", pool.port), silent_server("127.0.0.8", pool.port):
        result, elapsed = run_captured("-H", multi_name, "-p", pool.port, "--cafile", root_pem, "-t", "2", "-v",
                                       "--all-addresses", "--all-key-types", "--expect-file", renewed,
                                       "-I", f"{multi_name},127.0.0.7,127.0.0.8")
    runs["all-addresses"] = Timed(result, elapsed, (pool.at("127.0.0.7"), pool.at("127.0.0.8")),
                                  {pool.at("127.0.0.1"): ("WARNING", certs["healthy1"]),
                                   pool.at("127.0.0.2"): ("WARNING", certs["warning"]),
                                   pool.at("::1"): ("OK", certs["healthy2"])}, 5)
    yield runs


SCENARIOS = ["eight", "all-addresses"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_timeout_bounds_the_whole_check(timed_runs: dict[str, Timed], scenario: str) -> None:
    """The one timed assertion: -t 2 with hanging addresses among live ones ends within -t + 0.5 s, CRITICAL."""
    run_ = timed_runs[scenario]
    assert run_.elapsed < 2 + GRACE, (run_.elapsed, run_.result.out)
    assert run_.result.code == 2, run_.result.out
    assert "internal error" not in run_.result.out
    assert "did not finish within" not in run_.result.out  # the backstop did not have to fire


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_timeout_names_every_dead_address_and_keeps_the_live_ones(timed_runs: dict[str, Timed],
                                                                      scenario: str) -> None:
    run_ = timed_runs[scenario]
    result = run_.result
    assert result.code == 2, result.out
    for address in run_.dead:
        assert address in result.status or any(line.startswith(f"{address}: CRITICAL, ") for line in result.lines), \
            (address, result.out)
    for address, (state, leaf) in run_.live.items():
        assert any(line.startswith(f"{address}: {state}, leaf ") and f"serial {leaf.cert.serial_number:x}," in line
                   for line in result.lines), (address, result.out)
    assert perf_value(result, "addresses") == run_.count
    assert perf_value(result, "addresses_failing") == run_.count - sum(
        state == "OK" for state, _ in run_.live.values())


# -- 5. bad input --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (("-I", "127.0.0.1,"), "--address '127.0.0.1,' has an empty item in its comma list"),
    (("-I", ","), "--address ',' has an empty item in its comma list"),
    (("-I", "127.0.0.1,,127.0.0.2"), "--address '127.0.0.1,,127.0.0.2' has an empty item in its comma list"),
    (("-I", "127.0.0.1", "-I", "127.0.0.2,"), "--address '127.0.0.2,' has an empty item in its comma list"),
    (("-I", "999.1.1.1,127.0.0.1"), "--address '999.1.1.1' is not a valid IP address or host name"),
    (("-I", "127.0.0.1,::1", "-4"), "-4 conflicts with the IPv6 address ::1"),
    (("-I", "::1", "-I", "127.0.0.1", "-6"), "-6 conflicts with the IPv4 address 127.0.0.1"),
])
def test_bad_address_lists_are_usage_errors(capsys, monkeypatch, args: tuple[str, ...], message: str) -> None:
    def no_io(*args: object) -> None:
        raise AssertionError("no I/O for a usage error")

    monkeypatch.setattr(socket, "getaddrinfo", no_io)
    monkeypatch.setattr(socket.socket, "connect", no_io)
    result = run(capsys, "-H", "localhost", "-p", "443", *args)
    assert result.code == 3, result.out
    assert result.status == f"TLS_EXPIRY UNKNOWN - {message}"
    assert result.lines[1].startswith("usage: check_tls_expiry")


@pytest.mark.parametrize("flag", ["--all-addresses", "--all-key-types"])
def test_all_flags_are_usage_errors_with_file(root_pem: Path, capsys, flag: str) -> None:
    result = run(capsys, "--file", root_pem, flag)
    assert result.code == 3
    assert result.status == f"TLS_EXPIRY UNKNOWN - {flag} cannot be used with --file (file mode does not connect)"
    code = main(["--file", str(root_pem), flag, "--output", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["state"] == "UNKNOWN" and flag in document["message"]


def test_a_name_in_the_list_that_does_not_resolve(pool: Pool, certs: dict[str, Issued], root_pem: Path,
                                                  capsys) -> None:
    """One -I item is a name that does not resolve (.invalid, answered by the guard): that address fails, the
    others are still checked. With --all-addresses the names are resolved before any handshake, and the check
    stops at the one that does not resolve."""
    base = ("-H", "localhost", "-p", pool.port, "--cafile", root_pem)
    result = run(capsys, *base, "-I", "127.0.0.2,nosuch.invalid,127.0.0.1", "-v")
    assert result.code == 2, result.out
    assert "cannot resolve nosuch.invalid: name or service not known" in result.status
    assert f"on {pool.at('127.0.0.2')}, {expiry(certs['warning'])}" in result.status
    assert result.status.endswith("(1 other address fine)")
    assert perf_value(result, "addresses") == 3 and perf_value(result, "addresses_failing") == 2
    verbose_line(result, f"nosuch.invalid:{pool.port}", "CRITICAL")
    verbose_line(result, pool.at("127.0.0.1"), "OK", certs["healthy1"], 60)

    every = run(capsys, *base, "-I", "127.0.0.1,nosuch.invalid", "--all-addresses")
    assert every.code == 2 and "cannot resolve nosuch.invalid: name or service not known" in every.status


def test_a_duplicate_address_is_checked_once(pool: Pool, certs: dict[str, Issued], root_pem: Path, capsys) -> None:
    result = run(capsys, "-H", "localhost", "-p", pool.port, "--cafile", root_pem,
                 "-I", "127.0.0.2,127.0.0.1", "-I", "127.0.0.2")
    assert result.code == 1
    assert perf_value(result, "addresses") == 2 and perf_value(result, "addresses_failing") == 1
    assert result.status.endswith("(1 other address fine)")
