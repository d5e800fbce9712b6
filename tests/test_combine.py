"""plugin.evaluate.combine.combine(): one verdict from several handshakes (addresses, key types), without any network.

Every outcome is a real evaluation (plugin.evaluate.evaluate on a Presented built from DER certificates of a
throw-away PKI, the way tests/test_evaluate.py does) or a real error of plugin.errors, so what combine() sees is
exactly what the entry point hands it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pki import CA, Issued

from plugin.evaluate.combine import combine
from plugin.errors import KeyTypeNotOffered, NetworkError, PhaseTimeout
from plugin.evaluate import Policy, evaluate
from plugin.evaluate.findings import Evaluation, Finding, Kind, ProbeOutcome
from plugin.acquire.presented import Presented, Verification
from plugin.present.sentences import sentence, summary
from plugin.status import Status
from plugin.thresholds import parse_threshold

D = timedelta(days=1)
NOW = datetime.now(timezone.utc)
POLICY = Policy(parse_threshold("30d,25%"), parse_threshold("14d,10%"))
VERIFIED = Verification(attempted=True, name_matched=True)
A, B, C = "127.0.0.1:443", "127.0.0.2:443", "[::1]:443"
REFUSED = "no RSA certificate"  # the start of every KeyTypeNotOffered message


class PKI:
    """One root, a long-lived intermediate, one about to expire, and the leaves the tests share."""

    def __init__(self) -> None:
        self.root = CA.root()
        self.inter = self.root.intermediate()
        self.short = self.root.intermediate("Short Intermediate", not_after=10 * D, not_before=-80 * D)
        self.rsa_short = self.root.intermediate("Short RSA Intermediate", not_after=12 * D, not_before=-80 * D)
        self.ec = self.inter.leaf(not_after=200 * D)  # healthy ECDSA
        self.ec_100 = self.inter.leaf(not_after=100 * D)
        self.ec_10 = self.inter.leaf(not_after=10 * D, not_before=-80 * D)  # WARNING (22.5 d), not CRITICAL (9 d)
        self.ec_10b = self.inter.leaf(not_after=10 * D, not_before=-80 * D)  # another one, same dates
        self.ec_gone = self.inter.leaf(not_after=-2 * D, not_before=-90 * D)  # expired: CRITICAL
        self.rsa = self.inter.leaf(not_after=50 * D, key_type="rsa")
        self.rsa_5 = self.short.leaf(not_after=5 * D, not_before=-85 * D, key_type="rsa")  # CRITICAL, via short
        self.ec_via_short = self.short.leaf(not_after=60 * D)
        self.rsa_via_rsa_short = self.rsa_short.leaf(not_after=60 * D, key_type="rsa")


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


def presented(leaf: Issued, issuer: CA, root: CA, *, tls: str = "TLSv1.3", seconds: float = 0.01,
              verification: Verification = VERIFIED, peer: str = A) -> Presented:
    """A verified handshake: the server sent leaf + issuer, OpenSSL built leaf, issuer, root."""
    sent = ((leaf.der, None), (issuer.issued.der, None))
    return Presented(certificates=sent, verification=verification, path=(*sent, (root.issued.der, None)),
                     tls_version=tls, peer=peer, seconds=seconds, details=(f"connected to {peer}",))


def judged(label: str, key_type: str | None, shown: Presented) -> ProbeOutcome:
    return ProbeOutcome(label, key_type, evaluate(shown, POLICY, NOW))


def failed(label: str, key_type: str | None, error: Exception) -> ProbeOutcome:
    return ProbeOutcome(label, key_type, None, error)  # type: ignore[arg-type]


def refused(label: str, key_type: str, why: str = "sslv3 alert handshake failure") -> ProbeOutcome:
    return failed(label, key_type, KeyTypeNotOffered(key_type, why))


def ev(outcome: ProbeOutcome) -> Evaluation:
    assert outcome.evaluation is not None
    return outcome.evaluation


def of(evaluation: Evaluation, kind: Kind) -> list[Finding]:
    return [finding for finding in evaluation.findings if finding.kind == kind]


def kinds(evaluation: Evaluation) -> list[Kind]:
    return [finding.kind for finding in evaluation.findings]


# --- the state, the rows, the order -------------------------------------------------------------------------


def test_the_worst_state_wins_and_the_rows_are_those_of_the_worst_handshake(pki: PKI) -> None:
    fine = judged(A, None, presented(pki.ec, pki.inter, pki.root))
    warning = judged(B, None, presented(pki.ec_10, pki.inter, pki.root))
    assert fine.status == Status.OK and warning.status == Status.WARNING  # the inputs are what they claim
    two = combine([fine, warning], by_address=True)
    assert two.status == Status.WARNING
    assert kinds(two) == [Kind.EXPIRING] and two.findings[0].where == (B,)
    assert sentence(two.findings[0]).startswith(f"on {B}, leaf 'localhost' expires in 10.0 days (")
    assert two.rows == ev(warning).rows  # the perfdata labels describe the address at fault
    assert two.notes[0] == f"certificates of {B}:" and two.notes[1:] == ev(warning).notes

    critical = judged(C, None, presented(pki.ec_gone, pki.inter, pki.root))
    three = combine([fine, warning, critical], by_address=True)
    assert three.status == Status.CRITICAL
    assert kinds(three) == [Kind.EXPIRED, Kind.EXPIRING]  # worst first
    assert three.findings[0].where == (C,) and three.rows == ev(critical).rows
    assert summary(three).endswith("(1 other address fine)")


def test_between_equal_states_the_rows_are_those_of_the_soonest_expiry(pki: PKI) -> None:
    later = judged(A, None, presented(pki.ec_10, pki.inter, pki.root))
    sooner_leaf = pki.inter.leaf(not_after=9.5 * D, not_before=-80.5 * D)  # above 9 d (10%): still WARNING
    sooner = judged(B, None, presented(sooner_leaf, pki.inter, pki.root))
    assert later.status == sooner.status == Status.WARNING
    for order in ([later, sooner], [sooner, later]):
        result = combine(order, by_address=True)
        assert result.rows == ev(sooner).rows
        assert result.headline is not None and result.headline.info.der == sooner_leaf.der


def test_the_headline_is_the_soonest_expiry_over_every_handshake(pki: PKI) -> None:
    outcomes = [judged(A, None, presented(pki.ec, pki.inter, pki.root)),
                judged(A, "RSA", presented(pki.rsa, pki.inter, pki.root, tls="TLSv1.2")),
                judged(A, "ECDSA", presented(pki.ec, pki.inter, pki.root, tls="TLSv1.2")),
                judged(B, None, presented(pki.ec_100, pki.inter, pki.root)),
                judged(B, "RSA", presented(pki.rsa, pki.inter, pki.root, tls="TLSv1.2")),
                judged(B, "ECDSA", presented(pki.ec_100, pki.inter, pki.root, tls="TLSv1.2"))]
    result = combine(outcomes, by_address=True)
    assert result.status == Status.OK and kinds(result) == [Kind.HEALTHY]
    assert result.headline is not None and result.headline.info.der == pki.rsa.der  # 50 days: the RSA leaf
    healthy = result.findings[0]
    assert healthy.row is result.headline and healthy.data["addresses"] == 2
    assert healthy.data["key_types"] == ["RSA", "ECDSA"]
    assert healthy.key_type == "RSA"  # only the RSA handshake saw that leaf
    assert sentence(healthy).startswith("the RSA certificate 'localhost' expires first, in 50.0 days (")
    assert sentence(healthy).endswith(", chain verified, on both addresses (RSA and ECDSA certificates checked)")
    assert result.addresses == 2 and result.failing == 0


def test_the_headline_is_the_soonest_even_when_another_handshake_is_worse(pki: PKI) -> None:
    """A legacy-only address with a 200-day leaf is CRITICAL; the 100-day leaf elsewhere is still "days"."""
    legacy = judged(A, None, presented(pki.ec, pki.inter, pki.root, tls="TLSv1"))
    fine = judged(B, None, presented(pki.ec_100, pki.inter, pki.root))
    result = combine([legacy, fine], by_address=True)
    assert result.status == Status.CRITICAL and kinds(result) == [Kind.LEGACY_PROTOCOL]
    assert result.rows == ev(legacy).rows  # the rows describe the address at fault...
    assert result.headline is not None and result.headline.info.der == pki.ec_100.der  # ...days the soonest
    assert not of(result, Kind.HEALTHY)


def test_seconds_and_details(pki: PKI) -> None:
    slow = judged(A, None, presented(pki.ec, pki.inter, pki.root, seconds=0.5))
    fast = judged(A, "RSA", presented(pki.rsa, pki.inter, pki.root, tls="TLSv1.2", seconds=0.1))
    none = refused(A, "ECDSA")
    result = combine([slow, fast, none], by_address=False)
    assert result.seconds == 0.5  # the slowest handshake is the check's time
    assert result.details == (f"{A}: connected to {A}", f"{A} (RSA): connected to {A}")
    assert result.probes == (slow, fast, none)  # each handshake's own result, in order, for -v and JSON


# --- failing addresses ------------------------------------------------------------------------------------------


def test_each_failing_address_is_an_unreachable_finding_with_its_errors_state(pki: PKI) -> None:
    fine = judged(A, None, presented(pki.ec, pki.inter, pki.root))
    down = failed(B, None, NetworkError(f"cannot connect: {B} refused the connection"))
    slow = failed(C, None, PhaseTimeout("the TLS handshake", 10.0))
    result = combine([fine, down, slow], by_address=True)
    assert result.status == Status.CRITICAL
    unreachable = of(result, Kind.UNREACHABLE)
    assert [(f.where, f.status, f.key_type) for f in unreachable] == [((B,), Status.CRITICAL, None),
                                                                     ((C,), Status.CRITICAL, None)]
    texts = sorted(sentence(finding) for finding in unreachable)
    # The message already names B: it is not said twice; C's is placed.
    assert texts == [f"cannot connect: {B} refused the connection",
                     f"on {C}, timed out during the TLS handshake (the 10s timeout ran out)"]
    assert result.addresses == 3 and result.failing == 2
    assert result.rows == ev(fine).rows  # what the others served is still reported
    assert result.headline is not None and result.headline.info.der == pki.ec.der
    assert summary(result).endswith("(1 other address fine)")


def test_the_same_error_on_two_addresses_is_said_once(pki: PKI) -> None:
    closed = "the server closed the connection during the TLS handshake"
    result = combine([failed(A, None, NetworkError(closed)), failed(B, None, NetworkError(closed))], by_address=True)
    assert [(f.kind, f.where) for f in result.findings] == [(Kind.UNREACHABLE, (A, B))]
    assert sentence(result.findings[0]) == f"on {A} and {B}, {closed}"
    assert result.rows == () and result.headline is None
    assert result.addresses == 2 and result.failing == 2
    assert summary(result).endswith("(none of the 2 addresses is fine)")


def test_a_key_type_failure_where_the_default_handshake_failed_is_not_repeated(pki: PKI) -> None:
    message = f"cannot connect: {A} refused the connection"
    outcomes = [failed(A, None, NetworkError(message)), failed(A, "RSA", NetworkError(message)),
                failed(A, "ECDSA", NetworkError(message)),
                judged(B, None, presented(pki.ec, pki.inter, pki.root)),
                judged(B, "RSA", presented(pki.rsa, pki.inter, pki.root, tls="TLSv1.2")),
                judged(B, "ECDSA", presented(pki.ec, pki.inter, pki.root, tls="TLSv1.2"))]
    result = combine(outcomes, by_address=True)
    assert [(f.kind, f.where, f.key_type) for f in result.findings] == [(Kind.UNREACHABLE, (A,), None)]
    assert sentence(result.findings[0]) == message
    assert result.addresses == 2 and result.failing == 1
    # Also when the key-type handshakes fail otherwise (the address went down in between):
    outcomes[1] = failed(A, "RSA", PhaseTimeout("the TLS handshake", 10.0))
    assert len(of(combine(outcomes, by_address=True), Kind.UNREACHABLE)) == 1
    # The same without addresses (-H only): one finding, not three.
    alone = combine(outcomes[:3], by_address=False)
    assert kinds(alone) == [Kind.UNREACHABLE] and alone.findings[0].where == () and alone.addresses is None


def test_a_key_type_handshake_that_fails_where_the_default_worked_is_its_own_finding(pki: PKI) -> None:
    outcomes = [judged(A, None, presented(pki.ec, pki.inter, pki.root)),
                failed(A, "RSA", PhaseTimeout("the TLS handshake", 10.0)),
                judged(A, "ECDSA", presented(pki.ec, pki.inter, pki.root, tls="TLSv1.2"))]
    result = combine(outcomes, by_address=True)
    assert result.status == Status.CRITICAL
    (finding,) = result.findings
    assert (finding.kind, finding.where, finding.key_type) == (Kind.UNREACHABLE, (A,), "RSA")
    assert sentence(finding) == f"on {A}, the RSA chain: timed out during the TLS handshake (the 10s timeout ran out)"
    assert result.failing == 1 and result.addresses == 1


# --- what a key-type handshake adds -----------------------------------------------------------------------------


def test_a_key_type_handshake_with_the_default_leaf_adds_nothing(pki: PKI) -> None:
    default = judged(A, None, presented(pki.ec_10, pki.inter, pki.root))
    same = judged(A, "ECDSA", presented(pki.ec_10, pki.inter, pki.root, tls="TLSv1.2"))
    assert same.status == Status.WARNING  # it has the problem too: combine() must drop it
    result = combine([default, refused(A, "RSA"), same], by_address=False)
    assert result.status == Status.WARNING
    (finding,) = result.findings
    assert (finding.kind, finding.key_type, finding.where) == (Kind.EXPIRING, None, ())
    assert sentence(finding).startswith("leaf 'localhost' expires in 10.0 days (")  # not "the ECDSA ..."
    assert result.failing == 1 and result.addresses is None


def test_a_key_type_chain_adds_only_what_the_default_did_not_show(pki: PKI) -> None:
    """Both leaves hang under the same expiring intermediate: said once; the RSA leaf's own expiry is added."""
    default = judged(A, None, presented(pki.ec_via_short, pki.short, pki.root))
    rsa = judged(A, "RSA", presented(pki.rsa_5, pki.short, pki.root, tls="TLSv1.2"))
    ecdsa = judged(A, "ECDSA", presented(pki.ec_via_short, pki.short, pki.root, tls="TLSv1.2"))
    assert {f.kind for f in ev(rsa).problems} == {Kind.EXPIRING}
    assert len(ev(rsa).problems) == 2  # the leaf and the shared intermediate
    result = combine([default, rsa, ecdsa], by_address=False)
    assert result.status == Status.CRITICAL
    texts = [sentence(finding) for finding in result.findings]
    assert len(texts) == 2, texts
    assert texts[0].startswith("the RSA certificate 'localhost' expires in 5.0 days (")  # CRITICAL first
    assert texts[1].startswith("intermediate 'Short Intermediate' expires in ")  # once, not prefixed
    assert [f.key_type for f in result.findings] == ["RSA", None]
    assert result.rows == ev(rsa).rows


