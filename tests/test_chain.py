"""plugin.acquire.chain: the path OpenSSL would build from a bundle and a trust store, without a handshake, bounded.

Every test makes its own PKI, dated relative to now. Where a shape verifies in OpenSSL, the path is compared with
the chain ``openssl verify -show_chain`` prints for the same inputs (see :func:`openssl_path`); shapes OpenSSL
rejects print no chain, and their tests say what OpenSSL does instead. Hostile bundles are judged by the work
done (signature checks, budget checks), never by wall time.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from ci import require_binary
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from pki import CA, make_name

from plugin.acquire import chain
from plugin.acquire.chain import (
    MAX_PATH_LENGTH,
    MAX_PATH_SIGNATURE_CHECKS,
    MAX_SIGNATURE_CHECKS,
    Anchors,
    ChainPath,
    build_path,
    choose_leaf,
)
from plugin.errors import InputError

D = timedelta(days=1)
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM

Key = (rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
       | dsa.DSAPrivateKey)


# --- building certificates --------------------------------------------------------------------------------------


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa1024() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _name(name: str | x509.Name) -> x509.Name:
    return make_name(name) if isinstance(name, str) else name


def issue(subject: str | x509.Name, issuer: str | x509.Name, key: Key, signer: Key, *, ca: bool = True,
          not_before: timedelta = -10 * D, not_after: timedelta = 100 * D, ski: bool = True, aki: bool = True,
          key_cert_sign: bool | None = True, serial: int | None = None,
          extra: Sequence[x509.ExtensionType] = ()) -> x509.Certificate:
    """One certificate: ``subject``'s ``key``, signed by ``signer`` (SHA-256; Ed25519/Ed448 sign without one).

    ``aki``: an AuthorityKeyIdentifier with ``signer``'s key id; ``key_cert_sign`` None: no keyUsage at all.
    """
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(serial or x509.random_serial_number())
               .not_valid_before(now + not_before).not_valid_after(now + not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if key_cert_sign is not None:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=key_cert_sign, encipher_only=False,
            decipher_only=False), critical=True)
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    digest = None if isinstance(signer, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()
    return builder.sign(signer, digest)


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


_SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
_SHA256_ECDSA = bytes.fromhex("300a06082a8648ce3d040302")
_LEGACY_RSA = {"sha1": bytes.fromhex("300d06092a864886f70d0101050500"),
               "md5": bytes.fromhex("300d06092a864886f70d0101040500")}


def resign(cert: x509.Certificate, signer: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
           digest: hashes.HashAlgorithm | None = None, edit: Callable[[bytes], bytes] = lambda tbs: tbs
           ) -> x509.Certificate:
    """``cert`` with its TBS edited and signed again, for what CertificateBuilder refuses to make.

    ``digest`` SHA1 or MD5 (RSA only): the signature algorithm is changed to sha1/md5WithRSAEncryption.
    cryptography 40+ refuses to build SHA-1 and MD5 certificates; OpenSSL and servers in the field still have them.
    """
    tbs = edit(cert.tbs_certificate_bytes)
    if isinstance(signer, rsa.RSAPrivateKey):
        algorithm = _LEGACY_RSA[digest.name] if digest is not None else _SHA256_RSA
        assert tbs.count(_SHA256_RSA) == 1
        tbs = tbs.replace(_SHA256_RSA, algorithm)
        signature = signer.sign(tbs, padding.PKCS1v15(), digest or hashes.SHA256())
    else:
        assert digest is None
        algorithm = _SHA256_ECDSA
        signature = signer.sign(tbs, ec.ECDSA(hashes.SHA256()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.load_der_x509_certificate(_der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature)))


def as_sent(*certs: x509.Certificate | CA | Any) -> list[x509.Certificate]:
    """What the caller passes: each certificate parsed from its DER, as files.py does."""
    out = []
    for item in certs:
        cert = item.cert if hasattr(item, "cert") else item
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(x509.load_der_x509_certificate(cert.public_bytes(DER)))
    return out


def subjects(result: ChainPath) -> list[str]:
    return [element.cert.subject.rfc4514_string() for element in result.path]


def same(a: x509.Certificate, b: x509.Certificate) -> bool:
    return bool(a.public_bytes(DER) == b.public_bytes(DER))


def now() -> datetime:
    return datetime.now(timezone.utc)


# --- OpenSSL as the reference -----------------------------------------------------------------------------------


def _write(path: Path, certs: Sequence[x509.Certificate]) -> Path:
    path.write_bytes(b"".join(cert.public_bytes(PEM) for cert in certs))
    return path


def openssl_verify(tmp_path: Path, anchors: Sequence[x509.Certificate], sent: Sequence[x509.Certificate], leaf: int,
                   *, at: datetime | None, extra: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """``openssl verify -show_chain -CAfile anchors -untrusted <the others> leaf``.

    ``at``: ``-attime`` (OpenSSL then prefers issuers valid at that instant, as build_path does at ``now``);
    None: ``-no_check_time``, for shapes with an expired certificate on the path and no rival to choose from
    (OpenSSL then prefers nothing by time). The leaf is not repeated in -untrusted: in a handshake it is the very
    object at the chain's start, which OpenSSL never takes as an issuer again.
    """
    openssl = require_binary("openssl")
    store = list(anchors) or [issue("Unrelated Root", "Unrelated Root", ec_key(), ec_key())]  # -CAfile needs one
    args = [openssl, "verify", "-show_chain", "-nameopt", "RFC2253", *extra]
    args += ["-attime", str(int(at.timestamp()))] if at is not None else ["-no_check_time"]
    args += ["-CAfile", str(_write(tmp_path / "anchors.pem", store))]
    others = [cert for index, cert in enumerate(sent) if index != leaf]
    if others:
        args += ["-untrusted", str(_write(tmp_path / "bundle.pem", others))]
    args.append(str(_write(tmp_path / "leaf.pem", [sent[leaf]])))
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def openssl_path(tmp_path: Path, anchors: Sequence[x509.Certificate], sent: Sequence[x509.Certificate], leaf: int,
                 *, at: datetime | None, extra: Sequence[str] = ()) -> list[str]:
    """The subjects of the chain OpenSSL builds and prints, leaf first (the shape must verify)."""
    result = openssl_verify(tmp_path, anchors, sent, leaf, at=at, extra=extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return re.findall(r"^depth=\d+: (.*?)(?: \(untrusted\))?$", result.stdout, re.MULTILINE)


def assert_as_openssl(tmp_path: Path, anchors: Sequence[x509.Certificate], sent: Sequence[x509.Certificate],
                      leaf: int, result: ChainPath, *, at: datetime | None, extra: Sequence[str] = ()) -> None:
    assert subjects(result) == openssl_path(tmp_path, anchors, sent, leaf, at=at, extra=extra)


# --- choose_leaf --------------------------------------------------------------------------------------------------


def test_leaf_in_any_position_of_a_bundle(tmp_path: Path) -> None:
    root = CA.root("Any Root")
    inter = root.intermediate("Any Intermediate")
    leaf = inter.leaf(("any.example",))
    moment = now()
    for order in itertools.permutations([leaf.cert, inter.cert, root.cert]):
        sent = as_sent(*order)
        position = choose_leaf(sent)
        assert same(sent[position], leaf.cert), order
        result = build_path(sent, Anchors.of(as_sent(root)), moment, leaf=position)
        assert subjects(result) == ["CN=any.example", "CN=Any Intermediate", "CN=Any Root"]
        assert [sent[element.sent] for element in result.path if element.sent is not None] == [
            element.cert for element in result.path]
        assert result.complete and result.extras == ()
    sent = as_sent(inter, leaf, root)
    assert_as_openssl(tmp_path, as_sent(root), sent, choose_leaf(sent), build_path(sent, Anchors.of(as_sent(root)),
                      moment, leaf=choose_leaf(sent)), at=moment)


def test_choose_leaf_fallbacks() -> None:
    root = CA.root("Fallback Root")
    inter = root.intermediate("Fallback Intermediate")
    # Only CAs: the first that issued nothing else in the set.
    assert choose_leaf(as_sent(root, inter)) == 1
    # A lone self-signed CA:TRUE certificate (what `openssl req -x509` makes) is its own leaf.
    assert choose_leaf(as_sent(root)) == 0
    # Exact duplicates count once: a duplicated root did not "issue" its copy.
    assert choose_leaf(as_sent(root, root)) == 0
    leaf = inter.leaf(("dup.example",))
    assert choose_leaf(as_sent(inter, inter, leaf, leaf)) == 2
    # Every certificate issued another (a loop): index 0.
    ka, kb = ec_key(), ec_key()
    a = issue("Loop A", "Loop B", ka, kb)
    b = issue("Loop B", "Loop A", kb, ka)
    assert choose_leaf(as_sent(a, b)) == 0
    # A non-CA that issued another certificate in the set is not the leaf.
    kx, ky = ec_key(), ec_key()
    x = issue("Odd X", "Somebody", kx, ec_key(), ca=False, aki=False)
    y = issue("Odd Y", "Odd X", ky, kx, ca=False)
    assert choose_leaf(as_sent(x, y)) == 1
    assert choose_leaf([]) == 0


# --- cross-signs and trusted first ---------------------------------------------------------------------------------


def _cross_sign_shape() -> tuple[CA, CA, Any, Any]:
    old_root = CA.root("Old Root", not_before=-3650 * D, not_after=3650 * D)
    root = CA.root("New Root")
    inter = root.intermediate("Cross Intermediate")
    leaf = inter.leaf(("cross.example",))
    cross = old_root.cross_sign(root, not_before=-700 * D, not_after=-10 * D)  # expired copy of New Root
    return old_root, root, inter, (leaf, cross)


def test_cross_sign_with_the_root_as_anchor_ends_at_the_anchor(tmp_path: Path) -> None:
    _, root, inter, (leaf, cross) = _cross_sign_shape()
    sent = as_sent(leaf, inter, cross)
    moment = now()
    result = build_path(sent, Anchors.of(as_sent(root)), moment)
    assert subjects(result) == ["CN=cross.example", "CN=Cross Intermediate", "CN=New Root"]
    assert result.path[-1].sent is None and same(result.path[-1].cert, root.cert)
    assert result.complete and result.extras == (2,)
    assert_as_openssl(tmp_path, as_sent(root), sent, 0, result, at=moment)


def test_cross_sign_without_anchors_is_followed() -> None:
    """Without the root in the store the expired cross-sign is the only "New Root" there is, and OpenSSL
    follows it too (then fails: unable to get the issuer "Old Root"). The path is not complete."""
    _, _, inter, (leaf, cross) = _cross_sign_shape()
    sent = as_sent(leaf, inter, cross)
    for anchors in (None, Anchors.of([])):
        result = build_path(sent, anchors, now())
        assert subjects(result) == ["CN=cross.example", "CN=Cross Intermediate", "CN=New Root"]
        assert [element.sent for element in result.path] == [0, 1, 2]
        assert not result.complete and result.extras == ()


def test_cross_sign_followed_to_the_old_root_in_the_store(tmp_path: Path) -> None:
    old_root, _, inter, (leaf, cross) = _cross_sign_shape()
    sent = as_sent(leaf, inter, cross)
    result = build_path(sent, Anchors.of(as_sent(old_root)), now())
    assert subjects(result) == ["CN=cross.example", "CN=Cross Intermediate", "CN=New Root", "CN=Old Root"]
    assert result.complete
    # The cross-sign has expired: only -no_check_time lets OpenSSL print the chain; it has no rival to choose.
    assert_as_openssl(tmp_path, as_sent(old_root), sent, 0, result, at=None)


def test_self_signed_root_sent_beside_the_cross_sign_wins_without_anchors() -> None:
    _, root, inter, (leaf, cross) = _cross_sign_shape()
    sent = as_sent(leaf, inter, cross, root)
    result = build_path(sent, None, now())
    assert subjects(result)[-1] == "CN=New Root" and same(result.path[-1].cert, root.cert)
    assert result.complete and result.extras == (2,)


def test_trusted_first_beats_a_valid_cross_sign(tmp_path: Path) -> None:
    """The Let's Encrypt shape: the server sends a (valid) cross-signed copy of the root too; OpenSSL with
    trusted-first stops at the store's self-signed root, the cross-sign stays an extra."""
    old_root = CA.root("DST-like Root")
    root = CA.root("ISRG-like Root")
    inter = root.intermediate("R3-like")
    leaf = inter.leaf(("le.example",))
    cross = old_root.cross_sign(root, not_after=300 * D)
    sent = as_sent(leaf, inter, cross)
    moment = now()
    result = build_path(sent, Anchors.of(as_sent(old_root, root)), moment)
    assert subjects(result) == ["CN=le.example", "CN=R3-like", "CN=ISRG-like Root"]
    assert result.path[-1].sent is None and result.extras == (2,) and result.complete
    assert_as_openssl(tmp_path, as_sent(old_root, root), sent, 0, result, at=moment)


