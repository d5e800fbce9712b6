"""Expiry thresholds: "alarm when the time left falls below T".

A threshold is a comma list of bounds, each in days (``30``, ``30:``, ``30d``), hours (``12h``) or percent of the
certificate's own lifetime (``25%``). With several bounds it alarms only when the time left is below *every*
bound, i.e. below the smallest one for that certificate: ``30d,25%`` is 30 days for a 1-year certificate but
1.5 days for a 6-day one, so short-lived certificates do not alarm for their whole life.

Because the limits depend on the lifetime, a ``-w``/``-c`` pair can be sound for one certificate and upside down for
another (``-w 30d -c 10%`` is fine for a 90-day leaf, but a 10-year root turns CRITICAL at 365 days left, long before
WARNING at 30); :func:`conflict` finds such pairs for the usage error.
"""


import math
import re
from typing import NamedTuple

__all__ = ["DAY", "DEFAULT_CRITICAL", "DEFAULT_WARNING", "LIFETIMES", "Bound", "Threshold", "conflict", "first_conflict",
           "parse_threshold"]

DEFAULT_WARNING = "30d,25%"
DEFAULT_CRITICAL = "14d,10%"

_BOUND = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)(d|h|%|:)?$", re.ASCII)
DAY = 86400.0
_SECONDS = {"d": DAY, "h": 3600.0}
_LARGEST = 876000.0  # 100 years in hours, the largest unit-less count that means anything here

_HOUR, _DAY, _YEAR = 3600.0, DAY, 365 * DAY

# The certificate lifetimes a -w/-c pair must be sound for, as (seconds, adjective), in the order conflict() tries
# them: the first failing one is named in the usage error, so the common public leaves (398 days today, 200, 100 and
# 47 under the CA/B Forum schedule, 90 for ACME) come before short-lived, private-CA and root lifetimes.
# The shortest and longest entries (1 hour, 25 years) are the ends of the range that is checked; see first_conflict().
LIFETIMES: tuple[tuple[float, str], ...] = (
    (398 * _DAY, "398-day"),
    (90 * _DAY, "90-day"),
    (200 * _DAY, "200-day"),
    (100 * _DAY, "100-day"),
    (47 * _DAY, "47-day"),
    (825 * _DAY, "825-day"),
    (6 * _DAY, "6-day"),
    (5 * _YEAR, "5-year"),
    (10 * _YEAR, "10-year"),
    (1 * _DAY, "1-day"),
    (25 * _YEAR, "25-year"),
    (1 * _HOUR, "1-hour"),
)


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


def _below(warning: float, critical: float) -> bool:
    """True when a warning limit is really below a critical one, not just by float rounding.

    Bounds equal as typed can differ in the last bit once scaled to seconds (0.7d is 60479.99999999999 s, 16.8h is
    60480.0 s), and -w equal to -c is a legitimate way to mute warnings, so they must not be called a conflict.
    """
    return warning < critical and not math.isclose(warning, critical, rel_tol=1e-9)


def first_conflict(warning: Threshold, critical: Threshold) -> tuple[float, str] | None:
    """The first entry of :data:`LIFETIMES` for which ``warning`` alarms later than ``critical``, or None.

    Sampling suffices, with no need to add the points where a percent bound meets a day bound: every threshold is
    ``min(A, P*L)`` for a lifetime L (A its smallest day/hour bound, P its smallest percent, either possibly absent),
    and for W = min(A, P*L), C = min(B, Q*L) the set of lifetimes where W < C is always an interval reaching one end:
    if P >= Q, W < C needs W saturated at A, from A/P on, where W - C = A - min(B, Q*L) only decreases (the set
    reaches upwards); if P < Q, W < C exactly while P*L < B (it reaches downwards). So a conflict anywhere between
    1 hour and 25 years shows at one of those two samples, and the others only pick a friendlier example. The
    rounding allowance of _below() keeps this: the relative gap (C - W) / C is also largest at that end.
    """
    for lifetime, name in LIFETIMES:
        if _below(warning.limit(lifetime), critical.limit(lifetime)):
            return lifetime, name
    return None


def _left(seconds: float, other: float) -> tuple[str, str]:
    """Both amounts of time left in the unit that suits the larger, with just enough digits to tell them apart."""
    larger = max(seconds, other)
    # Twice the unit, so that 1 day vs 12 hours reads "24 hours ... 12 hours" rather than "1 day ... 0.5 days".
    unit, size = next(((unit, size) for unit, size in (("day", _DAY), ("hour", _HOUR), ("minute", 60.0))
                       if larger >= 2 * size), ("second", 1.0))
    # :g shows 6 digits, which would print "CRITICAL at 7 days left, before WARNING at 7 days left" for -w 7d
    # -c 7.000001d; add digits until the two numbers differ (17 always tells two different floats apart).
    digits = next((digits for digits in range(6, 18) if f"{seconds / size:.{digits}g}" != f"{other / size:.{digits}g}"),
                  6)

    def text(value: float) -> str:
        number = f"{value / size:.{digits}g}"
        return f"{number} {unit}" + ("" if number == "1" else "s")

    return text(seconds), text(other)


def conflict(warning: Threshold, critical: Threshold) -> str | None:
    """None when ``warning`` fires no later than ``critical`` for every lifetime that matters, else why not.

    The sentence is meant for a usage error and names the first failing lifetime of :data:`LIFETIMES`, e.g.
    "-w 7d never fires first: with -c 14d,10% a 398-day certificate turns CRITICAL at 14 days left, before WARNING
    at 7 days left". Equal limits are sound: -w equal to -c is how operators mute warnings.
    """
    found = first_conflict(warning, critical)
    if found is None:
        return None
    lifetime, name = found
    crit, warn = _left(critical.limit(lifetime), warning.limit(lifetime))
    head = f"-w {warning} never fires first: with -c {critical} a {name} certificate"
    if critical.limit(lifetime) >= lifetime:
        # "turns CRITICAL at 7 days left" would be odd for a 6-day certificate, which never has 7 days left; and no
        # -w can fix this one, so the sentence points at the critical limit.
        return (f"{head} is CRITICAL from issuance (the critical limit of {crit} covers its whole life), while "
                f"WARNING waits for {warn} left")
    return f"{head} turns CRITICAL at {crit} left, before WARNING at {warn} left"