def test_a_problem_of_the_key_type_chain_alone_names_the_chain(pki: PKI) -> None:
    default = judged(A, None, presented(pki.ec, pki.inter, pki.root))
    rsa = judged(A, "RSA", presented(pki.rsa_via_rsa_short, pki.rsa_short, pki.root, tls="TLSv1.2"))
    result = combine([default, rsa, judged(A, "ECDSA", presented(pki.ec, pki.inter, pki.root))], by_address=True)
    (finding,) = result.findings
    assert finding.kind == Kind.EXPIRING and finding.row is not None and finding.row.role == "intermediate"
    assert sentence(finding).startswith(f"on {A}, the RSA chain: intermediate 'Short RSA Intermediate' expires in ")


def test_the_same_key_type_problem_on_two_addresses_is_grouped(pki: PKI) -> None:
    outcomes = []
    for label in (A, C):
        outcomes += [judged(label, None, presented(pki.ec, pki.inter, pki.root)),
                     judged(label, "RSA", presented(pki.rsa_5, pki.short, pki.root, tls="TLSv1.2")),
                     judged(label, "ECDSA", presented(pki.ec, pki.inter, pki.root, tls="TLSv1.2"))]
    result = combine(outcomes, by_address=True)
    expiring = of(result, Kind.EXPIRING)
    assert [(f.where, f.key_type, f.row.role if f.row else None) for f in expiring] == [
        ((A, C), "RSA", "leaf"), ((A, C), "RSA", "intermediate")]
    assert sentence(expiring[0]).startswith(f"on {A} and {C}, the RSA certificate 'localhost' expires in 5.0 days")
    assert result.addresses == 2 and result.failing == 2