def test_a_sent_copy_of_the_anchor_keeps_its_index() -> None:
    root = CA.root("Copy Root")
    inter = root.intermediate("Copy Intermediate")
    leaf = inter.leaf(("copy.example",))
    sent = as_sent(leaf, inter, root, inter)
    anchors = Anchors.of(as_sent(root))
    result = build_path(sent, anchors, now())
    assert [element.sent for element in result.path] == [0, 1, 2]
    assert result.extras == ()  # the second copy of the intermediate is the same certificate
    assert sent[2] in anchors and sent[1] not in anchors and "not a certificate" not in anchors


def test_intermediates_in_the_store(tmp_path: Path) -> None:
    root = CA.root("Store Root")
    inter = root.intermediate("Store Intermediate")
    leaf = inter.leaf(("store.example",))
    moment = now()
    # Root and intermediate in the store, only the leaf sent: OpenSSL climbs within the store.
    result = build_path(as_sent(leaf), Anchors.of(as_sent(inter, root)), moment)
    assert subjects(result) == ["CN=store.example", "CN=Store Intermediate", "CN=Store Root"]
    assert [element.sent for element in result.path] == [0, None, None] and result.complete
    assert_as_openssl(tmp_path, as_sent(inter, root), as_sent(leaf), 0, result, at=moment)
    # Only the intermediate in the store: once a store certificate is on the path, OpenSSL takes nothing more
    # from the peer, so the sent root is an extra. (OpenSSL then fails without -partial_chain; with it, it
    # prints this same path.)
    sent = as_sent(leaf, inter, root)
    result = build_path(sent, Anchors.of(as_sent(inter)), moment)
    assert subjects(result) == ["CN=store.example", "CN=Store Intermediate"]
    assert [element.sent for element in result.path] == [0, 1] and result.extras == (2,) and result.complete
    assert_as_openssl(tmp_path, as_sent(inter), sent, 0, result, at=moment, extra=["-partial_chain"])


