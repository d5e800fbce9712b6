"""--file with a PKCS#12 keystore (.p12/.pfx) and --password-file.

Every keystore is made by the real ``openssl pkcs12 -export`` from PEM files of the per-test PKI, with the
encryptions people meet: OpenSSL 3's default (PBES2, PBKDF2, AES-256-CBC), ``-legacy`` (RC2-40 for the
certificates, 3DES for the key, as OpenSSL 1.1 and Windows wrote them) and 3DES throughout.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from ci import unavailable
from pki import CA, Issued, write_key, write_pem
from runner import Outcome, run

from check_tls_expiry import main

D = timedelta(days=1)
REPO = Path(__file__).resolve().parent.parent
# Distinctive, so that any trace of them in the output is found.
PASSWORD = "Quokka-7731-Zebra"
WRONG = "Narwhal-4242-Otter"

# (openssl options, what `openssl pkcs12 -info` shows for that encryption)
ENCRYPTIONS = {
    "modern": ((), "AES-256-CBC"),
    "legacy": (("-legacy",), "RC2"),
    "3des": (("-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"), "TripleDES"),
}


def export(openssl: str, out: Path, chain: Path, key: Path | None, password: str,
           options: Sequence[str] = ()) -> Path:
    """``openssl pkcs12 -export`` of ``chain`` (with ``key``, or -nokeys without one) into ``out``."""
    command = [openssl, "pkcs12", "-export", "-in", str(chain), "-out", str(out), "-passout", f"pass:{password}",
               *(["-inkey", str(key)] if key is not None else ["-nokeys"]), *options]
    made = subprocess.run(command, capture_output=True, text=True, check=False)
    if made.returncode != 0:
        if "-legacy" in options:  # an OpenSSL 3 without its legacy provider cannot write RC2
            unavailable(f"openssl pkcs12 -export -legacy failed: {made.stderr.strip()[:200]}")
        raise AssertionError(made.stderr)
    return out


def info(openssl: str, p12: Path, password: str) -> str:
    """What ``openssl pkcs12 -info`` says of the encryption (it may fail to decrypt RC2 without -legacy, but the
    algorithm names come first)."""
    shown = subprocess.run([openssl, "pkcs12", "-info", "-noout", "-in", str(p12), "-passin", f"pass:{password}"],
                           capture_output=True, text=True, check=False)
    return shown.stdout + shown.stderr


def password_file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def same_output(p12: Outcome, p12_path: Path, pem: Outcome, pem_path: Path) -> None:
    """Identical output, status line, perfdata and long output, but for the endpoint (the path) itself."""
    assert p12.code == pem.code
    assert p12.out.replace(str(p12_path), "FILE") == pem.out.replace(str(pem_path), "FILE")


def no_secret(result: Outcome) -> None:
    assert PASSWORD not in result.out and WRONG not in result.out
    assert "PRIVATE KEY" not in result.out


@pytest.fixture
def chain(intermediate_ca: CA, root_ca: CA, tmp_path: Path) -> tuple[Issued, Path, Path]:
    """A leaf valid for 100 more days, its chain as PEM (leaf, intermediate, root) and its key."""
    leaf = intermediate_ca.leaf(not_after=100 * D)
    pem = write_pem(tmp_path / "chain.pem", leaf, intermediate_ca.issued, root_ca.issued)
    return leaf, pem, write_key(tmp_path / "leaf.key", leaf)


@pytest.mark.parametrize("encryption", list(ENCRYPTIONS))
def test_a_keystore_reads_like_the_same_chain_as_pem(encryption: str, openssl_bin: str, chain, tmp_path: Path,
                                                     capsys) -> None:
    _, pem, key = chain
    options, shown = ENCRYPTIONS[encryption]
    p12 = export(openssl_bin, tmp_path / f"{encryption}.p12", pem, key, PASSWORD, options)
    assert shown in info(openssl_bin, p12, PASSWORD)  # the encryption this case claims to test
    secret = password_file(tmp_path / "password", f"{PASSWORD}\n".encode())
    for extra in ((), ("-v",), ("-H", "localhost", "-w", "120d", "-c", "7d")):
        from_p12 = run(capsys, "--file", p12, "--password-file", secret, *extra)
        from_pem = run(capsys, "--file", pem, *extra)
        same_output(from_p12, p12, from_pem, pem)
        no_secret(from_p12)
    result = run(capsys, "--file", p12, "--password-file", secret, "-H", "localhost")
    assert result.code == 0 and f"{p12}: leaf 'localhost' expires first, in 100.0 days" in result.status
    assert set(result.perf) == {"days", "days_leaf", "days_int1", "days_root"}


@pytest.mark.parametrize("encryption", ["modern", "legacy"])
def test_without_a_password(encryption: str, openssl_bin: str, chain, tmp_path: Path, capsys) -> None:
    """The empty password (``-passout pass:``) and no encryption at all: no --password-file needed, and one given
    (empty, or holding a password the keystore does not need) changes nothing."""
    _, pem, key = chain
    empty = export(openssl_bin, tmp_path / "empty.p12", pem, key, "", ENCRYPTIONS[encryption][0])
    plain = export(openssl_bin, tmp_path / "plain.p12", pem, key, "",
                   ("-keypbe", "NONE", "-certpbe", "NONE", "-nomac"))
    reference = run(capsys, "--file", pem)
    blank = password_file(tmp_path / "blank", b"")
    needless = password_file(tmp_path / "needless", f"{PASSWORD}\n".encode())
    for p12 in (empty, plain):
        for extra in ((), ("--password-file", blank), ("--password-file", needless)):
            same_output(run(capsys, "--file", p12, *extra), p12, reference, pem)


@pytest.mark.parametrize("encryption", list(ENCRYPTIONS))
def test_wrong_password_is_unknown_and_never_shown(encryption: str, openssl_bin: str, chain, tmp_path: Path,
                                                   capsys) -> None:
    _, pem, key = chain
    p12 = export(openssl_bin, tmp_path / "locked.p12", pem, key, PASSWORD, ENCRYPTIONS[encryption][0])
    wrong = password_file(tmp_path / "wrong", f"{WRONG}\n".encode())
    for extra in ((), ("-vvv",)):
        result = run(capsys, "--file", p12, "--password-file", wrong, *extra)
        assert result.code == 3
        assert result.status == f"TLS_EXPIRY UNKNOWN - {p12}: the PKCS#12 password is wrong (or the file is damaged)"
        no_secret(result)
        assert "Invalid password" not in result.out  # never the library's text
    # JSON for Zabbix: exit 0, the failure inside, no password either.
    assert main(["--file", str(p12), "--password-file", str(wrong), "--output", "json"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "the PKCS#12 password is wrong (or the file is damaged)" in out
    assert PASSWORD not in out and WRONG not in out


def test_encrypted_keystore_without_password_file(openssl_bin: str, chain, tmp_path: Path, capsys) -> None:
    _, pem, key = chain
    p12 = export(openssl_bin, tmp_path / "locked.p12", pem, key, PASSWORD)
    result = run(capsys, "--file", p12)
    assert result.code == 3
    assert result.status == (f"TLS_EXPIRY UNKNOWN - {p12}: the file is an encrypted PKCS#12 keystore: give its "
                             "password with --password-file")


def test_other_writers(intermediate_ca: CA, chain, tmp_path: Path, capsys) -> None:
    """Keystores not written by openssl: cryptography's own, and a BER PFX as some Java and Windows writers emit
    it (indefinite lengths); that one is junk inside, which the library cannot tell from an encrypted keystore."""
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    leaf, _, _ = chain
    p12 = tmp_path / "cryptography.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"leaf", leaf.key, leaf.cert, [intermediate_ca.cert],
                                                          BestAvailableEncryption(PASSWORD.encode())))
    result = run(capsys, "--file", p12, "--password-file", password_file(tmp_path / "pw", PASSWORD.encode()))
    assert result.code == 0 and "leaf 'localhost' expires first, in 100.0 days" in result.status
    assert set(result.perf) == {"days", "days_leaf", "days_int1"}
    assert run(capsys, "--file", p12).status.endswith("give its password with --password-file")
    ber = tmp_path / "ber.pfx"
    ber.write_bytes(bytes.fromhex("3080020103308006092a864886f70d010701a0802480040100000000000000000000"))
    result = run(capsys, "--file", ber)
    assert result.code == 3 and result.status.endswith("give its password with --password-file")


def test_password_file_line_ends(openssl_bin: str, chain, tmp_path: Path, capsys) -> None:
    """The first line is the password, without \\n or \\r\\n; a file without a line end is the password whole."""
    _, pem, key = chain
    p12 = export(openssl_bin, tmp_path / "locked.p12", pem, key, PASSWORD)
    for name, content in (("unix", f"{PASSWORD}\n"), ("dos", f"{PASSWORD}\r\n"), ("bare", PASSWORD),
                          ("more-lines", f"{PASSWORD}\nsecond line\n")):
        result = run(capsys, "--file", p12, "--password-file", password_file(tmp_path / name, content.encode()))
        assert result.code == 0, (name, result.out)
    # Spaces are part of a password: nothing but the line end is taken off.
    result = run(capsys, "--file", p12, "--password-file", password_file(tmp_path / "space", f"{PASSWORD} \n".encode()))
    assert result.code == 3 and "the PKCS#12 password is wrong" in result.status


def test_unreadable_password_file_is_unknown_naming_the_file(openssl_bin: str, chain, tmp_path: Path,
                                                             capsys) -> None:
    _, pem, key = chain
    p12 = export(openssl_bin, tmp_path / "locked.p12", pem, key, PASSWORD)
    missing = tmp_path / "no-such-password"
    result = run(capsys, "--file", p12, "--password-file", missing)
    assert result.code == 3
    assert result.status == (f"TLS_EXPIRY UNKNOWN - {p12}: cannot read --password-file {missing}: No such file or "
                             "directory")
    result = run(capsys, "--file", p12, "--password-file", tmp_path)
    assert result.code == 3
    assert result.status == f"TLS_EXPIRY UNKNOWN - {p12}: cannot read --password-file {tmp_path}: it is a directory"
    huge = password_file(tmp_path / "huge", PASSWORD.encode() * 5000)  # no line end in the 64 KB read
    result = run(capsys, "--file", p12, "--password-file", huge)
    assert result.code == 3
    assert result.status == (f"TLS_EXPIRY UNKNOWN - {p12}: --password-file {huge} does not hold a password: its first "
                             "line is longer than 64 KB")
    no_secret(result)


def test_certificate_only_keystore(openssl_bin: str, intermediate_ca: CA, root_ca: CA, tmp_path: Path,
                                   capsys) -> None:
    """``-nokeys``: no key's certificate to put first, so the order is the file's, and the leaf rule finds the leaf
    wherever it sits, as in a PEM bundle in that order."""
    leaf = intermediate_ca.leaf(not_after=100 * D)
    pem = write_pem(tmp_path / "shuffled.pem", intermediate_ca.issued, leaf, root_ca.issued)
    for password, extra in ((PASSWORD, ("--password-file", password_file(tmp_path / "pw", PASSWORD.encode()))),
                            ("", ())):
        p12 = export(openssl_bin, tmp_path / f"certs{len(password)}.p12", pem, None, password)
        from_p12 = run(capsys, "--file", p12, "-H", "localhost", *extra)
        assert from_p12.code == 0 and "leaf 'localhost' expires first, in 100.0 days" in from_p12.status
        same_output(from_p12, p12, run(capsys, "--file", pem, "-H", "localhost"), pem)


def test_expired_leaf_in_a_keystore_is_critical(openssl_bin: str, root_ca: CA, tmp_path: Path, capsys) -> None:
    leaf = root_ca.leaf(not_before=-400 * D, not_after=-30 * D)
    pem = write_pem(tmp_path / "old.pem", leaf, root_ca.issued)
    p12 = export(openssl_bin, tmp_path / "old.p12", pem, write_key(tmp_path / "old.key", leaf), PASSWORD, ("-legacy",))
    result = run(capsys, "--file", p12, "--password-file", password_file(tmp_path / "pw", PASSWORD.encode()))
    assert result.code == 2 and "leaf 'localhost' expired 30.0 days ago" in result.status
    same_output(result, p12, run(capsys, "--file", pem), pem)


def test_keystore_without_a_certificate_is_critical(openssl_bin: str, chain, tmp_path: Path, capsys) -> None:
    _, _, key = chain
    p12 = tmp_path / "key-only.p12"
    subprocess.run([openssl_bin, "pkcs12", "-export", "-nocerts", "-inkey", str(key), "-out", str(p12),
                    "-passout", "pass:"], check=True, capture_output=True)
    result = run(capsys, "--file", p12)
    assert result.code == 2
    assert result.status == f"TLS_EXPIRY CRITICAL - {p12}: the file holds a PKCS#12 keystore without a certificate"
    no_secret(result)


def test_cut_short_keystore_is_critical(openssl_bin: str, chain, tmp_path: Path, capsys) -> None:
    _, pem, key = chain
    whole = export(openssl_bin, tmp_path / "whole.p12", pem, key, PASSWORD).read_bytes()
    cut = tmp_path / "cut.p12"
    cut.write_bytes(whole[:1000])
    for extra in ((), ("--password-file", password_file(tmp_path / "pw", PASSWORD.encode()))):
        result = run(capsys, "--file", cut, *extra)
        assert result.code == 2
        assert result.status.startswith(f"TLS_EXPIRY CRITICAL - {cut}: the file holds a PKCS#12 keystore that is cut "
                                        "short (1000 of its ")


def test_a_costly_keystore_is_refused_before_decrypting(openssl_bin: str, chain, tmp_path: Path, capsys) -> None:
    """OpenSSL derives keys in C, where the run's safety net cannot stop it: -t must hold all the same."""
    _, pem, key = chain
    p12 = export(openssl_bin, tmp_path / "slow.p12", pem, key, PASSWORD, ("-iter", "700000"))
    result = run(capsys, "--file", p12, "--password-file", password_file(tmp_path / "pw", PASSWORD.encode()))
    assert result.code == 3
    assert result.status == (f"TLS_EXPIRY UNKNOWN - {p12}: the file is a PKCS#12 keystore that asks for 2100000 key "
                             "derivation iterations, more than this check spends within its timeout (2000000)")