def test_different_certificates_with_the_same_problem_are_not_grouped(pki: PKI) -> None:
    one = judged(A, None, presented(pki.ec_10, pki.inter, pki.root))
    other = judged(B, None, presented(pki.ec_10b, pki.inter, pki.root))
    result = combine([one, other], by_address=True)
    assert sorted((f.kind, f.where) for f in result.findings) == [(Kind.EXPIRING, (A,)), (Kind.EXPIRING, (B,))]


def test_a_server_without_one_key_type_adds_nothing(pki: PKI) -> None:
    for leaf, present, absent in ((pki.ec, "ECDSA", "RSA"), (pki.rsa, "RSA", "ECDSA")):
        default = judged(A, None, presented(leaf, pki.inter, pki.root))
        typed = judged(A, present, presented(leaf, pki.inter, pki.root, tls="TLSv1.2"))
        result = combine([default, typed, refused(A, absent)], by_address=False)
        assert result.status == Status.OK and kinds(result) == [Kind.HEALTHY]
        assert result.findings[0].data["key_types"] == [present]
        assert sentence(result.findings[0]).endswith(f"chain verified ({present} certificate checked)")
        assert result.failing == 0


def test_a_tls13_only_server_gets_a_note_never_an_alarm(pki: PKI) -> None:
    for leaf, seen in ((pki.ec, "ECDSA"), (pki.rsa, "RSA")):
        assert evaluate(presented(leaf, pki.inter, pki.root), POLICY, NOW).rows[0].info.key_type == seen
        outcomes = [judged(A, None, presented(leaf, pki.inter, pki.root)),
                    refused(A, "RSA", "tlsv1 alert protocol version"),
                    refused(A, "ECDSA", "tlsv1 alert protocol version")]
        result = combine(outcomes, by_address=False)
        assert result.status == Status.OK and result.failing == 0
        assert kinds(result) == [Kind.HEALTHY, Kind.KEY_TYPE_UNSEEN]
        note = result.findings[1]
        assert note.status == Status.OK and note.data == {"seen": seen}
        assert sentence(note) == f"only the {seen} certificate could be checked: the server completes no TLS 1.2 " \
                                 "handshake that asks for a key type (TLS 1.3 only, where a client cannot ask for one)"
        assert result.findings[0].data["key_types"] == [seen]