# --- several candidates: time, key identifiers, key types, signatures ----------------------------------------------


def test_two_intermediates_with_the_same_name_one_expired(tmp_path: Path) -> None:
    """Same name and key; the expired one is issued by another root so that OpenSSL's printout tells them apart."""
    old_root, new_root = CA.root("Expired Path Root"), CA.root("Valid Path Root")
    key = ec_key()
    expired = issue("Twin CA", old_root.name, key, old_root.key, not_before=-400 * D, not_after=-1 * D)
    valid = issue("Twin CA", new_root.name, key, new_root.key)
    leaf = issue("twin.example", "Twin CA", ec_key(), key, ca=False)
    anchors = as_sent(old_root, new_root)
    moment = now()
    for order in ((leaf, expired, valid), (leaf, valid, expired)):
        sent = as_sent(*order)
        result = build_path(sent, Anchors.of(anchors), moment)
        assert subjects(result) == ["CN=twin.example", "CN=Twin CA", "CN=Valid Path Root"]
        assert same(result.path[1].cert, valid)
        assert_as_openssl(tmp_path, anchors, sent, 0, result, at=moment)


def test_none_valid_the_latest_not_after_wins() -> None:
    root = CA.root("Late Root")
    key = ec_key()
    older = issue("Late CA", root.name, key, root.key, not_before=-400 * D, not_after=-20 * D)
    newer = issue("Late CA", root.name, key, root.key, not_before=-400 * D, not_after=-2 * D)
    future = issue("Late CA", root.name, key, root.key, not_before=5 * D, not_after=400 * D)
    leaf = issue("late.example", "Late CA", ec_key(), key, ca=False)
    for order in itertools.permutations([older, newer, future]):
        result = build_path(as_sent(leaf, *order), Anchors.of(as_sent(root)), now())
        assert same(result.path[1].cert, future)  # not yet valid, but its notAfter is the latest
    result = build_path(as_sent(leaf, older, newer), Anchors.of(as_sent(root)), now())
    assert same(result.path[1].cert, newer)


def test_store_prefers_a_valid_anchor() -> None:
    key = ec_key()
    expired = issue("Renewed Root", "Renewed Root", key, key, not_before=-900 * D, not_after=-5 * D)
    valid = issue("Renewed Root", "Renewed Root", key, key)
    leaf = issue("renewed.example", "Renewed Root", ec_key(), key, ca=False)
    result = build_path(as_sent(leaf), Anchors.of(as_sent(expired, valid)), now())
    assert same(result.path[1].cert, valid) and result.path[1].sent is None and result.complete


