"""Evaluate a check of several handshakes (every address, every key type) as one verdict.

Pure, like :mod:`plugin.evaluate`, which has already judged each handshake on its own with the same policy, so
a certificate gets the same findings whichever address served it. This module only decides what the endpoint
as a whole says:

* the state is the worst over all handshakes, and each problem names where it was seen ("127.0.0.2:443"); a
  problem seen on several addresses is said once, naming them all;
* an address that could not be checked is a finding of its own (:attr:`Kind.UNREACHABLE`), with its error's
  state, and does not hide what the others served;
* a key-type handshake (``--all-key-types``) only adds what the default handshake of the same address did not
  show: nothing when it brought the same leaf, and no finding about a certificate the default one already
  reported. A server without that key type adds nothing; a TLS 1.3-only one adds a note
  (:attr:`Kind.KEY_TYPE_UNSEEN`), never an alarm;
* ``days`` is the soonest expiry over all handshakes; the per-certificate rows are those of the worst
  handshake, so the perfdata labels describe the address at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..acquire.presented import Expected
from ..errors import KeyTypeNotOffered
from ..status import Status
from .engine import Policy, evaluate, finding_order
from .findings import CertRow, Evaluation, Finding, Kind, ProbeOutcome

if TYPE_CHECKING:
    from ..acquire.probes import Acquired

__all__ = ["combine", "evaluate_all", "expect_file_applies"]

def combine(outcomes: list[ProbeOutcome], *, by_address: bool) -> Evaluation:
    """One evaluation from several. ``by_address``: the check covers several addresses (``-I A,B`` or
    ``--all-addresses``), so findings name their address and the address counts are set."""
    defaults = {outcome.label: outcome for outcome in outcomes if outcome.key_type is None}
    scoped: list[Finding] = []
    for outcome in outcomes:
        scoped += _findings(outcome, defaults.get(outcome.label), by_address)
    scoped += _unseen(outcomes, defaults, by_address)
    findings = _grouped(scoped)
    judged = [outcome for outcome in outcomes if outcome.evaluation is not None]
    headlines = [o.evaluation.headline for o in judged if o.evaluation is not None and o.evaluation.headline]
    headline = min(headlines, key=lambda row: row.left) if headlines else None
    findings.sort(key=finding_order)
    if headline is not None and not any(finding.status != Status.OK for finding in findings):
        findings.insert(0, _healthy(outcomes, headline, by_address))  # the healthy headline leads an OK line
    worst = max(judged, key=_badness, default=None)
    labels = list(dict.fromkeys(outcome.label for outcome in outcomes))
    failing = {outcome.label for outcome in outcomes if outcome.status != Status.OK}
    seconds = [o.evaluation.seconds for o in judged if o.evaluation is not None and o.evaluation.seconds is not None]
    details = tuple(f"{_scope(outcome)}: {line}" for outcome in outcomes
                    for line in (outcome.evaluation.details if outcome.evaluation is not None
                                 else outcome.error.details if outcome.error is not None else ()))
    evaluation = worst.evaluation if worst is not None else None
    return Evaluation(
        findings=tuple(findings),
        rows=evaluation.rows if evaluation is not None else (),
        headline=headline,
        notes=(f"certificates of {_scope(worst)}:", *evaluation.notes) if worst and evaluation else (),
        details=details,
        seconds=max(seconds) if seconds else None,
        # -v and JSON list every handshake, except the key types of an address that failed: said once.
        probes=tuple(outcome for outcome in outcomes if outcome.key_type is None or outcome.evaluation is not None
                     or (defaults.get(outcome.label) is not None and defaults[outcome.label].evaluation is not None)),
        addresses=len(labels) if by_address else None,
        failing=sum(1 for label in labels if label in failing),
    )


def evaluate_all(acquired: list[Acquired], policy: Policy, now: datetime, *, expected: Expected | None = None,
                 by_address: bool, check: Callable[[], None]) -> Evaluation:
    """Evaluate each handshake with the same policy, then :func:`combine` them.

    One address whose every handshake failed is the plain failure of a single check (raised: the presenters
    report it as they always do), not a combined verdict of nothing.
    """
    if not by_address and all(item.presented is None for item in acquired):
        error = next((item.error for item in acquired if item.probe.key_type is None), acquired[0].error)
        if error is not None:
            raise error
    applies = expect_file_applies(
        [(item.probe.label, item.probe.key_type,
          item.presented.certificates[0][0] if item.presented is not None and item.presented.certificates else None)
         for item in acquired], expected.leaf.key_type if expected is not None else None)
    outcomes = [ProbeOutcome(item.probe.label, item.probe.key_type,
                             evaluate(item.presented, policy, now, check=check, expected=expected if compare else None)
                             if item.presented is not None else None, item.error)
                for item, compare in zip(acquired, applies)]
    return combine(outcomes, by_address=by_address)


def expect_file_applies(handshakes: list[tuple[str, str | None, bytes | None]], file_type: str | None) -> list[bool]:
    """Which handshakes ``--expect-file`` is compared with; each is (address label, key type asked for or None,
    served leaf DER or None when it failed).

    An address serving an RSA and an ECDSA certificate side by side matches a renewed file of one type only: the
    file is compared with that address's handshakes that brought a leaf of the file's key type. When none did
    (one handshake without --all-key-types, or the server no longer serves that type at all: the renewal
    changed it), the default handshake is compared, so a certificate that was never reloaded is always seen.
    """
    from ..certinfo import key_type

    types = [key_type(der) if der is not None else None for _, _, der in handshakes]
    matched = {label for (label, _, der), kind in zip(handshakes, types) if der is not None and kind == file_type}
    return [kind == file_type if label in matched else asked is None
            for (label, asked, _), kind in zip(handshakes, types)]


def _scope(outcome: ProbeOutcome) -> str:
    return f"{outcome.label} ({outcome.key_type})" if outcome.key_type else outcome.label


def _badness(outcome: ProbeOutcome) -> tuple[int, float]:
    """Worst state first, then the soonest expiry."""
    evaluation = outcome.evaluation
    left = evaluation.headline.left if evaluation is not None and evaluation.headline is not None else 0.0
    return (int(outcome.status), -left)


def _findings(outcome: ProbeOutcome, default: ProbeOutcome | None, by_address: bool) -> list[Finding]:
    where = (outcome.label,) if by_address else ()
    error = outcome.error
    if isinstance(error, KeyTypeNotOffered):
        return []  # no such certificate: nothing a client could be served (see _unseen for TLS 1.3 only)
    if outcome.key_type is not None and default is not None and default.evaluation is None:
        return []  # the address itself failed: said once, by its default handshake
    if error is not None or outcome.evaluation is None:
        message = error.message if error is not None else "no result"
        return [Finding(Kind.UNREACHABLE, outcome.status, data={"message": message, "label": outcome.label},
                        where=where, key_type=outcome.key_type)]
    problems = outcome.evaluation.problems
    if outcome.key_type is None:
        return [finding._replace(where=where) for finding in problems]
    known: set[tuple[Kind, bytes | None]] = set()
    if default is not None and default.evaluation is not None:
        if _leaf_der(default.evaluation) == _leaf_der(outcome.evaluation):
            return []  # the same certificate as the default handshake: already judged
        known = {_identity(finding) for finding in default.evaluation.problems}
    return [finding._replace(where=where, key_type=outcome.key_type) for finding in problems
            if _identity(finding) not in known]


def _identity(finding: Finding) -> tuple[Any, ...]:
    """What makes two findings the same: kind, state, the certificate, and (for a finding about the endpoint,
    such as a verification error) its data. Used to group them over addresses and to drop repeats."""
    return (finding.kind, finding.status, finding.row.info.der if finding.row is not None else None,
            repr(sorted((k, v) for k, v in finding.data.items() if k != "label")))


def _unseen(outcomes: list[ProbeOutcome], defaults: dict[str, ProbeOutcome], by_address: bool) -> list[Finding]:
    """An address whose every key-type handshake was refused, though its default handshake worked: it speaks
    only TLS 1.3 (or takes no TLS 1.2 suite of either type), so only the certificate it prefers could be seen."""
    findings = []
    for label, default in defaults.items():
        typed = [outcome for outcome in outcomes if outcome.label == label and outcome.key_type is not None]
        if not typed or default.evaluation is None or not default.evaluation.rows:
            continue
        if all(isinstance(outcome.error, KeyTypeNotOffered) for outcome in typed):
            findings.append(Finding(Kind.KEY_TYPE_UNSEEN, Status.OK, where=(label,) if by_address else (), data={
                "seen": default.evaluation.rows[0].info.key_type}))
    return findings


def _leaf_der(evaluation: Evaluation) -> bytes | None:
    leaf = next((row for row in evaluation.rows if row.role != "extra"), None)
    return leaf.info.der if leaf is not None else None


def _grouped(findings: list[Finding]) -> list[Finding]:
    """The same finding about the same certificate on several addresses becomes one, naming them all."""
    groups: dict[tuple[Any, ...], Finding] = {}
    for finding in findings:
        key = (*_identity(finding), finding.key_type)
        known = groups.get(key)
        groups[key] = finding if known is None else known._replace(
            where=tuple(dict.fromkeys(known.where + finding.where)))
    return list(groups.values())


def _healthy(outcomes: list[ProbeOutcome], headline: CertRow | None, by_address: bool) -> Finding:
    """Nothing wrong anywhere: the headline of the handshake whose certificate expires first."""
    owner, source = next(((outcome, finding) for outcome in outcomes if outcome.evaluation is not None
                          for finding in outcome.evaluation.findings
                          if finding.kind == Kind.HEALTHY and finding.row is headline), (None, None))
    data: dict[str, Any] = dict(source.data) if source is not None else {"verified": False}
    # "the RSA certificate 'x' expires first" when that is the certificate only a key-type handshake saw.
    key_type = owner.key_type if owner is not None else None
    if owner is not None and key_type is not None and owner.evaluation is not None:
        default = next((o for o in outcomes if o.label == owner.label and o.key_type is None), None)
        if default is not None and default.evaluation is not None and \
                _leaf_der(default.evaluation) == _leaf_der(owner.evaluation):
            key_type = None
    if by_address:
        data["addresses"] = len({outcome.label for outcome in outcomes})
    typed = [outcome for outcome in outcomes if outcome.key_type is not None]
    if typed:
        kinds = {outcome.key_type for outcome in typed if outcome.evaluation is not None}
        kinds |= {kind for outcome in outcomes if outcome.key_type is None and outcome.evaluation is not None
                  and outcome.evaluation.rows for kind in [outcome.evaluation.rows[0].info.key_type] if kind}
        data["key_types"] = [kind for kind in ("RSA", "ECDSA") if kind in kinds]
    return Finding(Kind.HEALTHY, Status.OK, headline, data, key_type=key_type)