def test_the_tls13_note_is_grouped_over_addresses_and_kept_next_to_a_problem(pki: PKI) -> None:
    outcomes = []
    for label in (A, C):
        outcomes += [judged(label, None, presented(pki.ec, pki.inter, pki.root)),
                     refused(label, "RSA"), refused(label, "ECDSA")]
    result = combine(outcomes, by_address=True)
    (note,) = of(result, Kind.KEY_TYPE_UNSEEN)
    assert note.where == (A, C) and result.status == Status.OK
    outcomes[3] = judged(C, None, presented(pki.ec_10, pki.inter, pki.root))  # C now warns
    result = combine(outcomes, by_address=True)
    assert result.status == Status.WARNING and kinds(result)[0] == Kind.EXPIRING
    assert [f.where for f in of(result, Kind.KEY_TYPE_UNSEEN)] == [(A, C)]
    assert summary(result).startswith(f"on {C}, leaf 'localhost' expires in 10.0 days")


def test_no_note_when_one_key_type_was_fetched_or_the_address_failed(pki: PKI) -> None:
    default = judged(A, None, presented(pki.ec, pki.inter, pki.root))
    one = combine([default, refused(A, "RSA"), judged(A, "ECDSA", presented(pki.ec, pki.inter, pki.root))],
                  by_address=False)
    assert Kind.KEY_TYPE_UNSEEN not in kinds(one)
    down = combine([failed(A, None, NetworkError("the server closed the connection during the TLS handshake")),
                    refused(A, "RSA"), refused(A, "ECDSA")], by_address=False)
    assert kinds(down) == [Kind.UNREACHABLE] and down.status == Status.CRITICAL
    assert not any(sentence(f).startswith(REFUSED) for f in down.findings)  # a refusal is no finding


