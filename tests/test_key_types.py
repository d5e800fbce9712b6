"""--all-key-types against real servers: openssl s_server holding an RSA and an ECDSA certificate (-cert/-dcert),
on 127.0.0.1 and ::1, and exim over STARTTLS with two certificates.

A TLS 1.3 client cannot ask for a key type, so the default handshake shows only the certificate the server
prefers (OpenSSL's s_server: the ECDSA one); the RSA one is what the option exists to see.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from pki import CA, Issued, not_after, write_key, write_pem
from runner import Outcome, run
from servers import has_ipv6_loopback, refused_port

from check_tls_expiry import main

D = timedelta(days=1)
# The thresholds of the status lines below: a 3-day leaf is WARNING, not CRITICAL.
THRESHOLDS = ("-w", "7", "-c", "2")
STARTUP = 5.0


def day(issued: Issued) -> str:
    """How a sentence writes a certificate's expiry."""
    return f"{not_after(issued.cert):%Y-%m-%d %H:%M} UTC"


# --- servers ------------------------------------------------------------------------------------------------


@contextmanager
def s_server(openssl: str, tmp_path: Path, rsa: tuple[Issued, Sequence[CA]], ec: tuple[Issued, Sequence[CA]],
             *, host: str = "127.0.0.1", port: int = 0, extra_args: Sequence[str] = ()) -> Iterator[int]:
    """``openssl s_server -www`` with an RSA certificate (-cert) and an ECDSA one (-dcert), each with its chain,
    on ``host``:``port`` (0: the kernel picks one). Yields the port.

    With a port given, s_server prints a bare "ACCEPT" (no address): then the port is polled. tests/servers.py
    starts only port-0 servers of one certificate, hence this helper.
    """
    workdir = Path(tempfile.mkdtemp(prefix="dual-", dir=tmp_path))
    (rsa_leaf, rsa_chain), (ec_leaf, ec_chain) = rsa, ec
    cmd = [openssl, "s_server", "-accept", f"[{host}]:{port}" if ":" in host else f"{host}:{port}", "-www",
           "-cert", str(write_pem(workdir / "rsa.pem", rsa_leaf)), "-key", str(write_key(workdir / "rsa.key", rsa_leaf)),
           "-dcert", str(write_pem(workdir / "ec.pem", ec_leaf)), "-dkey", str(write_key(workdir / "ec.key", ec_leaf))]
    if rsa_chain:
        cmd += ["-cert_chain", str(write_pem(workdir / "rsa-chain.pem", *(ca.issued for ca in rsa_chain)))]
    if ec_chain:
        cmd += ["-dcert_chain", str(write_pem(workdir / "ec-chain.pem", *(ca.issued for ca in ec_chain)))]
    cmd += list(extra_args)
    log = workdir / "out.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            match = re.search(rb"^ACCEPT(?: .*:(\d+))?\r?$", log.read_bytes(), re.MULTILINE)
            if match:
                port = int(match.group(1)) if match.group(1) else port
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"s_server did not start: {cmd}\n{log.read_text(errors='replace')}")
            time.sleep(0.01)
        while True:  # listening once it accepts (s_server logs the probe's failed handshake and goes on)
            try:
                with socket.create_connection((host, port), timeout=1.0):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"s_server does not accept on {host}:{port}\n"
                                       f"{log.read_text(errors='replace')}") from None
                time.sleep(0.01)
        yield port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def dual(openssl_bin: str, tmp_path: Path) -> Iterator[Any]:
    """Factory: ``dual((rsa_leaf, [its CAs]), (ec_leaf, [its CAs]), extra_args=()) -> port`` on 127.0.0.1."""
    with ExitStack() as stack:

        def start(rsa: tuple[Issued, Sequence[CA]], ec: tuple[Issued, Sequence[CA]], **options: Any) -> int:
            return stack.enter_context(s_server(openssl_bin, tmp_path, rsa, ec, **options))

        yield start


