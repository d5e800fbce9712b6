"""End to end under a real Nagios 4: contrib/nagios/check_tls_expiry.cfg, validated and executed.

* ``nagios4 -v`` on the contrib file plus a minimal main config, with the sample services that the contrib
  file carries as comments uncommented: no warnings, no errors.
* One foreground Nagios run (as the current user, root in CI, so it can execute this checkout's interpreter
  wherever CI put it) executes
  the contrib commands against loopback endpoints: HTTPS OK, WARNING and CRITICAL, STARTTLS (SMTP) and file
  mode. ``status.dat`` must hold the state, the output and the perfdata the plugin printed; a recording wrapper
  keeps a copy of what the plugin printed, so "verbatim" is compared, not guessed. Nagios turns ``;`` in plugin
  output into ``:`` (documented Nagios behaviour); everything else must be unchanged.

Real-servers recipe: ../shared/reference/real-servers.md section 11. Skipped when ``nagios4`` is missing, except
under ``CI=true`` where that fails.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from ci import require_binary
from e2e import write_recording_wrapper
from pki import CA, self_signed_leaf, write_key, write_pem
from scripted import ReadLine, Send, StartTLS, scripted_server
from servers import openssl_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib" / "nagios" / "check_tls_expiry.cfg"
PLUGIN = ROOT / "check_tls_expiry.py"
STARTUP_DEADLINE = 30.0

MAIN_CFG = """\
log_file=@N@/var/nagios.log
cfg_file=@CONTRIB@
cfg_file=@N@/objects.cfg
object_cache_file=@N@/var/objects.cache
precached_object_file=@N@/var/objects.precache
resource_file=@N@/resource.cfg
status_file=@N@/var/status.dat
status_update_interval=1
nagios_user=@USER@
nagios_group=@GROUP@
check_external_commands=0
command_file=@N@/rw/nagios.cmd
query_socket=@N@/rw/nagios.qh
lock_file=@N@/var/nagios.lock
temp_file=@N@/var/nagios.tmp
temp_path=@N@/var
check_result_path=@N@/spool/checkresults
retain_state_information=0
state_retention_file=@N@/var/retention.dat
use_retained_program_state=0
use_retained_scheduling_info=0
interval_length=1
max_service_check_spread=1
max_host_check_spread=1
service_inter_check_delay_method=n
host_inter_check_delay_method=n
check_result_reaper_frequency=1
enable_notifications=0
process_performance_data=0
illegal_macro_output_chars=`~$&|'"<>
enable_environment_macros=0
"""

# The objects a site would have anyway: a time period, a contact (group) and a host.
BASE_OBJECTS = """\
define timeperiod {
  timeperiod_name 24x7
  alias           always
  sunday          00:00-24:00
  monday          00:00-24:00
  tuesday         00:00-24:00
  wednesday       00:00-24:00
  thursday        00:00-24:00
  friday          00:00-24:00
  saturday        00:00-24:00
}
define command {
  command_name check_dummy_ok
  command_line /bin/echo "OK - host up"
}
define command {
  command_name notify_none
  command_line /bin/true
}
define contact {
  contact_name                  nobody
  host_notifications_enabled    0
  service_notifications_enabled 0
  host_notification_period      24x7
  service_notification_period   24x7
  host_notification_options     n
  service_notification_options  n
  host_notification_commands    notify_none
  service_notification_commands notify_none
}
define contactgroup {
  contactgroup_name admins
  alias             admins
  members           nobody
}
define host {
  host_name           web1
  address             127.0.0.1
  check_command       check_dummy_ok
  max_check_attempts  1
  check_interval      3600
  check_period        24x7
  contacts            nobody
  notification_period 24x7
}
"""


@dataclass(frozen=True)
class Case:
    service: str
    check_command: str
    state: int
    output: re.Pattern[str]  # the status line, after Nagios' ';' -> ':'
    perf_labels: tuple[str, ...]
    marker: str  # identifies this service's plugin run among the recorded ones


@dataclass(frozen=True)
class Run:
    plugin_output: str
    long_plugin_output: str
    performance_data: str
    current_state: int
    printed: str  # what the plugin printed for this service (recorded by the wrapper)
    exit_code: int


def _sample_services() -> str:
    """The commented sample ``define service`` blocks of the contrib file, uncommented."""
    text = CONTRIB.read_text(encoding="utf-8")
    blocks = re.findall(r"^# (define service \{\n(?:#   .*\n)+)# \}\n", text, re.MULTILINE)
    assert len(blocks) >= 2, "the contrib file should carry commented sample services"
    return "".join(re.sub(r"^# ?", "", block, flags=re.MULTILINE) + "}\n" for block in blocks)


def _service(description: str, check_command: str) -> str:
    return (
        "define service {\n"
        "  use                   tls-expiry-service\n"
        "  host_name             web1\n"
        f"  service_description   {description}\n"
        f"  check_command         {check_command}\n"
        "  max_check_attempts    1\n"
        "  check_interval        3600\n"
        "  notification_interval 0\n"
        "  contacts              nobody\n"
        "}\n"
    )


class Nagios:
    """A Nagios 4 instance confined to ``base`` (real-servers.md section 11), running as the current user."""

    def __init__(self, base: Path) -> None:
        self.binary = require_binary("nagios4")
        self.base = base
        for sub in ("var", "rw", "spool/checkresults", "plugins"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        self.cfg = base / "nagios.cfg"
        user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        self.cfg.write_text(MAIN_CFG.replace("@N@", str(base)).replace("@CONTRIB@", str(CONTRIB))
                            .replace("@USER@", user).replace("@GROUP@", group), encoding="utf-8")
        (base / "resource.cfg").write_text(f"$USER1$={base / 'plugins'}\n", encoding="utf-8")
        self.records = base / "records"
        write_recording_wrapper(base / "plugins" / "check_tls_expiry", self.records)

    def objects(self, text: str) -> None:
        (self.base / "objects.cfg").write_text(BASE_OBJECTS + text, encoding="utf-8")

    def verify(self) -> str:
        result = subprocess.run([self.binary, "-v", str(self.cfg)], capture_output=True, text=True, timeout=30,
                                check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        return output

    def run_until_checked(self, services: set[str]) -> dict[str, dict[str, str]]:
        """Run Nagios in the foreground until every service has a result; return their status.dat blocks.

        status.dat must be read while Nagios runs: it deletes the file when it shuts down.
        """
        status = self.base / "var" / "status.dat"
        log = self.base / "nagios.out"
        with log.open("w") as out:
            daemon = subprocess.Popen([self.binary, str(self.cfg)], stdout=out, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + STARTUP_DEADLINE
                blocks: dict[str, dict[str, str]] = {}
                while time.monotonic() < deadline and daemon.poll() is None:
                    time.sleep(0.2)
                    blocks = _service_status(status)
                    if all(blocks.get(name, {}).get("has_been_checked") == "1" for name in services):
                        return blocks
            finally:
                if daemon.poll() is None:
                    daemon.send_signal(signal.SIGTERM)  # ends its --worker children too
                    try:
                        daemon.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        daemon.kill()
                        daemon.wait()
        pytest.fail(f"services not checked within {STARTUP_DEADLINE}s: {sorted(services - set(blocks))}; "
                    f"exit {daemon.returncode}\n--- nagios output ---\n{log.read_text()}", pytrace=False)

    def printed(self, marker: str) -> tuple[str, int]:
        """What the plugin printed, and its exit code, for the one run whose arguments contain ``marker``."""
        runs = [args.with_suffix("") for args in self.records.glob("run.*.args")
                if marker in args.read_text(encoding="utf-8")]
        assert len(runs) == 1, f"expected one plugin run with {marker!r}, got {len(runs)}"
        rec = runs[0]
        return (Path(f"{rec}.out").read_text(encoding="utf-8"),
                int(Path(f"{rec}.rc").read_text(encoding="utf-8")))


def _service_status(path: Path) -> dict[str, dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    blocks: dict[str, dict[str, str]] = {}
    for body in re.findall(r"^servicestatus \{\n(.*?)^\t\}", text, re.MULTILINE | re.DOTALL):
        fields = dict(line.strip().split("=", 1) for line in body.splitlines() if "=" in line)
        blocks[fields["service_description"]] = fields
    return blocks


# --- endpoints -------------------------------------------------------------------------------------------------


def _smtp_starttls(context: ssl.SSLContext) -> list[object]:
    return [Send(b"220 mail.example.test ESMTP\r\n"), ReadLine(),
            Send(b"250-mail.example.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"), ReadLine(),
            Send(b"220 2.0.0 Ready to start TLS\r\n"), StartTLS(context)]


@pytest.fixture(scope="module")
def nagios_results(root_ca: CA, intermediate_ca: CA, root_pem: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Nagios, dict[str, Run], list[Case]]]:
    base = tmp_path_factory.mktemp("nagios")
    nagios = Nagios(base / "n4")  # skips (or fails under CI) before anything is started
    names = ("localhost", "127.0.0.1")
    healthy = intermediate_ca.leaf(names, not_after=timedelta(days=200))
    soon = intermediate_ca.leaf(names, not_after=timedelta(days=20))
    expired = intermediate_ca.leaf(names, not_after=timedelta(days=-2))
    untrusted = self_signed_leaf(names, not_after=timedelta(days=200))
    chain_file = write_pem(base / "web1-chain.pem", healthy, intermediate_ca.issued)
    smtp_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    smtp_context.load_cert_chain(write_pem(base / "smtp-chain.pem", healthy, intermediate_ca.issued),
                                 write_key(base / "smtp.key", healthy))
    cafile = f"--cafile {root_pem}"
    with ExitStack() as stack:
        port = {
            "ok": stack.enter_context(openssl_server(base, healthy, [intermediate_ca.issued])),
            "warning": stack.enter_context(openssl_server(base, soon, [intermediate_ca.issued])),
            "expired": stack.enter_context(openssl_server(base, expired, [intermediate_ca.issued])),
            "untrusted": stack.enter_context(openssl_server(base, untrusted)),
            "smtp": stack.enter_context(scripted_server(_smtp_starttls(smtp_context), connections=2)),
        }
        # Network checks also report the handshake time; file checks do not.
        chain_labels = ("days", "days_int1", "days_leaf", "days_root", "time")
        ok, warning, expired_, untrusted_, smtp = (port[k] for k in ("ok", "warning", "expired", "untrusted", "smtp"))
        cases = [
            Case("TLS ok", f"check_tls_expiry!localhost!{ok}!30d,25%!14d,10%!{cafile}", 0,
                 re.compile(rf"TLS_EXPIRY OK - localhost:{ok}: leaf 'localhost' expires first, in 2\d\d\.\d "
                            r"days \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\), chain verified"), chain_labels,
                 f"127.0.0.1 -p {ok} "),  # not the "TLS all" run, which has the same port
            Case("TLS warning", f"check_tls_expiry!localhost!{warning}!30d!14d!{cafile}", 1,
                 re.compile(rf"TLS_EXPIRY WARNING - localhost:{warning}: leaf 'localhost' expires in "
                            r"(19\.\d|20\.0) days \(.*UTC\)"), chain_labels, f"-p {warning} "),
            Case("TLS expired", f"check_tls_expiry!localhost!{expired_}!30d,25%!14d,10%!{cafile}", 2,
                 re.compile(rf"TLS_EXPIRY CRITICAL - localhost:{expired_}: leaf 'localhost' expired "
                            r"(2\.0|1\.9\d?) days ago.*"), chain_labels, f"-p {expired_} "),
            Case("TLS untrusted", f"check_tls_expiry!localhost!{untrusted_}!30d,25%!14d,10%!{cafile}", 2,
                 re.compile(rf"TLS_EXPIRY CRITICAL - localhost:{untrusted_}: .*self-signed.*not trusted.*"),
                 ("days", "days_leaf", "time"), f"-p {untrusted_} "),
            # Every address of localhost (127.0.0.1 here) and both key types: the server has one, which is fine.
            Case("TLS all", f"check_tls_expiry_all!localhost!{ok}!30d,25%!14d,10%!{cafile}", 0,
                 re.compile(rf"TLS_EXPIRY OK - localhost:{ok}: leaf 'localhost' expires first, in 2\d\d\.\d "
                            r"days \(.*UTC\), chain verified \((RSA|ECDSA) certificate checked\)"),
                 ("addresses", "addresses_failing", *chain_labels), f"--all-addresses --all-key-types -p {ok} "),
            Case("TLS smtp", f"check_tls_expiry_starttls!localhost!smtp!{smtp}!30d,25%!14d,10%!{cafile}", 0,
                 re.compile(rf"TLS_EXPIRY OK - localhost:{smtp}: leaf 'localhost' expires first.*"),
                 chain_labels, f"-p {smtp} "),
            Case("TLS file", f"check_tls_expiry_file!{chain_file}!30d,25%!14d,10%!-H localhost", 0,
                 re.compile(rf"TLS_EXPIRY OK - {re.escape(str(chain_file))}: leaf 'localhost' expires first.*"),
                 ("days", "days_int1", "days_leaf"), f"--file {chain_file} "),
        ]
        nagios.objects("".join(_service(case.service, case.check_command) for case in cases))
        blocks = nagios.run_until_checked({case.service for case in cases})
    runs = {}
    for case in cases:
        block = blocks[case.service]
        printed, exit_code = nagios.printed(case.marker)
        runs[case.service] = Run(block["plugin_output"], block["long_plugin_output"], block["performance_data"],
                                 int(block["current_state"]), printed, exit_code)
    yield nagios, runs, cases


# --- tests -------------------------------------------------------------------------------------------------------


def test_nagios_v_accepts_the_contrib_commands_and_sample_services(tmp_path: Path) -> None:
    nagios = Nagios(tmp_path / "n4")
    nagios.objects(_sample_services() + _service("TLS extra", "check_tls_expiry!localhost!443!30d,25%!14d,10%!"))
    output = nagios.verify()
    assert "Total Warnings: 0" in output, output
    assert re.search(r"Total Errors:\s+0\b", output), output
    assert "Checked 3 services." in output, output  # the two uncommented samples and one more
    assert "Checked 6 commands." in output, output  # the four of the contrib file and two of BASE_OBJECTS


@pytest.mark.parametrize("service", ["TLS ok", "TLS warning", "TLS expired", "TLS untrusted", "TLS smtp", "TLS file"])
def test_nagios_records_state_output_and_perfdata(nagios_results, service: str) -> None:  # type: ignore[no-untyped-def]
    _, runs, cases = nagios_results
    case = next(c for c in cases if c.service == service)
    run = runs[service]
    detail = f"status.dat: {run}\n"
    assert run.current_state == case.state == run.exit_code, detail
    assert case.output.fullmatch(run.plugin_output), detail
    # Verbatim: the status line (Nagios would turn a ';' into ':'; the plugin prints none), no long output, and the
    # perfdata unchanged.
    first_line, _, perf = run.printed.rstrip("\n").partition("|")
    assert ";" not in first_line, detail
    assert "\n" not in run.printed.rstrip("\n"), detail
    assert run.plugin_output == first_line.replace(";", ":"), detail
    assert run.long_plugin_output == "", detail
    assert run.performance_data == perf, detail
    items = run.performance_data.split(" ")
    assert tuple(item.split("=")[0] for item in items) == case.perf_labels, detail
    for item in items:
        assert re.fullmatch(r"[a-z0-9_]+=-?\d+(\.\d{1,2})?;\d+(\.\d{1,2})?;\d+(\.\d{1,2})?|time=\d+\.\d{6}s;;;0",
                            item), detail


def test_nagios_thresholds_reach_the_perfdata(nagios_results) -> None:  # type: ignore[no-untyped-def]
    _, runs, _ = nagios_results
    # 30d,25% / 14d,10% on a 201-day leaf: the day bounds are the smaller ones.
    assert re.fullmatch(r"days=(199\.9\d|200(\.0\d?)?);30;14 days_int1=\S+;30;14 days_leaf=\S+;30;14 "
                        r"days_root=\S+;30;14 time=\S+s;;;0", runs["TLS ok"].performance_data), runs["TLS ok"]
    # -w 30d -c 14d on a 21-day leaf.
    assert re.fullmatch(r"days=(19\.9\d|20(\.0\d?)?);30;14 days_int1=\S+;30;14 days_leaf=(19\.9\d|20(\.0\d?)?);30;14 "
                        r"days_root=\S+;30;14 time=\S+s;;;0", runs["TLS warning"].performance_data), \
        runs["TLS warning"]
    assert re.match(r"days=-(2|1\.9\d?);", runs["TLS expired"].performance_data), runs["TLS expired"]


def test_contrib_examples_parse_with_the_plugins_parser() -> None:
    """Each command's documented example, expanded like Nagios would, is accepted by the plugin's own parser."""
    import check_tls_expiry

    text = CONTRIB.read_text(encoding="utf-8")
    commands = dict(re.findall(r"command_name\s+(\S+)\n\s*command_line\s+(.+)", text))
    examples = re.findall(r"^#\s+check_command\s+(check_tls_expiry[^!\s]*)(.*)$", text, re.MULTILINE)
    assert set(commands) == {"check_tls_expiry", "check_tls_expiry_all", "check_tls_expiry_starttls",
                             "check_tls_expiry_file"}
    assert {name for name, _ in examples} == set(commands), "every command needs a '#   check_command' example"
    for name, bang_args in examples:
        args = dict(enumerate(bang_args.split("!")[1:], start=1))
        expanded = commands[name].replace("$USER1$", "/usr/lib/nagios/plugins").replace("$HOSTADDRESS$", "192.0.2.10")
        for number in range(9, 0, -1):
            expanded = expanded.replace(f"$ARG{number}$", args.get(number, ""))
        assert "$" not in expanded, expanded
        argv = shlex.split(expanded)[1:]
        assert check_tls_expiry.build_parser().parse_args(argv) is not None, argv


def test_contrib_starttls_protocols_are_the_plugins() -> None:
    import check_tls_expiry

    (action,) = [a for a in check_tls_expiry.build_parser()._actions if "--starttls" in a.option_strings]
    assert action.help is not None
    plugin = re.findall(r"([a-z0-9-]+) \(\d+\)", action.help)
    listed = re.search(r"# STARTTLS: the name, the protocol \(([^)]*)\)", CONTRIB.read_text(encoding="utf-8"))
    assert listed, "the STARTTLS comment should list the protocols"
    assert listed[1].replace("#", " ").split() == plugin
