"""The project's one small error hierarchy.

Every error carries the Nagios state it stands for and a message that is a complete operator sentence, because
the message becomes the status line. Library and OS errors are translated into these where the network or the
file system is touched (``tls``, ``files``), never further up.
"""

from __future__ import annotations

from typing import ClassVar

from .status import Status

__all__ = [
    "BackstopTimeout",
    "CertificateFileError",
    "CheckError",
    "FetchError",
    "InputError",
    "KeyTypeNotOffered",
    "NetworkError",
    "PhaseTimeout",
    "UsageError",
]


class CheckError(Exception):
    """Base class: something stopped the check; ``status`` says how the operator should see it."""

    status: ClassVar[Status] = Status.UNKNOWN

    def __init__(self, message: str, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        # Lines for -v: what was tried and how each attempt ended (the message already says what matters).
        self.details = details


class UsageError(CheckError):
    """The command line is wrong. Exit 3 with the usage text."""


class InputError(CheckError):
    """A local input the plugin was pointed at (a trust store, a certificate file) cannot be read."""


class NetworkError(CheckError):
    """Resolution, connection or handshake failed: outside the plugin's control, so CRITICAL."""

    status = Status.CRITICAL


class KeyTypeNotOffered(CheckError):
    """``--all-key-types``: the server would not complete a TLS 1.2 handshake offering only this key type's
    cipher suites. Not a failure of the endpoint, so OK: it has no such certificate, or it speaks only TLS 1.3,
    where Python's ``ssl`` cannot ask for a key type (servers differ in the alert they send; which of the two it
    is shows when no key type at all can be fetched, see :mod:`plugin.evaluate.combine`)."""

    status = Status.OK

    def __init__(self, key_type: str, why: str) -> None:
        super().__init__(f"no {key_type} certificate in a TLS 1.2 handshake ({why})")
        self.key_type = key_type


class FetchError(NetworkError):
    """An HTTP fetch a certificate asked for (AIA caIssuers) failed: the message says which URL and why."""


class PhaseTimeout(NetworkError):
    """A network phase used up what was left of the ``-t`` budget."""

    def __init__(self, phase: str, budget: float) -> None:
        super().__init__(f"timed out during {phase} (the {budget:g}s timeout ran out)")


class CertificateFileError(CheckError):
    """A certificate file was read but holds no usable certificate: what it would serve is broken."""

    status = Status.CRITICAL


class BackstopTimeout(BaseException):
    """The whole-run safety net fired: something took longer than every phase's own timeout allowed.

    A ``BaseException``, like ``KeyboardInterrupt``: it can fire inside any library call, and no ``except
    Exception`` on the way up (ours or a library's) may swallow it and report something else. Only ``main()``
    catches it. Its state is UNKNOWN, the plugin's own timeout.
    """

    status: ClassVar[Status] = Status.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.details: tuple[str, ...] = ()
