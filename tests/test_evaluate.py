"""Pure evaluation with a frozen clock: paths, roles, labels and findings without any network."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from pki import CA, not_after, not_before, self_signed_leaf

from plugin.evaluate import Policy, evaluate
from plugin.presented import Presented, Verification
from plugin.status import Status
from plugin.target import parse_host
from plugin.thresholds import parse_threshold

D = timedelta(days=1)
POLICY = Policy(parse_threshold("30d,25%"), parse_threshold("14d,10%"))
UNCHECKED = Verification(attempted=False, reason="file")


def presented(*ders: bytes, verification: Verification = UNCHECKED, verified: tuple[bytes, ...] = ()) -> Presented:
    return Presented(source="test", certificates=ders, verification=verification, verified_path=verified)


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    root = CA.root()
    return root, root.intermediate()


def test_chain_sent_in_the_wrong_order_with_a_duplicate(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    leaf = intermediate.leaf(not_after=100 * D)
    now = datetime.now(timezone.utc)
    evaluation = evaluate(presented(leaf.der, root.issued.der, leaf.der, intermediate.issued.der), POLICY, now)
    assert [(row.label, row.sent) for row in evaluation.rows] == [("leaf", 0), ("int1", 3), ("root", 1)]
    assert evaluation.status == Status.OK


def test_labels_do_not_move_when_the_server_starts_sending_the_root(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    leaf = intermediate.leaf(not_after=100 * D)
    now = datetime.now(timezone.utc)
    without = evaluate(presented(leaf.der, intermediate.issued.der), POLICY, now)
    with_root = evaluate(presented(leaf.der, intermediate.issued.der, root.issued.der), POLICY, now)
    assert [row.label for row in without.rows] == ["leaf", "int1"]
    assert [row.label for row in with_root.rows] == ["leaf", "int1", "root"]


def test_frozen_clock_walks_through_the_states(pki: tuple[CA, CA]) -> None:
    _, intermediate = pki
    leaf = intermediate.leaf(not_before=-10 * D, not_after=80 * D)  # 90-day lifetime
    expiry = not_after(leaf.cert)
    chain = presented(leaf.der, intermediate.issued.der)
    expected = [(-40 * D, Status.OK), (-20 * D, Status.WARNING), (-5 * D, Status.CRITICAL), (1 * D, Status.CRITICAL)]
    for offset, status in expected:
        evaluation = evaluate(chain, POLICY, expiry + offset)
        assert evaluation.status == status, offset
    assert "expired 24.0 hours ago" in evaluate(chain, POLICY, expiry + D).summary()
    assert "is not valid before" in evaluate(chain, POLICY, not_before(leaf.cert) - D).summary()


def test_unparsable_intermediate_is_critical(pki: tuple[CA, CA]) -> None:
    _, intermediate = pki
    leaf = intermediate.leaf(not_after=100 * D)
    evaluation = evaluate(presented(leaf.der, b"\x30\x00junk"), POLICY, datetime.now(timezone.utc))
    assert evaluation.status == Status.CRITICAL
    assert evaluation.summary().startswith("certificate #2 in the chain cannot be parsed")


def test_no_certificate_at_all() -> None:
    evaluation = evaluate(presented(), POLICY, datetime.now(timezone.utc))
    assert evaluation.status == Status.CRITICAL and evaluation.summary() == "the server sent no certificate"


def test_expired_cross_sign_is_passed_over_for_a_valid_issuer(pki: tuple[CA, CA]) -> None:
    root, intermediate = pki
    old = CA.root("Old Root")
    expired_cross = old.cross_sign(root, not_before=-400 * D, not_after=-5 * D)
    leaf = intermediate.leaf(not_after=100 * D)
    chain = presented(leaf.der, intermediate.issued.der, expired_cross.der, root.issued.der)
    evaluation = evaluate(chain, POLICY, datetime.now(timezone.utc))
    assert [row.label for row in evaluation.rows] == ["leaf", "int1", "root", "extra1"]
    assert evaluation.status == Status.WARNING and "which expired 5.0 days ago" in evaluation.summary()


def test_many_problems_are_capped_in_the_status_line(pki: tuple[CA, CA]) -> None:
    root, _ = pki
    a = root.intermediate("A", not_after=-1 * D, not_before=-9 * D)
    b = a.intermediate("B", not_after=-2 * D, not_before=-9 * D)
    c = b.intermediate("C", not_after=-3 * D, not_before=-9 * D)
    leaf = c.leaf(not_after=-4 * D, not_before=-9 * D)
    policy = Policy(POLICY.warning, POLICY.critical, parse_host("other.example"))
    evaluation = evaluate(presented(leaf.der, c.issued.der, b.issued.der, a.issued.der), policy,
                          datetime.now(timezone.utc))
    summary = evaluation.summary()
    assert summary.startswith("hostname mismatch")  # name and trust problems lead
    assert summary.endswith("(+2 more, see -v)") and len(evaluation.problems) == 5


def test_self_signed_leaf_alone_is_the_leaf() -> None:
    leaf = self_signed_leaf(not_after=100 * D)
    evaluation = evaluate(presented(leaf.der), POLICY, datetime.now(timezone.utc))
    assert [row.role for row in evaluation.rows] == ["leaf"]


def test_certificate_only_openssl_can_read_degrades_gracefully(pki: tuple[CA, CA]) -> None:
    """OpenSSL's view (dates, CN) is used; cryptography's fields say they are unreadable instead of crashing."""
    _, intermediate = pki
    leaf = intermediate.leaf(not_after=100 * D)
    view = {"subject": ((("commonName", "odd.example"),),), "issuer": ((("commonName", "CA"),),),
            "notBefore": "Nov 26 13:38:32 2026 GMT", "notAfter": "Jun 15 13:38:32 2030 GMT"}
    chain = Presented(source="test", certificates=(b"\x30\x03junk", leaf.der), verification=UNCHECKED,
                      parsed=(view, None), peer="127.0.0.1:443")
    evaluation = evaluate(chain, POLICY, datetime.now(timezone.utc))
    assert evaluation.rows[0].info.short_name == "odd.example"
    assert evaluation.rows[0].info.subject.startswith("(unreadable: ")
    assert [row.label for row in evaluation.rows] == ["leaf", "extra1"] and evaluation.status == Status.OK
    from plugin.jsonout import render_json
    from plugin.nagios import build_check, render

    text, code = render(build_check("test", lambda: evaluation), verbose=1)
    assert code == 0 and "subject '(unreadable: " in text
    assert json.loads(render_json("test", lambda: evaluation))["x509"]["subject"].startswith("(unreadable: ")
