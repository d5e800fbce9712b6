"""Expiry thresholds: "alarm when the time left falls below T".

A threshold is a comma list of bounds, each in days (``30``, ``30:``, ``30d``), hours (``12h``) or percent of the
certificate's own lifetime (``25%``). With several bounds it alarms only when the time left is below *every*
bound, i.e. below the smallest one for that certificate: ``30d,25%`` is 30 days for a 1-year certificate but
1.5 days for a 6-day one, so short-lived certificates do not alarm for their whole life.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["DEFAULT_CRITICAL", "DEFAULT_WARNING", "Bound", "Threshold", "parse_threshold"]

DEFAULT_WARNING = "30d,25%"
DEFAULT_CRITICAL = "14d,10%"

_BOUND = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)(d|h|%|:)?$", re.ASCII)
_SECONDS = {"d": 86400.0, "h": 3600.0}
_LARGEST = 876000.0  # 100 years in hours, the largest unit-less count that means anything here


class Bound(NamedTuple):
    """One bound: ``value`` in ``unit`` (``d``, ``h`` or ``%``)."""

    value: float
    unit: str

    def seconds(self, lifetime: float) -> float:
        """This bound in seconds for a certificate whose whole validity period is ``lifetime`` seconds."""
        if self.unit == "%":
            return lifetime * self.value / 100.0
        return self.value * _SECONDS[self.unit]

    def __str__(self) -> str:
        return f"{self.value:g}{self.unit}"


class Threshold(NamedTuple):
    """A parsed ``-w``/``-c`` value."""

    bounds: tuple[Bound, ...]

    def limit(self, lifetime: float) -> float:
        """Seconds left below which this threshold alarms, for a certificate of that lifetime."""
        return min(bound.seconds(lifetime) for bound in self.bounds)

    @property
    def absolute(self) -> bool:
        """True when no bound depends on the certificate's lifetime."""
        return all(bound.unit != "%" for bound in self.bounds)

    def __str__(self) -> str:
        return ",".join(str(bound) for bound in self.bounds)


def parse_threshold(text: str) -> Threshold:
    """Parse ``30``, ``30:``, ``30d``, ``12h``, ``25%`` or a comma list of them; raise ValueError with a sentence."""
    bounds = []
    for part in text.split(","):
        match = _BOUND.match(part.strip())
        if match is None:
            raise ValueError(
                f"{part.strip()!r} is not a threshold: use days (30, 30:, 30d, 2.5), hours (12h), "
                "percent of the certificate's lifetime (25%), or a comma list such as 30d,25%"
            )
        number, unit = float(match.group(1)), match.group(2) or "d"
        if number > _LARGEST:  # also keeps inf (from a 400-digit number) out of the perfdata
            raise ValueError(f"{part.strip()!r} is more than a century; not a threshold")
        if unit == ":":
            unit = "d"
        if unit == "%" and number > 100:
            raise ValueError(f"{part.strip()!r} is more than 100% of a certificate's lifetime")
        bounds.append(Bound(number, unit))
    return Threshold(tuple(bounds))
