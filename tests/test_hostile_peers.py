"""Servers that are broken by definition: each case ends in the right state, with a sentence, within the timeout."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from pki import CA
from runner import run
from scripted import Close, Pause, ReadBytes, Send, scripted_server

from plugin.acquire import connect
from plugin.budget import Budget
from plugin.errors import NetworkError
from plugin.target import Target

D = timedelta(days=1)


def test_garbage_instead_of_a_server_hello(capsys) -> None:
    with scripted_server([ReadBytes(5), Send(b"\x16\x03\x03\x00\x05\x02garbage-garbage-garbage")]) as port:
        result = run(capsys, "-H", "127.0.0.1", "-p", port, "-t", "3")
    assert result.code == 2 and "TLS handshake failed" in result.status


@contextmanager
def resetting_server() -> Iterator[int]:
    """Reads the ClientHello, then resets the connection (SO_LINGER 0) in the middle of the handshake."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.recv(5)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(5)


def test_reset_in_the_middle_of_the_handshake(capsys) -> None:
    with resetting_server() as port:
        result = run(capsys, "-H", "127.0.0.1", "-p", port)
    assert result.code == 2 and "closed the connection" in result.status


def test_slow_drip_ends_within_the_timeout(capsys) -> None:
    drip = [ReadBytes(5)] + [Send(b"\x16"), Pause(0.6)] * 20
    with scripted_server(drip) as port:
        started = time.monotonic()
        result = run(capsys, "-H", "127.0.0.1", "-p", port, "-t", "2")
        elapsed = time.monotonic() - started
    assert result.code == 2 and result.status.endswith("timed out during the TLS handshake (the 2s timeout ran out)")
    assert elapsed < 2.5


def test_long_chain(tls_server, root_ca: CA, intermediate_ca: CA, root_pem: Path, capsys) -> None:
    strays = [root_ca.intermediate(f"Stray {i}") for i in range(30)]
    port = tls_server(intermediate_ca.leaf(not_after=100 * D), [intermediate_ca.issued, *(s.issued for s in strays)])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "-v")
    assert result.code == 0, result.out  # the chain verifies; the 30 strays are extras, none expired
    assert "32 certificate(s) presented, 33 evaluated" in result.lines[1]
    assert {"days_int1", "days_root", "days_extra30"} <= set(result.perf) and len(result.perf) == 34


def test_chain_over_100_kb_is_refused_with_a_sentence(tls_server, root_ca: CA, root_pem: Path, capsys) -> None:
    fat = [root_ca.leaf([f"host{i}-{'x' * 40}.example" for i in range(400)], cn=f"fat {n}") for n in range(8)]
    port = tls_server(root_ca.leaf(), fat)
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert result.code == 2 and result.status.endswith("TLS handshake failed: excessive message size")


def test_duplicated_leaf_and_wrong_order(tls_server, root_ca: CA, intermediate_ca: CA, root_pem: Path,
                                         capsys) -> None:
    leaf = intermediate_ca.leaf(not_after=100 * D)
    port = tls_server(leaf, [root_ca.issued, leaf, intermediate_ca.issued])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "-v")
    assert result.code == 0 and "4 certificate(s) presented, 3 evaluated" in result.lines[1]
    assert set(result.perf) == {"days", "days_leaf", "days_int1", "days_root"}


def test_tls10_only_server_is_reported_with_its_chain(tls_server, intermediate_ca: CA, root_pem: Path,
                                                      capsys) -> None:
    port = tls_server(intermediate_ca.leaf(not_after=100 * D), [intermediate_ca.issued],
                      extra_args=["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert result.code == 2
    assert result.status.endswith("the server offers only TLSv1, which current clients refuse")
    assert 99.9 < result.perf["days_leaf"][0] <= 100


@pytest.mark.parametrize(("extra", "note"), [((), False), (("-no_tls1_3",), True)])
def test_server_demanding_a_client_certificate(tls_server, intermediate_ca: CA, root_pem: Path, capsys,
                                               extra: tuple[str, ...], note: bool) -> None:
    port = tls_server(intermediate_ca.leaf(not_after=100 * D), [intermediate_ca.issued],
                      extra_args=["-Verify", "1", *extra])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem)
    assert result.code == 0 and "chain verified" in result.status
    assert ("the server then asked for a client certificate" in result.status) is note


def test_ipv6_loopback(tls_server, intermediate_ca: CA, root_pem: Path, capsys) -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    port = tls_server(intermediate_ca.leaf(("localhost", "::1")), [intermediate_ca.issued], host="::1")
    result = run(capsys, "-H", "[::1]", "-p", port, "--cafile", root_pem, "-6")
    assert result.code == 0 and result.status.startswith(f"TLS_EXPIRY OK - [::1]:{port}: leaf 'localhost'")


def test_first_address_refuses_the_next_one_answers(tls_server, intermediate_ca: CA, root_pem: Path) -> None:
    """A name with several addresses: the connect loop moves past one that refuses (real sockets)."""
    port = tls_server(intermediate_ca.leaf(), [intermediate_ca.issued])
    with scripted_server([Close()]) as closed:
        pass  # a port that was just closed refuses
    addresses = [(socket.AF_INET, ("127.0.0.1", closed)), (socket.AF_INET, ("127.0.0.1", port))]
    target = Target.build("localhost", port)
    with connect.connect(target, addresses, Budget(5)) as (_sock, peer):
        assert peer == f"127.0.0.1:{port}"
    with pytest.raises(NetworkError, match=f"cannot connect: 127.0.0.1:{closed} refused the connection"), \
            connect.connect(target, addresses[:1], Budget(5)):
        pass


def test_name_resolution_that_hangs_is_bounded(monkeypatch) -> None:
    """getaddrinfo cannot be interrupted; the check stops waiting for it when the budget runs out."""
    monkeypatch.setattr(connect.socket, "getaddrinfo", lambda *args: time.sleep(10))
    started = time.monotonic()
    with pytest.raises(NetworkError, match=r"timed out during name resolution \(the 0.5s timeout ran out\)"):
        connect.resolve(Target.build("hangs.example", 443), Budget(0.5))
    assert time.monotonic() - started < 0.8
