"""Run the plugin in-process and check the operator contract on every output."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from check_tls_expiry import main

STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
# One perfdata item as this plugin writes it: a plain label, a number without exponent, plain-number warn/crit.
PERF_ITEM = re.compile(r"^(?P<label>[a-z0-9_]+)=(?P<value>-?\d+(?:\.\d{1,2})?)(?:;(?P<warn>\d+(?:\.\d{1,2})?)?"
                       r"(?:;(?P<crit>\d+(?:\.\d{1,2})?)?)?)?$")
# The handshake time: seconds (a guideline UOM), microsecond decimals, min 0, no thresholds.
TIME_ITEM = re.compile(r"^time=(?P<value>\d+\.\d{6})s;;;0$")
# The address counts of a check of several addresses: whole numbers, min 0, no thresholds.
COUNT_ITEM = re.compile(r"^(?P<label>addresses|addresses_failing)=(?P<value>\d+);;;0$")


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def status(self) -> str:
        """The first line without perfdata."""
        return self.lines[0].split("|")[0]

    @property
    def time(self) -> float | None:
        """The ``time`` perfdata (seconds), None when absent (file mode, failures)."""
        match = re.search(r"(?:^|[ |])time=(\d+\.\d+)s", self.out)
        return float(match.group(1)) if match else None

    @property
    def perf(self) -> dict[str, tuple[float, float | None, float | None]]:
        perf_text = self.out.split("|", 1)[1] if "|" in self.out else ""
        items = {}
        for item in perf_text.split():
            if item.startswith("time="):
                assert TIME_ITEM.match(item), f"bad perfdata item {item!r}"
                continue
            count = COUNT_ITEM.match(item)
            if count:
                items[count.group("label")] = (float(count.group("value")), None, None)
                continue
            match = PERF_ITEM.match(item)
            assert match, f"bad perfdata item {item!r}"
            warn, crit = match.group("warn"), match.group("crit")
            items[match.group("label")] = (
                float(match.group("value")),
                float(warn) if warn else None,
                float(crit) if crit else None,
            )
        return items


def assert_contract(code: int, out: str) -> Outcome:
    """Exit code 0-3, `TLS_EXPIRY <STATE> - ` matching it, at most one `|`, valid perfdata, no traceback."""
    assert code in STATES, code
    assert out.endswith("\n")
    assert out.startswith(f"TLS_EXPIRY {STATES[code]} - "), out
    assert out.count("|") <= 1, out
    assert "Traceback" not in out
    outcome = Outcome(code, out)
    outcome.perf  # noqa: B018 - validates the grammar
    if "|" in out:  # perfdata sits on the first line (normal) or alone on the last line (-v)
        assert "|" in out.splitlines()[0] or out.splitlines()[-1].startswith("| ")
    return outcome


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> Outcome:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    assert err == "", err
    return assert_contract(code, out)