def test_same_name_different_keys_key_identifiers_decide(tmp_path: Path) -> None:
    root_a, root_b = CA.root("Key A Root"), CA.root("Key B Root")
    key_a, key_b = ec_key(), ec_key()
    inter_a = issue("Rekeyed CA", root_a.name, key_a, root_a.key)
    inter_b = issue("Rekeyed CA", root_b.name, key_b, root_b.key)
    leaf = issue("rekeyed.example", "Rekeyed CA", ec_key(), key_b, ca=False)  # AKI = SKI of key B
    anchors = as_sent(root_a, root_b)
    sent = as_sent(leaf, inter_a, inter_b)
    calls: list[int] = []
    original = chain._signature_verdict

    def counted(child: x509.Certificate, key: Any) -> bool | None:
        calls.append(1)
        return original(child, key)

    moment = now()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chain, "_signature_verdict", counted)
        result = build_path(sent, Anchors.of(anchors), moment)
    assert subjects(result) == ["CN=rekeyed.example", "CN=Rekeyed CA", "CN=Key B Root"]
    assert calls == []  # the key identifiers left one candidate: no signature was needed
    assert chain.Anchors.of(as_sent(inter_a, inter_b)).issuers_of(sent[0]) == [sent[2]]
    assert_as_openssl(tmp_path, anchors, sent, 0, result, at=moment)


def test_signature_breaks_a_tie_openssl_does_not() -> None:
    """Same name, no key identifiers: both are likely. The signature picks the real issuer. OpenSSL 3 takes the
    first valid one instead and then fails with "certificate signature failure" (error 7, depth 0)."""
    root = CA.root("Tie Root")
    wrong_key, real_key = ec_key(), ec_key()
    wrong = issue("Tie CA", root.name, wrong_key, root.key, ski=False)
    real = issue("Tie CA", root.name, real_key, root.key, ski=False)
    leaf = issue("tie.example", "Tie CA", ec_key(), real_key, ca=False, aki=False)
    result = build_path(as_sent(leaf, wrong, real), Anchors.of(as_sent(root)), now())
    assert same(result.path[1].cert, real) and result.extras == (1,)


def test_openssl_takes_the_first_likely_issuer_without_checking_its_signature(tmp_path: Path) -> None:
    root = CA.root("Tie Root 2")
    wrong_key, real_key = ec_key(), ec_key()
    wrong = issue("Tie CA 2", root.name, wrong_key, root.key, ski=False)
    real = issue("Tie CA 2", root.name, real_key, root.key, ski=False)
    leaf = issue("tie2.example", "Tie CA 2", ec_key(), real_key, ca=False, aki=False)
    checked = openssl_verify(tmp_path, as_sent(root), as_sent(leaf, wrong, real), 0, at=now())
    assert checked.returncode != 0 and "error 7 at 0 depth lookup" in checked.stdout + checked.stderr


def test_unverifiable_signatures_keep_their_candidates() -> None:
    root = CA.root("Unknown Sig Root")
    key_1, key_2 = ec_key(), ec_key()
    first = issue("Unknown Sig CA", root.name, key_1, root.key, ski=False)
    second = issue("Unknown Sig CA", root.name, key_2, root.key, ski=False)
    leaf = issue("unknown.example", "Unknown Sig CA", ec_key(), key_2, ca=False, aki=False)
    sent = as_sent(leaf, first, second)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chain, "_signature_verdict", lambda child, key: None)  # cannot tell: both stay
        assert same(build_path(sent, None, now()).path[1].cert, first)
        patch.setattr(chain, "_signature_verdict", lambda child, key: False)  # all fail: all stay
        assert same(build_path(sent, None, now()).path[1].cert, first)
    assert same(build_path(sent, None, now()).path[1].cert, second)


def test_key_type_must_fit_the_signature(tmp_path: Path) -> None:
    root_rsa, root_ec = CA.root("RSA Path Root"), CA.root("EC Path Root")
    rsa_key, ec_issuer_key = rsa1024(), ec_key()
    with_rsa_key = issue("Mixed CA", root_rsa.name, rsa_key, root_rsa.key, ski=False)
    with_ec_key = issue("Mixed CA", root_ec.name, ec_issuer_key, root_ec.key, ski=False)
    leaf = issue("mixed.example", "Mixed CA", ec_key(), ec_issuer_key, ca=False, aki=False)  # ECDSA signature
    calls: list[int] = []
    sent = as_sent(leaf, with_rsa_key, with_ec_key)
    anchors = as_sent(root_rsa, root_ec)
    moment = now()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chain, "_signature_verdict", lambda child, key: calls.append(1))
        result = build_path(sent, Anchors.of(anchors), moment)
    assert subjects(result) == ["CN=mixed.example", "CN=Mixed CA", "CN=EC Path Root"] and calls == []
    assert_as_openssl(tmp_path, anchors, sent, 0, result, at=moment)


def test_key_usage_does_not_steer_path_building(tmp_path: Path) -> None:
    """OpenSSL 3 chooses issuers by ossl_x509_likely_issued, which ignores keyUsage, and only complains about a
    missing keyCertSign after the path is built (errors 79/32 at depth 1, not "unable to get issuer" at 0)."""
    root = CA.root("KU Root")
    key = ec_key()
    no_cert_sign = issue("KU CA", root.name, key, root.key, key_cert_sign=False)
    leaf = issue("ku.example", "KU CA", ec_key(), key, ca=False)
    result = build_path(as_sent(leaf, no_cert_sign), Anchors.of(as_sent(root)), now())
    assert subjects(result) == ["CN=ku.example", "CN=KU CA", "CN=KU Root"]
    checked = openssl_verify(tmp_path, as_sent(root), as_sent(leaf, no_cert_sign), 0, at=now())
    output = checked.stdout + checked.stderr
    assert checked.returncode != 0 and "at 1 depth lookup" in output and "error 20 at 0" not in output


