"""--expect-file: renewed but never loaded, against real servers (openssl s_server and exim's STARTTLS)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pki import CA, not_after, write_key, write_pem
from runner import run

D = timedelta(days=1)


def test_renewed_but_not_loaded(tls_server, intermediate_ca: CA, root_pem: Path, tmp_path: Path, capsys) -> None:
    old = intermediate_ca.leaf(not_after=40 * D, not_before=-50 * D)
    new = intermediate_ca.leaf(not_after=90 * D)
    port = tls_server(old, [intermediate_ca.issued])
    base = ("-H", "localhost", "-p", port, "--cafile", root_pem)
    # The renewal job wrote a bundle with the intermediate first: the leaf is still found.
    renewed = write_pem(tmp_path / "fullchain.pem", intermediate_ca.issued, new)
    result = run(capsys, *base, "--expect-file", renewed)
    assert result.code == 1
    assert "localhost" in result.status and ": still serves the certificate that expires " in result.status
    assert result.status.endswith("holds a newer one (expires " + f"{not_after(new.cert):%Y-%m-%d %H:%M} "
                                  "UTC): reload the service")
    # The same certificate: OK, and -v says so.
    same = write_pem(tmp_path / "same.pem", old, intermediate_ca.issued)
    result = run(capsys, *base, "--expect-file", same, "-v")
    assert result.code == 0 and f"serves the certificate in --expect-file {same}" in result.out
    # An older file (someone restored a backup): a different certificate, WARNING.
    older = tmp_path / "older.der"
    older.write_bytes(intermediate_ca.leaf(not_after=10 * D).der)
    result = run(capsys, *base, "--expect-file", older)
    assert result.code == 1 and ": serves a different certificate than " in result.status


def test_the_stale_certificate_is_critical_once_below_c(tls_server, intermediate_ca: CA, root_pem: Path,
                                                        tmp_path: Path, capsys) -> None:
    old = intermediate_ca.leaf(not_after=5 * D, not_before=-85 * D)
    port = tls_server(old, [intermediate_ca.issued])
    renewed = write_pem(tmp_path / "cert.pem", intermediate_ca.leaf(not_after=90 * D))
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--expect-file", renewed)
    assert result.code == 2 and "still serves the certificate" in result.status
    assert result.status.endswith("reload the service - leaf 'localhost' expires in 5.0 days "
                                  f"({not_after(old.cert):%Y-%m-%d %H:%M} UTC)")  # and the expiry itself


def test_a_bad_expect_file_is_unknown_before_any_connection(intermediate_ca: CA, tmp_path: Path, capsys) -> None:
    key = tmp_path / "key.pem"
    write_key(key, intermediate_ca.leaf())
    # Port 9 of 127.0.0.1 would refuse: the file is read first, so the answer is about the file.
    for path, why in ((tmp_path / "missing.pem", "cannot read the file"),
                      (key, "the file holds a private key, not a certificate")):
        result = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", "9", "--expect-file", path)
        assert result.code == 3 and result.status == f"TLS_EXPIRY UNKNOWN - localhost:9: --expect-file {path}: " \
            f"{why}" + ("" if "holds" in why else ": No such file or directory")
    result = run(capsys, "--file", key, "--expect-file", key)
    assert result.code == 3 and "--expect-file cannot be used with --file" in result.status


def test_renewed_but_not_loaded_over_starttls(exim_server, mail_chain, intermediate_ca: CA, tmp_path: Path,
                                              capsys) -> None:
    """exim keeps serving its 60-day leaf; the renewal wrote a 90-day one."""
    renewed = write_pem(tmp_path / "renewed.pem", intermediate_ca.leaf(("localhost",), not_after=90 * D))
    base = ("-H", "localhost", "-p", exim_server.port, "--starttls", "smtp", "--cafile", mail_chain.root)
    result = run(capsys, *base, "--expect-file", renewed)
    assert result.code == 1 and "still serves the certificate that expires" in result.status
    assert run(capsys, *base, "--expect-file", mail_chain.chain).code == 0
