"""Present for Nagios and Icinga: nagiosplugin's Resource, Contexts and Summary.

This is the only module that imports nagiosplugin, and the classes do the jobs nagiosplugin gives them, with
one deliberate difference: the Contexts do not compare numbers against ranges themselves. Evaluation is a pure
function shared with the JSON output (thresholds relative to each certificate's lifetime, trust, names), so
the Resource yields its results as metrics and the Contexts turn them into nagiosplugin Results:

* one ``finding`` metric per finding: its Context maps the finding's state and renders its sentence;
* one ``days`` metric (the certificate that expires first) and one ``days_<label>`` metric per certificate
  (``leaf``, ``int1``, ``root``, ``extra1``): their Context only contributes perfdata;
* a ``failure`` metric when acquisition stopped (DNS, connect, handshake, unreadable file).

The Summary formats those results, nothing else. Nagios rewrites every ``;`` in plugin output to ``:``, so this
presenter escapes ``;`` in text (perfdata keeps it as its separator).

Perfdata values are days with at most two decimals, unitless; warn/crit are plain numbers of days (the
effective bound for that certificate), not ranges such as ``30:``: Icinga 2's metric writers drop range
thresholds with a log warning, while PNP4Nagios and Grafana draw plain numbers as threshold lines.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import nagiosplugin
from nagiosplugin.output import Output

from ..errors import CheckError
from ..evaluate.findings import CertRow, Evaluation, Finding
from ..sanitize import clean
from ..status import NAME, Status
from ..thresholds import DAY
from .sentences import JOIN, describe_probe, describe_row, number, sentence, summary

__all__ = ["NAME", "TlsExpiry", "build_check", "render"]

_STATES: dict[Status, nagiosplugin.state.ServiceState] = {
    Status.OK: nagiosplugin.Ok,
    Status.WARNING: nagiosplugin.Warn,
    Status.CRITICAL: nagiosplugin.Critical,
    Status.UNKNOWN: nagiosplugin.Unknown,
}


def nagios_text(text: str) -> str:
    """Nagios turns ``;`` into ``:`` in plugin output; escape it instead, so certificate text reads as sent."""
    return text.replace(";", "\\x3b")


def _sentence(finding: Finding) -> str:
    return nagios_text(sentence(finding))


class TlsExpiry(nagiosplugin.Resource):  # type: ignore[misc]
    """Acquire and evaluate one endpoint (or file); yield every finding and every certificate as a metric."""

    def __init__(self, job: Callable[[], Evaluation]) -> None:
        self._job = job

    @property
    def name(self) -> str:
        return NAME

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        try:
            evaluation = self._job()
        except CheckError as exc:
            yield nagiosplugin.Metric("failure", exc, context="failure")
            return
        yield nagiosplugin.Metric("evaluation", evaluation, context="notes")
        for index, finding in enumerate(evaluation.findings):
            yield nagiosplugin.Metric(f"finding{index}", finding, context="finding")
        if evaluation.headline is not None:
            yield nagiosplugin.Metric("days", evaluation.headline, context="days")
        for row in evaluation.rows:
            yield nagiosplugin.Metric(f"days_{row.label}", row, context="days")
        if evaluation.seconds is not None:
            yield nagiosplugin.Metric("time", evaluation.seconds, context="time")
        if evaluation.addresses is not None:  # -I A,B or --all-addresses: stable counts, even for one address
            yield nagiosplugin.Metric("addresses", evaluation.addresses, context="count")
            yield nagiosplugin.Metric("addresses_failing", evaluation.failing, context="count")


class FindingContext(nagiosplugin.Context):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__("finding")

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        finding: Finding = metric.value
        return nagiosplugin.Result(_STATES[finding.status], _sentence(finding), metric)


class FailureContext(nagiosplugin.Context):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__("failure")

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        error: CheckError = metric.value
        return nagiosplugin.Result(_STATES[error.status], nagios_text(error.message), metric)


class _Carried(nagiosplugin.Context):  # type: ignore[misc]
    """A metric whose state the findings carry: an OK result, and perfdata where a subclass gives some."""

    name = ""

    def __init__(self) -> None:
        super().__init__(self.name)

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)


class NotesContext(_Carried):
    """The -v/-vv header lines ride along without perfdata."""

    name = "notes"


class DaysContext(_Carried):
    """Perfdata for one certificate's time left; its state is carried by the findings about it."""

    name = "days"

    def performance(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> nagiosplugin.Performance:
        row: CertRow = metric.value
        return nagiosplugin.Performance(metric.name, number(row.days_left), "", number(row.warn / DAY),
                                        number(row.crit / DAY))


class TimeContext(_Carried):
    """Perfdata ``time``: connect, STARTTLS and handshake of the slowest handshake, in seconds."""

    name = "time"

    def performance(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> nagiosplugin.Performance:
        return nagiosplugin.Performance("time", f"{metric.value:.6f}", "s", min=0)


class CountContext(_Carried):
    """Perfdata ``addresses`` and ``addresses_failing``: how many addresses were checked, how many are not OK."""

    name = "count"

    def performance(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> nagiosplugin.Performance:
        return nagiosplugin.Performance(metric.name, int(metric.value), "", min=0)


def _of(results: nagiosplugin.Results, context: str) -> list[nagiosplugin.Result]:
    return [result for result in results if result.metric is not None and result.metric.context == context]


class TlsSummary(nagiosplugin.Summary):  # type: ignore[misc]
    """Status line ``<endpoint>: <what matters>``; -v adds the certificates, -vv the connection details."""

    def __init__(self, endpoint: str, verbose: int) -> None:
        self.endpoint = endpoint
        self.verbosity = verbose

    def _line(self, results: nagiosplugin.Results) -> str:
        notes = _of(results, "notes")
        if notes:
            evaluation: Evaluation = notes[0].metric.value
            return f"{self.endpoint}: {summary(evaluation, _sentence)}"
        failures = [result.hint for result in _of(results, "failure") if result.hint]
        return f"{self.endpoint}: {JOIN.join(failures)}"

    def ok(self, results: nagiosplugin.Results) -> str:
        return self._line(results)

    def problem(self, results: nagiosplugin.Results) -> str:
        return self._line(results)

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        lines: list[str] = []
        if self.verbosity < 2:  # from -vv on, the log lines tell the same, as it happened
            for result in _of(results, "failure"):
                lines += [nagios_text(clean(line, 200, keep_escapes=True)) for line in result.metric.value.details]
        for result in _of(results, "notes"):
            evaluation: Evaluation = result.metric.value
            lines += [nagios_text(describe_probe(outcome)) for outcome in evaluation.probes]
            lines += [nagios_text(line) for line in evaluation.notes]
            if self.verbosity >= 2:
                lines += [nagios_text(line) for line in evaluation.details]
        lines += [f"{result.state.text.upper()}: {result.hint}" for result in _of(results, "finding")
                  if result.state != nagiosplugin.Ok]
        lines += [nagios_text(describe_row(result.metric.value)) for result in _of(results, "days")
                  if result.metric.name != "days"]
        return lines


def build_check(endpoint: str, job: Callable[[], Evaluation], verbose: int = 0) -> nagiosplugin.Check:
    check = nagiosplugin.Check(TlsExpiry(job), FindingContext(), FailureContext(), NotesContext(), DaysContext(),
                               TimeContext(), CountContext(), TlsSummary(nagios_text(endpoint), verbose))
    check.name = NAME  # set after construction: nagiosplugin < 1.4 has no name= argument
    return check


def render(check: nagiosplugin.Check, verbose: int) -> tuple[str, int]:
    """Run the check and format it with nagiosplugin's Output, without its process-wide Runtime singleton.

    The Runtime would keep state between calls (so ``main()`` could not run twice in one process) and only
    offers whole-second SIGALRM timeouts; the entry point owns the timeout and the exit instead.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(logging.DEBUG if verbose >= 3 else logging.INFO if verbose == 2 else logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        check()
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    output = Output(handler, verbose=verbose)
    output.add(check)
    text = str(output)
    if verbose == 0:
        # "text|perf", not nagiosplugin's "text | perf": Icinga 2 would keep the space at the end of the output.
        # The first " | " is the separator: certificate text never contains "|" (plugin.sanitize).
        text = text.replace(" | ", "|", 1)
    return text, check.exitcode