@pytest.fixture
def both_families(openssl_bin: str, tmp_path: Path) -> Iterator[Any]:
    """Factory: the same port on 127.0.0.1 and [::1], each its own dual server; returns the port."""
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) here")
    with ExitStack() as stack:

        def start(v4: tuple[Any, Any], v6: tuple[Any, Any]) -> int:
            for _ in range(3):  # the port the kernel gave on 127.0.0.1 may be taken on ::1
                attempt = ExitStack()
                port = attempt.enter_context(s_server(openssl_bin, tmp_path, *v4))
                try:
                    attempt.enter_context(s_server(openssl_bin, tmp_path, *v6, host="::1", port=port))
                except RuntimeError:
                    attempt.close()
                    continue
                stack.enter_context(attempt)
                return port
            raise RuntimeError("no port free on both 127.0.0.1 and ::1")

        yield start


class Trust(NamedTuple):
    root: CA
    inter: CA
    pem: Path  # the root alone: the --cafile


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Trust:
    """A root (its PEM file is the trust store) and an intermediate issuing every leaf below."""
    root = CA.root("Key Types Root")
    return Trust(root, root.intermediate("Key Types Intermediate"),
                 write_pem(tmp_path_factory.mktemp("key-types") / "root.pem", root.issued))


def check(capsys: pytest.CaptureFixture[str], port: int, root: Path, *args: object) -> Outcome:
    return run(capsys, "-H", "localhost", "-p", port, "--cafile", root, *args)


def several(capsys: pytest.CaptureFixture[str], port: int, root: Path, *args: object) -> tuple[int, str, dict[str, float]]:
    """A check of several addresses: (code, status line, perfdata values). tests/runner.py's perfdata grammar
    has no min field, which the address counts carry ("addresses=2;;;0")."""
    code = main(["-H", "localhost", "-p", str(port), "--cafile", str(root), *(str(arg) for arg in args)])
    out, err = capsys.readouterr()
    assert err == "" and out.startswith(f"TLS_EXPIRY {('OK', 'WARNING', 'CRITICAL', 'UNKNOWN')[code]} - "), out
    status, _, perf = out.splitlines()[0].partition("|")
    values = {}
    for item in perf.split():
        match = re.fullmatch(r"([a-z0-9_]+)=(-?[0-9.]+)s?(;[0-9.]*){0,4}", item)
        assert match, item
        values[match.group(1)] = float(match.group(2))
    return code, status, values


def json_check(capsys: pytest.CaptureFixture[str], port: int, root: Path, *args: object) -> dict[str, Any]:
    code = main(["-H", "localhost", "-p", str(port), "--cafile", str(root), "--output", "json",
                 *(str(arg) for arg in args)])
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and out.count("\n") == 1, out
    document: dict[str, Any] = json.loads(out)
    return document


# --- the point of the option ------------------------------------------------------------------------------------


def test_a_forgotten_rsa_certificate_behind_a_renewed_ecdsa_one(dual, ca, capsys) -> None:
    inter, root_pem = ca.inter, ca.pem
    rsa = inter.leaf(key_type="rsa", not_after=3 * D, not_before=-87 * D)
    ec = inter.leaf(not_after=80 * D)
    port = dual((rsa, [inter]), (ec, [inter]))
    # Without the option the check sees only the ECDSA certificate, and is content.
    plain = check(capsys, port, root_pem, *THRESHOLDS)
    assert plain.code == 0
    assert plain.status == f"TLS_EXPIRY OK - localhost:{port}: leaf 'localhost' expires first, in 80.0 days " \
                          f"({day(ec)}), chain verified"
    # With it, the RSA one is found, and named as such.
    found = check(capsys, port, root_pem, *THRESHOLDS, "--all-key-types")
    assert found.code == 1
    assert found.status == f"TLS_EXPIRY WARNING - localhost:{port}: the RSA certificate 'localhost' expires in " \
                          f"3.0 days ({day(rsa)})"
    assert 2.99 < found.perf["days"][0] <= 3 and found.perf["days_leaf"] == found.perf["days"]  # the RSA chain's rows
    assert "addresses" not in found.perf  # one address: no address counts


