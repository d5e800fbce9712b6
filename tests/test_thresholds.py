"""Threshold grammar and the "below every bound" rule."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from plugin.thresholds import (
    DEFAULT_CRITICAL,
    DEFAULT_WARNING,
    LIFETIMES,
    Threshold,
    conflict,
    first_conflict,
    parse_threshold,
)

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


# --- conflict(): a -w that can never fire before -c --------------------------------------------------------------

HOUR, YEAR = 3600.0, 365 * DAY
# Log-uniform, so that hours, days and decades are all drawn often, plus the ends of the range.
_EVERY_LIFETIME = st.one_of(
    st.floats(min_value=math.log(HOUR), max_value=math.log(25 * YEAR)).map(lambda x: min(max(math.exp(x), HOUR),
                                                                                        25 * YEAR)),
    st.floats(min_value=HOUR, max_value=25 * YEAR),
)


def _conflict(warning: str, critical: str) -> str | None:
    return conflict(parse_threshold(warning), parse_threshold(critical))


@pytest.mark.parametrize(
    ("warning", "critical", "sentence"),
    [
        ("7", DEFAULT_CRITICAL, ("-w 7d never fires first: with -c 14d,10% a 398-day certificate turns CRITICAL "
                                 "at 14 days left, before WARNING at 7 days left")),
        ("5%", "10%", ("-w 5% never fires first: with -c 10% a 398-day certificate turns CRITICAL at 39.8 days left, "
                       "before WARNING at 19.9 days left")),
        ("30d,25%", "40d", ("-w 30d,25% never fires first: with -c 40d a 398-day certificate turns CRITICAL at "
                            "40 days left, before WARNING at 30 days left")),
        # The lead's list had this pair as sound, but a 6-day ACME certificate is CRITICAL from issuance while the
        # 20% warning scales down to 1.2 days: below 35 days of lifetime the warning can never come first.
        ("21d,20%", "7d", ("-w 21d,20% never fires first: with -c 7d a 6-day certificate is CRITICAL from issuance "
                           "(the critical limit of 7 days covers its whole life), while WARNING waits for "
                           "1.2 days left")),
        # Hours against days, in the unit that suits them.
        ("12h", "1d", ("-w 12h never fires first: with -c 1d a 398-day certificate turns CRITICAL at 24 hours left, "
                       "before WARNING at 12 hours left")),
        ("1d", "36h", ("-w 1d never fires first: with -c 36h a 398-day certificate turns CRITICAL at 36 hours left, "
                       "before WARNING at 24 hours left")),
        # Only the shortest and only the longest lifetime fail: the ends of the range are checked.
        ("10d,1%", "0.02h,50%", ("-w 10d,1% never fires first: with -c 0.02h,50% a 1-hour certificate turns "
                                 "CRITICAL at 72 seconds left, before WARNING at 36 seconds left")),
        ("800d", "900d,10%", ("-w 800d never fires first: with -c 900d,10% a 25-year certificate turns CRITICAL at "
                              "900 days left, before WARNING at 800 days left")),
        # Enough digits to show the difference :g would round away.
        ("7d", "7.000001d", ("-w 7d never fires first: with -c 7d a 398-day certificate turns CRITICAL at "
                             "7.000001 days left, before WARNING at 7 days left")),
    ],
)
def test_conflict_sentences(warning: str, critical: str, sentence: str) -> None:
    assert _conflict(warning, critical) == sentence


@pytest.mark.parametrize(
    ("warning", "critical", "lifetime"),
    [
        ("7", DEFAULT_CRITICAL, "398-day"),
        ("5%", "10%", "398-day"),
        ("30d,25%", "40d", "398-day"),
        ("30d", "10%", "398-day"),  # 39.8 days > 30 already at 398 days; a 10-year root would say 365 > 30
        ("30d,25%", "5%", "825-day"),  # 5% passes 30 days from 600 days on: 398 is fine (19.9 < 30), 825 is not
        ("30d", "40d,5%", "825-day"),  # the same with the critical capped at 40 days
        ("100d", "10%", "5-year"),  # 10% > 100 days from 1000 days on
        ("300d", "400d,10%", "10-year"),  # 10% of a 10-year root is 365 days
        ("21d,20%", "7d", "6-day"),
        ("3d,50%", "1d", "1-day"),  # 50% of 1 day is 12 hours; 6 days gives 3 days > 1 day
        ("30d,25%", "14d", "47-day"),  # a percent warning wants a percent critical: 25% of 47 days is 11.75
        ("0", "0.0001h", "398-day"),
    ],
)
def test_conflict_names_the_most_common_failing_lifetime(warning: str, critical: str, lifetime: str) -> None:
    sentence = _conflict(warning, critical)
    assert sentence is not None and f" a {lifetime} certificate " in sentence
    found = first_conflict(parse_threshold(warning), parse_threshold(critical))
    assert found is not None and found[1] == lifetime


def test_thirty_days_against_ten_percent_fails_for_a_ten_year_root() -> None:
    # The lead's example: even if leaves were fine, a 10-year root turns CRITICAL at 365 days, WARNING at 30.
    warning, critical = parse_threshold("30d"), parse_threshold("10%")
    assert critical.limit(10 * YEAR) == pytest.approx(365 * DAY) and warning.limit(10 * YEAR) == 30 * DAY
    assert _conflict("30d", "10%") is not None


@pytest.mark.parametrize(
    ("warning", "critical"),
    [
        (DEFAULT_WARNING, DEFAULT_CRITICAL),
        ("30", "14"),
        ("14", "14"),  # -w = -c mutes warnings on purpose
        ("30d,25%", "30d,25%"),
        ("25%,30d", "30d,25%"),  # order of bounds does not matter
        ("1d", "24h"),  # equal in other units
        ("24h", "1d"),
        ("36h", "1d"),
        ("0.7d", "16.8h"),  # equal as typed, 60479.99999999999 s against 60480.0 s in floats
        ("16.8h", "0.7d"),
        ("45d,50%", "14d,10%"),
        ("30d,25%", "0"),
        ("0", "0"),
        ("100%", "99%"),
        ("100%", "100%"),
        ("876000h", "36500d"),  # the largest values the grammar takes
        ("60d", "30d,10%"),
        ("30d", "20d,10%"),  # the critical never exceeds 20 days
    ],
)
def test_sound_pairs(warning: str, critical: str) -> None:
    assert _conflict(warning, critical) is None, (warning, critical)


def test_lifetimes_cover_the_brief() -> None:
    days = sorted(lifetime / DAY for lifetime, _ in LIFETIMES)
    for wanted in (1 / 24, 1, 6, 47, 90, 200, 398, 825, 5 * 365, 10 * 365, 25 * 365):
        assert wanted in days
    # The ends of the checked range, which first_conflict()'s argument relies on.
    assert (days[0], days[-1]) == (1 / 24, 25 * 365)
    assert LIFETIMES[0][1] == "398-day" and LIFETIMES[1][1] == "90-day"


# Bounds as an operator types them: a few units, numbers from 0 to beyond the lifetimes, decimals included (they
# are what makes float rounding differ between 0.7d and 16.8h).
_number = st.one_of(st.integers(0, 120).map(str), st.decimals(0, 1000, places=2).map(lambda d: f"{d:f}"),
                    st.sampled_from(["0.7", "16.8", "1.1", "26.4", "2.9", "69.6"]))
_bound = st.one_of(
    st.tuples(_number, st.sampled_from(["", "d", ":", "h"])).map("".join),
    st.one_of(st.integers(0, 100).map(str), st.decimals(0, 100, places=1).map(lambda d: f"{d:f}")).map(
        lambda n: n + "%"),
)
thresholds = st.lists(_bound, min_size=1, max_size=3).map(",".join).map(parse_threshold)


# 300 lifetimes spaced evenly in log scale from 1 hour to 25 years: a crossing between the listed lifetimes that
# conflict() missed would show here for almost any pair, not only when hypothesis draws the right lifetime.
_GRID = tuple(HOUR * (25 * YEAR / HOUR) ** (i / 299) for i in range(300))


def _really_below(warning: float, critical: float) -> bool:
    # Below by more than float rounding of values equal as typed: what conflict() calls a conflict.
    return warning < critical * (1 - 1e-9)


@given(warning=thresholds, critical=thresholds, lifetime=_EVERY_LIFETIME)
@example(warning=parse_threshold("21d,20%"), critical=parse_threshold("7d"), lifetime=30 * DAY)  # between samples
@example(warning=parse_threshold("0.7d"), critical=parse_threshold("16.8h"), lifetime=HOUR)
@example(warning=parse_threshold("800d"), critical=parse_threshold("900d,10%"), lifetime=24 * YEAR)  # only old roots
@example(warning=parse_threshold("10d,1%"), critical=parse_threshold("0.02h,50%"), lifetime=1.5 * HOUR)  # only hours
def test_sound_means_no_lifetime_has_warning_below_critical(warning: Threshold, critical: Threshold,
                                                            lifetime: float) -> None:
    """None means sound at every listed lifetime and at any lifetime in between (no crossing is missed)."""
    if conflict(warning, critical) is not None:
        return
    for sample in (lifetime, *(lifetime for lifetime, _ in LIFETIMES), *_GRID):
        assert not _really_below(warning.limit(sample), critical.limit(sample)), (warning, critical, sample / DAY)


@given(warning=thresholds, critical=thresholds)
def test_a_sentence_means_a_lifetime_with_warning_below_critical(warning: Threshold, critical: Threshold) -> None:
    sentence = conflict(warning, critical)
    found = first_conflict(warning, critical)
    assert (sentence is None) == (found is None)
    if found is None:
        return
    lifetime, name = found
    assert warning.limit(lifetime) < critical.limit(lifetime)
    assert sentence is not None and sentence.startswith(f"-w {warning} never fires first: with -c {critical} a {name} ")
    # And it is the first such lifetime in the preferred order.
    earlier = [sample for sample, _ in LIFETIMES[: [n for _, n in LIFETIMES].index(name)]]
    assert not any(_really_below(warning.limit(sample), critical.limit(sample)) for sample in earlier)


@given(threshold=thresholds)
def test_a_threshold_never_conflicts_with_itself(threshold: Threshold) -> None:
    assert conflict(threshold, threshold) is None
    assert conflict(parse_threshold(",".join(reversed(str(threshold).split(",")))), threshold) is None

