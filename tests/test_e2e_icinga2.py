"""End to end under a real Icinga 2: the ``tls_expiry`` CheckCommand of contrib/icinga2-commands.conf, executed.

One daemon run (as the current user via ICINGA2_USER/ICINGA2_GROUP, root in CI, so it can execute this
checkout's interpreter wherever CI put it) checks loopback ``openssl s_server`` endpoints: OK (leaf valid 200
days), WARNING (20 days with ``tls_expiry_warning = "30d"``), CRITICAL (expired; untrusted; connection refused)
and a file-mode service. Asserted, per service:

* the state, the output and the perfdata Icinga recorded (PerfdataWriter), compared verbatim with what the plugin
  printed (a recording wrapper keeps a copy of every run);
* that Icinga's metric parser took every perfdata item, value and thresholds, without a warning: an
  InfluxdbWriter sends them to a loopback sink (fields ``value``, ``warn``, ``crit``), ``icinga2.log`` has no
  perfdata warnings, and ``icinga2 console`` ``parse_performance_data()`` agrees on the plugin's real perfdata.

Real-servers recipe: ../shared/reference/real-servers.md section 10. Skipped when ``icinga2`` is missing, except
under ``CI=true`` where that fails.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ci import require_binary
from e2e import write_recording_wrapper
from pki import CA, self_signed_leaf, write_pem
from servers import openssl_server, refused_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib" / "icinga2-commands.conf"
PLUGIN = ROOT / "check_tls_expiry.py"
DEADLINE = 30.0
CONTROL_WARNING = "Ignoring invalid perfdata for checkable 'web1!control_bad_perfdata'"


# One line per check result: Icinga's own macros for the state, the output and the perfdata it recorded.
FORMAT = ('"SERVICE::$service.name$\\tSTATE::$service.state$\\tEXIT::$service.state_id$'
          '\\tOUTPUT::$service.output$\\tPERFDATA::$service.perfdata$"')

CONF = """\
const PluginDir = @PLUGINDIR@
const NodeName = "e2e.local"
const ZoneName = "e2e.local"
include <itl>
include <plugins>
include @CONTRIB@
object FileLogger "main-log" { severity = "information"; path = @LOG@ }
object CheckerComponent "checker" { }
object PerfdataWriter "perfdata" {
  service_perfdata_path = @PERF@ + "/service-perfdata"
  service_temp_path = @PERF@ + "/service-perfdata.tmp"
  host_perfdata_path = @PERF@ + "/host-perfdata"
  host_temp_path = @PERF@ + "/host-perfdata.tmp"
  service_format_template = @FORMAT@
  rotation_interval = 1s
}
object InfluxdbWriter "influxdb" {
  host = "127.0.0.1"
  port = @INFLUX_PORT@
  database = "icinga2"
  flush_interval = 1s
  flush_threshold = 1
  enable_send_thresholds = true
}
object Host "web1" {
  address = "127.0.0.1"
  check_command = "dummy"
  enable_active_checks = false
}
/* Negative control: perfdata Icinga cannot parse, to prove the log check below sees such warnings. */
object CheckCommand "bad_perfdata" { command = [ "/bin/sh", "-c", "echo 'CONTROL OK | bad=U;1;2'" ] }
object Service "control_bad_perfdata" { host_name = "web1"; check_command = "bad_perfdata"; check_interval = 2s }
template Service "tls" {
  host_name = "web1"
  check_command = "tls_expiry"
  check_interval = 2s
  retry_interval = 2s
  vars.tls_expiry_host = "localhost"
}
"""


@dataclass(frozen=True)
class Case:
    service: str
    vars: dict[str, object]
    state: str  # what Icinga records: OK, WARNING, CRITICAL
    output: re.Pattern[str]
    perf_labels: tuple[str, ...]


@dataclass(frozen=True)
class Recorded:
    state: str
    exit_code: int
    output: str
    perfdata: str


def _q(value: object) -> str:
    return json.dumps(str(value)) if isinstance(value, (str, Path)) else json.dumps(value)


class _InfluxHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8", "replace")
        self.server.lines.extend(line for line in body.splitlines() if line)  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def influxdb_sink() -> Iterator[tuple[int, list[str]]]:
    """An InfluxDB 1.x /write endpoint on 127.0.0.1 that keeps the line protocol it gets: (port, lines)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _InfluxHandler)
    server.lines = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.lines  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Icinga2:
    """An Icinga 2 instance confined to ``base`` (real-servers.md section 10), running as the current user."""

    def __init__(self, base: Path) -> None:
        self.binary = require_binary("icinga2")
        self.base = base
        for sub in ("etc", "data", "log", "cache", "spool", "run", "perf", "plugins", "records"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        self.conf = base / "etc" / "icinga2.conf"
        self.log = base / "log" / "icinga2.log"
        self.records = base / "records"
        write_recording_wrapper(base / "plugins" / "check_tls_expiry", self.records)
        # As root the daemon would drop privileges to nagios; keep whoever we are (root in CI).
        self.env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "ICINGA2_USER": pwd.getpwuid(os.getuid()).pw_name,
                    "ICINGA2_GROUP": grp.getgrgid(os.getgid()).gr_name}
        self.defines = [f"-DConfiguration.{name}={base / sub}" for name, sub in (
            ("DataDir", "data"), ("CacheDir", "cache"), ("LogDir", "log"), ("SpoolDir", "spool"),
            ("InitRunDir", "run"))]

    def write(self, influx_port: int, services: str) -> None:
        text = (CONF.replace("@PLUGINDIR@", _q(self.base / "plugins")).replace("@CONTRIB@", _q(CONTRIB))
                .replace("@LOG@", _q(self.log)).replace("@PERF@", _q(self.base / "perf"))
                .replace("@INFLUX_PORT@", str(influx_port)).replace("@FORMAT@", FORMAT))
        self.conf.write_text(text + services, encoding="utf-8")

    def argv(self, *extra: str) -> list[str]:
        return [self.binary, "daemon", *extra, "-c", str(self.conf), *self.defines]

    def perfdata_lines(self) -> list[dict[str, str]]:
        rows = []
        for path in sorted((self.base / "perf").glob("service-perfdata.[0-9]*")):
            for line in path.read_text(encoding="utf-8").splitlines():
                fields = dict(field.split("::", 1) for field in line.split("\t") if "::" in field)
                rows.append(fields)
        return rows

    def run_until(self, services: set[str], metrics: list[str]) -> list[dict[str, str]]:
        """Run the daemon until every service has a PerfdataWriter line and (with perfdata) metrics, and the
        control's perfdata warning is in the log; stop it."""
        out_path = self.base / "daemon.out"
        with out_path.open("w") as out:
            daemon = subprocess.Popen(self.argv(), env=self.env, stdout=out, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + DEADLINE
                while time.monotonic() < deadline and daemon.poll() is None:
                    time.sleep(0.2)
                    rows = self.perfdata_lines()
                    seen = {row.get("SERVICE") for row in rows}
                    sent = {s for s in services if any(f",service={s}" in line for line in metrics)}
                    control = self.log.exists() and CONTROL_WARNING in self.log.read_text(encoding="utf-8")
                    if services <= seen and sent >= services - {"tls_refused"} and control:
                        return rows
            finally:
                if daemon.poll() is None:
                    daemon.send_signal(signal.SIGTERM)
                    try:
                        daemon.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        daemon.kill()
                        daemon.wait()
        pytest.fail(f"not every service was checked within {DEADLINE}s: {sorted(services - seen)}\n"
                    f"--- daemon output ---\n{out_path.read_text()}", pytrace=False)

    def printed(self, marker: str) -> list[tuple[str, int]]:
        """Every (stdout, exit code) the plugin printed in runs whose arguments match the regex ``marker``."""
        found = []
        for args in self.records.glob("run.*.args"):
            if re.search(marker, args.read_text(encoding="utf-8")):
                rec = args.with_suffix("")
                rc_path = Path(f"{rec}.rc")
                if rc_path.exists():
                    found.append((Path(f"{rec}.out").read_text(encoding="utf-8"), int(rc_path.read_text())))
        return found


@dataclass(frozen=True)
class Result:
    icinga: Icinga2
    cases: dict[str, Case]
    recorded: dict[str, list[Recorded]]
    metrics: list[str]  # InfluxDB line protocol
    markers: dict[str, str]


@pytest.fixture(scope="module")
def icinga_run(root_ca: CA, intermediate_ca: CA, root_pem: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Result]:
    base = tmp_path_factory.mktemp("icinga2")
    icinga = Icinga2(base / "i2")  # skips (or fails under CI) before anything is started
    names = ("localhost", "127.0.0.1")
    intermediate = [intermediate_ca.issued]
    chain_file = write_pem(base / "web1-chain.pem", intermediate_ca.leaf(names, not_after=timedelta(days=200)),
                           intermediate_ca.issued)
    with ExitStack() as stack:
        port = {
            "ok": stack.enter_context(openssl_server(
                base, intermediate_ca.leaf(names, not_after=timedelta(days=200)), intermediate)),
            "warning": stack.enter_context(openssl_server(
                base, intermediate_ca.leaf(names, not_after=timedelta(days=20)), intermediate)),
            "expired": stack.enter_context(openssl_server(
                base, intermediate_ca.leaf(names, not_after=timedelta(days=-2)), intermediate)),
            "untrusted": stack.enter_context(openssl_server(
                base, self_signed_leaf(names, not_after=timedelta(days=200)))),
            "refused": refused_port(),
        }
        # Network checks also report the handshake time; file checks do not.
        chain = ("days", "days_int1", "days_leaf", "days_root", "time")
        cases = [
            Case("tls_ok", {"tls_expiry_port": port["ok"]}, "OK",
                 re.compile(rf"TLS_EXPIRY OK - localhost:{port['ok']}: leaf 'localhost' expires first, in "
                            r"(199\.9|200\.0) days \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\), chain verified"), chain),
            Case("tls_warning", {"tls_expiry_port": port["warning"], "tls_expiry_warning": "30d"}, "WARNING",
                 re.compile(rf"TLS_EXPIRY WARNING - localhost:{port['warning']}: leaf 'localhost' expires in "
                            r"(19\.9|20\.0) days \(.*UTC\)"), chain),
            Case("tls_expired", {"tls_expiry_port": port["expired"]}, "CRITICAL",
                 re.compile(rf"TLS_EXPIRY CRITICAL - localhost:{port['expired']}: leaf 'localhost' expired "
                            r"(2\.0|1\.9\d?) days ago .*"), chain),  # the root too: expired chains keep their path
            Case("tls_untrusted", {"tls_expiry_port": port["untrusted"]}, "CRITICAL",
                 re.compile(rf"TLS_EXPIRY CRITICAL - localhost:{port['untrusted']}: self-signed certificate "
                            r"'localhost' is not trusted"), ("days", "days_leaf", "time")),
            Case("tls_refused", {"tls_expiry_port": port["refused"]}, "CRITICAL",
                 re.compile(rf"TLS_EXPIRY CRITICAL - localhost:{port['refused']}: cannot connect: "
                            rf"127\.0\.0\.1:{port['refused']} refused the connection"), ()),
            Case("tls_file", {"tls_expiry_file": str(chain_file), "tls_expiry_address": ""}, "OK",
                 re.compile(rf"TLS_EXPIRY OK - {re.escape(str(chain_file))}: leaf 'localhost' expires first, .*"),
                 ("days", "days_int1", "days_leaf")),
        ]
        for case in cases:
            if "tls_expiry_port" in case.vars:
                case.vars["tls_expiry_cafile"] = str(root_pem)
        services = "".join(
            f'object Service "{case.service}" {{\n  import "tls"\n'
            + "".join(f"  vars.{key} = {'null' if value is None else _q(value)}\n" for key, value in case.vars.items())
            + "}\n"
            for case in cases)
        markers = {case.service: (rf"--port {case.vars['tls_expiry_port']}\b" if "tls_expiry_port" in case.vars
                                  else rf"--file {re.escape(str(chain_file))}\b") for case in cases}
        with influxdb_sink() as (influx_port, metrics_in):
            icinga.write(influx_port, services)
            check = subprocess.run(icinga.argv("-C"), env=icinga.env, capture_output=True, text=True, timeout=60,
                                   check=False)
            assert check.returncode == 0, check.stdout + check.stderr
            rows = icinga.run_until({case.service for case in cases}, metrics_in)
            metrics = list(metrics_in)
    recorded: dict[str, list[Recorded]] = {case.service: [] for case in cases}
    for row in rows:
        if row["SERVICE"] in recorded:
            recorded[row["SERVICE"]].append(
                Recorded(row["STATE"], int(row["EXIT"]), row["OUTPUT"], row["PERFDATA"]))
    yield Result(icinga, {case.service: case for case in cases}, recorded, metrics, markers)


SERVICES = ["tls_ok", "tls_warning", "tls_expired", "tls_untrusted", "tls_refused", "tls_file"]


@pytest.mark.parametrize("service", SERVICES)
def test_icinga2_records_state_output_and_perfdata(icinga_run: Result, service: str) -> None:
    case = icinga_run.cases[service]
    printed = icinga_run.icinga.printed(icinga_run.markers[service])
    assert printed, f"no plugin run recorded for {service}"
    # Verbatim: Icinga keeps the text before the first "|" as the output (including the space before it) and
    # the text after it as the perfdata; some run of the plugin printed exactly this.
    printed_split = [(out.rstrip("\n").partition("|")[0], out.partition("|")[2].strip(), code) for out, code in printed]
    for rec in icinga_run.recorded[service]:
        detail = f"{service}: Icinga recorded {rec}\nthe plugin printed: {printed[-1]}"
        assert rec.state == case.state, detail
        assert rec.exit_code == {"OK": 0, "WARNING": 1, "CRITICAL": 2}[case.state], detail
        assert case.output.fullmatch(rec.output.rstrip(" ")), detail
        assert (rec.output, rec.perfdata, rec.exit_code) in printed_split, detail
        labels = tuple(item.split("=")[0] for item in rec.perfdata.split()) if rec.perfdata else ()
        assert labels == case.perf_labels, detail


def _influx_fields(metrics: list[str], service: str) -> dict[str, dict[str, float | str]]:
    """{"days": {"value": 200.0, "warn": 30.0, "crit": 14.0}, ...}: the last point per metric for ``service``."""
    points: dict[str, dict[str, float | str]] = {}
    for line in metrics:
        series, fields, _ = line.split(" ")
        tags = dict(tag.split("=", 1) for tag in series.split(",")[1:])
        if tags.get("service") == service:
            # Numbers, and the unit as a quoted string ("seconds" for the handshake time).
            points[tags["metric"]] = {key: value.strip('"') if value.startswith('"') else float(value)
                                      for key, value in (f.split("=") for f in fields.split(","))}
    return points


@pytest.mark.parametrize("service", ["tls_ok", "tls_warning", "tls_expired", "tls_untrusted", "tls_file"])
def test_icinga2_metric_writer_takes_every_value_and_threshold(icinga_run: Result, service: str) -> None:
    last = icinga_run.recorded[service][-1]
    got = _influx_fields(icinga_run.metrics, service)
    expected: dict[str, dict[str, float]] = {}
    for item in last.perfdata.split():
        label, numbers = item.split("=")
        if label == "time":  # "0.004042s;;;0": seconds, a minimum, no thresholds
            expected[label] = {"value": float(numbers.split(";")[0].rstrip("s")), "min": 0.0, "unit": "seconds"}
            continue
        value, warn, crit = (float(number) for number in numbers.split(";"))
        expected[label] = {"value": value, "warn": warn, "crit": crit}
    # The writer may have sent a later run than the last rotated PerfdataWriter line: same metrics and fields,
    # values within the 0.01-day resolution. No unit: a "d" would have been converted to seconds.
    assert set(got) == set(expected), f"metrics sent: {sorted(got)}, perfdata: {last.perfdata}"
    for label, fields in expected.items():
        assert set(got[label]) == set(fields), (label, got[label])
        for key, value in fields.items():
            if label == "time" and key == "value":
                assert 0 <= float(got[label][key]) < 10, (label, got[label])  # another run's handshake time
                continue
            if key == "unit":
                assert got[label][key] == value, (label, got[label])
                continue
            assert abs(got[label][key] - value) <= 0.011, (label, key, got[label][key], value)


def test_icinga2_logs_no_perfdata_warning(icinga_run: Result) -> None:
    log = icinga_run.icinga.log.read_text(encoding="utf-8")
    warnings = [line for line in log.splitlines() if re.search(r"\b(warning|critical)/", line)]
    # The control service's unparsable perfdata is logged (so the check below is not vacuous) ...
    assert any(CONTROL_WARNING in line for line in warnings), log
    # ... and nothing else: no perfdata, metric writer or other warning for the tls_expiry services.
    others = [line for line in warnings if "control_bad_perfdata" not in line]
    assert not others, "\n".join(others)


def test_icinga2_console_parses_the_real_perfdata(icinga_run: Result) -> None:
    console = require_binary("icinga2")
    for service in ("tls_ok", "tls_expired"):
        for item in icinga_run.recorded[service][-1].perfdata.split():
            result = subprocess.run([console, "console", "-e", f"parse_performance_data({json.dumps(item)})"],
                                    capture_output=True, text=True, timeout=30, check=False)
            assert result.returncode == 0, result.stdout + result.stderr
            parsed = json.loads(result.stdout)
            label, numbers = item.split("=")
            if label == "time":
                assert parsed["label"] == "time" and parsed["unit"] in ("s", "seconds") and parsed["min"] == 0, parsed
                assert parsed["value"] == float(numbers.split(";")[0].rstrip("s")), (item, parsed)
                continue
            value, warn, crit = (float(x) for x in numbers.split(";"))
            assert parsed["label"] == label and parsed["unit"] == "", parsed
            assert (parsed["value"], parsed["warn"], parsed["crit"]) == (value, warn, crit), (item, parsed)
