"""One time budget (``-t``) shared by every network phase.

Each phase asks for what is left and names itself, so that running out reads "timed out during <phase>".
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import PhaseTimeout

__all__ = ["Budget"]


class Budget:
    """Seconds left until a deadline fixed at construction."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = seconds
        self._clock = clock
        self._deadline = clock() + seconds

    def remaining(self, phase: str) -> float:
        """Seconds left for ``phase``; raise :class:`PhaseTimeout` naming it if nothing is left."""
        left = self._deadline - self._clock()
        if left <= 0:
            raise PhaseTimeout(phase, self.total)
        return left

    def expired(self, phase: str) -> PhaseTimeout:
        """The error to raise when ``phase`` ran out of time inside a library call."""
        return PhaseTimeout(phase, self.total)