# --- counts -------------------------------------------------------------------------------------------------


def test_address_counts_are_per_address_not_per_handshake(pki: PKI) -> None:
    outcomes = [judged(A, None, presented(pki.ec, pki.inter, pki.root)), refused(A, "RSA"),
                judged(A, "ECDSA", presented(pki.ec, pki.inter, pki.root)),
                judged(B, None, presented(pki.ec, pki.inter, pki.root)),
                judged(B, "RSA", presented(pki.rsa_5, pki.short, pki.root, tls="TLSv1.2")),
                judged(B, "ECDSA", presented(pki.ec, pki.inter, pki.root))]
    result = combine(outcomes, by_address=True)
    assert result.addresses == 2 and result.failing == 1  # B, through its RSA chain alone
    assert all(finding.where == (B,) for finding in result.problems)
    single = combine(outcomes[:3], by_address=False)
    assert single.addresses is None and single.failing == 0 and single.status == Status.OK
    # One address given as a list (-I A): the counts are set, for stable perfdata.
    listed = combine(outcomes[:3], by_address=True)
    assert listed.addresses == 1 and listed.failing == 0


# --- a defect these tests found (fixed) ---------------------------------------------------------------


def test_a_different_verification_failure_of_the_key_type_chain_is_reported(pki: PKI) -> None:
    purpose = Verification(attempted=True, code=26, message="unsupported certificate purpose", name_matched=True)
    length = Verification(attempted=True, code=25, message="path length constraint exceeded", name_matched=True)
    default = judged(A, None, presented(pki.ec, pki.inter, pki.root, verification=purpose))
    rsa = judged(A, "RSA", presented(pki.rsa, pki.inter, pki.root, tls="TLSv1.2", verification=length))
    assert [f.kind for f in ev(default).problems] == [Kind.VERIFY_FAILED]
    assert [f.kind for f in ev(rsa).problems] == [Kind.VERIFY_FAILED]
    result = combine([default, rsa, refused(A, "ECDSA")], by_address=False)
    texts = [sentence(finding) for finding in result.findings]
    assert "chain does not verify: unsupported certificate purpose (OpenSSL error 26)" in texts
    assert "the RSA chain: chain does not verify: path length constraint exceeded (OpenSSL error 25)" in texts
