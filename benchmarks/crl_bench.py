#!/usr/bin/env python3
"""Benchmark: what --crl costs to judge a large CRL (plugin.acquire.revocation._judge), in one process.

    python benchmarks/crl_bench.py               # 10 rounds, CRLs of 1,000 / 20,000 / 100,000 entries
    python benchmarks/crl_bench.py --rounds 30 --entries 50000

Public CAs publish CRLs of a few MB (Let's Encrypt shards them; others do not), and the check parses the whole
CRL it fetched: load, issuer name, signature with the issuer's key, the serial looked up. The fetch is network
time and not measured here. Each size is reported in ms and as a ratio to a baseline run in the same process on
the same bytes: ``x509.load_der_x509_crl`` alone, the least any reader of that CRL must do.

A throw-away CA (EC P-256, ``cryptography``) signs CRLs listing N random serials; the certificate looked up is
not listed (the everyday case: the whole list is searched).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plugin.acquire.revocation import MAX_CRL_BYTES, _judge


def _ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench CA")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(ca: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
            .issuer_name(ca.subject).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256()))


def _crl(ca: x509.Certificate, key: ec.EllipticCurvePrivateKey, entries: int) -> bytes:
    now = datetime.now(timezone.utc)
    builder = x509.CertificateRevocationListBuilder().issuer_name(ca.subject).last_update(now).next_update(
        now + timedelta(days=7))
    for _ in range(entries):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(x509.random_serial_number()).revocation_date(now).build())
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--entries", type=int, action="append")
    args = parser.parse_args()
    sizes = args.entries or [1000, 20000, 100000]
    ca, key = _ca()
    leaf = _leaf(ca, key)
    print(f"{'entries':>8} {'bytes':>10} {'judge ms':>9} {'load ms':>8} {'ratio':>6}")
    for entries in sizes:
        data = _crl(ca, key, entries)
        judged, loaded = [], []
        for _ in range(args.rounds + 1):  # the first round is a warm-up
            started = time.perf_counter()
            verdict = _judge(0, leaf, ca, data, "http://bench.invalid/ca.crl")
            judged.append(time.perf_counter() - started)
            started = time.perf_counter()
            x509.load_der_x509_crl(data)
            loaded.append(time.perf_counter() - started)
        assert verdict.status == "good", verdict
        judge_ms, load_ms = statistics.median(judged[1:]) * 1000, statistics.median(loaded[1:]) * 1000
        note = "" if len(data) <= MAX_CRL_BYTES else f"  (over the {MAX_CRL_BYTES} byte cap: not fetched)"
        print(f"{entries:>8} {len(data):>10} {judge_ms:>9.2f} {load_ms:>8.3f} {judge_ms / load_ms:>5.0f}x{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
