"""plugin.evaluate.weak: which signatures and keys are weak, on certificates made per test (dates relative to now).

Certificates come from cryptography's CertificateBuilder. Where the installed cryptography refuses to make one
(new releases will not sign with SHA-1 or MD5; 38 has no RSA-PSS signing, and none signs with MD4), the builder's
SHA-256 certificate is re-signed by the ``openssl`` binary with the wanted digest: the same subject, key and
extensions, only the signature differs. Runs on the venv's newest cryptography and on Debian 12's 38.0.4.
"""

from __future__ import annotations

import inspect
import subprocess
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ci import require_binary, unavailable
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from plugin.evaluate.weak import MINIMUM_BITS, RSASSA_PSS, WEAK_SIGNATURE_OIDS, Weakness, weak_signature_hash, weaknesses

PrivateKey = (
    rsa.RSAPrivateKey
    | dsa.DSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)

SHA1_SIG = Weakness("signature", "SHA-1", None, None)

# cryptography 38 has no ``rsa_padding`` argument: PSS certificates then come from openssl.
BUILDER_SIGNS_PSS = "rsa_padding" in inspect.signature(x509.CertificateBuilder.sign).parameters

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha256": hashes.SHA256, "sha1": hashes.SHA1, "md5": hashes.MD5}


@cache
def key(spec: str) -> PrivateKey:
    """A private key per spec ("rsa2048", "dsa1024", "ec:secp224r1", "ed25519"), made once: DSA-2048 is slow."""
    if spec.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(spec[3:]))
    if spec.startswith("dsa"):
        return dsa.generate_private_key(key_size=int(spec[3:]))
    if spec.startswith("ec:"):
        return ec.generate_private_key(getattr(ec, spec[3:].upper())())  # ec.SECP224R1, ec.SECT163K1, ...
    if spec == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    assert spec == "ed448", spec
    return ed448.Ed448PrivateKey.generate()