def test_password_file_is_for_a_pkcs12_file_only(chain, tmp_path: Path, capsys) -> None:
    """With a PEM or DER --file it is refused rather than ignored: the operator meant another file (the keystore
    was converted) or another option, and silence would hide that."""
    leaf, pem, _ = chain
    secret = password_file(tmp_path / "pw", PASSWORD.encode())
    der = tmp_path / "leaf.der"
    der.write_bytes(leaf.der)
    for path in (pem, der):
        result = run(capsys, "--file", path, "--password-file", secret)
        assert result.code == 3
        assert result.status == f"TLS_EXPIRY UNKNOWN - {path}: --password-file only applies to a PKCS#12 --file"
    result = run(capsys, "-H", "localhost", "--password-file", secret)
    assert result.code == 3 and result.lines[0] == "TLS_EXPIRY UNKNOWN - --password-file only applies to a PKCS#12 --file"
    assert result.lines[1].startswith("usage: ")


def test_expect_file_cannot_take_an_encrypted_keystore(openssl_bin: str, chain, tmp_path: Path, capsys) -> None:
    _, pem, key = chain
    p12 = export(openssl_bin, tmp_path / "locked.p12", pem, key, PASSWORD)
    # Refused before any network I/O: the port is never reached.
    result = run(capsys, "-H", "127.0.0.1", "-p", "1", "--expect-file", p12)
    assert result.code == 3
    assert result.status == (f"TLS_EXPIRY UNKNOWN - 127.0.0.1:1: --expect-file {p12}: the file is an encrypted PKCS#12 "
                             'keystore (no password can be given for it here): export its certificates with "openssl '
                             'pkcs12 -in FILE -nokeys"')


def test_script_prints_nothing_on_stderr(openssl_bin: str, chain, tmp_path: Path) -> None:
    """As a real process, so that anything OpenSSL writes to file descriptor 2 would show too."""
    _, pem, key = chain
    p12 = export(openssl_bin, tmp_path / "legacy.p12", pem, key, PASSWORD, ("-legacy",))
    for content, code in ((PASSWORD, 0), (WRONG, 3)):
        secret = password_file(tmp_path / "pw", content.encode())
        proc = subprocess.run([sys.executable, "check_tls_expiry.py", "--file", str(p12), "--password-file",
                               str(secret), "-vvv"], capture_output=True, text=True, timeout=30, cwd=REPO,
                               check=False)
        assert proc.returncode == code, proc.stdout
        assert proc.stderr == ""
        assert PASSWORD not in proc.stdout and WRONG not in proc.stdout