def test_verbose_shows_every_handshake(dual, ca, capsys) -> None:
    inter, root_pem = ca.inter, ca.pem
    rsa = inter.leaf(key_type="rsa", not_after=3 * D, not_before=-87 * D)
    ec = inter.leaf(not_after=80 * D)
    port = dual((rsa, [inter]), (ec, [inter]))
    result = check(capsys, port, root_pem, *THRESHOLDS, "--all-key-types", "-v")
    assert result.code == 1
    serial = {"rsa": f"{rsa.cert.serial_number:x}", "ec": f"{ec.cert.serial_number:x}"}
    assert result.lines[1:4] == [
        f"localhost:{port}: OK, leaf 'localhost', serial {serial['ec']}, 80 days left",
        f"localhost:{port} (RSA): WARNING, leaf 'localhost', serial {serial['rsa']}, 3 days left",
        f"localhost:{port} (ECDSA): OK, leaf 'localhost', serial {serial['ec']}, 80 days left",
    ]
    assert result.lines[4] == f"certificates of localhost:{port} (RSA):"
    assert result.lines[5].startswith(f"TLSv1.2 with 127.0.0.1:{port}, 2 certificate(s) presented, 3 evaluated")
    assert any(line.startswith("[#1] leaf: subject 'CN=localhost'") and f"serial {serial['rsa']}," in line
               for line in result.lines)


def test_both_fresh_is_ok_and_says_both_were_checked(dual, ca, capsys) -> None:
    inter, root_pem = ca.inter, ca.pem
    rsa = inter.leaf(key_type="rsa", not_after=60 * D)
    ec = inter.leaf(not_after=80 * D)
    port = dual((rsa, [inter]), (ec, [inter]))
    result = check(capsys, port, root_pem, "--all-key-types")
    assert result.code == 0
    # The headline is the soonest of the two: the RSA certificate's 60 days, which only the RSA handshake saw.
    assert result.status == f"TLS_EXPIRY OK - localhost:{port}: the RSA certificate 'localhost' expires first, in " \
                           f"60.0 days " \
                           f"({day(rsa)}), chain verified (RSA and ECDSA certificates checked)"
    assert 59.9 < result.perf["days"][0] <= 60


@pytest.mark.parametrize(("key_type", "name", "missing"), [("ec", "ECDSA", "RSA"), ("rsa", "RSA", "ECDSA")])
def test_a_server_with_one_key_type_is_fine(tls_server, ca, capsys, key_type: str, name: str,
                                            missing: str) -> None:
    inter, root_pem = ca.inter, ca.pem
    leaf = inter.leaf(key_type=key_type, not_after=60 * D)
    port = tls_server(leaf, [inter.issued])
    result = check(capsys, port, root_pem, "--all-key-types", "-v")
    assert result.code == 0
    assert result.status == f"TLS_EXPIRY OK - localhost:{port}: leaf 'localhost' expires first, in 60.0 days " \
                           f"({day(leaf)}), chain verified ({name} certificate checked)"
    assert missing not in result.status and "could be checked" not in result.out  # no finding, no note
    assert any(line.startswith(f"localhost:{port} ({missing}): OK, no {missing} certificate in a TLS 1.2 handshake (")
               for line in result.lines), result.out
    assert f"localhost:{port} ({name}): OK, leaf 'localhost', serial {leaf.cert.serial_number:x}, 60 days left" \
        in result.lines


@pytest.mark.parametrize("flags", [["-tls1_3"], ["-no_tls1_2"]], ids=["tls1_3", "no_tls1_2"])
def test_a_tls13_only_server_gets_a_note_never_an_alarm(dual, ca, capsys, flags: list[str]) -> None:
    """The RSA certificate expires in 3 days, and nothing can see it: that is said, and is not an alarm."""
    inter, root_pem = ca.inter, ca.pem
    rsa = inter.leaf(key_type="rsa", not_after=3 * D, not_before=-87 * D)
    ec = inter.leaf(not_after=80 * D)
    port = dual((rsa, [inter]), (ec, [inter]), extra_args=flags)
    result = check(capsys, port, root_pem, *THRESHOLDS, "--all-key-types", "-v")
    assert result.code == 0
    assert result.status == f"TLS_EXPIRY OK - localhost:{port}: leaf 'localhost' expires first, in 80.0 days " \
        f"({day(ec)}), chain verified (ECDSA certificate checked) - only the ECDSA certificate could be checked: " \
        "the server completes no TLS 1.2 handshake that asks for a key type (TLS 1.3 only, where a client cannot " \
        "ask for one)"
    for kind in ("RSA", "ECDSA"):
        assert any(line.startswith(f"localhost:{port} ({kind}): OK, no {kind} certificate in a TLS 1.2 handshake (")
                   for line in result.lines), result.out


