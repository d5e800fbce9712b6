"""Acquire, ``--cache-dir``: keep what the fetches brought (CRLs, OCSP answers, intermediates, ARI answers) and
what was concluded from them, until it expires, so that the next check costs no fetch.

Two kinds of entry, both plain files named by a hash of what they answer:

* the raw answer of a URL (a CRL, an OCSP response, an intermediate, an ACME directory), judged again by the
  check that reads it: a CRL serves every certificate its CA issued, so another service's first check need not
  fetch it again;
* a verdict per certificate (a path certificate's CRL/OCSP status, the leaf's ARI window), named by the DER of
  the certificate and its issuer: when every verdict a check needs is kept, the check neither parses
  certificates nor fetches, which is what keeps a warm ``--crl --ocsp --ari`` check within milliseconds of a
  healthy one (a 4 MB CRL takes 45 ms to verify again; importing cryptography alone, some 50 ms). Only
  verdicts from verified answers (good, revoked, unknown, a window) and from the certificate itself (it names
  no CRL) are kept, never a failed fetch or an answer that did not verify.

An entry lives until the earliest of:

* what the protocol says: a CRL's or OCSP response's nextUpdate, an ARI answer's ``Retry-After`` (RFC 9773
  §4.3: taken as at least one minute and at most one day), and
* ``--cache-max-age`` after it was fetched (the cap; an ARI ``Retry-After`` is the CA's own polling interval
  and is honoured beyond it, up to the day).

Written only when ``--cache-dir`` is given (without it nothing is ever written), each entry atomically (a
temporary file in the same directory, then ``os.replace``), created with mode 0600 (``mkstemp``), in a
directory that must be the user's own and writable by nobody else. That is why several checks can share one
directory at once: a reader sees a whole old entry or a whole new one, never half of one; two writers of the
same entry each replace it whole, and the last one wins.

Security caveat: a kept verdict is believed, so whoever can write the directory could hide a revocation or a
renewal request; hence the ownership and mode rules (the checking user's own, writable by no one else),
checked when the option is read (such a writer could as well replace the plugin). A damaged, truncated or
foreign file is a miss, never an error: the cache is only ever a shortcut.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time

from ..errors import UsageError
from ..sanitize import clean

__all__ = ["DEFAULT_MAX_AGE", "Cache"]

DEFAULT_MAX_AGE = 3600.0
_MAGIC = b"check_tls_expiry-cache-1"
_MAX_HEADER = 200
# Larger than any object a fetch accepts (CRLs are capped at 8 MB): a bigger file is not one of ours.
_MAX_ENTRY = 16 * 1024 * 1024
_PRUNE_AFTER = 86400.0
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}")


class Cache:
    """A cache directory, checked: it exists (or was just made, 0700), it is a directory of the effective user,
    and neither group nor others can write it. Loads and stores never raise."""

    def __init__(self, directory: str, max_age: float = DEFAULT_MAX_AGE) -> None:
        self.directory = directory
        self.max_age = max_age
        self._pruned = False  # once a run: a check stores several entries, one listing of the directory is enough

    @classmethod
    def open(cls, directory: str, max_age: float = DEFAULT_MAX_AGE) -> Cache:
        """The cache in ``directory``, made if it does not exist (its parent must); UsageError saying why it
        cannot be used otherwise."""
        shown = clean(directory, 120)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UsageError(f"--cache-dir {shown} cannot be made ({clean(exc.strerror or str(exc), 60)})") from None
        try:
            info = os.stat(directory)
        except OSError as exc:
            raise UsageError(f"--cache-dir {shown} cannot be read ({clean(exc.strerror or str(exc), 60)})") from None
        if not stat.S_ISDIR(info.st_mode):
            raise UsageError(f"--cache-dir {shown} is not a directory")
        if info.st_uid != os.geteuid():
            raise UsageError(f"--cache-dir {shown} belongs to another user (uid {info.st_uid}); the cache must be "
                             "the checking user's own")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise UsageError(f"--cache-dir {shown} is writable by other users (mode {stat.S_IMODE(info.st_mode):o}):"
                             " they could hide a renewal request; chmod 700 it")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise UsageError(f"--cache-dir {shown} is not writable by this user")
        return cls(directory, max_age)

    @staticmethod
    def key(method: str, url: str, body: bytes = b"") -> str:
        """The entry's name: a hash of what was asked (an OCSP POST's request body included)."""
        digest = hashlib.sha256(f"{method} {url}\n".encode("utf-8", "surrogateescape"))
        digest.update(body)
        return digest.hexdigest()

    def until(self, expires: float | None = None) -> float:
        """When an entry fetched now expires: at ``expires`` (a time from the answer, epoch seconds) or at the
        cap, whichever is sooner."""
        cap = time.time() + self.max_age
        return cap if expires is None else min(expires, cap)

    def load(self, key: str) -> bytes | None:
        """The body stored under ``key`` if it is whole and not expired, else None."""
        path = os.path.join(self.directory, key)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_ENTRY:
                    return None
                data = handle.read(_MAX_ENTRY + 1)
        except OSError:
            return None
        header, newline, body = data.partition(b"\n")
        fields = header.split(b" ") if newline and len(header) <= _MAX_HEADER else []
        if len(fields) != 4 or fields[0] != _MAGIC or fields[1] != key.encode("ascii"):
            return None
        try:
            expires = float(fields[2])
        except ValueError:
            return None
        if hashlib.sha256(body).hexdigest().encode("ascii") != fields[3]:
            return None  # damaged: a miss, and the next store replaces it
        return body if expires > time.time() else None

    def store(self, key: str, body: bytes, until: float) -> None:
        """Keep ``body`` under ``key`` until ``until`` (epoch seconds). A full disk or a vanished directory is
        not the check's problem: the entry is simply not kept."""
        if not until > time.time() or len(body) > _MAX_ENTRY - _MAX_HEADER:
            return
        header = b" ".join((_MAGIC, key.encode("ascii"), f"{until:.3f}".encode("ascii"),
                            hashlib.sha256(body).hexdigest().encode("ascii")))
        import tempfile  # only when storing: a warm check never needs it

        try:
            fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)  # mode 0600
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(header + b"\n" + body)
            os.utime(temporary, (until, until))  # the expiry, for the pruning below
            os.replace(temporary, os.path.join(self.directory, key))
        except OSError:
            self._remove(temporary)
            return
        if not self._pruned:
            self._pruned = True
            self._prune()

    def _prune(self) -> None:
        """Remove entries that expired a day ago (an entry's mtime is its expiry) and temporary files a crashed
        writer left. After the first store of a run only, so a warm check never lists the directory. Entries of
        certificates no longer served (an old serial's OCSP answer or ARI window) would otherwise stay forever."""
        old = time.time() - _PRUNE_AFTER
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if not (_ENTRY_NAME.fullmatch(name) or name.startswith(".tmp-")):
                continue  # not ours: never touched
            path = os.path.join(self.directory, name)
            try:
                if os.lstat(path).st_mtime < old:
                    self._remove(path)
            except OSError:
                continue

    @staticmethod
    def _remove(path: str) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass
