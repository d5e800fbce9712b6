"""Certificate text chosen by an attacker cannot forge a status line, perfdata or extra output lines."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from pki import CA, write_pem
from runner import run

# The hostile names are longer than X.509 allows; cryptography warns while building them, on purpose here.
pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length")

D = timedelta(days=1)
EVIL = "evil|days=9999;1;1 x=1\nTLS_EXPIRY OK - all fine | days=9999\r\u2028\u202e"


def _evil_name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text, _validate=False)])


@pytest.mark.parametrize("verbose", [[], ["-v"], ["-vvv"]])
def test_hostile_subject_in_every_output_line(root_ca: CA, tmp_path: Path, capsys, verbose: list[str]) -> None:
    leaf = root_ca.leaf(("localhost", "evil|name.example"), subject=_evil_name(EVIL), not_after=-1 * D,
                        not_before=-30 * D)
    path = write_pem(tmp_path / "evil.pem", leaf)
    result = run(capsys, "--file", path, "-H", "www.example.com", *verbose)
    assert result.code == 2
    assert [line for line in result.lines if line.startswith("TLS_EXPIRY")] == [result.lines[0]]
    assert set(result.perf) == {"days", "days_leaf"}
    # ";" is escaped by the Nagios presenter (Nagios would rewrite it to ":"), "|" and newlines everywhere.
    assert "evil\\x7cdays=9999\\x3b1\\x3b1 x=1\\x0aTLS_EXPIRY OK" in result.status
    assert "evil\\x7cname.example" in result.status  # SAN text in the hostname-mismatch sentence
    for line in result.lines:
        assert "\r" not in line and "\u2028" not in line and "\u202e" not in line


def test_hostile_issuer_of_an_extra_certificate(
    tls_server, root_ca: CA, intermediate_ca: CA, root_pem: Path, capsys
) -> None:
    evil = CA.root(EVIL, not_after=3650 * D)
    stray = evil.cross_sign(root_ca, not_before=-100 * D, not_after=-1 * D)
    port = tls_server(intermediate_ca.leaf(not_after=100 * D), [intermediate_ca.issued, stray])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "-v")
    assert result.code == 1
    assert result.out.count("|") == 1 and result.lines[-1].startswith("| days=")
    assert "issued by 'CN=evil\\x7cdays=9999" in result.status