def test_a_shared_problem_is_said_once_and_the_rsa_chains_own_ones_name_it(dual, ca, capsys) -> None:
    root, inter, root_pem = ca
    short = root.intermediate("Short Intermediate", not_after=10 * D, not_before=-80 * D)
    # Both leaves under the same expiring intermediate; the RSA leaf is also for another name.
    port = dual((short.leaf(["other.example"], key_type="rsa", not_after=60 * D), [short]),
                (short.leaf(not_after=60 * D), [short]))
    result = check(capsys, port, root_pem, "--all-key-types")
    assert result.code == 2
    assert result.status == f"TLS_EXPIRY CRITICAL - localhost:{port}: the RSA chain: hostname mismatch: certificate " \
        "is not valid for localhost, it is for other.example - intermediate 'Short Intermediate' expires in 10.0 days " \
        f"({day(short.issued)})"
    assert result.status.count("Short Intermediate") == 1
    # Only the RSA chain has an expiring intermediate: it is that chain's, and said so.
    rsa_short = root.intermediate("Short RSA Intermediate", not_after=12 * D, not_before=-80 * D)
    port = dual((rsa_short.leaf(key_type="rsa", not_after=60 * D), [rsa_short]), (inter.leaf(not_after=60 * D), [inter]))
    result = check(capsys, port, root_pem, "--all-key-types")
    assert result.code == 1
    assert result.status == f"TLS_EXPIRY WARNING - localhost:{port}: the RSA chain: intermediate 'Short RSA " \
                           f"Intermediate' expires in 12.0 days ({day(rsa_short.issued)})"


def test_key_types_on_two_addresses_name_the_address(both_families, ca, capsys) -> None:
    inter, root_pem = ca.inter, ca.pem
    old = inter.leaf(key_type="rsa", not_after=3 * D, not_before=-87 * D)
    fresh = inter.leaf(key_type="rsa", not_after=60 * D)
    ec = inter.leaf(not_after=80 * D)
    port = both_families(((fresh, [inter]), (ec, [inter])), ((old, [inter]), (ec, [inter])))
    args = ("-I", "127.0.0.1,::1", *THRESHOLDS)
    code, status, _ = several(capsys, port, root_pem, *args)
    assert code == 0 and status.endswith("chain verified, on both addresses")
    code, status, perf = several(capsys, port, root_pem, *args, "--all-key-types")
    assert code == 1
    assert status == f"TLS_EXPIRY WARNING - localhost:{port}: on [::1]:{port}, the RSA certificate " \
                     f"'localhost' expires in 3.0 days ({day(old)}) (1 other address fine)"
    assert perf["addresses"] == 2 and perf["addresses_failing"] == 1
    assert perf["days_leaf"] < 3.01  # the rows are those of [::1] (RSA)


def test_the_same_forgotten_certificate_on_both_addresses_is_said_once(both_families, ca, capsys) -> None:
    inter, root_pem = ca.inter, ca.pem
    old = inter.leaf(key_type="rsa", not_after=3 * D, not_before=-87 * D)
    ec = inter.leaf(not_after=80 * D)
    port = both_families(((old, [inter]), (ec, [inter])), ((old, [inter]), (ec, [inter])))
    code, status, perf = several(capsys, port, root_pem, "-I", "127.0.0.1,::1", *THRESHOLDS, "--all-key-types")
    assert code == 1
    assert status == f"TLS_EXPIRY WARNING - localhost:{port}: on 127.0.0.1:{port} and [::1]:{port}, the RSA " \
                     f"certificate 'localhost' expires in 3.0 days ({day(old)}) (none of the 2 addresses is fine)"
    assert perf["addresses"] == 2 and perf["addresses_failing"] == 2