def test_names_compare_as_openssl_compares_them(tmp_path: Path) -> None:
    root = CA.root("Canon Root")
    key = ec_key()
    printable = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "  Canon   CA ", _ASN1Type.PrintableString)])
    utf8 = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "canon\tca", _ASN1Type.UTF8String)])
    assert printable != utf8  # cryptography's Name equality and the DER both differ
    inter = issue(printable, root.name, key, root.key, ski=False)
    leaf = issue("canon.example", utf8, ec_key(), key, ca=False, aki=False)
    sent = as_sent(leaf, inter)
    moment = now()
    result = build_path(sent, Anchors.of(as_sent(root)), moment)
    assert len(result.path) == 3 and result.complete and same(result.path[1].cert, inter)
    assert len(openssl_path(tmp_path, as_sent(root), sent, 0, at=moment)) == 3
    # Not folded: a NumericString differs from a PrintableString of the same digits, as in OpenSSL.
    numeric = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, "123", _ASN1Type.NumericString)])
    printable_digits = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, "123", _ASN1Type.PrintableString)])
    assert chain._name_key(numeric) != chain._name_key(printable_digits)
    # RDNs are sets; their order inside one does not matter, the order of RDNs does.
    ab = x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "a"),
                                                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "b")])])
    ba = x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "B"),
                                                    x509.NameAttribute(NameOID.COMMON_NAME, "A")])])
    assert chain._name_key(ab) == chain._name_key(ba)
    assert chain._name_key(make_name("a")) != chain._name_key(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "a"), x509.NameAttribute(NameOID.COMMON_NAME, "a")]))


def test_authority_key_identifier_serial_and_name_must_match() -> None:
    root = CA.root("AKI Root")
    other = CA.root("Someone Else")
    serial = root.cert.serial_number
    ski = root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest

    def leaf_with(aki: x509.AuthorityKeyIdentifier) -> x509.Certificate:
        return issue("aki.example", root.name, ec_key(), root.key, ca=False, aki=False, extra=[aki])

    anchors = Anchors.of(as_sent(root))
    good = x509.AuthorityKeyIdentifier(ski, [x509.DirectoryName(root.name)], serial)
    assert len(anchors.issuers_of(leaf_with(good))) == 1
    for bad in (x509.AuthorityKeyIdentifier(ski, [x509.DirectoryName(root.name)], serial + 1),
                x509.AuthorityKeyIdentifier(ski, [x509.DirectoryName(other.name)], serial),
                x509.AuthorityKeyIdentifier(b"\x01" * 20, None, None)):
        result = build_path(as_sent(leaf_with(bad)), anchors, now())
        assert len(result.path) == 1 and not result.complete


def test_self_issued_but_not_self_signed_continues(tmp_path: Path) -> None:
    """A key rollover certificate: subject == issuer, but its AKI names the old key. OpenSSL does not stop at it
    (EXFLAG_SS needs the AKI to fit its own key), and neither does the builder."""
    old_key, new_key = ec_key(), ec_key()
    old_root = issue("Rolling Root", "Rolling Root", old_key, old_key)
    rollover = issue("Rolling Root", "Rolling Root", new_key, old_key)  # SKI new, AKI old
    leaf = issue("rolling.example", "Rolling Root", ec_key(), new_key, ca=False)
    sent = as_sent(leaf, rollover)
    moment = now()
    result = build_path(sent, Anchors.of(as_sent(old_root)), moment)
    assert [element.sent for element in result.path] == [0, 1, None] and result.complete
    assert_as_openssl(tmp_path, as_sent(old_root), sent, 0, result, at=moment)


# --- legacy signatures --------------------------------------------------------------------------------------------


def test_sha1_signed_leaf_keeps_its_real_issuer(tmp_path: Path) -> None:
    """The single likely issuer needs no signature check. (evaluate's old _path asked verify_directly_issued_by,
    which refuses SHA-1 on cryptography 40+, and so reported the real intermediate as an extra.)"""
    root = CA.root("SHA1 Root")
    inter_key = rsa1024()
    inter = issue("SHA1 Intermediate", root.name, inter_key, root.key)
    leaf = resign(issue("sha1.example", "SHA1 Intermediate", ec_key(), inter_key, ca=False), inter_key,
                  hashes.SHA1())
    sent = as_sent(leaf, inter)
    assert sent[0].signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.5"
    moment = now()
    result = build_path(sent, Anchors.of(as_sent(root)), moment)
    assert subjects(result) == ["CN=sha1.example", "CN=SHA1 Intermediate", "CN=SHA1 Root"]
    assert result.extras == () and result.complete
    assert_as_openssl(tmp_path, as_sent(root), sent, 0, result, at=moment)


def test_sha1_and_md5_signatures_still_break_ties() -> None:
    root = CA.root("Legacy Root")
    for digest in (hashes.SHA1(), hashes.MD5()):
        wrong_key, real_key = rsa1024(), rsa1024()
        wrong = issue("Legacy CA", root.name, wrong_key, root.key, ski=False)
        real = issue("Legacy CA", root.name, real_key, root.key, ski=False)
        leaf = resign(issue("legacy.example", "Legacy CA", ec_key(), real_key, ca=False, aki=False), real_key,
                      digest)
        sent = as_sent(leaf, wrong, real)
        assert chain._signature_verdict(sent[0], sent[2].public_key()) is True, digest.name
        assert chain._signature_verdict(sent[0], sent[1].public_key()) is False, digest.name
        assert same(build_path(sent, Anchors.of(as_sent(root)), now()).path[1].cert, real)


