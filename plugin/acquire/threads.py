"""Acquire: run a few blocking jobs at once (handshakes, fetches), each in a daemon thread, under one deadline.

The jobs are the blocking code of this package (OpenSSL handshakes, STARTTLS grammars, HTTP exchanges); each
bounds its own I/O by the ``-t`` budget. Waiting is bounded too: every join gets what is left until the shared
deadline plus a grace, so a job stuck in a call that ignores its timeout costs the grace once, not once per
job. A job still running then is the caller's to report (its result slot is still empty); being a daemon
thread, it cannot keep the process alive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..budget import Budget
from ..errors import PhaseTimeout

__all__ = ["run_concurrently"]


def run_concurrently(count: int, work: Callable[[int], None], budget: Budget, *, name: str,
                     grace: float) -> None:
    """Call ``work(0)`` ... ``work(count - 1)`` in one thread each and wait until all are done or ``budget``'s
    deadline plus ``grace`` has passed."""
    threads = [threading.Thread(target=work, args=(index,), name=f"{name}-{index}", daemon=True)
               for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(_left(budget) + grace)


def _left(budget: Budget) -> float:
    try:
        return budget.remaining("waiting for the others")
    except PhaseTimeout:
        return 0.0
