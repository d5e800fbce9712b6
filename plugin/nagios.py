"""Present: nagiosplugin Resource, Contexts and Summary for Nagios/Icinga output.

This is the only module that imports nagiosplugin. The state of the check comes from the evaluation's findings;
the per-certificate metrics exist for perfdata only.

Perfdata: ``days`` is the headline (the certificate that expires first among those that count), then one
``days_<label>`` per certificate with stable labels (``leaf``, ``int1``, ``root``, ``extra1``). Values are days
with at most two decimals, unitless. warn/crit are written as plain numbers of days (the effective bound for that
certificate), not as ranges such as ``30:``: Icinga 2's metric writers drop range thresholds with a log warning,
while PNP4Nagios and Grafana draw plain numbers as threshold lines at the right height.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import nagiosplugin
from nagiosplugin.output import Output

from .errors import CheckError
from .evaluate import CertRow, Evaluation, Finding
from .sanitize import clean
from .status import Status

__all__ = ["NAME", "TlsExpiry", "build_check", "number", "render"]

NAME = "TLS_EXPIRY"

_STATES: dict[Status, nagiosplugin.state.ServiceState] = {
    Status.OK: nagiosplugin.Ok,
    Status.WARNING: nagiosplugin.Warn,
    Status.CRITICAL: nagiosplugin.Critical,
    Status.UNKNOWN: nagiosplugin.Unknown,
}


def number(value: float) -> str:
    """A perfdata number: at most two decimals, never exponent notation, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class TlsExpiry(nagiosplugin.Resource):  # type: ignore[misc]
    """Acquire and evaluate one endpoint (or file); a project error becomes a failure metric with its state."""

    def __init__(self, run: Callable[[], Evaluation]) -> None:
        self._run = run
        self.evaluation: Evaluation | None = None

    @property
    def name(self) -> str:
        return NAME

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        try:
            evaluation = self._run()
        except CheckError as exc:
            yield nagiosplugin.Metric("failure", exc, context="failure")
            return
        self.evaluation = evaluation
        for index, finding in enumerate(evaluation.findings):
            yield nagiosplugin.Metric(f"finding{index}", finding, context="finding")
        if evaluation.headline is not None:
            yield nagiosplugin.Metric("days", evaluation.headline, context="certificate")
        for row in evaluation.rows:
            yield nagiosplugin.Metric(f"days_{row.label}", row, context="certificate")


class FindingContext(nagiosplugin.Context):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__("finding")

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        finding: Finding = metric.value
        return nagiosplugin.Result(_STATES[finding.status], finding.text, metric)


class FailureContext(nagiosplugin.Context):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__("failure")

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        error: CheckError = metric.value
        return nagiosplugin.Result(_STATES[error.status], error.message, metric)


class CertificateContext(nagiosplugin.Context):  # type: ignore[misc]
    """Perfdata only: the findings already carry the state."""

    def __init__(self) -> None:
        super().__init__("certificate")

    def evaluate(self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource) -> nagiosplugin.Result:
        return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)

    def performance(
        self, metric: nagiosplugin.Metric, resource: nagiosplugin.Resource
    ) -> nagiosplugin.Performance:
        row: CertRow = metric.value
        return nagiosplugin.Performance(
            metric.name, number(row.days_left), "", number(row.warn / 86400), number(row.crit / 86400)
        )


class TlsSummary(nagiosplugin.Summary):  # type: ignore[misc]
    """Status line ``<endpoint>: <what matters>``; with -v, one line per certificate."""

    def __init__(self, endpoint: str, resource: TlsExpiry) -> None:
        self.endpoint = endpoint
        self.resource = resource

    def _line(self, results: nagiosplugin.Results) -> str:
        evaluation = self.resource.evaluation
        if evaluation is not None:
            return f"{self.endpoint}: {evaluation.summary()}"
        texts = [result.hint for result in results if result.hint]
        return f"{self.endpoint}: {' - '.join(texts)}"

    def ok(self, results: nagiosplugin.Results) -> str:
        return self._line(results)

    def problem(self, results: nagiosplugin.Results) -> str:
        return self._line(results)

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        evaluation = self.resource.evaluation
        if evaluation is None:
            return []
        lines = list(evaluation.notes)
        lines += [f"{finding.status.name}: {finding.text}" for finding in evaluation.problems]
        lines += [_describe(row) for row in evaluation.rows]
        return lines


def _describe(row: CertRow) -> str:
    info = row.info
    position = f"#{row.sent + 1}" if row.sent is not None else "trust store"
    return (
        f"[{position}] {row.role}: subject '{clean(info.subject)}', issuer '{clean(info.issuer)}', "
        f"serial {info.serial:x}, not after {info.not_after:%Y-%m-%d %H:%M:%S} UTC, "
        f"{number(row.days_left)} days left, sha256 {info.sha256}"
    )


def build_check(endpoint: str, run: Callable[[], Evaluation]) -> nagiosplugin.Check:
    resource = TlsExpiry(run)
    check = nagiosplugin.Check(resource, FindingContext(), FailureContext(), CertificateContext(),
                               TlsSummary(endpoint, resource))
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
