"""Threshold grammar and the "below every bound" rule."""

from __future__ import annotations

import pytest

from plugin.thresholds import DEFAULT_CRITICAL, DEFAULT_WARNING, parse_threshold

DAY = 86400.0


@pytest.mark.parametrize(
    ("text", "lifetime_days", "limit_days"),
    [
        ("30", 365, 30),
        ("30:", 365, 30),
        ("30d", 365, 30),
        ("2.5", 365, 2.5),
        (".5", 365, 0.5),
        ("12h", 365, 0.5),
        ("25%", 90, 22.5),
        ("30d,25%", 90, 22.5),
        ("30d,25%", 365, 30),
        ("30d,25%", 6, 1.5),
        (" 30d , 25% ", 6, 1.5),
        ("0", 90, 0),
    ],
)
def test_limit(text: str, lifetime_days: float, limit_days: float) -> None:
    assert parse_threshold(text).limit(lifetime_days * DAY) == pytest.approx(limit_days * DAY)


@pytest.mark.parametrize(
    "text", ["", "abc", "-5", "30x", "1e3", "30d,", "@10:20", "~:10", "10:20", "101%", "nan", "inf", "30 d", "%"]
)
def test_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="threshold|100%"):
        parse_threshold(text)


def test_defaults_match_the_issue_examples() -> None:
    warning, critical = parse_threshold(DEFAULT_WARNING), parse_threshold(DEFAULT_CRITICAL)
    # A healthy short-lived certificate: 6-day lifetime, 4 days left -> no alarm.
    assert not 4 * DAY < warning.limit(6 * DAY)
    # A 90-day certificate with 15 days left -> WARNING but not CRITICAL.
    assert 15 * DAY < warning.limit(90 * DAY)
    assert not 15 * DAY < critical.limit(90 * DAY)


def test_str_round_trips() -> None:
    assert str(parse_threshold("30:,25%,12h")) == "30d,25%,12h"
    assert parse_threshold("30d").absolute and not parse_threshold("30d,1%").absolute
