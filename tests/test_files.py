"""--file: PEM bundles, DER, combined key+cert files, and files that are broken or missing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pki import CA, write_pem
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
    assert result.status == f"TLS_EXPIRY UNKNOWN - {tmp_path}/nope.pem: cannot read {tmp_path}/nope.pem: No such file or directory"


def test_broken_files_are_critical(root_ca: CA, tmp_path: Path, capsys) -> None:
    cases = {
        "empty.pem": (b"", "is empty"),
        "key-only.pem": (root_ca.leaf().key_pem, "holds no PEM certificate"),
        "garbage.der": (b"\x30\x03\x02\x01\x00garbage", "certificate #1 in the chain cannot be parsed"),
        "bad-base64.pem": (b"-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n", "not valid base64"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = run(capsys, "--file", path)
        assert result.code == 2, name
        assert message in result.status, (name, result.status)


def test_a_lone_ca_file_is_a_root(root_ca: CA, tmp_path: Path, capsys) -> None:
    result = run(capsys, "--file", write_pem(tmp_path / "root.pem", root_ca.issued))
    assert result.code == 0 and "root 'Test Root CA' expires first" in result.status
    assert set(result.perf) == {"days", "days_root"}


DATA = Path(__file__).resolve().parent / "data"


def test_fuzzer_findings_are_critical_not_internal_errors(capsys) -> None:
    """Reproducers from fuzz/crashes: cryptography raised InvalidVersion and KeyError, not ValueError."""
    for name, message in (("invalidversion-x509-version.pem", "InvalidVersion: 70 is not a valid X509 version"),
                          ("keyerror-unknown-string-tag-in-name.pem", "certificate #2 in the chain cannot be parsed")):
        result = run(capsys, "--file", DATA / name)
        assert result.code == 2 and message in result.status, result.status