@dataclass(frozen=True)
class Made:
    cert: x509.Certificate
    key: PrivateKey


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make(
    tmp_path: Path,
    subject: PrivateKey,
    *,
    issuer: Made | None = None,
    digest: str = "sha256",
    pss: bool = False,
    ca: bool = False,
    cn: str = "leaf.example",
) -> Made:
    """A certificate for ``subject``'s key, signed by ``issuer`` (self-signed without one) with ``digest``."""
    now = datetime.now(timezone.utc)
    signer = issuer.key if issuer is not None else subject
    unsigned = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .public_key(subject.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    builder = unsigned.issuer_name(issuer.cert.subject if issuer is not None else name(cn))
    eddsa = isinstance(signer, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
    algorithm = None if eddsa else _HASHES.get(digest, hashes.SHA256)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography 38 warns that SHA-1 and MD5 signatures are deprecated
        if digest in _HASHES and not pss:
            try:
                return Made(builder.sign(signer, algorithm), subject)  # type: ignore[arg-type]
            except UnsupportedAlgorithm:  # new cryptography: "sha1"/"md5" not supported for signatures
                pass
        elif pss and BUILDER_SIGNS_PSS and digest == "sha256":
            pss_padding = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
            return Made(builder.sign(signer, algorithm, rsa_padding=pss_padding), subject)  # type: ignore[arg-type]
        # openssl x509 -CA re-signs only a self-signed input: the draft is signed by the subject's own key.
        own = isinstance(subject, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
        draft = unsigned.issuer_name(name(cn)).sign(subject, None if own else hashes.SHA256())
    return Made(openssl_resign(tmp_path, draft, signer, issuer, digest, pss=pss), subject)


def openssl_resign(
    tmp_path: Path, draft: x509.Certificate, signer: PrivateKey, issuer: Made | None, digest: str, *, pss: bool
) -> x509.Certificate:
    """``draft`` signed again by ``openssl x509`` with ``digest`` (new dates: now .. now + 30 days)."""
    openssl = require_binary("openssl")
    draft_pem, key_pem, out = tmp_path / "draft.pem", tmp_path / "signer.key", tmp_path / "signed.pem"
    draft_pem.write_bytes(draft.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        signer.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    argv = [openssl, "x509", "-in", str(draft_pem), "-out", str(out), "-days", "30", f"-{digest}"]
    if issuer is None:
        argv += ["-signkey", str(key_pem)]
    else:
        ca_pem = tmp_path / "issuer.pem"
        ca_pem.write_bytes(issuer.cert.public_bytes(serialization.Encoding.PEM))
        argv += ["-CA", str(ca_pem), "-CAkey", str(key_pem), "-set_serial", str(x509.random_serial_number())]
    if pss:
        argv += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
    if digest == "md4":
        argv += ["-provider", "legacy", "-provider", "default"]  # OpenSSL 3 keeps MD4 in the legacy provider
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        if digest == "md4":
            unavailable(f"openssl cannot sign with MD4 (legacy provider missing?): {proc.stderr.strip()}")
        raise AssertionError(f"{argv}: {proc.stderr}")
    return x509.load_pem_x509_certificate(out.read_bytes())


def check(cert: x509.Certificate, *, root: bool = False) -> tuple[Weakness, ...]:
    """``weaknesses``, with every warning an error: the plugin must not write cryptography's to stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return weaknesses(cert, self_signed_root=root)


@pytest.fixture
def root(tmp_path: Path) -> Made:
    """A healthy RSA-2048, SHA-256 self-signed root."""
    return make(tmp_path, key("rsa2048"), ca=True, cn="Test Root")


# --- signatures --------------------------------------------------------------------------------------------------


def test_sha256_leaf_is_not_weak(tmp_path: Path, root: Made) -> None:
    assert check(make(tmp_path, key("ec:secp256r1"), issuer=root).cert) == ()


def test_sha1_rsa_signed_leaf(tmp_path: Path, root: Made) -> None:
    cert = make(tmp_path, key("ec:secp256r1"), issuer=root, digest="sha1").cert
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.5"
    assert check(cert) == (SHA1_SIG,)


def test_md5_rsa_signed_leaf(tmp_path: Path, root: Made) -> None:
    # OpenSSL 3.0 signs with MD5 at its default settings (signing is not bound by the security level).
    cert = make(tmp_path, key("ec:secp256r1"), issuer=root, digest="md5").cert
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.4"
    assert check(cert) == (Weakness("signature", "MD5", None, None),)


def test_md4_signed_leaf_oid_unknown_to_cryptography(tmp_path: Path, root: Made) -> None:
    """Neither cryptography release knows md4WithRSAEncryption: the dotted OID alone decides."""
    cert = make(tmp_path, key("ec:secp256r1"), issuer=root, digest="md4").cert
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.3"
    with pytest.raises(UnsupportedAlgorithm):
        cert.signature_hash_algorithm  # noqa: B018 - the point: cryptography cannot name this hash
    assert check(cert) == (Weakness("signature", "MD4", None, None),)


def test_sha1_dsa_signed_leaf(tmp_path: Path) -> None:
    dsa_root = make(tmp_path, key("dsa2048"), ca=True, cn="DSA Root")
    cert = make(tmp_path, key("ec:secp256r1"), issuer=dsa_root, digest="sha1").cert
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.10040.4.3"  # dsa-with-sha1
    assert check(cert) == (SHA1_SIG,)


def test_sha1_ecdsa_signed_leaf(tmp_path: Path) -> None:
    ec_root = make(tmp_path, key("ec:secp384r1"), ca=True, cn="EC Root")
    cert = make(tmp_path, key("ec:secp256r1"), issuer=ec_root, digest="sha1").cert
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.10045.4.1"  # ecdsa-with-SHA1
    assert check(cert) == (SHA1_SIG,)


def test_sha1_self_signed_root_is_not_weak(tmp_path: Path) -> None:
    """No client checks a trust anchor's self-signature; the same certificate as a leaf would be weak."""
    cert = make(tmp_path, key("rsa2048"), digest="sha1", ca=True, cn="Old Root").cert
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.5"
    assert check(cert, root=True) == ()
    assert check(cert, root=False) == (SHA1_SIG,)


def test_rsa_pss_sha256_is_not_weak(tmp_path: Path, root: Made) -> None:
    cert = make(tmp_path, key("ec:secp256r1"), issuer=root, pss=True).cert
    assert cert.signature_algorithm_oid.dotted_string == RSASSA_PSS
    assert check(cert) == ()


def test_rsa_pss_sha1(tmp_path: Path, root: Made) -> None:
    """PSS names its hash in parameters (here left at the DEFAULT, SHA-1), which only newer cryptography reads."""
    cert = make(tmp_path, key("ec:secp256r1"), issuer=root, digest="sha1", pss=True).cert
    assert cert.signature_algorithm_oid.dotted_string == RSASSA_PSS
    try:
        readable = cert.signature_hash_algorithm is not None
    except UnsupportedAlgorithm:  # cryptography 38: PSS is an OID it does not know
        readable = False
    # Where the library cannot read the parameters there is no verdict (not a guess, not an error).
    assert check(cert) == ((SHA1_SIG,) if readable else ())
    if hasattr(cert, "signature_algorithm_parameters"):  # every release that has this reads PSS parameters
        assert readable


# --- keys --------------------------------------------------------------------------------------------------------


def test_rsa_1024_leaf(tmp_path: Path, root: Made) -> None:
    assert check(make(tmp_path, key("rsa1024"), issuer=root).cert) == (Weakness("key", "RSA", 1024, 2048),)


def test_rsa_2048_is_not_weak(tmp_path: Path, root: Made) -> None:
    assert check(make(tmp_path, key("rsa2048"), issuer=root).cert) == ()


def test_rsa_1024_root_key_is_weak_even_self_signed(tmp_path: Path) -> None:
    """The root exemption covers its self-signature only: its key signs everything beneath it."""
    cert = make(tmp_path, key("rsa1024"), ca=True, cn="Small Root").cert
    assert check(cert, root=True) == (Weakness("key", "RSA", 1024, 2048),)


def test_weak_signature_and_weak_key_both_reported_signature_first(tmp_path: Path, root: Made) -> None:
    cert = make(tmp_path, key("rsa1024"), issuer=root, digest="sha1").cert
    assert check(cert) == (SHA1_SIG, Weakness("key", "RSA", 1024, 2048))


@pytest.mark.parametrize(
    ("curve", "bits"),
    [("secp256r1", None), ("secp384r1", None), ("secp521r1", None), ("secp224r1", 224), ("secp192r1", 192)],
)
def test_ec_curves(tmp_path: Path, root: Made, curve: str, bits: int | None) -> None:
    cert = make(tmp_path, key(f"ec:{curve}"), issuer=root).cert
    assert check(cert) == (() if bits is None else (Weakness("key", "EC", bits, 256),))


def test_ec_binary_curve_where_cryptography_loads_it(tmp_path: Path, root: Made) -> None:
    """sect163k1: weak by its size where cryptography still has binary curves (38); unloadable, no verdict, after."""
    if not hasattr(ec, "SECT163K1"):
        der = _openssl_ec_self_signed(tmp_path, "sect163k1")
        assert check(x509.load_der_x509_certificate(der), root=True) == ()
        return
    cert = make(tmp_path, key("ec:sect163k1"), issuer=root).cert
    assert check(cert) == (Weakness("key", "EC", 163, 256),)


def test_unloadable_key_gives_no_key_verdict_but_signature_still_judged(tmp_path: Path) -> None:
    """secp160r1 (which OpenSSL 3 still makes) is a curve no cryptography release loads: no key weakness, no error.

    The certificate is self-signed with ecdsa-with-SHA1, and judged as a leaf: the signature is still reported.
    """
    cert = x509.load_der_x509_certificate(_openssl_ec_self_signed(tmp_path, "secp160r1", digest="sha1"))
    with pytest.raises(UnsupportedAlgorithm):
        cert.public_key()
    assert check(cert) == (SHA1_SIG,)


@pytest.mark.parametrize(("bits", "expected"), [(1024, (Weakness("key", "DSA", 1024, 2048),)), (2048, ())])
def test_dsa(tmp_path: Path, root: Made, bits: int, expected: tuple[Weakness, ...]) -> None:
    assert check(make(tmp_path, key(f"dsa{bits}"), issuer=root).cert) == expected


@pytest.mark.parametrize("spec", ["ed25519", "ed448"])
def test_eddsa_is_never_weak(tmp_path: Path, root: Made, spec: str) -> None:
    assert check(make(tmp_path, key(spec), issuer=root).cert) == ()  # an EdDSA key under an RSA root
    self_signed = make(tmp_path, key(spec), cn="eddsa.example").cert  # and an EdDSA signature
    assert check(self_signed) == ()
    assert check(self_signed, root=True) == ()


def test_minimums_are_the_rules() -> None:
    assert dict(MINIMUM_BITS) == {"RSA": 2048, "DSA": 2048, "EC": 256}


def _openssl_ec_self_signed(tmp_path: Path, curve: str, *, digest: str = "sha256") -> bytes:
    """DER of a self-signed certificate on ``curve``, made wholly by openssl (cryptography cannot hold the key)."""
    openssl = require_binary("openssl")
    key_path, cert_path = tmp_path / f"{curve}.key", tmp_path / f"{curve}.der"
    for argv in (
        [openssl, "ecparam", "-name", curve, "-genkey", "-noout", "-out", str(key_path)],
        [openssl, "req", "-x509", "-new", "-key", str(key_path), "-subj", "/CN=small-curve.example",
         f"-{digest}", "-days", "30", "-outform", "DER", "-out", str(cert_path)],
    ):  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode != 0:
            unavailable(f"openssl cannot make a {curve} certificate: {proc.stderr.strip()}")
    return cert_path.read_bytes()


# --- the signature OID table -------------------------------------------------------------------------------------

OID_CASES: list[tuple[str, Any, str | None]] = [
    ("1.2.840.113549.1.1.2", None, "MD2"),  # md2WithRSAEncryption
    ("1.2.840.113549.1.1.3", None, "MD4"),  # md4WithRSAEncryption
    ("1.2.840.113549.1.1.4", None, "MD5"),  # md5WithRSAEncryption
    ("1.2.840.113549.1.1.5", None, "SHA-1"),  # sha1WithRSAEncryption
    ("1.2.840.10040.4.3", None, "SHA-1"),  # dsa-with-sha1
    ("1.2.840.10045.4.1", None, "SHA-1"),  # ecdsa-with-SHA1
    ("1.3.14.7.2.3.1", None, "MD2"),  # OIW md2WithRSA
    ("1.3.14.3.2.2", None, "MD4"),  # OIW md4WithRSA
    ("1.3.14.3.2.4", None, "MD4"),  # OIW md4WithRSAEncryption
    ("1.3.14.3.2.3", None, "MD5"),  # OIW md5WithRSA
    ("1.3.14.3.2.13", None, "SHA-0"),  # OIW dsaWithSHA
    ("1.3.14.3.2.15", None, "SHA-0"),  # OIW shaWithRSASignature
    ("1.3.14.3.2.27", None, "SHA-1"),  # OIW dsaWithSHA1
    ("1.3.14.3.2.29", None, "SHA-1"),  # OIW sha1WithRSASignature
    ("1.2.840.113549.1.1.5", "sha256", "SHA-1"),  # a PSS hash is ignored for OIDs that fix their own
    (RSASSA_PSS, "sha1", "SHA-1"),
    (RSASSA_PSS, "md5", "MD5"),
    (RSASSA_PSS, "sha256", None),
    (RSASSA_PSS, "sha512", None),
    (RSASSA_PSS, None, None),  # parameters unreadable (cryptography 38): no verdict
    ("1.2.840.113549.1.1.14", None, None),  # sha224WithRSAEncryption: not in the rules
    ("1.2.840.113549.1.1.11", None, None),  # sha256WithRSAEncryption
    ("1.2.840.113549.1.1.13", None, None),  # sha512WithRSAEncryption
    ("1.2.840.10045.4.3.2", None, None),  # ecdsa-with-SHA256
    ("2.16.840.1.101.3.4.3.2", None, None),  # dsa-with-sha256
    ("2.16.840.1.101.3.4.3.10", None, None),  # ecdsa-with-SHA3-256
    ("1.3.101.112", None, None),  # Ed25519
    ("1.3.101.113", None, None),  # Ed448
    ("1.3.36.3.3.1.2", None, None),  # rsaSignatureWithripemd160: not in the rules
    ("1.2.3.4.5", None, None),  # unknown
]


@pytest.mark.parametrize(("oid", "pss_hash", "expected"), OID_CASES, ids=[f"{c[0]}-{c[1]}" for c in OID_CASES])
def test_weak_signature_hash(oid: str, pss_hash: str | None, expected: str | None) -> None:
    assert weak_signature_hash(oid, pss_hash) == expected


def test_every_table_oid_is_tested() -> None:
    assert set(WEAK_SIGNATURE_OIDS) <= {oid for oid, _, expected in OID_CASES if expected is not None}