def test_expect_file_is_compared_with_the_chain_of_its_key_type(dual, ca, tmp_path: Path, capsys) -> None:
    inter, root_pem = ca.inter, ca.pem
    old = inter.leaf(key_type="rsa", not_after=40 * D, not_before=-50 * D)
    new = inter.leaf(key_type="rsa", not_after=90 * D)
    ec = inter.leaf(not_after=80 * D)
    port = dual((old, [inter]), (ec, [inter]))
    renewed = write_pem(tmp_path / "renewed.pem", new)
    result = check(capsys, port, root_pem, "--all-key-types", "--expect-file", renewed)
    assert result.code == 1
    assert result.status == f"TLS_EXPIRY WARNING - localhost:{port}: the RSA chain: still serves the certificate " \
                           f"that expires {day(old)}, {renewed} holds a newer one (expires {day(new)}): reload the " \
                           "service"
    assert day(ec) not in result.status  # the ECDSA certificate is not compared with an RSA file
    # Once reloaded (the server serves the file's certificate): OK.
    port = dual((new, [inter]), (ec, [inter]))
    assert check(capsys, port, root_pem, "--all-key-types", "--expect-file", renewed).code == 0


def test_json_lists_every_handshake_with_its_key_type(dual, tls_server, ca, capsys) -> None:
    inter, root_pem = ca.inter, ca.pem
    rsa = inter.leaf(key_type="rsa", not_after=3 * D, not_before=-87 * D)
    ec = inter.leaf(not_after=80 * D)
    port = dual((rsa, [inter]), (ec, [inter]))
    document = json_check(capsys, port, root_pem, *THRESHOLDS, "--all-key-types")
    assert document["state"] == "WARNING"
    handshakes = document["addresses"]
    assert [(item["address"], item.get("key_type"), item["state"]) for item in handshakes] == [
        (f"localhost:{port}", None, "OK"), (f"localhost:{port}", "RSA", "WARNING"),
        (f"localhost:{port}", "ECDSA", "OK")]
    assert "key_type" not in handshakes[0]
    assert [item["leaf"]["sha256_fingerprint"] for item in handshakes] == [ec.sha256, rsa.sha256, ec.sha256]
    (finding,) = document["findings"]
    assert finding["kind"] == "expiring" and finding["key_type"] == "RSA" and finding["label"] == "leaf"
    assert finding["message"] == f"the RSA certificate 'localhost' expires in 3.0 days ({day(rsa)})"
    assert "addresses" not in finding and "addresses_checked" not in document
    assert document["chain"][0]["sha256_fingerprint"] == rsa.sha256  # the rows of the RSA handshake
    assert document["x509"]["public_key_algorithm"] == "RSA" and document["days_left"] == 3.0
    # A server without RSA: its handshake is there, OK, with the refusal and no leaf.
    port = tls_server(ec, [inter.issued])
    document = json_check(capsys, port, root_pem, "--all-key-types")
    assert document["state"] == "OK"
    refused = next(item for item in document["addresses"] if item.get("key_type") == "RSA")
    assert refused["state"] == "OK" and refused["message"].startswith("no RSA certificate in a TLS 1.2 handshake (")
    assert "leaf" not in refused
    assert [finding["kind"] for finding in document["findings"]] == ["healthy"]