def test_signatures_are_checked_by_key_type() -> None:
    """One code path on every cryptography version; where verify_directly_issued_by exists, it agrees."""
    keys: list[Key] = [ec_key(), rsa1024(), ed25519.Ed25519PrivateKey.generate(), ed448.Ed448PrivateKey.generate(),
                       dsa.generate_private_key(2048)]
    for key in keys:
        parent = issue("Fallback Parent", "Fallback Parent", key, key)
        child = issue("fallback.example", "Fallback Parent", ec_key(), key, ca=False)
        stranger = issue("Fallback Parent", "Fallback Parent", type_like(key), type_like(key))
        assert chain._signature_verdict(child, parent.public_key()) is True, type(key)
        assert chain._signature_verdict(child, stranger.public_key()) is False, type(key)
        direct = getattr(child, "verify_directly_issued_by", None)
        if direct is not None:
            direct(parent)
        # The key type, as OpenSSL sees it in the DER (cryptography < 43 has no public_key_algorithm_oid).
        walked = chain._public_key_oid(_TbsOnly(parent))  # type: ignore[arg-type]
        assert walked is not None and chain._KEY_FAMILIES[walked] == chain._key_family(parent.public_key())
        if hasattr(parent, "public_key_algorithm_oid"):
            assert walked == parent.public_key_algorithm_oid.dotted_string
    # A key that cannot have made this kind of signature, or none at all: unverifiable, not "not the issuer".
    rsa_child = issue("rsa.example", "Fallback Parent", ec_key(), rsa1024(), ca=False)
    assert chain._signature_verdict(rsa_child, ec_key().public_key()) is None
    assert chain._signature_verdict(rsa_child, None) is None


class _TbsOnly:
    """A certificate as cryptography < 43 shows it to _public_key_oid: no public_key_algorithm_oid."""

    def __init__(self, cert: x509.Certificate) -> None:
        self.tbs_certificate_bytes = cert.tbs_certificate_bytes


def type_like(key: Key) -> Key:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ec_key()
    if isinstance(key, rsa.RSAPrivateKey):
        return rsa1024()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return ed25519.Ed25519PrivateKey.generate()
    if isinstance(key, ed448.Ed448PrivateKey):
        return ed448.Ed448PrivateKey.generate()
    return dsa.generate_private_key(2048)


@pytest.mark.skipif(not hasattr(x509.Certificate, "signature_algorithm_parameters"),
                    reason="RSASSA-PSS certificates need cryptography 41+ (building and checking them)")
def test_rsa_pss_signature() -> None:
    key = rsa1024()
    now_ = now()
    builder = (x509.CertificateBuilder().subject_name(make_name("PSS CA")).issuer_name(make_name("PSS CA"))
               .public_key(key.public_key()).serial_number(1).not_valid_before(now_ - D)
               .not_valid_after(now_ + D))
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    try:
        parent = builder.sign(key, hashes.SHA256(), rsa_padding=pss)
    except TypeError:
        pytest.skip("this cryptography cannot sign with RSASSA-PSS")
    assert parent.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.10"
    assert chain._signature_verdict(parent, parent.public_key()) is True
    result = build_path(as_sent(parent), None, now_)
    assert result.complete and len(result.path) == 1  # self-signed: an RSA key fits a PSS signature


# --- loops, depth and hostile bundles --------------------------------------------------------------------------


def test_loops_end() -> None:
    ka, kb = ec_key(), ec_key()
    a = issue("Loop A", "Loop B", ka, kb)
    b = issue("Loop B", "Loop A", kb, ka)
    leaf = issue("loop.example", "Loop A", ec_key(), ka, ca=False)
    result = build_path(as_sent(leaf, a, b), None, now())
    assert subjects(result) == ["CN=loop.example", "CN=Loop A", "CN=Loop B"] and not result.complete
    # The same two in the store: OpenSSL would cycle between them up to the depth limit; no certificate twice here.
    result = build_path(as_sent(leaf), Anchors.of(as_sent(a, b)), now())
    assert subjects(result) == ["CN=loop.example", "CN=Loop A", "CN=Loop B"] and result.complete
    # A certificate that names itself as issuer but is not self-signed (its AKI names another key): no loop.
    kc = ec_key()
    odd = issue("Self Named", "Self Named", kc, ec_key())
    result = build_path(as_sent(issue("odd.example", "Self Named", ec_key(), kc, ca=False), odd), None, now())
    assert len(result.path) == 2 and not result.complete


def _long_chain(length: int) -> tuple[list[x509.Certificate], x509.Certificate]:
    """A root and ``length - 2`` intermediates, each with its own name, and a leaf: ``length`` certificates."""
    keys = [ec_key() for _ in range(length - 1)]
    cas = [issue("Depth 0", "Depth 0", keys[0], keys[0])]
    cas += [issue(f"Depth {i}", f"Depth {i - 1}", keys[i], keys[i - 1]) for i in range(1, length - 1)]
    return cas, issue("deep.example", f"Depth {length - 2}", ec_key(), keys[-1], ca=False)


def test_depth_limit_is_openssls(tmp_path: Path) -> None:
    cas, leaf = _long_chain(MAX_PATH_LENGTH)  # leaf + 100 intermediates + root: the longest OpenSSL accepts
    sent = as_sent(leaf, *reversed(cas[1:]))
    moment = now()
    result = build_path(sent, Anchors.of(as_sent(cas[0])), moment)
    assert len(result.path) == MAX_PATH_LENGTH and result.complete
    assert_as_openssl(tmp_path, as_sent(cas[0]), sent, 0, result, at=moment)
    cas, leaf = _long_chain(MAX_PATH_LENGTH + 1)  # one more: OpenSSL stops at the same certificate
    sent = as_sent(leaf, *reversed(cas[1:]))
    result = build_path(sent, Anchors.of(as_sent(cas[0])), moment)
    assert len(result.path) == MAX_PATH_LENGTH and not result.complete and result.extras == ()
    checked = openssl_verify(tmp_path, as_sent(cas[0]), sent, 0, at=moment)
    assert checked.returncode != 0
    assert f"error 22 at {MAX_PATH_LENGTH - 1} depth lookup" in checked.stdout + checked.stderr  # chain too long


