#!/usr/bin/env python3
"""Benchmark: what ``--crl --ocsp --ari --aia`` with a warm ``--cache-dir`` adds to a healthy check (goal: < 10 ms).

    python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install .
    /tmp/bench-venv/bin/python benchmarks/cache_bench.py              # 40 rounds
    /tmp/bench-venv/bin/python benchmarks/cache_bench.py --rounds 100

A throw-away PKI (root -> intermediate -> leaf for localhost, EC P-256) whose leaf names a CRL distribution
point, an OCSP responder and an authority key identifier, served by ``openssl s_server`` on 127.0.0.1. The
cache is warmed by one real check against real servers in this process: an HTTP server for the CRL (signed by
the intermediate) and the OCSP answer (``cryptography``'s OCSPResponseBuilder, signed by the intermediate, good),
and an RFC 9773 responder over HTTPS for the ACME directory and the leaf's window (in the future, Retry-After
6 h). The servers are then stopped, so every timed run can only have its answers from the cache (each run's
output is checked: "not revoked (CRL, OCSP)", state OK).

Each round runs, in turn, as fresh processes through bench.py's launcher (wall time spawn to reap, CPU of the
child, peak RSS), the installed ``check_tls_expiry``:

* ``healthy``: ``-H localhost -I 127.0.0.1 -p PORT --cafile root.pem`` (the baseline);
* ``warm``: the same with ``--crl --ocsp --ari --acme-directory URL --aia --cache-dir DIR``.

It prints the medians, the difference warm - healthy in ms (the issue's criterion) and the ratio.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import Contender, console_script, measure, tls_server


def make_pki(directory: Path, http_port: int) -> dict[str, Any]:
    """root -> intermediate -> leaf (localhost) with CDP, OCSP and AKI; an HTTPS certificate for 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import ocsp
    from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

    now = datetime.now(timezone.utc)

    def issue(subject: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, ca: bool,
              names: list[x509.GeneralName] | None = None, leaf: bool = False):  # type: ignore[no-untyped-def]
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        issuer_name, signer = (issuer[0].subject, issuer[1]) if issuer is not None else (name, key)
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=3650 if ca else 90))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False)
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        if leaf:
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(f"http://127.0.0.1:{http_port}/ca.crl")], None, None, None)]),
                critical=False).add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier(f"http://127.0.0.1:{http_port}/ocsp"))]), critical=False)
        return builder.sign(signer, hashes.SHA256()), key

    root = issue("Bench Root CA", None, True)
    inter = issue("Bench Intermediate CA", root, True)
    leaf = issue("localhost", inter, False, [x509.DNSName("localhost")], leaf=True)
    acme = issue("127.0.0.1", inter, False, [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    pem = serialization.Encoding.PEM

    def write(name: str, data: bytes) -> Path:
        (directory / name).write_bytes(data)
        return directory / name

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    crl = (x509.CertificateRevocationListBuilder().issuer_name(inter[0].subject).last_update(now)
           .next_update(now + timedelta(days=7)).sign(inter[1], hashes.SHA256()))
    answer = (ocsp.OCSPResponseBuilder().add_response(
        cert=leaf[0], issuer=inter[0], algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=now, next_update=now + timedelta(days=1), revocation_time=None, revocation_reason=None)
        .responder_id(ocsp.OCSPResponderEncoding.HASH, inter[0]).sign(inter[1], hashes.SHA256()))
    aki = leaf[0].extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    return {
        "root": write("root.pem", root[0].public_bytes(pem)),
        "inter": write("inter.pem", inter[0].public_bytes(pem)),
        "leaf": write("leaf.pem", leaf[0].public_bytes(pem)),
        "key": write("leaf.key", key_pem(leaf[1])),
        "acme_chain": write("acme.pem", acme[0].public_bytes(pem) + inter[0].public_bytes(pem)),
        "acme_key": write("acme.key", key_pem(acme[1])),
        "crl": crl.public_bytes(serialization.Encoding.DER),
        "ocsp": answer.public_bytes(serialization.Encoding.DER),
        "aki": aki,
        "serial": leaf[0].serial_number,
    }


@contextmanager
def responders(pki: dict[str, Any], http: ThreadingHTTPServer) -> Iterator[str]:
    """The CRL and OCSP server (``http``, already bound) and an HTTPS ACME responder; yields the directory URL."""
    from plugin.acquire.ari import certificate_id

    now = datetime.now(timezone.utc)
    window = {"suggestedWindow": {"start": (now + timedelta(days=50)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  "end": (now + timedelta(days=55)).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    wanted = f"/renewal-info/{certificate_id(pki['aki'], pki['serial'])}"

    class Files(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def answer(self, body: bytes, kind: str, retry: str | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if retry:
                self.send_header("Retry-After", retry)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/ca.crl":
                self.answer(pki["crl"], "application/pkix-crl")
            elif self.path == "/directory":
                self.answer(json.dumps({"renewalInfo": f"https://127.0.0.1:{acme.server_address[1]}/renewal-info/"})
                            .encode(), "application/json")
            elif self.path == wanted:
                self.answer(json.dumps(window).encode(), "application/json", "21600")
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.answer(pki["ocsp"], "application/ocsp-response")

    http.RequestHandlerClass = Files
    acme = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["acme_chain"], pki["acme_key"])
    acme.socket = context.wrap_socket(acme.socket, server_side=True)
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in (http, acme)]
    for thread in threads:
        thread.start()
    try:
        yield f"https://127.0.0.1:{acme.server_address[1]}/directory"
    finally:
        for server in (http, acme):
            server.shutdown()
            server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args(argv)
    plugin = console_script()
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        http = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        pki = make_pki(work, http.server_address[1])
        with tls_server(pki, work) as port:
            healthy = [plugin, "-H", "localhost", "-I", "127.0.0.1", "-p", str(port), "--cafile", str(pki["root"])]
            with responders(pki, http) as directory:
                warm_argv = [*healthy, "--crl", "--ocsp", "--ari", "--acme-directory", directory, "--aia",
                             "--cache-dir", str(work / "cache")]
                _, code, cold = measure([*warm_argv, "--output", "json"])
                document = json.loads(cold)
                if document["state"] != "OK" or "not revoked (CRL, OCSP)" not in document["message"]:
                    sys.exit(f"bench: the cold check did not verify its answers: {cold[:400]}")
            contenders = [Contender("healthy", healthy), Contender("warm", warm_argv)]
            for _ in range(args.rounds):
                for contender in contenders:
                    sample, code, out = measure(contender.argv)
                    if code != 0 or (contender.name == "warm" and "not revoked (CRL, OCSP)" not in out):
                        sys.exit(f"bench: {contender.name} run failed ({code}): {out[:300]}")
                    contender.samples.append(sample)
                    contender.first_output = contender.first_output or out.splitlines()[0]
    base, warm = contenders
    print(f"{args.rounds} interleaved rounds, fresh processes, {plugin}")
    print(f"{'':10} {'wall ms':>8} {'cpu ms':>8} {'peak RSS MB':>12}")
    for contender in contenders:
        print(f"{contender.name:10} {contender.median('wall') * 1000:8.1f} {contender.median('cpu') * 1000:8.1f} "
              f"{contender.median('rss_mb'):12.1f}")
    added = (warm.median("wall") - base.median("wall")) * 1000
    added_cpu = (warm.median("cpu") - base.median("cpu")) * 1000
    print(f"warm - healthy: wall {added:+.1f} ms, cpu {added_cpu:+.1f} ms (goal < 10 ms); "
          f"ratio {warm.median('wall') / base.median('wall'):.2f}x")
    print(f"warm: {warm.first_output[:160]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