def test_a_legacy_only_server_is_said_once_and_each_key_type_fetched(dual, ca, capsys) -> None:
    """TLS 1.1 only: the key-type handshakes take the legacy path too, and still get the type asked for."""
    inter, root_pem = ca.inter, ca.pem
    rsa = inter.leaf(key_type="rsa", not_after=60 * D)
    ec = inter.leaf(not_after=50 * D)
    port = dual((rsa, [inter]), (ec, [inter]), extra_args=["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
    result = check(capsys, port, root_pem, "--all-key-types", "-v")
    assert result.code == 2
    assert result.status == f"TLS_EXPIRY CRITICAL - localhost:{port}: the server offers only TLSv1.1, which current " \
                           "clients refuse"
    assert f"localhost:{port} (RSA): CRITICAL, leaf 'localhost', serial {rsa.cert.serial_number:x}, 60 days left" \
        in result.lines
    assert f"localhost:{port} (ECDSA): CRITICAL, leaf 'localhost', serial {ec.cert.serial_number:x}, 50 days left" \
        in result.lines


def test_a_down_endpoint_is_said_once(capsys) -> None:
    port = refused_port()
    plain = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", port)
    typed = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", port, "--all-key-types")
    assert typed.code == plain.code == 2
    assert typed.status == plain.status == f"TLS_EXPIRY CRITICAL - localhost:{port}: cannot connect: " \
                                           f"127.0.0.1:{port} refused the connection"


def test_a_down_endpoint_is_an_error_in_json_too(capsys) -> None:
    port = refused_port()
    base = ["-H", "localhost", "-I", "127.0.0.1", "-p", str(port), "--output", "json"]
    main(base)
    plain = json.loads(capsys.readouterr().out)
    main([*base, "--all-key-types"])
    typed = json.loads(capsys.readouterr().out)
    assert plain["result"]["value"] == "error" and plain["state"] == "CRITICAL"  # the contract, without the option
    assert typed["state"] == "CRITICAL"
    assert typed["result"]["value"] == "error"


# --- STARTTLS: exim with an RSA and an ECDSA certificate ---------------------------------------------------------


@pytest.fixture(scope="module")
def exim_dual(ca, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Issued, Issued]]:
    """A private exim (GnuTLS) with ``tls_certificate = rsa.pem : ec.pem``: a fresh RSA certificate, first, and
    an ECDSA one expiring in 3 days. Yields (port, rsa leaf, ec leaf)."""
    import daemons_mail as mail

    exim = mail.require_executable(mail.EXIM)
    mail.require_root("exim4")
    inter = ca.inter
    rsa = inter.leaf(key_type="rsa", not_after=60 * D)
    ec = inter.leaf(not_after=3 * D, not_before=-87 * D)
    base = mail._private_dir(tmp_path_factory, "exim-dual", owner=mail.EXIM_USER)
    write_pem(base / "rsa.pem", rsa, inter.issued)
    write_key(base / "rsa.key", rsa)
    write_pem(base / "ec.pem", ec, inter.issued)
    write_key(base / "ec.key", ec)
    for sub in ("spool", "log"):
        (base / sub).mkdir(mode=0o750)
    mail._chown_tree(base, *mail._user(mail.EXIM_USER))

    def spawn(ports: list[int]) -> Any:
        (port,) = ports
        return mail.exim_daemon("exim-dual", exim, base, str(port), "*", f"{base}/rsa.pem : {base}/ec.pem",
                                f"{base}/rsa.key : {base}/ec.key")

    daemon, (port,) = mail._start("exim-dual", 1, spawn)
    try:
        yield port, rsa, ec
    finally:
        daemon.stop()


def test_starttls_smtp_with_two_certificates(exim_dual, ca, capsys) -> None:
    port, _, ec = exim_dual
    root_pem = ca.pem
    base = ("-H", "localhost", "-I", "127.0.0.1", "-p", port, "--starttls", "smtp", "--cafile", root_pem, *THRESHOLDS)
    plain = run(capsys, *base)
    assert plain.code == 0, plain.out  # exim (GnuTLS) prefers the first certificate, the RSA one
    assert plain.status.startswith(f"TLS_EXPIRY OK - localhost:{port}: leaf 'localhost' expires first, in 60.0 days")
    result = run(capsys, *base, "--all-key-types")
    assert result.code == 1
    assert result.status == f"TLS_EXPIRY WARNING - localhost:{port}: the ECDSA certificate 'localhost' expires in " \
                           f"3.0 days ({day(ec)})"
