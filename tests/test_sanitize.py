"""Untrusted text can never start perfdata or a new line of output."""

from __future__ import annotations

from plugin.sanitize import clean


def test_pipes_and_newlines_are_escaped() -> None:
    text = clean("evil|days=1;2;3\nTLS_EXPIRY OK - fake\r")
    assert "|" not in text and "\n" not in text and "\r" not in text
    assert text.startswith("evil\\x7cdays=1;2;3\\x0aTLS_EXPIRY")


def test_unicode_letters_stay_but_bidi_and_separators_go() -> None:
    assert clean("Bücher GmbH") == "Bücher GmbH"
    text = clean("a\u202eb\u2028c\u2029d\u200be\x00")
    assert text == "a\\u202eb\\u2028c\\u2029d\\u200be\\x00"


def test_backslash_is_escaped_so_escapes_cannot_be_faked() -> None:
    assert clean("a\\x7cb") == "a\\x5cx7cb"


def test_length_is_bounded() -> None:
    assert clean("x" * 500, 20) == "x" * 20 + "..."
    assert len(clean("\n" * 500, 20)) <= 23
