#!/usr/bin/env python3
"""Benchmark: plugin.acquire.chain.build_path on hostile 270-certificate bundles and on a normal chain, in one process.

    python benchmarks/chain_bench.py               # 30 rounds
    python benchmarks/chain_bench.py --rounds 100

Absolute times depend on the machine, so each workload is also reported as a ratio to a baseline measured in
the same process, on the same certificates: parsing them from DER with ``x509.load_der_x509_certificate``, the
work the caller (file mode) has already done before it builds a path. A ratio stays comparable across machines.

Workloads (a throw-away PKI, EC P-256 and RSA-1024, made with ``cryptography``; dates relative to now):

* ``normal``: leaf + intermediate sent, the self-signed root in the store (Anchors.of) -- the everyday case;
* ``same-name``: 269 CAs with one subject name and no key identifiers, each with its own key, and the leaf;
  every one is a likely issuer of the leaf, so the step makes MAX_SIGNATURE_CHECKS signature checks;
* ``mixed-loop``: 269 same-named CAs that are not self-signed (EC keys with RSA signatures and the other way
  round), and the leaf: the worst case this module knows, 101 steps of ~135 likely issuers and 8 signature
  checks each, cut at MAX_PATH_LENGTH;
* ``long-chain``: 269 distinct CAs in one chain and the leaf: 101 steps, one candidate each, cut.

Each round times ``choose_leaf`` + ``build_path`` (medians over the rounds; ``time.perf_counter``). The store is
built once per workload: its lazy parse is paid in the first round, which is a warm-up and not counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from plugin.acquire import chain
from plugin.acquire.chain import Anchors, build_path, choose_leaf

NOW = datetime.now(timezone.utc)
DAY = timedelta(days=1)
Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, text)])


def issue(subject: str, issuer: str, key: Key, signer: Key, *, ca: bool = True, ids: bool = True) -> bytes:
    builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - 10 * DAY).not_valid_after(NOW + 100 * DAY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ids:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                                        critical=False)
    return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def workloads() -> dict[str, tuple[list[bytes], list[bytes]]]:
    """name -> (DER of what is sent, DER of the store)."""
    out: dict[str, tuple[list[bytes], list[bytes]]] = {}
    root_key, inter_key = ec_key(), ec_key()
    root = issue("Bench Root", "Bench Root", root_key, root_key)
    inter = issue("Bench Intermediate", "Bench Root", inter_key, root_key)
    out["normal"] = ([issue("bench.example", "Bench Intermediate", ec_key(), inter_key, ca=False), inter], [root])

    keys = [ec_key() for _ in range(269)]
    same = [issue("Hostile CA", "Hostile Root", key, ec_key(), ids=False) for key in keys]
    out["same-name"] = ([*same, issue("hostile.example", "Hostile CA", ec_key(), keys[200], ca=False, ids=False)],
                        [root])

    rsa_keys = [rsa.generate_private_key(public_exponent=65537, key_size=1024) for _ in range(3)]
    ec_keys = [ec_key() for _ in range(3)]
    mixed = [issue("Mixed Loop", "Mixed Loop", ec_keys[i % 3], rsa_keys[i % 3], ids=False) if i % 2 else
             issue("Mixed Loop", "Mixed Loop", rsa_keys[i % 3], ec_keys[i % 3], ids=False) for i in range(269)]
    out["mixed-loop"] = ([*mixed, issue("mixed.example", "Mixed Loop", ec_key(), rsa_keys[0], ca=False, ids=False)],
                         [root])

    chain_keys = [ec_key() for _ in range(269)]
    cas = [issue("Depth 0", "Depth 0", chain_keys[0], chain_keys[0])]
    cas += [issue(f"Depth {i}", f"Depth {i - 1}", chain_keys[i], chain_keys[i - 1]) for i in range(1, 269)]
    out["long-chain"] = ([issue("deep.example", "Depth 268", ec_key(), chain_keys[-1], ca=False), *cas], [root])
    return out


def count_work(sent: list[x509.Certificate], anchors: Anchors) -> tuple[int, int]:
    """(check() calls, signature checks) of one build: counted in a separate, untimed run."""
    steps = signatures = 0
    original = chain._signature_verdict

    def counted(child: x509.Certificate, key: Any) -> bool | None:
        nonlocal signatures
        signatures += 1
        return original(child, key)

    def step() -> None:
        nonlocal steps
        steps += 1

    chain._signature_verdict = counted
    try:
        build_path(sent, anchors, NOW, leaf=choose_leaf(sent), check=step)
    finally:
        chain._signature_verdict = original
    return steps, signatures


def parse(ders: list[bytes]) -> list[x509.Certificate]:
    """The baseline: what the caller did before building a path."""
    return [x509.load_der_x509_certificate(der) for der in ders]


def build(sent: list[x509.Certificate], anchors: Anchors) -> object:
    return build_path(sent, anchors, NOW, leaf=choose_leaf(sent))


def median_seconds(work: Callable[[], object], rounds: int) -> float:
    work()  # warm-up: imports, lazy store parse, caches
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds per workload (default 30)")
    options = parser.parse_args(argv)

    import cryptography

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.system()} {platform.release()}")
    print(f"python {platform.python_version()}, cryptography {cryptography.__version__}")
    print(f"rounds: {options.rounds} measured (+1 warm-up); baseline: x509.load_der_x509_certificate of the same "
          "certificates")
    print()
    print(f"{'workload':<12}{'certs':>6}{'path':>6}{'steps':>7}{'sigs':>6}{'parse ms':>10}{'build ms':>10}"
          f"{'ratio':>8}")
    for label, (sent_der, store_der) in workloads().items():
        sent = [x509.load_der_x509_certificate(der) for der in sent_der]
        anchors = Anchors.of([x509.load_der_x509_certificate(der) for der in store_der])
        steps, signatures = count_work(sent, anchors)
        result = build_path(sent, anchors, NOW, leaf=choose_leaf(sent))
        parse_s = median_seconds(partial(parse, sent_der), options.rounds)
        build_s = median_seconds(partial(build, sent, anchors), options.rounds)
        print(f"{label:<12}{len(sent):>6}{len(result.path):>6}{steps:>7}{signatures:>6}{parse_s * 1000:>10.3f}"
              f"{build_s * 1000:>10.3f}{build_s / parse_s:>7.1f}x")
    print()
    print("ratio: (choose_leaf + build_path) / parsing the same certificates; steps: check() calls; sigs: "
          "signature checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
