"""--file: PEM bundles, DER, combined key+cert files, and files that are broken or missing."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from ci import require_binary
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from pki import CA, generate_key, make_name, write_pem
from runner import run

D = timedelta(days=1)


def test_pem_bundle_is_a_chain(intermediate_ca: CA, tmp_path: Path, capsys) -> None:
    path = write_pem(tmp_path / "chain.pem", intermediate_ca.leaf(not_after=100 * D), intermediate_ca.issued)
    result = run(capsys, "--file", path, "-H", "localhost")
    assert result.code == 0
    assert result.status.startswith(f"TLS_EXPIRY OK - {path}: leaf 'localhost' expires first, in 100.0 days")
    assert result.status.endswith(", trust not checked (file)")
    assert set(result.perf) == {"days", "days_leaf", "days_int1"}


def test_hostname_is_verified_with_host(intermediate_ca: CA, tmp_path: Path, capsys) -> None:
    path = write_pem(tmp_path / "leaf.pem", intermediate_ca.leaf(("mail.example",), not_after=100 * D))
    assert run(capsys, "--file", path).code == 0  # no -H: no name to check
    assert run(capsys, "--file", path, "-H", "mail.example").code == 0
    result = run(capsys, "--file", path, "-H", "www.example")
    assert result.code == 2 and "certificate is not valid for www.example, it is for mail.example" in result.status


def test_der_file(intermediate_ca: CA, tmp_path: Path, capsys) -> None:
    path = tmp_path / "leaf.der"
    path.write_bytes(intermediate_ca.leaf(not_after=10 * D).der)
    result = run(capsys, "--file", path, "-w", "30d", "-c", "14d")
    assert result.code == 2 and "leaf 'localhost' expires in 10.0 days" in result.status


def test_combined_key_and_certificate_never_prints_the_key(intermediate_ca: CA, tmp_path: Path, capsys) -> None:
    leaf = intermediate_ca.leaf(not_after=100 * D)
    path = tmp_path / "combined.pem"
    path.write_bytes(leaf.key_pem + leaf.pem)
    result = run(capsys, "--file", path, "-vvv")
    assert result.code == 0
    body = b"".join(leaf.key_pem.splitlines()[1:-1]).decode()
    assert "PRIVATE KEY" not in result.out and body[:40] not in result.out.replace("\n", "")


def test_expired_file(root_ca: CA, tmp_path: Path, capsys) -> None:
    path = write_pem(tmp_path / "old.pem", root_ca.leaf(not_before=-400 * D, not_after=-30 * D))
    result = run(capsys, "--file", path)
    assert result.code == 2 and "leaf 'localhost' expired 30.0 days ago" in result.status


def test_missing_file_is_unknown(tmp_path: Path, capsys) -> None:
    result = run(capsys, "--file", tmp_path / "nope.pem")
    assert result.code == 3
    assert result.status == f"TLS_EXPIRY UNKNOWN - {tmp_path}/nope.pem: cannot read the file: No such file or directory"


def test_what_is_not_a_regular_file_is_unknown_and_never_blocks(tmp_path: Path, capsys) -> None:
    """Refused before opening, so even root gets UNKNOWN, and a FIFO nobody writes to cannot hang the check."""
    fifo = tmp_path / "pipe.pem"
    os.mkfifo(fifo)
    cases = [(tmp_path, "it is a directory"), (fifo, "it is a named pipe (FIFO), not a regular file")]
    if os.path.exists("/dev/null"):
        cases.append((Path("/dev/null"), "it is a character device, not a regular file"))
    link = tmp_path / "link-to-dir.pem"
    link.symlink_to(tmp_path)
    cases.append((link, "it is a directory"))
    for path, reason in cases:
        started = time.monotonic()
        result = run(capsys, "--file", path, "-t", "2")  # were the FIFO opened, the backstop would end this
        assert time.monotonic() - started < 1.5, path
        assert result.code == 3, result.out
        assert result.status == f"TLS_EXPIRY UNKNOWN - {path}: cannot read the file: {reason}"
        assert len(result.lines) == 1


def test_unreadable_file_is_unknown(root_ca: CA, tmp_path: Path, capsys) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads a mode-000 file; the root-proof cases are in the test above")
    path = write_pem(tmp_path / "locked.pem", root_ca.leaf())
    path.chmod(0)
    try:
        result = run(capsys, "--file", path)
    finally:
        path.chmod(0o600)
    assert result.code == 3 and result.status.endswith(": cannot read the file: Permission denied")


def test_broken_files_are_critical(root_ca: CA, tmp_path: Path, capsys) -> None:
    leaf = root_ca.leaf()
    cases = {
        "empty.pem": (b"", "is empty, not a certificate"),
        "bad-base64.pem": (b"-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
                           "holds a PEM certificate block (#1) that is not valid base64"),
        "second-bad.pem": (leaf.pem + b"-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
                           "holds a PEM certificate block (#2) that is not valid base64"),
        "empty-block.pem": (b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
                            "holds an empty PEM certificate block (#1)"),
        "cut-short.pem": (leaf.pem + leaf.pem[:200], "holds a PEM certificate block without its END line (cut short?)"),
        "big.pem": (None, "is larger than 4 MB, not a certificate"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        if data is None:
            with path.open("wb") as handle:  # sparse: 4 MB + 1 byte without writing them
                handle.truncate(4 * 1024 * 1024 + 1)
        else:
            path.write_bytes(data)
        result = run(capsys, "--file", path)
        assert result.code == 2, name
        assert result.status == f"TLS_EXPIRY CRITICAL - {path}: the file {message}", (name, result.status)


def _no_certificate_cases(ca: CA) -> dict[str, tuple[bytes, str]]:
    """Files people point a certificate check at by mistake, and the sentence each must produce."""
    leaf = ca.leaf()
    rsa_key = generate_key("rsa")
    pem, der = serialization.Encoding.PEM, serialization.Encoding.DER
    pkcs8, traditional = serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL
    locked, plain = serialization.BestAvailableEncryption(b"hunter2"), serialization.NoEncryption()
    csr = x509.CertificateSigningRequestBuilder().subject_name(make_name("csr")).sign(leaf.key, hashes.SHA256())
    now = datetime.now(timezone.utc)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.name).last_update(now)
           .next_update(now + D).sign(ca.key, hashes.SHA256()))
    public = leaf.key.public_key()
    holds_key = "holds a private key, not a certificate"
    return {
        "key.pem": (leaf.key_pem, holds_key),
        "rsa-traditional.pem": (rsa_key.private_bytes(pem, traditional, plain), holds_key),
        "encrypted-key.pem": (leaf.key.private_bytes(pem, pkcs8, locked), "holds an encrypted private key, not a"),
        "encrypted-legacy.pem": (leaf.key.private_bytes(pem, traditional, locked), "holds an encrypted private key"),
        "csr.pem": (csr.public_bytes(pem), "holds a certificate signing request (CSR), not a certificate"),
        "crl.pem": (crl.public_bytes(pem), "holds a certificate revocation list (CRL), not a certificate"),
        "public.pem": (public.public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
                       "holds a public key, not a certificate"),
        "bundle.p7b": (pkcs7.serialize_certificates([leaf.cert], pem),
                       ('holds a PKCS#7 bundle (.p7b), not a certificate: extract the certificates with "openssl '
                        'pkcs7 -print_certs -in FILE"')),
        "key-and-csr.pem": (leaf.key_pem + csr.public_bytes(pem),
                            "holds a private key and a certificate signing request (CSR), but no certificate"),
        "dhparam.pem": (b"-----BEGIN DH PARAMETERS-----\nMAA=\n-----END DH PARAMETERS-----\n",
                        "holds a PEM DH PARAMETERS block, not a certificate"),
        "cut-key.pem": (leaf.key_pem[:60], holds_key),
        "key.der": (leaf.key.private_bytes(der, pkcs8, plain), "holds a private key (DER), not a certificate"),
        "ec-sec1.der": (leaf.key.private_bytes(der, traditional, plain), "holds a private key (DER)"),
        "rsa-pkcs1.der": (rsa_key.private_bytes(der, traditional, plain), "holds a private key (DER)"),
        "encrypted.der": (leaf.key.private_bytes(der, pkcs8, locked), "holds an encrypted private key (DER)"),
        "public.der": (public.public_bytes(der, serialization.PublicFormat.SubjectPublicKeyInfo),
                       "holds a public key (DER), not a certificate"),
        "csr.der": (csr.public_bytes(der), "holds a certificate signing request (CSR, DER), not a certificate"),
        "crl.der": (crl.public_bytes(der), "holds a certificate revocation list (CRL, DER), not a certificate"),
        "bundle-der.p7b": (pkcs7.serialize_certificates([leaf.cert], der), "holds a PKCS#7 bundle (.p7b, DER)"),
        "keystore.jks": (b"\xfe\xed\xfe\xed\x00\x00\x00\x02" + bytes(32), "holds a Java keystore (JKS)"),
        "notes.txt": ("Zertifikat für www: siehe Wiki\n".encode(), "holds text but no PEM certificate block, not a"),
        "random.bin": (bytes(range(256)) * 4, "holds binary data that is neither a PEM nor a DER certificate"),
    }


def test_files_without_a_certificate_say_what_they_hold(root_ca: CA, tmp_path: Path, capsys) -> None:
    for name, (data, message) in _no_certificate_cases(root_ca).items():
        path = tmp_path / name
        path.write_bytes(data)
        result = run(capsys, "--file", path)
        assert result.code == 2, (name, result.out)
        assert result.status.startswith(f"TLS_EXPIRY CRITICAL - {path}: the file {message}"), (name, result.status)
        assert len(result.lines) == 1 and "{" not in result.out and "Error" not in result.out, (name, result.out)
        assert "PRIVATE KEY" not in result.out and "hunter2" not in result.out


def test_unreadable_der_says_so_without_a_library_dump(root_ca: CA, tmp_path: Path, capsys) -> None:
    der = root_ca.leaf().der
    tbs_start = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)  # after the certificate's SEQUENCE tag and length
    broken = bytearray(der)
    broken[tbs_start] = 0x31  # the TBSCertificate becomes a SET: the shape of a certificate, but not one
    cases = {
        "sequence-and-junk.der": (b"\x30\x03\x02\x01\x00garbage", " (7 bytes follow its end)"),
        "trailing.der": (der + b"\x00\x00", " (2 bytes follow its end)"),
        "cut.der": (der[:-10], " (it is cut short or its length is broken)"),
        "wrong-tag.der": (bytes(broken), ""),
        "lone-integer.der": (b"\x30\x03\x02\x01\x00", ""),
    }
    for name, (data, detail) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = run(capsys, "--file", path)
        assert result.code == 2, (name, result.out)
        expected = f"TLS_EXPIRY CRITICAL - {path}: the file holds a DER object that is not a readable certificate{detail}"
        assert result.status == expected, (name, result.status)
        assert "ParseError" not in result.out and "{" not in result.out


def test_trusted_certificate_blocks(intermediate_ca: CA, tmp_path: Path, capsys) -> None:
    """OpenSSL's TRUSTED CERTIFICATE: the certificate followed by its trust settings (X509_CERT_AUX)."""
    openssl = require_binary("openssl")
    leaf = intermediate_ca.leaf(not_after=100 * D)
    plain = write_pem(tmp_path / "leaf.pem", leaf)
    trusted = tmp_path / "trusted.pem"
    subprocess.run([openssl, "x509", "-in", plain, "-addtrust", "serverAuth", "-out", trusted], check=True,
                   capture_output=True)
    assert trusted.read_bytes().startswith(b"-----BEGIN TRUSTED CERTIFICATE-----")
    result = run(capsys, "--file", trusted, "-H", "localhost")
    assert result.code == 0, result.out
    assert result.status.startswith(f"TLS_EXPIRY OK - {trusted}: leaf 'localhost' expires first, in 100.0 days")

    # In a chain, mixed with plain blocks: the trusted one is read as its certificate only.
    trusted_ca = tmp_path / "trusted-ca.pem"
    subprocess.run([openssl, "x509", "-in", write_pem(tmp_path / "ca.pem", intermediate_ca.issued), "-addtrust",
                    "serverAuth", "-out", trusted_ca], check=True, capture_output=True)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(leaf.pem + trusted_ca.read_bytes())
    result = run(capsys, "--file", chain, "-H", "localhost")
    assert result.code == 0 and set(result.perf) == {"days", "days_leaf", "days_int1"}, result.out

    broken = tmp_path / "broken-trusted.pem"
    broken.write_bytes(b"-----BEGIN TRUSTED CERTIFICATE-----\nMIIBAA==\n-----END TRUSTED CERTIFICATE-----\n")
    result = run(capsys, "--file", broken)
    assert result.code == 2
    assert result.status.endswith(f"{broken}: the file holds a TRUSTED CERTIFICATE block (#1) that does not start with a DER "
                                  "certificate")


