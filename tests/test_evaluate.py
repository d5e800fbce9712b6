"""Pure evaluation with a frozen clock: paths, roles, labels, kinds and sentences, without any network."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from pki import CA, Issued, not_after, not_before, self_signed_leaf

from plugin.acquire.chain import Anchors
from plugin.errors import PhaseTimeout
from plugin.evaluate import Policy, evaluate
from plugin.evaluate.findings import Evaluation, Kind
from plugin.present.jsonout import render_json
from plugin.acquire.presented import Presented, Verification, VerifyCode
from plugin.present.sentences import format_span, sentence, summary
from plugin.status import Status
from plugin.target import parse_host
from plugin.thresholds import parse_threshold

D = timedelta(days=1)
POLICY = Policy(parse_threshold("30d,25%"), parse_threshold("14d,10%"))
FILE = Verification(attempted=False, reason="file")
VERIFIED = Verification(attempted=True, name_matched=True)


def delivered(*ders: bytes) -> tuple[tuple[bytes, None], ...]:
    return tuple((der, None) for der in ders)


def handshake(*sent: Issued, path: tuple[Issued | CA, ...] = (), verification: Verification = VERIFIED,
              tls_version: str = "TLSv1.3") -> Presented:
    """What a handshake hands to evaluation: the sent chain and the path OpenSSL built."""
    path_ders = tuple(item.issued.der if isinstance(item, CA) else item.der for item in path)
    return Presented(certificates=delivered(*(item.der for item in sent)), verification=verification,
                     path=delivered(*path_ders), tls_version=tls_version, peer="127.0.0.1:443")


def from_file(*ders: bytes) -> Presented:
    return Presented(certificates=delivered(*ders), verification=FILE)


def kinds(evaluation: Evaluation) -> set[tuple[Kind, str | None]]:
    return {(finding.kind, finding.row.label if finding.row else None) for finding in evaluation.findings}


def labels(evaluation: Evaluation) -> list[tuple[str, int | None]]:
    return [(row.label, row.sent) for row in evaluation.rows]


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    root = CA.root()
    return root, root.intermediate()


NOW = datetime.now(timezone.utc)


def test_verified_path_counts_the_anchor_the_server_did_not_send(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    leaf = intermediate.leaf(not_after=100 * D)
    evaluation = evaluate(handshake(leaf, intermediate.issued, path=(leaf, intermediate, root)), POLICY, NOW)
    assert labels(evaluation) == [("leaf", 0), ("int1", 1), ("root", None)]
    assert kinds(evaluation) == {(Kind.HEALTHY, "leaf")}
    assert summary(evaluation).startswith("leaf 'localhost' expires first, in 100.0 days")
    assert summary(evaluation).endswith("chain verified")


def test_labels_do_not_change_when_the_verdict_does(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    leaf = intermediate.leaf(not_after=10 * D, not_before=-80 * D)
    chain = handshake(leaf, intermediate.issued, path=(leaf, intermediate, root))
    before = evaluate(chain, POLICY, NOW)
    after = evaluate(chain, POLICY, NOW + 20 * D)
    assert labels(before) == labels(after)
    assert before.status == Status.WARNING and after.status == Status.CRITICAL
    assert (Kind.EXPIRING, "leaf") in kinds(before) and (Kind.EXPIRED, "leaf") in kinds(after)


def test_file_order_does_not_decide_the_leaf(pki: tuple[CA, CA]) -> None:
    """A bundle with the intermediate first: the leaf is still the end-entity certificate."""
    root, intermediate = pki
    leaf = intermediate.leaf(not_after=10 * D, not_before=-80 * D)
    evaluation = evaluate(from_file(intermediate.issued.der, leaf.der), POLICY, NOW,
                          anchors=Anchors.of([root.cert]))
    assert labels(evaluation) == [("leaf", 1), ("int1", 0), ("root", None)]
    assert evaluation.status == Status.WARNING
    assert summary(evaluation).startswith("leaf 'localhost' expires in 10.0 days")


def test_cross_sign_is_an_extra_in_file_mode_too(pki: tuple[CA, CA]) -> None:
    """Leaf, intermediate and an expired cross-signed copy of the root: the anchor ends the path."""
    root, intermediate = pki
    old = CA.root("Old Root CA")
    cross = old.cross_sign(root, not_after=-20 * D, not_before=-400 * D)
    leaf = intermediate.leaf(not_after=80 * D)
    evaluation = evaluate(from_file(leaf.der, intermediate.issued.der, cross.der), POLICY, NOW,
                          anchors=Anchors.of([root.cert]))
    assert labels(evaluation) == [("leaf", 0), ("int1", 1), ("root", None), ("extra1", 2)]
    assert kinds(evaluation) == {(Kind.EXTRA_EXPIRED, "extra1")}
    assert evaluation.status == Status.WARNING and evaluation.headline is not None
    assert evaluation.headline.label == "leaf"


def test_threshold_boundaries_and_numbers_that_agree_with_the_state(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    leaf = intermediate.leaf(not_after=14 * D, not_before=-76 * D)
    chain = handshake(leaf, intermediate.issued, path=(leaf, intermediate, root))
    policy = Policy(parse_threshold("30"), parse_threshold("14"))
    evaluation = evaluate(chain, policy, not_after(leaf.cert) - timedelta(days=13.96))
    assert evaluation.status == Status.CRITICAL
    assert "expires in 13.96 days" in summary(evaluation)  # never "14.0 days" under -c 14
    assert evaluate(chain, policy, not_after(leaf.cert) - 14 * D - timedelta(seconds=1)).status == Status.WARNING
    assert evaluate(chain, policy, not_after(leaf.cert) - 30 * D - timedelta(seconds=1)).status == Status.OK
    assert format_span(13.96 * 86400) == "14.0 days" and format_span(13.96 * 86400, 14 * 86400) == "13.96 days"
    assert format_span(13.99999 * 86400, 14 * 86400) == "13.9999 days"
    assert format_span(7199, 7200) == "1.9997 hours" and format_span(59) == "0 minutes"


def test_expired_and_not_yet_valid(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    leaf = intermediate.leaf(not_after=10 * D)
    chain = handshake(leaf, intermediate.issued, path=(leaf, intermediate, root))
    expiry = not_after(leaf.cert)
    assert "expired 24.0 hours ago" in summary(evaluate(chain, POLICY, expiry + D))
    early = evaluate(chain, POLICY, not_before(leaf.cert) - D)
    assert (Kind.NOT_YET_VALID, "leaf") in kinds(early) and "is not valid before" in summary(early)


def test_an_expired_store_root_is_named_and_reported(pki: tuple[CA, CA]) -> None:
    """OpenSSL failed on time only: the path was re-verified with the time check waived, the root is in it."""
    old_root = CA.root("Expired Root", not_after=-5 * D, not_before=-400 * D)
    intermediate = old_root.intermediate()
    leaf = intermediate.leaf(not_after=60 * D)
    verdict = Verification(attempted=True, waived=frozenset({"time"}), name_matched=True)
    evaluation = evaluate(handshake(leaf, intermediate.issued, path=(leaf, intermediate, old_root),
                                    verification=verdict), POLICY, NOW)
    assert (Kind.EXPIRED, "root") in kinds(evaluation)
    assert summary(evaluation).startswith("root 'Expired Root' (trust store) expired 5.0 days ago")


@pytest.mark.parametrize(("code", "expected"), [
    (VerifyCode.DEPTH_ZERO_SELF_SIGNED_CERT, Kind.SELF_SIGNED),
    (VerifyCode.SELF_SIGNED_CERT_IN_CHAIN, Kind.UNTRUSTED_ROOT),
])
def test_self_signed_verdicts(code: int, expected: Kind) -> None:
    leaf = self_signed_leaf()
    verdict = Verification(attempted=True, code=code, message="self-signed")
    evaluation = evaluate(handshake(leaf, path=(leaf,), verification=verdict), POLICY, NOW)
    assert (expected, "leaf") in kinds(evaluation) and evaluation.status == Status.CRITICAL


def _with_aia(ca: CA) -> Issued:
    leaf = ca.leaf()
    builder = (x509.CertificateBuilder().subject_name(leaf.cert.subject).issuer_name(ca.name)
               .public_key(leaf.key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before(leaf.cert)).not_valid_after(not_after(leaf.cert)))
    for extension in leaf.cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    access = x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                    x509.UniformResourceIdentifier("http://ca.example/int.der"))
    builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), leaf.key)


def test_untrusted_issuer_is_not_a_missing_intermediate(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    unable = Verification(attempted=True, code=VerifyCode.UNABLE_TO_GET_ISSUER_CERT_LOCALLY, message="no issuer")
    # A leaf straight from a root this store does not hold (a private or interception CA): not the server's fault.
    private = root.leaf()
    evaluation = evaluate(handshake(private, path=(private,), verification=unable), POLICY, NOW)
    assert (Kind.UNTRUSTED_ISSUER, "leaf") in kinds(evaluation)
    assert "is issued by 'CN=Test Root CA', which is neither sent by the server nor in the trust store" in \
        summary(evaluation)
    # A public-CA style leaf (AIA caIssuers) whose intermediate is not sent: the server should send it.
    public = _with_aia(intermediate)
    evaluation = evaluate(handshake(public, path=(public,), verification=unable), POLICY, NOW)
    assert (Kind.MISSING_INTERMEDIATE, "leaf") in kinds(evaluation)
    assert "the server does not send the intermediate 'CN=Test Intermediate CA'" in summary(evaluation)
    # A sent intermediate whose issuer is unknown: an untrusted root, named.
    leaf = intermediate.leaf()
    evaluation = evaluate(handshake(leaf, intermediate.issued, path=(leaf, intermediate), verification=unable),
                          POLICY, NOW)
    assert (Kind.UNTRUSTED_ISSUER, "int1") in kinds(evaluation)


def test_ignore_trust_silences_trust_kinds_only(pki: tuple[CA, CA]) -> None:
    _root, intermediate = pki
    leaf = intermediate.leaf(not_after=5 * D, not_before=-80 * D)
    ignored = Verification(attempted=True, code=VerifyCode.UNABLE_TO_GET_ISSUER_CERT_LOCALLY, message="x",
                           alarm_trust=False, reason="--ignore-trust")
    evaluation = evaluate(handshake(leaf, intermediate.issued, path=(leaf, intermediate), verification=ignored),
                          POLICY, NOW)
    assert kinds(evaluation) == {(Kind.EXPIRING, "leaf")}


def test_a_store_certificate_that_is_no_ca_is_named(pki: tuple[CA, CA]) -> None:
    _root, intermediate = pki
    fake_root = self_signed_leaf(cn="Not A CA")  # CA:FALSE, in --cafile
    leaf = intermediate.leaf()
    verdict = Verification(attempted=True, code=VerifyCode.INVALID_CA, message="invalid CA certificate",
                           name_matched=True)
    evaluation = evaluate(Presented(certificates=delivered(leaf.der), verification=verdict,
                                    path=delivered(leaf.der, fake_root.der)), POLICY, NOW)
    assert (Kind.NOT_A_CA, "root") in kinds(evaluation)
    assert "root 'Not A CA' (trust store) is not a CA certificate" in summary(evaluation)


def test_other_openssl_failures_say_code_and_message(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    leaf = intermediate.leaf()
    verdict = Verification(attempted=True, code=VerifyCode.CERT_SIGNATURE_FAILURE,
                           message="certificate signature failure")
    evaluation = evaluate(handshake(leaf, intermediate.issued, path=(leaf, intermediate, root),
                                    verification=verdict), POLICY, NOW)
    assert summary(evaluation) == "chain does not verify: certificate signature failure (OpenSSL error 7)"


def test_name_rules(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    cn_only = intermediate.leaf([], cn="www.example.com")
    name = parse_host("www.example.com")
    for verdict in (Verification(attempted=True, waived=frozenset({"name"}), name_matched=False), FILE):
        chain = Presented(certificates=delivered(cn_only.der, intermediate.issued.der), verification=verdict,
                          path=delivered(cn_only.der, intermediate.issued.der, root.issued.der)
                          if verdict.attempted else ())
        evaluation = evaluate(chain, POLICY._replace(name=name), NOW, anchors=Anchors.of([root.cert]))
        assert kinds(evaluation) == {(Kind.NO_SAN, "leaf")}, verdict
        assert "has no subjectAltName" in summary(evaluation)
    other = intermediate.leaf(["a.example", "b.example", "c.example", "d.example", "e.example"])
    evaluation = evaluate(from_file(other.der), POLICY._replace(name=name), NOW)
    text = summary(evaluation)
    assert text.startswith("hostname mismatch: certificate is not valid for www.example.com, it is for a.example")
    assert text.count("hostname mismatch") == 1 and "(+1 more)" in text


def test_unparsable_and_empty(pki: tuple[CA, CA]) -> None:
    _root, intermediate = pki
    leaf = intermediate.leaf()
    evaluation = evaluate(from_file(leaf.der, b"\x30\x00junk"), POLICY, NOW)
    assert (Kind.UNPARSABLE, None) in kinds(evaluation)
    assert "certificate #2 in the chain cannot be parsed" in summary(evaluation)
    assert "ParseError {" not in summary(evaluation)
    empty = evaluate(handshake(), POLICY, NOW)
    assert empty.status == Status.CRITICAL and summary(empty) == "the server sent no certificate"


def test_legacy_protocol(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    leaf = intermediate.leaf(not_after=100 * D)
    evaluation = evaluate(handshake(leaf, intermediate.issued, path=(leaf, intermediate, root),
                                    tls_version="TLSv1"), POLICY, NOW)
    assert summary(evaluation) == "the server offers only TLSv1, which current clients refuse"


def test_evaluation_stops_when_the_budget_does(pki: tuple[CA, CA]) -> None:
    _root, intermediate = pki
    leaf = intermediate.leaf()
    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) > 3:
            raise PhaseTimeout("the evaluation of the chain", 2)

    with pytest.raises(PhaseTimeout):
        evaluate(from_file(leaf.der, *(CA.root(f"Stray {i}").issued.der for i in range(5))), POLICY, NOW,
                 check=check)


def test_names_are_escaped_once() -> None:
    """RFC 4514 already escapes the comma; the output must not escape the backslash again."""
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "GoDaddy.com, Inc."),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Go Daddy Secure CA")])
    root = CA.root()
    leaf = root.leaf()
    builder = (x509.CertificateBuilder().subject_name(leaf.cert.subject).issuer_name(name)
               .public_key(leaf.key.public_key()).serial_number(1)
               .not_valid_before(not_before(leaf.cert)).not_valid_after(not_after(leaf.cert)))
    odd = builder.sign(root.key, hashes.SHA256())
    unable = Verification(attempted=True, code=VerifyCode.UNABLE_TO_GET_ISSUER_CERT_LOCALLY, message="x")
    evaluation = evaluate(Presented(certificates=delivered(odd.public_bytes(Encoding.DER)), verification=unable,
                                    path=delivered(odd.public_bytes(Encoding.DER))), POLICY, NOW)
    text = summary(evaluation)
    assert "O=GoDaddy.com\\, Inc." in text and "\\x5c" not in text
    document = json.loads(render_json("x:443", lambda: evaluation))
    assert "\\x5c" not in json.dumps(document)


def test_json_meaning_comes_from_kinds_not_text(pki: tuple[CA, CA]) -> None:
    """A CN that reads like a verdict does not change the verdict."""
    root, intermediate = pki
    leaf = intermediate.leaf(["localhost"], cn="not expired yet - hostname mismatch - untrusted")
    evaluation = evaluate(handshake(leaf, intermediate.issued, path=(leaf, intermediate, root)), POLICY, NOW)
    document: dict[str, Any] = json.loads(render_json("x:443", lambda: evaluation))
    assert document["result"]["value"] == "valid"
    assert [finding["kind"] for finding in document["findings"]] == ["healthy"]
    expired = evaluate(handshake(leaf, intermediate.issued, path=(leaf, intermediate, root)), POLICY, NOW + 30 * D)
    assert json.loads(render_json("x:443", lambda: expired))["result"]["value"] == "invalid"


def test_every_finding_has_a_sentence(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    leaf = intermediate.leaf(not_after=3 * D)
    evaluation = evaluate(handshake(leaf, intermediate.issued, path=(leaf, intermediate, root)), POLICY, NOW)
    for finding in evaluation.findings:
        assert sentence(finding) and "Kind." not in sentence(finding)



def test_pins_and_expected_certificates_are_kinds(pki: tuple[CA, CA]) -> None:
    from plugin.certinfo import CertInfo
    from plugin.acquire.presented import Expected

    root, intermediate = pki
    leaf = intermediate.leaf(not_after=60 * D, not_before=-30 * D)
    chain = handshake(leaf, intermediate.issued, path=(leaf, intermediate, root))
    pin = CertInfo.from_der(intermediate.issued.der).pin
    assert pin is not None and pin.startswith("sha256//")
    assert kinds(evaluate(chain, POLICY._replace(pins=(pin,)), NOW)) == {(Kind.HEALTHY, "leaf")}
    other = CertInfo.from_der(CA.root("Other").issued.der).pin
    assert other is not None
    pinned = evaluate(chain, POLICY._replace(pins=(other,)), NOW)
    assert kinds(pinned) == {(Kind.PIN_MISMATCH, "leaf")}
    assert json.loads(render_json("x:443", lambda: pinned))["result"]["value"] == "invalid"
    newer = CertInfo.from_der(intermediate.leaf(not_after=90 * D).der)
    stale = evaluate(chain, POLICY, NOW, expected=Expected("/etc/x.pem", newer))
    assert kinds(stale) == {(Kind.NOT_RELOADED, "leaf")} and stale.status == Status.WARNING
    assert json.loads(render_json("x:443", lambda: stale))["result"]["value"] == "valid"  # it still works
    older = CertInfo.from_der(intermediate.leaf(not_after=10 * D).der)
    assert kinds(evaluate(chain, POLICY, NOW, expected=Expected("/etc/x.pem", older))) == {
        (Kind.UNEXPECTED_CERTIFICATE, "leaf")}
    same = evaluate(chain, POLICY, NOW, expected=Expected("/etc/x.pem", CertInfo.from_der(leaf.der)))
    assert kinds(same) == {(Kind.HEALTHY, "leaf")} and "serves the certificate in --expect-file /etc/x.pem" in \
        same.notes