class _Work:
    """Counts budget checks and the signature checks made between them."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.original = chain._signature_verdict

    def check(self) -> None:
        self.steps.append(0)

    def verdict(self, child: x509.Certificate, key: Any) -> bool | None:
        self.steps[-1] += 1
        return self.original(child, key)


def _hostile_same_name(count: int, signer_at: int) -> tuple[list[x509.Certificate], x509.Certificate]:
    keys = [ec_key() for _ in range(count)]
    cas = [issue("Hostile CA", "Hostile Root", key, ec_key(), ski=False, aki=False) for key in keys]
    leaf = issue("hostile.example", "Hostile CA", ec_key(), keys[signer_at], ca=False, aki=False)
    return cas, leaf


def test_270_same_named_cas_without_key_identifiers() -> None:
    cas, leaf = _hostile_same_name(269, 200)
    sent = as_sent(*cas, leaf)
    assert len(sent) == 270
    assert choose_leaf(sent) == 269
    work = _Work()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chain, "_signature_verdict", work.verdict)
        result = build_path(sent, Anchors.of(as_sent(CA.root("Unrelated Store Root"))), now(), leaf=269,
                            check=work.check)
    # 269 likely issuers; the signer is past the first MAX_SIGNATURE_CHECKS, which all fail: the bound wins and
    # the first valid unchecked candidate is taken. Then "Hostile Root" is nowhere: incomplete.
    assert work.steps == [MAX_SIGNATURE_CHECKS, 0]
    assert [element.sent for element in result.path] == [269, MAX_SIGNATURE_CHECKS] and not result.complete
    assert len(result.extras) == 268


def test_the_signer_among_the_first_candidates_is_found() -> None:
    cas, leaf = _hostile_same_name(40, 5)
    sent = as_sent(leaf, *cas)
    work = _Work()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chain, "_signature_verdict", work.verdict)
        result = build_path(sent, None, now(), check=work.check)
    assert result.path[1].sent == 6 and work.steps == [MAX_SIGNATURE_CHECKS, 0]


def test_270_certificate_chains_that_never_end_are_cut() -> None:
    """Two hostile shapes that keep every step busy: a long chain of distinct names, and same-named CAs that are
    not self-signed (each holds an EC key but carries an RSA signature, and the other way round), so every step
    has ~135 likely issuers and signature checks to make."""
    cas, leaf = _long_chain(270)
    sent = as_sent(leaf, *cas)
    work = _Work()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chain, "_signature_verdict", work.verdict)
        result = build_path(sent, None, now(), check=work.check)
    assert len(result.path) == MAX_PATH_LENGTH and not result.complete
    assert len(work.steps) == MAX_PATH_LENGTH - 1 and sum(work.steps) == 0

    rsa_keys = [rsa1024() for _ in range(3)]
    ec_keys = [ec_key() for _ in range(3)]
    mixed = []
    for index in range(269):
        if index % 2:
            mixed.append(issue("Mixed Loop", "Mixed Loop", ec_keys[index % 3], rsa_keys[index % 3], ski=False,
                               aki=False))
        else:
            mixed.append(issue("Mixed Loop", "Mixed Loop", rsa_keys[index % 3], ec_keys[index % 3], ski=False,
                               aki=False))
    leaf = issue("mixed-loop.example", "Mixed Loop", ec_key(), rsa_keys[0], ca=False, aki=False)
    sent = as_sent(*mixed, leaf)
    assert choose_leaf(sent) == 269
    work = _Work()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chain, "_signature_verdict", work.verdict)
        result = build_path(sent, Anchors.of([]), now(), leaf=269, check=work.check)
    assert len(result.path) == MAX_PATH_LENGTH and not result.complete
    assert len(work.steps) == MAX_PATH_LENGTH - 1 <= 101
    assert max(work.steps) == MAX_SIGNATURE_CHECKS
    assert sum(work.steps) == MAX_PATH_SIGNATURE_CHECKS  # and no more per path, however long it gets
    assert len({element.cert.public_bytes(DER) for element in result.path}) == MAX_PATH_LENGTH  # no repeats


def test_all_self_signed_with_one_name() -> None:
    keys = [ec_key() for _ in range(270)]
    cas = [issue("Same Root", "Same Root", key, key, ski=False, aki=False) for key in keys]
    leaf = issue("same.example", "Same Root", ec_key(), keys[3], ca=False, aki=False)
    sent = as_sent(leaf, *cas)
    assert choose_leaf(sent) == 0
    work = _Work()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chain, "_signature_verdict", work.verdict)
        result = build_path(sent, None, now(), check=work.check)
    assert result.path[1].sent == 4 and result.complete and work.steps == [MAX_SIGNATURE_CHECKS]


def test_the_budget_check_stops_the_walk() -> None:
    class OutOfTime(Exception):
        pass

    cas, leaf = _long_chain(20)
    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise OutOfTime

    with pytest.raises(OutOfTime):
        build_path(as_sent(leaf, *cas), None, now(), check=check)
    assert len(calls) == 3


def test_bad_leaf_index() -> None:
    with pytest.raises(IndexError):
        build_path([], None, now())


# --- what cryptography refuses or warns about -------------------------------------------------------------------


def test_cryptography_warnings_do_not_escape(capfd: pytest.CaptureFixture[str]) -> None:
    """A store root with a negative serial (cryptography warns whenever it reads it) checked against an AKI serial."""
    key = ec_key()
    positive = issue("Negative Root", "Negative Root", key, key, serial=0x7F7F7F)
    negative = resign(positive, key, edit=lambda tbs: tbs.replace(b"\x02\x03\x7f\x7f\x7f", b"\x02\x03\xff\x7f\x7f", 1))
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    aki = x509.AuthorityKeyIdentifier(ski, [x509.DirectoryName(make_name("Negative Root"))], 0x7F7F7F)
    leaf = issue("negative.example", "Negative Root", ec_key(), key, ca=False, aki=False, extra=[aki])
    store = as_sent(negative)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build_path(as_sent(leaf), Anchors.of(store), now())
        assert choose_leaf(as_sent(leaf, negative)) == 0
        Anchors.of(store).issuers_of(as_sent(leaf)[0])
    assert caught == [] and len(result.path) == 1  # the serials differ: not its issuer
    assert capfd.readouterr().err == ""


def test_undecodable_subject_matches_nothing() -> None:
    data = (Path(__file__).parent / "data" / "keyerror-unknown-string-tag-in-name.pem").read_bytes()
    odd = x509.load_pem_x509_certificate(data)
    root = CA.root("Undecodable Root")
    result = build_path([odd], Anchors.of(as_sent(root)), now())
    assert len(result.path) == 1
    assert choose_leaf([odd, root.cert]) in (0, 1)


# --- the trust store ----------------------------------------------------------------------------------------------


def _trusted_block(cert: x509.Certificate) -> bytes:
    """OpenSSL's TRUSTED CERTIFICATE: the DER certificate followed by its trust settings (serverAuth)."""
    import base64

    aux = _der(0x30, _der(0x30, bytes.fromhex("06082b06010505070301")))
    body = base64.encodebytes(cert.public_bytes(DER) + aux)
    return b"-----BEGIN TRUSTED CERTIFICATE-----\n" + body + b"-----END TRUSTED CERTIFICATE-----\n"


