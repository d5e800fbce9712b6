"""One chain, one verdict: the same certificates get the same path, labels and findings on every code path.

Every example builds a real chain (EC P-256 by default; RSA-1024 keys from a small pool for weak keys; SHA-1
signatures by re-signing the TBSCertificate, since cryptography >= 41 refuses to build them) and checks it four
ways, all with ``--output json`` and the same ``--cafile root.pem``:

* ``verify``: ``-H localhost -p PORT`` against ``openssl s_server`` presenting the leaf and the chain in a
  given order (the leaf first, as TLS requires);
* ``ignore-trust``: the same handshake with ``--ignore-trust`` added;
* ``file``: ``--file bundle.pem -H localhost``, the bundle holding what the server sends, in the same order;
* ``file-shuffled``: the same certificates in another order (the leaf anywhere).

Properties (:func:`one_verdict`):

(a) the set of (label, sha256) of the rows that count (everything but ``extra*``) is the same in every run;
(b) the set of extras (by sha256) is the same; so are the extras' labels in the three runs that saw the same
    order (extras are numbered in the order they were sent, so the shuffled bundle may number them otherwise);
(c) the set of (kind, label) of the certificate findings (:data:`CERTIFICATE_KINDS`) is the same, an extra's
    label standing for its sha256; trust kinds legitimately differ between the verifying run and
    --ignore-trust / file mode;
(d) when the verifying run has no trust finding, ``state`` is the same in every run;
(e) whenever ``openssl verify -show_chain -no_check_time -CAfile root.pem -untrusted <sent minus leaf> leaf.pem``
    succeeds, the rows that count, in order, are the chain it prints;
(f) ``position`` is the index in what was sent (in the file, in file mode), and no row is from the trust store
    unless the trust store holds it;
(g) beyond agreement: the leaf's certificate findings are the ones its shape calls for (``no_san`` for a CN-only
    leaf, ``hostname_mismatch``, ``weak_signature``, ``weak_key``, and its expiry), so that every run being
    wrong the same way is caught too.

A run that fails outright (usage error, internal error: ``result.value`` ``error``) is reported as such.

The property runs once per kind of leaf (plain, CN-only, another name, SHA-1, RSA-1024), each with its own fixed
seed and no example database, so CI is reproducible; the rest of the chain is generated. Shrinking is off by
default, because every example starts a server and runs the plugin four times: a failure prints the chain's
description (:class:`Spec`) and every property it breaks, then what each run said. ``ONE_VERDICT_SHRINK=1``
turns it on; ``ONE_VERDICT_EXAMPLES=N`` sets the examples per kind of leaf (12: 60 in all, about 0.1 s each).

The plain tests below the property are the named defects, against the same contract.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import subprocess
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID
from hypothesis import HealthCheck, Phase, event, given, seed, settings
from hypothesis import strategies as st
from pki import CA, Issued, PrivateKey, make_name, write_pem
from servers import openssl_server

from check_tls_expiry import main

# --- the contract ------------------------------------------------------------------------------------------------

STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
#: Findings about a certificate itself: the same on every path.
CERTIFICATE_KINDS = frozenset({"expired", "expiring", "not_yet_valid", "extra_expired", "extra_not_yet_valid",
                               "hostname_mismatch", "no_san", "weak_signature", "weak_key"})
#: Findings about whether the path reaches the trust store: the verifying run's alone.
TRUST_KINDS = frozenset({"self_signed", "untrusted_root", "untrusted_issuer", "missing_intermediate", "not_a_ca",
                         "verify_failed"})
HOST = "localhost"
# SHA-1 and RSA-1024 certificates are refused by s_server at Debian's default security level. The server only
# has to present them: the client under test is the product, with its own defaults.
SERVER_ARGS = ("-cipher", "DEFAULT:@SECLEVEL=0")
# Longer than the JSON default (2.5 s): a loaded CI machine must not turn a slow run into a different verdict.
TIMEOUT = ("-t", "10")

EXAMPLES = int(os.environ.get("ONE_VERDICT_EXAMPLES", "12"))  # per kind of leaf: 60 in all
PHASES = (Phase.explicit, Phase.generate) + ((Phase.shrink,) if os.environ.get("ONE_VERDICT_SHRINK") else ())

D = timedelta(days=1)

# --- certificates ------------------------------------------------------------------------------------------------

#: (notBefore, notAfter) in days from now. Lifetimes are long, so the default thresholds (30d,25% / 14d,10%) come
#: down to 30 and 14 days.
LEAF_TIMES = {"valid": (-60, 300), "warning": (-345, 20), "critical": (-355, 10), "expired": (-400, -3),
              "not_yet_valid": (2, 400)}
CA_TIMES = {"valid": (-365, 3000), "warning": (-1000, 20), "expired": (-1000, -5), "not_yet_valid": (3, 3000)}
CROSS_TIMES = {"valid": (-30, 365), "expired": (-400, -10), "not_yet_valid": (5, 400)}
ROOT_TIMES = (-365, 3650)
#: The certificate finding each kind of leaf and each LEAF_TIMES entry must give the leaf on every path.
LEAF_KIND_FINDINGS = {"plain": None, "cn_only": "no_san", "other_name": "hostname_mismatch",
                      "sha1": "weak_signature", "weak_key": "weak_key"}
LEAF_TIME_FINDINGS = {"valid": None, "warning": "expiring", "critical": "expiring", "expired": "expired",
                      "not_yet_valid": "not_yet_valid"}


@functools.cache
def weak_rsa_key(index: int) -> rsa.RSAPrivateKey:
    """One of a few RSA-1024 keys, made once per session (10-20 ms each)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _validity(days: tuple[float, float]) -> tuple[datetime, datetime]:
    now = datetime.now(timezone.utc)
    return now + days[0] * D, now + days[1] * D


