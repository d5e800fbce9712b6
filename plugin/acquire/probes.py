"""Acquire several handshakes of one endpoint at once: every address (``-I A,B``, ``--all-addresses``) and every
key type (``--all-key-types``).

A *probe* is one handshake the check must see: an address (or a name to resolve) and, optionally, a key type.
All probes run concurrently, one thread each, against the one ``-t`` budget: every phase of every probe takes
what is left of it, so the wall time of eight addresses is that of the slowest one, not the sum, and nothing
outlives the budget. Threads rather than asyncio because each probe is the blocking code of :mod:`plugin.acquire.tls`
(OpenSSL handshakes, STARTTLS grammars), which a thread runs unchanged; the GIL is released while a socket
waits, and a handshake's CPU is OpenSSL's, in C.

A probe that fails does not stop the others: its error is its result. A default check (one address, no key
types) is one probe, run in the calling thread, with no thread started at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ..budget import Budget
from ..errors import CheckError, PhaseTimeout
from ..target import Target
from .connect import Address, peer_text, resolve
from .presented import Presented
from .threads import run_concurrently
from .tls import KEY_TYPES, Trust, fetch

if TYPE_CHECKING:
    from .cache import Cache  # only with --cache-dir: a default check does not import it

__all__ = ["Acquired", "Fetches", "Probe", "acquire", "plan"]

# How long to wait past the deadline for a probe thread before calling it timed out: every phase inside it is
# bounded by the budget, so a thread that is still running then is stuck in a call that ignores its timeout.
_JOIN_GRACE = 0.1


class Probe(NamedTuple):
    """One handshake to make. ``label`` names it in sentences ("127.0.0.2:443"); ``addresses`` pins where to
    connect (None: resolve ``target.connect``, trying each of its addresses RFC 8305 style); ``key_type`` is
    None (whatever the server prefers) or a key of :data:`plugin.acquire.tls.KEY_TYPES`."""

    target: Target
    label: str
    addresses: tuple[Address, ...] | None = None
    key_type: str | None = None


class Fetches(NamedTuple):
    """What to fetch after each handshake: ``aia`` a missing issuer from its caIssuers URL (:mod:`.aia`);
    ``crl``/``ocsp`` the path's revocation status (:mod:`.revocation`); ``ari`` the CA's renewal window
    (:mod:`.ari`; a string is the ACME directory, True: look it up by the issuer); ``cache`` keeps the answers
    (``--cache-dir``, :mod:`.cache`)."""

    aia: bool = False
    crl: bool = False
    ocsp: bool = False
    ari: str | bool = False
    cache: Cache | None = None


class Acquired(NamedTuple):
    """What one probe brought back: what was presented, or the error that stopped it."""

    probe: Probe
    presented: Presented | None = None
    error: CheckError | None = None


def plan(targets: list[Target], budget: Budget, *, every_address: bool = False,
         key_types: bool = False) -> list[Probe]:
    """The probes for these targets (one per ``-I`` address). ``every_address`` resolves each target and makes
    one probe per address (a name that does not resolve raises when it is the only one, else it is one failing
    address); ``key_types`` adds a probe per key type for each of them, after the default one."""
    probes: list[Probe] = []
    seen: set[Address] = set()
    for target in targets:
        if not every_address:
            probes.append(Probe(target, _label(target)))
            continue
        try:
            addresses = resolve(target, budget)
        except CheckError:
            if len(targets) == 1:
                raise  # the only name: the check's own failure
            # One name of several: its probe resolves again and fails with the same sentence, as one address.
            probes.append(Probe(target, _label(target)))
            continue
        for address in addresses:
            if address not in seen:
                seen.add(address)
                probes.append(Probe(target, peer_text(*address), (address,)))
    if key_types:
        probes = [typed for probe in probes
                  for typed in (probe, *(probe._replace(key_type=kind) for kind in KEY_TYPES))]
    return probes


def _label(target: Target) -> str:
    host = target.connect.display
    return f"[{host}]:{target.port}" if ":" in host else f"{host}:{target.port}"


def _one(probe: Probe, trust: Trust, budget: Budget, fetches: Fetches) -> Acquired:
    addresses = list(probe.addresses) if probe.addresses is not None else None
    try:
        presented = fetch(probe.target, trust, budget, addresses=addresses, key_type=probe.key_type)
        if fetches.aia:
            from .aia import complete

            presented = complete(presented, trust.cafile, trust.capath, budget, fetches.cache, probe.target.proxy)
        if fetches.crl or fetches.ocsp:
            from .revocation import check

            presented = check(presented, budget, crl=fetches.crl, ocsp=fetches.ocsp, cache=fetches.cache,
                              proxy=probe.target.proxy)
        if fetches.ari:
            from .ari import check_ari

            directory = fetches.ari if isinstance(fetches.ari, str) else None
            presented = check_ari(presented, directory, trust.cafile, trust.capath, budget, fetches.cache,
                                  probe.target.proxy)
        return Acquired(probe, presented)
    except CheckError as exc:
        return Acquired(probe, error=exc)


def acquire(probes: list[Probe], trust: Trust, budget: Budget, fetches: Fetches | None = None) -> list[Acquired]:
    """Run every probe, concurrently when there are several; results in the order of ``probes``; each then makes
    the ``fetches`` asked for, in its own thread and budget.

    Only the check's own errors are results; anything else raised in a probe is a bug and is raised here, in
    the calling thread, so that it is reported as one.
    """
    fetches = fetches or Fetches()
    if len(probes) == 1:
        return [_one(probes[0], trust, budget, fetches)]
    results: list[Acquired | BaseException | None] = [None] * len(probes)

    def work(index: int) -> None:
        try:
            results[index] = _one(probes[index], trust, budget, fetches)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
            results[index] = exc

    run_concurrently(len(probes), work, budget, name="probe", grace=_JOIN_GRACE)
    out: list[Acquired] = []
    for probe, result in zip(probes, results):
        if isinstance(result, BaseException):
            raise result
        if result is None:  # still running: it ignored its timeout; say so instead of waiting
            result = Acquired(probe, error=PhaseTimeout(f"the handshake with {probe.label}", budget.total))
        out.append(result)
    return out