def _bundle(tmp_path: Path) -> tuple[Path, CA, CA, CA]:
    first, second, third = CA.root("File Root 1"), CA.root("File Root 2"), CA.root("File Root 3")
    data = (b"garbage before\n" + first.pem + b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            + b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" + second.pem
            + _trusted_block(third.cert) + b"-----BEGIN CERTIFICATE-----\nnever closed\n")
    path = tmp_path / "bundle.pem"
    path.write_bytes(data)
    return path, first, second, third


@pytest.mark.parametrize("batch", [True, False], ids=["load_pem_x509_certificates", "block-by-block"])
def test_cafile_skips_what_it_cannot_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: bool) -> None:
    if not batch:
        monkeypatch.delattr(x509, "load_pem_x509_certificates", raising=False)  # as on cryptography 38
    path, first, second, third = _bundle(tmp_path)
    anchors = Anchors.load(cafile=str(path))
    path.unlink()  # read at load(), parsed later
    assert first.cert in anchors and second.cert in anchors and third.cert in anchors
    leaf = as_sent(second.leaf(("file.example",)))[0]
    assert [same(cert, second.cert) for cert in anchors.issuers_of(leaf)] == [True]
    for data in (first.pem + second.pem,  # healthy: one load_pem_x509_certificates call where it exists
                 first.pem + b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + second.pem):
        (tmp_path / "other.pem").write_bytes(data)
        other = Anchors.load(cafile=str(tmp_path / "other.pem"))
        assert first.cert in other and second.cert in other and third.cert not in other


def test_unreadable_trust_store_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the trust store .*missing.pem"):
        Anchors.load(cafile=str(tmp_path / "missing.pem"))
    with pytest.raises(InputError, match="cannot read the trust store directory"):
        Anchors.load(capath=str(tmp_path / "missing"))


def test_capath_reads_hash_links_in_openssls_order(tmp_path: Path) -> None:
    key = ec_key()
    a = issue("Dir Root", "Dir Root", key, key)
    b = issue("Dir Root", "Dir Root", key, key)
    unrelated = CA.root("Dir Other")
    store = tmp_path / "certs"
    store.mkdir()
    (store / "a.pem").write_bytes(a.public_bytes(PEM))
    (store / "0badc0de.10").symlink_to("a.pem")
    (store / "0badc0de.2").write_bytes(b.public_bytes(PEM))
    (store / "deadbeef.0").symlink_to("missing.pem")  # dangling: skipped
    (store / "0badc0de.x").write_bytes(unrelated.pem)  # not a hash link: not read
    (store / "README").write_bytes(unrelated.pem)
    (store / "12345678.0").mkdir()  # a directory with a link's name: skipped
    anchors = Anchors.load(capath=str(store))
    leaf = issue("dir.example", "Dir Root", ec_key(), key, ca=False)
    assert [same(cert, b) for cert in anchors.issuers_of(leaf)] == [True, False]  # .2 before .10
    assert unrelated.cert not in anchors


def test_system_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = CA.root("System Root")
    bundle = tmp_path / "system.pem"
    bundle.write_bytes(root.pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert root.cert in Anchors.load()
    # No such bundle: the directory's hash links.
    directory = tmp_path / "system-dir"
    directory.mkdir()
    other = CA.root("System Dir Root")
    (directory / "01234567.0").write_bytes(other.pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nothing.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(directory))
    anchors = Anchors.load()
    assert other.cert in anchors and root.cert not in anchors
    # Neither: an empty store, and paths are built from what was sent.
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-dir"))
    empty = Anchors.load()
    inter = other.intermediate("System Intermediate")
    leaf = inter.leaf(("system.example",))
    result = build_path(as_sent(leaf, inter, other), empty, now())
    assert len(result.path) == 3 and result.path[-1].sent == 2 and other.cert not in empty


def test_both_cafile_and_capath(tmp_path: Path) -> None:
    one, two = CA.root("Both 1"), CA.root("Both 2")
    cafile = tmp_path / "one.pem"
    cafile.write_bytes(one.pem)
    directory = tmp_path / "dir"
    directory.mkdir()
    (directory / "89abcdef.0").write_bytes(two.pem)
    anchors = Anchors.load(cafile=str(cafile), capath=str(directory))
    assert one.cert in anchors and two.cert in anchors