def test_hostile_file_names_are_escaped(root_ca: CA, tmp_path: Path, capsys) -> None:
    path = tmp_path / "evil|name\nOK - fake.pem"
    path.write_bytes(root_ca.leaf().key_pem)
    result = run(capsys, "--file", path)
    assert result.code == 2 and len(result.lines) == 1
    assert "evil\\x7cname\\x0aOK - fake.pem: the file holds a private key, not a certificate" in result.status


def test_reading_changes_nothing(root_ca: CA, tmp_path: Path, capsys) -> None:
    leaf = root_ca.leaf(not_after=100 * D)
    path = tmp_path / "combined.pem"
    path.write_bytes(leaf.key_pem + leaf.pem)
    path.chmod(0o400)
    before = path.stat()
    assert run(capsys, "--file", path).code == 0
    after = path.stat()
    assert (after.st_mtime_ns, after.st_size, after.st_mode) == (before.st_mtime_ns, before.st_size, before.st_mode)
    assert sorted(item.name for item in tmp_path.iterdir()) == ["combined.pem"]


def test_a_lone_ca_file_is_a_root(root_ca: CA, tmp_path: Path, capsys) -> None:
    result = run(capsys, "--file", write_pem(tmp_path / "root.pem", root_ca.issued))
    assert result.code == 0 and "root 'Test Root CA' expires first" in result.status
    assert set(result.perf) == {"days", "days_root"}