def _ski(key: PrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def _aki(issuer: CA) -> x509.AuthorityKeyIdentifier:
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _key_usage(*, ca: bool, rsa_key: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=rsa_key and not ca,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def make_ca(cn: str, issuer: CA | None = None, *, days: tuple[float, float] = CA_TIMES["valid"],
            key: PrivateKey | None = None) -> CA:
    """A root (``issuer`` None) or an intermediate without a path length limit (pki's have pathlen 0)."""
    key = key if key is not None else ec_key()
    start, end = _validity(days)
    name = make_name(cn)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(issuer.name if issuer else name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(_ski(key), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(_aki(issuer), critical=False)
    return CA(Issued(builder.sign(issuer.key if issuer else key, hashes.SHA256()), key))


def make_leaf(issuer: CA, names: Sequence[str] = (HOST,), *, cn: str | None = None,
              days: tuple[float, float] = LEAF_TIMES["valid"], key: PrivateKey | None = None,
              sha1: bool = False, ca_issuers: str | None = None) -> Issued:
    """A TLS server certificate (pki's profile); ``names`` empty: no subjectAltName; ``sha1``: signed with SHA-1;
    ``ca_issuers``: an AIA caIssuers URL, as public CAs put in their leaves."""
    key = key if key is not None else ec_key()
    start, end = _validity(days)
    builder = (
        x509.CertificateBuilder().subject_name(make_name(cn or (names[0] if names else HOST)))
        .issuer_name(issuer.name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False, rsa_key=isinstance(key, rsa.RSAPrivateKey)), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_ski(key), critical=False)
        .add_extension(_aki(issuer), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]),
                                        critical=False)
    if ca_issuers is not None:
        access = x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                        x509.UniformResourceIdentifier(ca_issuers))
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    cert = builder.sign(issuer.key, hashes.SHA256())
    return Issued(resign_sha1(cert, issuer.key) if sha1 else cert, key)


# --- DER surgery for SHA-1 (cryptography 41+ refuses to sign a certificate with it) ------------------------------

_SHA1_ALGORITHMS = {  # AlgorithmIdentifier DER: ecdsa-with-SHA1 (no parameters), sha1WithRSAEncryption (NULL)
    "ec": bytes.fromhex("300906072a8648ce3d0401"),
    "rsa": bytes.fromhex("300d06092a864886f70d0101050500"),
}


def _tlv(tag: int, content: bytes) -> bytes:
    if len(content) < 0x80:
        return bytes([tag, len(content)]) + content
    size = len(content).to_bytes((len(content).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _children(element: bytes) -> list[bytes]:
    def bounds(pos: int) -> tuple[int, int]:
        length, start = element[pos + 1], pos + 2
        if length & 0x80:
            size = length & 0x7F
            length, start = int.from_bytes(element[start : start + size], "big"), start + size
        return start, start + length

    start, end = bounds(0)
    out = []
    while start < end:
        next_start = bounds(start)[1]
        out.append(element[start:next_start])
        start = next_start
    return out


def resign_sha1(cert: x509.Certificate, signer: PrivateKey) -> x509.Certificate:
    """``cert`` with its signature algorithm (inside and outside the TBSCertificate) SHA-1, signed by ``signer``."""
    children = _children(cert.tbs_certificate_bytes)
    if isinstance(signer, rsa.RSAPrivateKey):
        algorithm = _SHA1_ALGORITHMS["rsa"]
    elif isinstance(signer, ec.EllipticCurvePrivateKey):
        algorithm = _SHA1_ALGORITHMS["ec"]
    else:
        raise TypeError(f"no SHA-1 signature with a {type(signer).__name__}")
    children[2 if children[0][0] == 0xA0 else 1] = algorithm  # [0] version, serialNumber, signature
    tbs = _tlv(0x30, b"".join(children))
    if isinstance(signer, rsa.RSAPrivateKey):
        signature = signer.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    else:
        signature = signer.sign(tbs, ec.ECDSA(hashes.SHA1()))
    return x509.load_der_x509_certificate(_tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature)))


# --- running the plugin and openssl ------------------------------------------------------------------------------


def run_json(argv: Sequence[object]) -> dict[str, Any]:
    """Run the plugin in-process with ``--output json``; check the JSON contract; return the document."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*(str(arg) for arg in argv), "--output", "json"])
    text = out.getvalue()
    assert code == 0 and err.getvalue() == "", (code, err.getvalue(), text)
    assert text.endswith("\n") and text.count("\n") == 1, text
    document: dict[str, Any] = json.loads(text)
    assert document["state"] in STATES, text
    return document


class Chain(NamedTuple):
    """A built chain: what the server sends (leaf first), the trust store, and readable names for messages."""

    sent: tuple[Issued, ...]
    store: tuple[Issued, ...]
    shuffled: tuple[int, ...]  # the order of ``sent`` in the shuffled bundle
    names: dict[str, str]  # sha256 -> a name for messages ("leaf", "I1", "Root", "XS1 expired", ...)
    leaf_kinds: frozenset[str] | None = None  # the certificate findings the leaf must get (None: not checked)

    @property
    def leaf(self) -> Issued:
        return self.sent[0]

    def name(self, sha256: str | None) -> str:
        return self.names.get(sha256 or "", f"?{(sha256 or 'none')[:8]}")


def verdicts(openssl: str, workdir: Path, chain: Chain, *, host: str = HOST,
             address: str | None = None) -> dict[str, dict[str, Any]]:
    """The four runs of one chain (see the module docstring): run name -> JSON document."""
    workdir.mkdir(parents=True, exist_ok=True)
    cafile = write_pem(workdir / "root.pem", *chain.store)
    bundle = write_pem(workdir / "bundle.pem", *chain.sent)
    shuffled = write_pem(workdir / "shuffled.pem", *(chain.sent[index] for index in chain.shuffled))
    where = ["-H", host, *(["-I", address] if address else [])]
    documents = {}
    with openssl_server(workdir, chain.leaf, chain.sent[1:], extra_args=SERVER_ARGS) as port:
        network = [*where, "-p", port, "--cafile", cafile, *TIMEOUT]
        documents["verify"] = run_json(network)
        documents["ignore-trust"] = run_json([*network, "--ignore-trust"])
    documents["file"] = run_json(["--file", bundle, "-H", host, "--cafile", cafile, *TIMEOUT])
    documents["file-shuffled"] = run_json(["--file", shuffled, "-H", host, "--cafile", cafile, *TIMEOUT])
    return documents


_DEPTH = re.compile(r"^depth=(\d+): (.*?)( \(untrusted\))?$")


def openssl_path(openssl: str, workdir: Path, chain: Chain) -> list[set[str]] | None:
    """The chain ``openssl verify -show_chain -no_check_time`` prints, leaf first, each element as the set of
    sha256 it can be (the output names subjects only; a cross-signed copy shares its root's subject); None when
    verification fails."""
    leaf = write_pem(workdir / "verify-leaf.pem", chain.leaf)
    cafile = write_pem(workdir / "verify-root.pem", *chain.store)
    command = [openssl, "verify", "-show_chain", "-no_check_time", "-CAfile", str(cafile)]
    if len(chain.sent) > 1:
        command += ["-untrusted", str(write_pem(workdir / "verify-untrusted.pem", *chain.sent[1:]))]
    done = subprocess.run([*command, str(leaf)], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        return None
    lines = done.stdout.splitlines()
    assert "Chain:" in lines, done.stdout  # OpenSSL 3.0's format: "<file>: OK", "Chain:", "depth=N: <subject>"
    path: list[set[str]] = []
    for line in lines[lines.index("Chain:") + 1 :]:
        match = _DEPTH.match(line)
        assert match and int(match.group(1)) == len(path), done.stdout
        pool = chain.sent if match.group(3) else chain.store
        candidates = {item.sha256 for item in pool if _oneline(item.cert) == match.group(2)}
        assert candidates, f"no certificate has the subject {match.group(2)!r}: {done.stdout}"
        path.append(candidates)
    return path


def _oneline(cert: x509.Certificate) -> str:
    """The subject as ``openssl verify`` prints it, for this file's one-CN names."""
    return ", ".join(f"CN = {attribute.value!s}" for attribute in cert.subject)


# --- the properties ----------------------------------------------------------------------------------------------


def _counted(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for row in document.get("chain", []) if not str(row.get("label", "")).startswith("extra")]


def _extras(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for row in document.get("chain", []) if str(row.get("label", "")).startswith("extra")]


def _certificate_findings(document: dict[str, Any]) -> set[tuple[str, str | None]]:
    """(kind, label) of the certificate findings; an extra's label is replaced by its sha256, because extras are
    numbered in the order they were sent, which the shuffled bundle changes."""
    extras: dict[str | None, str] = {row["label"]: row["sha256_fingerprint"] for row in _extras(document)}
    return {(f["kind"], extras.get(f.get("label"), f.get("label")))
            for f in document.get("findings", []) if f["kind"] in CERTIFICATE_KINDS}


def one_verdict(chain: Chain, documents: dict[str, dict[str, Any]], expected: list[set[str]] | None) -> list[str]:
    """Every property the runs break, one line each (empty: one verdict)."""
    problems: list[str] = []

    def show(value: object) -> str:
        if isinstance(value, (set, frozenset)):
            return "{" + ", ".join(sorted(show(item) for item in value)) + "}"
        if isinstance(value, tuple):
            return ":".join(show(item) for item in value)
        if isinstance(value, list):
            return "[" + ", ".join(show(item) for item in value) + "]"
        if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value):
            return chain.name(value)
        return str(value)

    def same(prop: str, what: str, values: dict[str, object]) -> None:
        first, *rest = values.values()
        if any(value != first for value in rest):
            problems.append(f"({prop}) {what} differ: " + "; ".join(f"{run}={show(v)}" for run, v in values.items()))

    for run, document in documents.items():
        if document.get("result", {}).get("value") == "error":
            problems.append(f"run {run} failed: {document.get('state')} {document.get('message')!r}")
    same("a", "counted rows (label:cert)",
         {run: {(row["label"], row["sha256_fingerprint"]) for row in _counted(doc)} for run, doc in documents.items()})
    same("b", "extras", {run: {row["sha256_fingerprint"] for row in _extras(doc)} for run, doc in documents.items()})
    same("b", "extra labels (label:cert) of the runs that saw the same order",
         {run: {(row["label"], row["sha256_fingerprint"]) for row in _extras(doc)}
          for run, doc in documents.items() if run != "file-shuffled"})
    same("c", "certificate findings (kind:label)",
         {run: _certificate_findings(doc) for run, doc in documents.items()})
    trust = {f["kind"] for f in documents["verify"].get("findings", []) if f["kind"] in TRUST_KINDS}
    if not trust:
        same("d", "states (verifying run has no trust finding)",
             {run: doc["state"] for run, doc in documents.items()})
    if expected is not None:
        for run, document in documents.items():
            got = [row["sha256_fingerprint"] for row in _counted(document)]
            if len(got) != len(expected) or any(sha not in allowed for sha, allowed in zip(got, expected, strict=True)):
                problems.append(f"(e) {run}: path {show(got)} is not openssl verify's {show(expected)}")
    store = {item.sha256 for item in chain.store}
    for run, document in documents.items():
        sent = chain.sent if run != "file-shuffled" else tuple(chain.sent[index] for index in chain.shuffled)
        for row in document.get("chain", []):
            position = row.get("position")
            sha = row["sha256_fingerprint"]
            if position is None and sha not in store:
                problems.append(f"(f) {run}: {row['label']}={show(sha)} has no position but is not in the store")
            elif position is not None and (not 0 <= position < len(sent) or sent[position].sha256 != sha):
                problems.append(f"(f) {run}: {row['label']}={show(sha)} has position {position}, which holds "
                                f"{show(sent[position].sha256) if 0 <= position < len(sent) else 'nothing'}")
    if chain.leaf_kinds is not None:
        for run, document in documents.items():
            leaf_kinds = {kind for kind, label in _certificate_findings(document) if label == "leaf"}
            if leaf_kinds != chain.leaf_kinds:
                problems.append(f"(g) {run}: the leaf's certificate findings are {show(leaf_kinds)}, not "
                                f"{show(set(chain.leaf_kinds))}")
    return problems


def summary(chain: Chain, documents: dict[str, dict[str, Any]]) -> str:
    """What each run said, for failure messages."""
    lines = []
    for run, document in documents.items():
        rows = ", ".join(f"{row['label']}={chain.name(row['sha256_fingerprint'])}@{row.get('position')}"
                         for row in document.get("chain", []))
        findings = ", ".join(f"{f['kind']}/{f['state']}/{f.get('label')}" for f in document.get("findings", []))
        lines.append(f"  {run}: {document['state']} [{rows}] findings [{findings}]")
    return "\n".join(lines)


def assert_one_verdict(openssl: str, workdir: Path, chain: Chain) -> dict[str, dict[str, Any]]:
    documents = verdicts(openssl, workdir, chain)
    problems = one_verdict(chain, documents, openssl_path(openssl, workdir, chain))
    assert not problems, "\n".join([*problems, "what each run said:", summary(chain, documents)])
    return documents


# --- generated chains --------------------------------------------------------------------------------------------


class Inter(NamedTuple):
    time: str  # a CA_TIMES key
    weak_key: bool  # RSA-1024


class Spec(NamedTuple):
    """A chain shape. Intermediates are listed from the root down; the leaf is issued by the last (or the root)."""

    intermediates: tuple[Inter, ...]
    leaf: str  # plain, cn_only, other_name, sha1, weak_key
    leaf_time: str  # a LEAF_TIMES key
    missing: int | None  # index of the intermediate the server does not send
    cross_signs: tuple[str, ...]  # CROSS_TIMES keys: copies of the root issued by "OV Old Root", sent as extras
    unrelated: str | None  # CA_TIMES key: also send an unrelated self-signed CA, valid or not
    send_root: bool  # also send the root (which the trust store holds too)
    server_order: tuple[int, ...]  # permutation of the sent CA certificates (see build)
    file_order: tuple[int, ...]  # permutation of everything sent, for the shuffled bundle


LEAF_KINDS = tuple(LEAF_KIND_FINDINGS)


@st.composite
def specs(draw: st.DrawFn, leaf: str) -> Spec:
    def one_in(n: int) -> bool:  # shrinks towards False
        return draw(st.integers(1, n)) == n

    count = draw(st.integers(0, 2))
    intermediates = tuple(Inter(draw(st.sampled_from(["valid", "valid", "warning", "expired", "not_yet_valid"])),
                                one_in(4))
                          for _ in range(count))
    missing = draw(st.integers(0, count - 1)) if count and one_in(3) else None
    cross_signs = tuple(draw(st.lists(st.sampled_from(["valid", "expired", "not_yet_valid"]), max_size=2)))
    unrelated = draw(st.sampled_from(["valid", "expired", "not_yet_valid"])) if one_in(4) else None
    send_root = one_in(4)
    sent_cas = count - (missing is not None) + len(cross_signs) + (unrelated is not None) + send_root
    return Spec(
        intermediates=intermediates,
        leaf=leaf,
        leaf_time=draw(st.sampled_from(["valid", "valid", "warning", "critical", "expired", "not_yet_valid"])),
        missing=missing,
        cross_signs=cross_signs,
        unrelated=unrelated,
        send_root=send_root,
        server_order=tuple(draw(st.permutations(range(sent_cas)))),
        file_order=tuple(draw(st.permutations(range(sent_cas + 1)))),
    )


def build(spec: Spec) -> Chain:
    names: dict[str, str] = {}

    def named(item: Issued, name: str) -> Issued:
        names[item.sha256] = name
        return item

    root = make_ca("OV Root CA", days=ROOT_TIMES)
    named(root.issued, "Root")
    issuer, intermediates = root, []
    weak_keys = iter(range(3))
    for number, inter in enumerate(spec.intermediates, 1):
        issuer = make_ca(f"OV Intermediate {number}", issuer, days=CA_TIMES[inter.time],
                         key=weak_rsa_key(next(weak_keys)) if inter.weak_key else None)
        intermediates.append(named(issuer.issued, f"I{number}" + ("" if inter.time == "valid" else f" {inter.time}")
                                   + (" rsa1024" if inter.weak_key else "")))
    options: dict[str, Any] = {"days": LEAF_TIMES[spec.leaf_time]}
    if spec.leaf == "cn_only":
        options["names"] = ()
    elif spec.leaf == "other_name":
        options["names"] = ("other.example",)
    elif spec.leaf == "sha1":
        options["sha1"] = True
    elif spec.leaf == "weak_key":
        options["key"] = weak_rsa_key(next(weak_keys))
    leaf = named(make_leaf(issuer, **options), f"leaf {spec.leaf} {spec.leaf_time}")
    cas = [item for index, item in enumerate(intermediates) if index != spec.missing]
    if spec.cross_signs:
        old = make_ca("OV Old Root", days=ROOT_TIMES)
        named(old.issued, "OldRoot")
        for number, time in enumerate(spec.cross_signs, 1):
            start, end = CROSS_TIMES[time]
            cas.append(named(old.cross_sign(root, not_before=start * D, not_after=end * D), f"XS{number} {time}"))
    if spec.unrelated is not None:
        unrelated = make_ca("OV Unrelated CA", days=CA_TIMES[spec.unrelated])
        cas.append(named(unrelated.issued, f"Unrelated {spec.unrelated}"))
    if spec.send_root:
        cas.append(root.issued)
    sent = (leaf, *(cas[index] for index in spec.server_order))
    leaf_kinds = frozenset(kind for kind in (LEAF_KIND_FINDINGS[spec.leaf], LEAF_TIME_FINDINGS[spec.leaf_time]) if kind)
    return Chain(sent=sent, store=(root.issued,), shuffled=spec.file_order, names=names, leaf_kinds=leaf_kinds)


@pytest.mark.parametrize("leaf", LEAF_KINDS)
def test_one_chain_one_verdict(openssl_bin: str, tmp_path_factory: pytest.TempPathFactory, leaf: str) -> None:
    """The property, once per kind of leaf, so that every kind is always covered; the rest is generated.

    A fixed seed per kind (rather than ``derandomize``, which would give every kind the same other draws) makes
    CI reproducible and lets each kind meet other chains.
    """

    @seed(1000 + LEAF_KINDS.index(leaf))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=PHASES,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(spec=specs(leaf))
    def one_verdict_for(spec: Spec) -> None:
        for shape in (f"leaf {spec.leaf_time}", f"{len(spec.intermediates)} intermediates",
                      *(["missing intermediate"] if spec.missing is not None else []),
                      *(["weak intermediate"] if any(inter.weak_key for inter in spec.intermediates) else []),
                      *([f"{len(spec.cross_signs)} cross-signs"] if spec.cross_signs else []),
                      *(["unrelated CA"] if spec.unrelated else []), *(["root sent"] if spec.send_root else [])):
            event(shape)  # --hypothesis-show-statistics: which shapes the examples covered
        assert_one_verdict(openssl_bin, tmp_path_factory.mktemp("one-verdict"), build(spec))

    one_verdict_for()


# --- the harness on a chain today's code already treats alike ----------------------------------------------------


def test_harness_healthy_chain_one_verdict(openssl_bin: str, tmp_path: Path) -> None:
    """The harness itself: leaf + intermediate, all valid, sent in order. Must pass on today's code."""
    root = make_ca("OV Root CA", days=ROOT_TIMES)
    inter = make_ca("OV Intermediate 1", root)
    leaf = make_leaf(inter)
    chain = Chain(sent=(leaf, inter.issued), store=(root.issued,), shuffled=(1, 0),
                  names={root.issued.sha256: "Root", inter.issued.sha256: "I1", leaf.sha256: "leaf"},
                  leaf_kinds=frozenset())
    documents = assert_one_verdict(openssl_bin, tmp_path, chain)
    assert openssl_path(openssl_bin, tmp_path, chain) == [{leaf.sha256}, {inter.issued.sha256}, {root.issued.sha256}]
    for document in documents.values():
        assert document["state"] == "OK"
        assert [(row["label"], row["sha256_fingerprint"]) for row in document["chain"]] == [
            ("leaf", leaf.sha256), ("int1", inter.issued.sha256), ("root", root.issued.sha256)]
        assert [f["kind"] for f in document["findings"]] == ["healthy"]


def test_harness_builds_what_it_says(openssl_bin: str, tmp_path: Path) -> None:
    """SHA-1 re-signing keeps a valid signature (EC and RSA issuers); s_server serves SHA-1 and RSA-1024."""
    root = make_ca("OV Root CA", days=ROOT_TIMES)
    weak = make_ca("OV Intermediate 1", root, key=weak_rsa_key(0))
    cases = [(make_leaf(root, sha1=True), ()), (make_leaf(weak, sha1=True), (weak.issued,)),
             (make_leaf(weak, key=weak_rsa_key(1)), (weak.issued,))]
    for leaf, cas in cases:
        key = leaf.cert.public_key()
        assert isinstance(leaf.cert.signature_hash_algorithm, hashes.SHA1) or (
            isinstance(key, rsa.RSAPublicKey) and key.key_size == 1024)
        chain = Chain(sent=(leaf, *cas), store=(root.issued,), shuffled=tuple(range(len(cas) + 1)), names={})
        path = openssl_path(openssl_bin, tmp_path, chain)  # openssl verify accepts the signatures
        assert path == [{item.sha256} for item in (*chain.sent, root.issued)]
        with openssl_server(tmp_path, leaf, cas, extra_args=SERVER_ARGS) as port:  # raises if s_server refuses
            assert port > 0


# --- the named defects -------------------------------------------------------------------------------------------


def _chain(leaf: Issued, cas: Sequence[Issued], store: Sequence[Issued], names: dict[str, str],
           shuffled: Sequence[int] | None = None) -> Chain:
    sent = (leaf, *cas)
    names = {**{item.sha256: "Root" for item in store}, leaf.sha256: "leaf", **names}
    return Chain(sent=sent, store=tuple(store), shuffled=tuple(shuffled or reversed(range(len(sent)))), names=names)


def _findings(document: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(f["kind"], f["state"], f.get("label")) for f in document.get("findings", [])}


def _label_of(document: dict[str, Any], sha256: str) -> str | None:
    return next((row["label"] for row in document.get("chain", []) if row["sha256_fingerprint"] == sha256), None)


def _expect(documents: dict[str, dict[str, Any]], chain: Chain, check: Any) -> None:
    """``check(document)`` returns a list of complaints; collect them per run and fail with all of them."""
    problems = [f"{run}: {complaint}" for run, document in documents.items() for complaint in check(document)]
    assert not problems, "\n".join([*problems, "what each run said:", summary(chain, documents)])


@pytest.fixture
def pki() -> tuple[CA, CA]:
    root = make_ca("OV Root CA", days=ROOT_TIMES)
    return root, make_ca("OV Intermediate 1", root)


def test_cn_only_leaf_is_critical_no_san_everywhere(openssl_bin: str, tmp_path: Path, pki: tuple[CA, CA]) -> None:
    root, inter = pki
    leaf = make_leaf(inter, (), cn=HOST)
    chain = _chain(leaf, [inter.issued], [root.issued], {leaf.sha256: "leaf cn-only", inter.issued.sha256: "I1"})
    documents = verdicts(openssl_bin, tmp_path, chain)
    _expect(documents, chain, lambda doc: [
        *([f"state {doc['state']}, not CRITICAL"] if doc["state"] != "CRITICAL" else []),
        *([] if ("no_san", "CRITICAL", "leaf") in _findings(doc) else ["no CRITICAL no_san finding on leaf"]),
    ])


@pytest.mark.parametrize("host", [HOST, "locahost"], ids=["right-name", "hostname-typo"])
def test_expired_cross_signed_root_stays_extra1(openssl_bin: str, tmp_path: Path, pki: tuple[CA, CA],
                                                host: str) -> None:
    root, inter = pki
    leaf = make_leaf(inter)
    old = make_ca("OV Old Root", days=ROOT_TIMES)
    cross = old.cross_sign(root, not_before=-400 * D, not_after=-10 * D)
    chain = _chain(leaf, [inter.issued, cross], [root.issued],
                   {leaf.sha256: "leaf", inter.issued.sha256: "I1", cross.sha256: "XS expired"}, shuffled=(2, 0, 1))
    documents = verdicts(openssl_bin, tmp_path, chain, host=host, address="127.0.0.1")

    def check(doc: dict[str, Any]) -> list[str]:
        complaints = []
        if _label_of(doc, cross.sha256) != "extra1":
            complaints.append(f"the expired cross-sign is labelled {_label_of(doc, cross.sha256)}, not extra1")
        if ("extra_expired", "WARNING", "extra1") not in _findings(doc):
            complaints.append("no WARNING extra_expired finding on extra1")
        if host == HOST and doc["state"] != "WARNING":
            complaints.append(f"state {doc['state']}, not WARNING")
        if host != HOST and ("hostname_mismatch", "CRITICAL", "leaf") not in _findings(doc):
            complaints.append("no CRITICAL hostname_mismatch on leaf")
        if not doc.get("days_left", -1) > 200:
            complaints.append(f"headline days_left {doc.get('days_left')}, not the leaf's ~300")
        return complaints

    _expect(documents, chain, check)


def test_bundle_with_intermediate_first_still_finds_the_leaf(openssl_bin: str, tmp_path: Path,
                                                             pki: tuple[CA, CA]) -> None:
    root, inter = pki
    leaf = make_leaf(inter, days=LEAF_TIMES["critical"])  # 10 days left of 365
    chain = _chain(leaf, [inter.issued], [root.issued], {leaf.sha256: "leaf 10d", inter.issued.sha256: "I1"},
                   shuffled=(1, 0))  # the shuffled bundle is intermediate first
    documents = verdicts(openssl_bin, tmp_path, chain)
    _expect(documents, chain, lambda doc: [
        *([] if _label_of(doc, leaf.sha256) == "leaf" else [f"the leaf is labelled {_label_of(doc, leaf.sha256)}"]),
        *([] if ("expiring", "CRITICAL", "leaf") in _findings(doc) else ["no CRITICAL expiring finding on leaf"]),
        *([] if doc["state"] == "CRITICAL" else [f"state {doc['state']}, not CRITICAL"]),
    ])


def test_sha1_leaf_keeps_its_issuer_on_the_path(openssl_bin: str, tmp_path: Path, pki: tuple[CA, CA]) -> None:
    root, inter = pki
    leaf = make_leaf(inter, sha1=True)
    chain = _chain(leaf, [inter.issued], [root.issued], {leaf.sha256: "leaf sha1", inter.issued.sha256: "I1"})
    documents = verdicts(openssl_bin, tmp_path, chain)
    _expect(documents, chain, lambda doc: [
        *([] if _label_of(doc, inter.issued.sha256) == "int1"
          else [f"the issuer is labelled {_label_of(doc, inter.issued.sha256)}, not int1"]),
        *([] if any(kind == "weak_signature" and label == "leaf" for kind, _, label in _findings(doc))
          else ["no weak_signature finding on leaf"]),
    ])


def test_weak_key_leaf_keeps_its_path(openssl_bin: str, tmp_path: Path, pki: tuple[CA, CA]) -> None:
    """Found by the property: OpenSSL refuses a too-small leaf key before it builds the path at all."""
    root, inter = pki
    leaf = make_leaf(inter, key=weak_rsa_key(0))
    chain = _chain(leaf, [inter.issued], [root.issued], {leaf.sha256: "leaf rsa1024", inter.issued.sha256: "I1"})
    documents = verdicts(openssl_bin, tmp_path, chain)
    path = [("leaf", leaf.sha256), ("int1", inter.issued.sha256), ("root", root.issued.sha256)]
    _expect(documents, chain, lambda doc: [
        *([] if [(row["label"], row["sha256_fingerprint"]) for row in _counted(doc)] == path
          else ["the path is not leaf, int1 (I1), root (Root)"]),
        *([] if ("weak_key", "CRITICAL", "leaf") in _findings(doc) else ["no CRITICAL weak_key finding on leaf"]),
    ])


def test_expired_root_in_cafile_is_named(openssl_bin: str, tmp_path: Path) -> None:
    root = make_ca("OV Root CA", days=(-3650, -5))
    inter = make_ca("OV Intermediate 1", root)
    leaf = make_leaf(inter)
    chain = _chain(leaf, [inter.issued], [root.issued],
                   {leaf.sha256: "leaf", inter.issued.sha256: "I1", root.issued.sha256: "Root expired"})
    documents = verdicts(openssl_bin, tmp_path, chain)
    _expect(documents, chain, lambda doc: [
        *([] if _label_of(doc, root.issued.sha256) == "root"
          else [f"the expired root is labelled {_label_of(doc, root.issued.sha256)}, not root"]),
        *([] if ("expired", "CRITICAL", "root") in _findings(doc) else ["no CRITICAL expired finding on root"]),
    ])


def test_leaf_from_a_root_not_in_the_store_is_untrusted_issuer(openssl_bin: str, tmp_path: Path) -> None:
    root = make_ca("OV Root CA", days=ROOT_TIMES)
    foreign = make_ca("Acme Private Root CA")  # not sent, and not in the trust store (root.pem: OV Root CA)
    leaf = make_leaf(foreign)
    document = verdicts(openssl_bin, tmp_path, _chain(leaf, [], [root.issued], {}))["verify"]
    kinds = {f["kind"] for f in document.get("findings", [])}
    assert "untrusted_issuer" in kinds and "missing_intermediate" not in kinds, sorted(kinds)


def test_intermediate_not_sent_is_missing_intermediate(openssl_bin: str, tmp_path: Path, pki: tuple[CA, CA]) -> None:
    """Without fetching, only the leaf's AIA caIssuers URL (which public CAs' leaves carry) says that an
    intermediate exists to be sent; without one the sentence names both possibilities."""
    root, inter = pki
    # Its issuer "OV Intermediate 1" is not sent; its root is in --cafile.
    leaf = make_leaf(inter, ca_issuers="http://ca.example/intermediate.der")
    document = verdicts(openssl_bin, tmp_path, _chain(leaf, [], [root.issued], {}))["verify"]
    kinds = {f["kind"] for f in document.get("findings", [])}
    assert "missing_intermediate" in kinds and "untrusted_issuer" not in kinds, sorted(kinds)
    plain = make_leaf(inter)
    document = verdicts(openssl_bin, tmp_path / "plain", _chain(plain, [], [root.issued], {}))["verify"]
    findings = [f for f in document.get("findings", []) if f["kind"] == "untrusted_issuer"]
    assert findings and findings[0]["message"].endswith("(a missing intermediate, or a CA this store does not trust)")
