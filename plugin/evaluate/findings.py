"""The evaluation's vocabulary: what a finding is, and the certificates it can be about.

A finding is a :class:`Kind`, a state, the certificate it is about (a :class:`CertRow`, or None for the
endpoint as a whole) and the data its sentence needs. Sentences are rendered by the presentation layer
(:mod:`plugin.present.sentences`); JSON reads kinds and data, never text. A new check is a new kind, not a new path.
"""


import enum
from typing import Any, NamedTuple

from ..certinfo import CertInfo
from ..errors import CheckError
from ..status import Status
from ..thresholds import DAY

__all__ = ["TRUST_KINDS", "CertRow", "Evaluation", "Finding", "Kind", "ProbeOutcome"]


class Kind(str, enum.Enum):
    """What a finding says; the value is its stable name in JSON."""

    EXPIRED = "expired"
    EXPIRING = "expiring"
    NOT_YET_VALID = "not_yet_valid"
    EXTRA_EXPIRED = "extra_expired"
    EXTRA_NOT_YET_VALID = "extra_not_yet_valid"
    SELF_SIGNED = "self_signed"
    UNTRUSTED_ROOT = "untrusted_root"
    UNTRUSTED_ISSUER = "untrusted_issuer"
    MISSING_INTERMEDIATE = "missing_intermediate"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    NO_SAN = "no_san"
    WEAK_SIGNATURE = "weak_signature"
    WEAK_KEY = "weak_key"
    NOT_A_CA = "not_a_ca"
    VERIFY_FAILED = "verify_failed"
    LEGACY_PROTOCOL = "legacy_protocol"
    UNPARSABLE = "unparsable"
    NO_CERTIFICATE = "no_certificate"
    PIN_MISMATCH = "pin_mismatch"
    ISSUER_MISMATCH = "issuer_mismatch"  # --issuer: the leaf's issuer contains none of the texts given
    MAX_VALIDITY_EXCEEDED = "max_validity_exceeded"  # --max-validity: the leaf's validity period is longer
    NOT_RELOADED = "not_reloaded"
    UNEXPECTED_CERTIFICATE = "unexpected_certificate"
    UNREACHABLE = "unreachable"  # one of several addresses (or key types) could not be checked
    KEY_TYPE_UNSEEN = "key_type_unseen"  # --all-key-types on a TLS 1.3-only server: a note, never an alarm
    REVOKED = "revoked"  # --crl: the certificate is listed in its issuer's CRL
    CRL_STALE = "crl_stale"  # --crl: the CRL is past its nextUpdate
    OCSP_UNKNOWN = "ocsp_unknown"  # --ocsp: the responder does not know the certificate
    RENEW_NOW = "renew_now"  # --ari: the CA's suggested renewal window has begun (or ended)
    ARI_UNAVAILABLE = "ari_unavailable"  # --ari could not say: --revocation-unavailable's state
    CLIENT_REJECTED = "client_rejected"  # --client-cert: the server refused the certificate the check presented
    REVOCATION_UNAVAILABLE = "revocation_unavailable"  # --crl/--ocsp could not say: --revocation-unavailable's
    HEALTHY = "healthy"


# Kinds about whether the chain reaches a trust anchor (what --ignore-trust and file mode do not judge).
TRUST_KINDS = frozenset({Kind.SELF_SIGNED, Kind.UNTRUSTED_ROOT, Kind.UNTRUSTED_ISSUER, Kind.MISSING_INTERMEDIATE,
                         Kind.NOT_A_CA, Kind.VERIFY_FAILED})


class CertRow(NamedTuple):
    """One certificate as reported: role, stable perfdata label, where it came from, time left and bounds.

    ``role`` is ``leaf``, ``intermediate``, ``root``, ``extra`` or ``client``; ``label`` is ``leaf``, ``int1``...,
    ``root``, ``extra1``..., ``client`` (the ``--client-cert`` the check presented, after the server's);
    ``sent`` is its position in what was presented, None for a trust-store certificate or the client's own.
    ``left``, ``warn`` and ``crit`` are seconds.
    """

    info: CertInfo
    role: str
    label: str
    sent: int | None
    left: float
    warn: float
    crit: float

    @property
    def days_left(self) -> float:
        return self.left / DAY


class Finding(NamedTuple):
    """``where``: the addresses it was seen on, when the check has several (empty: the endpoint, or every
    address of a single check); ``key_type``: the ``--all-key-types`` handshake it comes from."""

    kind: Kind
    status: Status
    row: CertRow | None = None
    data: dict[str, Any] = {}  # noqa: RUF012 - never mutated; a NamedTuple default
    where: tuple[str, ...] = ()
    key_type: str | None = None


class ProbeOutcome:
    """One handshake of a check that makes several: where, which key type, and its evaluation or error.

    A plain class, not a NamedTuple: it refers to :class:`Evaluation`, which holds these, and a NamedTuple's
    forward reference is compiled at import, which every healthy check would pay for (about 1.5 ms).
    """

    __slots__ = ("error", "evaluation", "key_type", "label")

    def __init__(self, label: str, key_type: str | None, evaluation: "Evaluation | None",
                 error: CheckError | None = None) -> None:
        self.label = label
        self.key_type = key_type
        self.evaluation = evaluation
        self.error = error

    def __repr__(self) -> str:
        return f"ProbeOutcome({self.label!r}, {self.key_type!r}, {self.evaluation!r}, {self.error!r})"

    @property
    def status(self) -> Status:
        if self.evaluation is not None:
            return self.evaluation.status
        return self.error.status if self.error is not None else Status.UNKNOWN


class Evaluation(NamedTuple):
    """Findings worst first, the certificates (path, then extras), the headline certificate and -v/-vv lines."""

    findings: tuple[Finding, ...]
    rows: tuple[CertRow, ...]
    headline: CertRow | None
    notes: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    seconds: float | None = None  # the handshake time (perfdata "time"); None in file mode
    # Several handshakes (addresses, key types): each one's own result, and the address counts for perfdata.
    probes: tuple[ProbeOutcome, ...] = ()
    # --crl/--ocsp: (label, status, source) per certificate and source; "good", "revoked", "stale" (CRL),
    # "unknown" (OCSP), "unavailable".
    revocation: tuple[tuple[str, str, str, bool], ...] = ()  # (label, status, source, from --cache-dir)
    ari: dict[str, Any] | None = None  # --ari: start, end, explanation, url (a window) or why (none)
    addresses: int | None = None  # None: a check of one address, without the "addresses" perfdata
    failing: int = 0

    @property
    def status(self) -> Status:
        return max((finding.status for finding in self.findings), default=Status.UNKNOWN)

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.status != Status.OK)