DATA = Path(__file__).resolve().parent / "data"


def test_fuzzer_findings_are_critical_not_internal_errors(capsys) -> None:
    """Reproducers from fuzz/crashes: cryptography raised InvalidVersion and KeyError, not ValueError."""
    for name, message in (("invalidversion-x509-version.pem", "cannot be parsed: 70 is not a valid X509 version"),
                          ("keyerror-unknown-string-tag-in-name.pem", "certificate #2 in the chain cannot be parsed")):
        result = run(capsys, "--file", DATA / name)
        assert result.code == 2 and message in result.status, result.status


def test_an_expired_extra_in_a_file_is_what_the_file_holds(root_ca: CA, intermediate_ca: CA, root_pem: Path,
                                                           tmp_path: Path, capsys) -> None:
    """The same finding as a server's expired extra cross-sign, in the words of file mode."""
    cross = CA.root("Old Root").cross_sign(root_ca, not_before=-400 * D, not_after=-5 * D)
    path = write_pem(tmp_path / "bundle.pem", intermediate_ca.leaf(not_after=200 * D), intermediate_ca.issued, cross)
    result = run(capsys, "--file", path, "--cafile", root_pem)
    assert result.code == 1
    assert "the file also holds 'CN=Test Root CA' issued by 'CN=Old Root', which expired 5.0 days ago" in result.status
    assert "server" not in result.status
