"""End to end in a real Icinga 2 cluster: the ``tls_expiry`` CheckCommand reaches a satellite by config sync, the
satellite runs the plugin, and the master records what it printed.

Two ``icinga2 daemon`` processes run on loopback, each confined to its own temp dir (``-DConfiguration.*`` for
data, cache, log, spool, run and zones.d) and as the current user (ICINGA2_USER/ICINGA2_GROUP, root in CI):

* a **master** (zone ``master``) and a **satellite** (zone ``dmz``, parent ``master``), each with an ApiListener on
  its own port of 127.0.0.1; the master connects to the satellite (its Endpoint has ``host``, as in the README);
* certificates made with the real ``icinga2 pki`` tooling: ``new-ca`` on the master, the master's certificate and
  the satellite's (``new-cert`` on the satellite, ``sign-csr`` on the master) signed by it, ``ca.crt`` copied over;
* contrib/icinga2-commands.conf, verbatim, only in the master's ``zones.d/global-templates/``; the hosts and
  services of zone ``dmz`` in the master's ``zones.d/dmz/``; the satellite has ``accept_config = true`` and no
  CheckCommand of its own;
* the satellite checks loopback ``openssl s_server`` endpoints: OK (leaf valid 200 days), WARNING (20 days with
  ``tls_expiry_warning = "30d"``), CRITICAL (expired; connection refused). The master checks one control service
  of its own zone, so its plugin wrapper demonstrably works.

Each daemon's PluginDir holds its own recording wrapper (tests/e2e.py) writing to its own directory, so where a
run was recorded says which daemon executed it. Only the master has a PerfdataWriter. Asserted:

* the satellite's compiled config had no ``tls_expiry`` before the sync; afterwards the command file sits in its
  ``api/zones/global-templates`` byte for byte, and the object the satellite compiled was declared there and runs
  the satellite's PluginDir;
* the satellite ran every ``dmz`` check and the master none of them (only its control);
* the master recorded, for every ``dmz`` service, the state, the output and the perfdata the plugin printed on the
  satellite, with the satellite as check source.

How long the sync and the first results took is printed in pytest's terminal summary (and kept in ``TIMINGS``).
Real-servers recipe: ../shared/reference/real-servers.md section 10. Skipped when ``icinga2`` is missing, except
under ``CI=true`` where that fails.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from ci import require_binary
from e2e import write_recording_wrapper
from pki import CA
from servers import openssl_server, refused_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib" / "icinga2-commands.conf"
#: Seconds from the master's start until every service has a result on the master. The satellite reloads after the
#: sync and the master reconnects on its 10 s reconnect timer, so about 12 s is normal.
DEADLINE = 30.0
#: Seconds for a daemon to listen, or to stop.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0

MASTER = "master1.example.test"
SATELLITE = "sat1.dmz.example.test"
SYNCED = Path("api") / "zones" / "global-templates" / "_etc" / CONTRIB.name  # under the satellite's DataDir

#: Measured by the fixture, in seconds from the master's start: "sync" (the command file in the satellite's
#: production zones dir), "first_results" (every dmz service recorded by the master), "cluster" (whole fixture).
TIMINGS: dict[str, float] = {}

# One line per check result the master processes: the service, its state, output and perfdata as recorded, and
# Icinga's own record of which endpoint executed the check.
FORMAT = ('"SERVICE::$service.name$\\tSTATE::$service.state$\\tEXIT::$service.state_id$'
          '\\tSOURCE::$service.check_source$\\tOUTPUT::$service.output$\\tPERFDATA::$service.perfdata$"')

COMMON = """\
const PluginDir = @PLUGINDIR@
const NodeName = @NODE@
const ZoneName = @ZONE@
include <itl>
include <plugins>
include "zones.conf"
object FileLogger "main-log" { severity = "information"; path = @LOG@ }
object CheckerComponent "checker" { }
"""

MASTER_CONF = COMMON + """\
object ApiListener "api" { bind_host = "127.0.0.1"; bind_port = @PORT@ }
object PerfdataWriter "perfdata" {
  service_perfdata_path = @PERF@ + "/service-perfdata"
  service_temp_path = @PERF@ + "/service-perfdata.tmp"
  host_perfdata_path = @PERF@ + "/host-perfdata"
  host_temp_path = @PERF@ + "/host-perfdata.tmp"
  service_format_template = @FORMAT@
  rotation_interval = 1s
}
"""

# No CheckCommand, no hosts, no services, no PerfdataWriter: everything it checks comes from the master. Checks of
# its own zone need accept_config only; accept_commands is for command_endpoint (agents), not used here.
SATELLITE_CONF = COMMON + """\
object ApiListener "api" { bind_host = "127.0.0.1"; bind_port = @PORT@; accept_config = true }
"""

# Shaped like the README's; only the master has the satellite's host and port, so only the master connects.
ZONES = """\
object Endpoint @MASTER@ { }
object Endpoint @SATELLITE@ { @CONNECT@ }
object Zone "master" { endpoints = [ @MASTER@ ] }
object Zone "dmz" { endpoints = [ @SATELLITE@ ]; parent = "master" }
object Zone "global-templates" { global = true }
"""

DMZ_HOST = """\
object Host "web1" {
  address = "127.0.0.1"
  check_command = "dummy"
  enable_active_checks = false
}
"""

MASTER_HOST = """\
object Host "master-self" {
  address = "127.0.0.1"
  check_command = "dummy"
  enable_active_checks = false
}
"""


@dataclass(frozen=True)
class Case:
    service: str
    port: int
    vars: dict[str, object]
    state: str  # what Icinga records: OK, WARNING, CRITICAL
    output: re.Pattern[str]
    perf_labels: tuple[str, ...]

    @property
    def marker(self) -> str:
        """A regex matching the arguments of this service's runs (each service has its own port)."""
        return rf"--port {self.port}\b"


@dataclass(frozen=True)
class Recorded:
    state: str
    exit_code: int
    source: str
    output: str
    perfdata: str


def _q(value: object) -> str:
    return json.dumps(str(value)) if isinstance(value, (str, Path)) else json.dumps(value)


def _service(case: Case, host: str) -> str:
    lines = [f'object Service "{case.service}" {{', f'  host_name = "{host}"', '  check_command = "tls_expiry"',
             "  check_interval = 2s", "  retry_interval = 2s", '  vars.tls_expiry_host = "localhost"']
    lines += [f"  vars.{key} = {_q(value)}" for key, value in case.vars.items()]
    return "\n".join([*lines, "}", ""])


def _free_port() -> int:
    """A port on 127.0.0.1 the kernel just handed out and released, for an ApiListener to bind (a tiny race: the
    kernel hands ephemeral ports out round-robin)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _group_members(pgid: int) -> list[int]:
    """PIDs whose process group is ``pgid`` (the daemon's umbrella, its workers, running checks)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[2]) == pgid:
            members.append(int(entry))
    return members


def _describe(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{pid} (gone)"
    return f"{pid} state {stat.rpartition(')')[2].split()[0]}: {cmdline[:200]}"


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path} missing)"
    return f"--- tail of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


class Node:
    """One Icinga 2 instance confined to ``base`` and run as the current user, with its own recording wrapper."""

    def __init__(self, base: Path, name: str, zone: str) -> None:
        self.binary = require_binary("icinga2")
        self.base, self.name, self.zone, self.port = base, name, zone, _free_port()
        for sub in ("etc", "data/certs", "log", "cache", "spool", "run", "plugins", "records", "perf"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        self.etc, self.data, self.records = base / "etc", base / "data", base / "records"
        self.certs = self.data / "certs"
        self.conf = self.etc / "icinga2.conf"
        self.zones_d = self.etc / "zones.d"
        self.log = base / "log" / "icinga2.log"
        self.out = base / "daemon.out"
        write_recording_wrapper(base / "plugins" / "check_tls_expiry", self.records)
        # As root the daemon (and `icinga2 pki`) would drop privileges to nagios; keep whoever we are.
        self.env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "ICINGA2_USER": pwd.getpwuid(os.getuid()).pw_name,
                    "ICINGA2_GROUP": grp.getgrgid(os.getgid()).gr_name}
        # On every icinga2 command, not only the daemon: `pki new-ca` writes DataDir/ca, `object list` reads
        # CacheDir/icinga2.debug, and a crash report would go to LogDir/crash. The PID file follows InitRunDir,
        # the state file DataDir. The satellite's validation of a synced config inherits these arguments.
        self.defines = [f"-DConfiguration.{name}={path}" for name, path in (
            ("DataDir", self.data), ("CacheDir", base / "cache"), ("LogDir", base / "log"),
            ("SpoolDir", base / "spool"), ("InitRunDir", base / "run"), ("ZonesDir", self.zones_d))]
        self.proc: subprocess.Popen[bytes] | None = None
        self.leftovers: list[str] = []  # what still ran STOP_TIMEOUT after SIGTERM (then killed)

    def icinga2(self, *args: str) -> str:
        """Run ``icinga2 ARGS`` confined to this node; its output, or a test failure."""
        result = subprocess.run([self.binary, *args, *self.defines], env=self.env, capture_output=True, text=True,
                                timeout=60, check=False)
        if result.returncode != 0:
            pytest.fail(f"{self.name}: icinga2 {' '.join(args)} exited {result.returncode}\n"
                        f"{result.stdout}{result.stderr}", pytrace=False)
        return result.stdout + result.stderr

    def write(self, template: str, **values: object) -> None:
        text = template.replace("@FORMAT@", FORMAT)
        for key, value in {"PLUGINDIR": self.base / "plugins", "NODE": self.name, "ZONE": self.zone,
                           "LOG": self.log, "PORT": self.port, "PERF": self.base / "perf", **values}.items():
            text = text.replace(f"@{key}@", _q(value))
        self.conf.write_text(text, encoding="utf-8")

    def check_commands(self) -> dict[str, str]:
        """{name: its `icinga2 object list` entry} for every CheckCommand the daemon last compiled."""
        listing = self.icinga2("object", "list", "--type", "CheckCommand")
        entries = (re.match(r"Object '([^']+)' of type 'CheckCommand':", entry) for entry in
                   re.split(r"^(?=Object ')", listing, flags=re.MULTILINE))
        return {match[1]: match.string for match in entries if match}

    def start(self) -> None:
        # Its own session: the umbrella process, its workers and their checks share one process group to stop.
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen([self.binary, "daemon", "-c", str(self.conf), *self.defines], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait_listening(self) -> None:
        """Until the log says the ApiListener listens (probing the port would log a failed TLS handshake)."""
        deadline = time.monotonic() + START_TIMEOUT
        needle = f"Started new listener on '[127.0.0.1]:{self.port}'"
        while needle not in self.log_text():
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{self.name} is not listening on 127.0.0.1:{self.port}\n{self.failure()}", pytrace=False)
            time.sleep(0.05)

    def terminate(self) -> None:
        """SIGTERM the umbrella process only: it stops its worker. (Signalling the whole group as well makes the
        worker shut down twice, which now and then hangs it.)"""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """:meth:`terminate`, then wait for the umbrella and the rest of its process group (worker, running checks);
        SIGKILL the group after STOP_TIMEOUT. The group is signalled only while its leader (our child) is unreaped or
        /proc still lists members, so its id cannot have been reused."""
        if self.proc is None:
            return
        self.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        while (self.proc.poll() is None or _group_members(self.proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.proc.poll() is None or _group_members(self.proc.pid):
            self.leftovers = [_describe(pid) for pid in [self.proc.pid, *_group_members(self.proc.pid)]]
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=5)
            deadline = time.monotonic() + 5
            while _group_members(self.proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def failure(self) -> str:
        text = f"{_tail(self.out, 10)}\n{_tail(self.log, 25)}"
        stage_log = self.data / "api" / "zones-stage-startup.log"  # the satellite's validation of a synced config
        return f"{text}\n{_tail(stage_log, 15)}" if stage_log.exists() else text

    def perfdata_rows(self) -> list[dict[str, str]]:
        """Every line the PerfdataWriter wrote so far. Each rotated file is moved to perf-kept/ as soon as it is seen:
        Icinga names them by the second, so a rotation in the same second (the one at shutdown) would replace it."""
        kept = self.base / "perf-kept"
        kept.mkdir(exist_ok=True)
        # The rotated files only (a numeric suffix); "tmp" may be in the temp dir's own path.
        for path in sorted((self.base / "perf").glob("service-perfdata.[0-9]*")):
            path.rename(kept / f"{len(list(kept.iterdir())):05d}-{path.name}")
        rows = []
        for path in sorted(kept.iterdir()):
            for line in path.read_text(encoding="utf-8").splitlines():
                rows.append(dict(field.split("::", 1) for field in line.split("\t") if "::" in field))
        return rows

    def printed(self, marker: str) -> list[tuple[str, int]]:
        """Every (stdout, exit code) of the plugin runs this node's wrapper recorded whose arguments match ``marker``."""
        found = []
        for args in self.records.glob("run.*.args"):
            if re.search(marker, args.read_text(encoding="utf-8")):
                rc_path = Path(f"{args.with_suffix('')}.rc")
                if rc_path.exists():
                    found.append((Path(f"{args.with_suffix('')}.out").read_text(encoding="utf-8"),
                                  int(rc_path.read_text())))
        return found

    def runs(self) -> list[str]:
        """The arguments of every run this node's wrapper recorded."""
        return [args.read_text(encoding="utf-8") for args in self.records.glob("run.*.args")]


def make_pki(master: Node, satellite: Node) -> None:
    """The CA on the master, the master's certificate, the satellite's from its CSR, ca.crt on both: as an operator
    would, with `icinga2 pki` (real-servers.md section 10 redirects DataDir, so the CA is DataDir/ca)."""
    mkey, mcsr, mcrt = (master.certs / f"{MASTER}.{ext}" for ext in ("key", "csr", "crt"))
    skey, scsr, scrt = (satellite.certs / f"{SATELLITE}.{ext}" for ext in ("key", "csr", "crt"))
    # Each makes a 4096-bit RSA key (a few seconds, varying), and the three do not depend on each other: at once.
    # The satellite makes its own key and CSR; only the CSR travels to the master, only the certificate comes back.
    with ThreadPoolExecutor(3) as pool:
        keys = [pool.submit(master.icinga2, "pki", "new-ca"),
                pool.submit(master.icinga2, "pki", "new-cert", "--cn", MASTER, "--key", str(mkey), "--csr", str(mcsr)),
                pool.submit(satellite.icinga2, "pki", "new-cert", "--cn", SATELLITE, "--key", str(skey),
                            "--csr", str(scsr))]
        for future in keys:
            future.result()  # re-raises a failure
    master.icinga2("pki", "sign-csr", "--csr", str(mcsr), "--cert", str(mcrt))
    inbox = master.base / "csr-inbox"
    inbox.mkdir()
    shutil.copyfile(scsr, inbox / scsr.name)
    master.icinga2("pki", "sign-csr", "--csr", str(inbox / scsr.name), "--cert", str(inbox / scrt.name))
    shutil.copyfile(inbox / scrt.name, scrt)
    for node in (master, satellite):
        shutil.copyfile(master.data / "ca" / "ca.crt", node.certs / "ca.crt")
    for node, name, crt in ((master, MASTER, mcrt), (satellite, SATELLITE, scrt)):
        node.icinga2("pki", "verify", "--cn", name, "--cert", str(crt), "--cacert", str(node.certs / "ca.crt"))


@dataclass(frozen=True)
class Cluster:
    master: Node
    satellite: Node
    cases: dict[str, Case]  # the dmz services, checked by the satellite
    control: Case  # the master's own service
    recorded: dict[str, list[Recorded]]  # on the master, by service
    commands_before_sync: dict[str, str]  # the satellite's compiled CheckCommands before it ever ran
    commands_after_sync: dict[str, str]


class _TimingSummary:
    """Adds the measured times to pytest's terminal summary (shown without -s)."""

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if TIMINGS:
            terminalreporter.write_line(
                "icinga2 cluster: config sync {sync:.1f} s, first results on the master {first_results:.1f} s "
                "after its start; icinga2 pki {pki:.1f} s, stopping both daemons {stop:.1f} s, cluster fixture "
                "{cluster:.1f} s".format(**TIMINGS))


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, root_ca: CA, intermediate_ca: CA, root_pem: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = time.monotonic()
    base = tmp_path_factory.mktemp("icinga2-cluster")
    master = Node(base / "master", MASTER, "master")  # skips (or fails under CI) before anything is started
    satellite = Node(base / "satellite", SATELLITE, "dmz")
    make_pki(master, satellite)
    pki_done = time.monotonic()
    names = ("localhost", "127.0.0.1")
    chain = [intermediate_ca.issued]
    with ExitStack() as stack:
        def server(days: int) -> int:
            return stack.enter_context(openssl_server(base, intermediate_ca.leaf(
                names, not_after=timedelta(days=days)), chain))

        perf = ("days", "days_int1", "days_leaf", "days_root", "time")
        ok, warning, expired, refused, control_port = server(200), server(20), server(-2), refused_port(), server(200)
        cases = [
            Case("tls_ok", ok, {}, "OK", re.compile(
                rf"TLS_EXPIRY OK - localhost:{ok}: leaf 'localhost' expires first, in (199\.9|200\.0) days .*"), perf),
            Case("tls_warning", warning, {"tls_expiry_warning": "30d"}, "WARNING", re.compile(
                rf"TLS_EXPIRY WARNING - localhost:{warning}: leaf 'localhost' expires in (19\.9|20\.0) days .*"), perf),
            Case("tls_expired", expired, {}, "CRITICAL", re.compile(
                rf"TLS_EXPIRY CRITICAL - localhost:{expired}: leaf 'localhost' expired (2\.0|1\.9\d?) days ago .*"),
                perf),
            Case("tls_refused", refused, {}, "CRITICAL", re.compile(
                rf"TLS_EXPIRY CRITICAL - localhost:{refused}: cannot connect: 127\.0\.0\.1:{refused} refused the "
                r"connection"), ()),
        ]
        control = Case("tls_master_control", control_port, {}, "OK", re.compile(
            rf"TLS_EXPIRY OK - localhost:{control_port}: .*"), perf)
        for case in (*cases, control):
            case.vars.update(tls_expiry_port=case.port, tls_expiry_cafile=str(root_pem))

        for node in (master, satellite):
            connect = (f"host = \"127.0.0.1\"; port = \"{satellite.port}\"" if node is master else "")
            zones = ZONES.replace("@MASTER@", _q(MASTER)).replace("@SATELLITE@", _q(SATELLITE))
            (node.etc / "zones.conf").write_text(zones.replace("@CONNECT@", connect), encoding="utf-8")
        master.write(MASTER_CONF)
        satellite.write(SATELLITE_CONF)
        # The master's zones.d: the command for every zone, the dmz's hosts and services, one master-zone control.
        for zone, name, text in (
                ("dmz", "tls.conf", DMZ_HOST + "".join(_service(case, "web1") for case in cases)),
                ("master", "control.conf", MASTER_HOST + _service(control, "master-self"))):
            (master.zones_d / zone).mkdir(parents=True)
            (master.zones_d / zone / name).write_text(text, encoding="utf-8")
        (master.zones_d / "global-templates").mkdir()
        shutil.copyfile(CONTRIB, master.zones_d / "global-templates" / CONTRIB.name)

        master.icinga2("daemon", "-C", "-c", str(master.conf))
        satellite.icinga2("daemon", "-C", "-c", str(satellite.conf))
        commands_before = satellite.check_commands()

        services = {case.service for case in cases}
        first_seen: dict[str, float] = {}
        sync_at = None
        try:
            satellite.start()
            satellite.wait_listening()
            master.start()  # connects to the listening satellite at once
            t0 = time.monotonic()
            while time.monotonic() < t0 + DEADLINE:
                time.sleep(0.2)
                if sync_at is None and (satellite.data / SYNCED).exists():
                    sync_at = time.monotonic() - t0
                for row in master.perfdata_rows():
                    first_seen.setdefault(row.get("SERVICE", ""), time.monotonic() - t0)
                if services | {control.service} <= set(first_seen):
                    break
                for node in (master, satellite):
                    if node.proc is not None and node.proc.poll() is not None:
                        pytest.fail(f"{node.name} exited with {node.proc.returncode}\n{node.failure()}",
                                    pytrace=False)
            else:
                missing = sorted(services | {control.service} - set(first_seen))
                pytest.fail(f"the master recorded no result for {missing} within {DEADLINE} s of its start "
                            f"(sync after {sync_at} s)\n{master.failure()}\n{satellite.failure()}", pytrace=False)
            rows = master.perfdata_rows()  # what the master wrote while both ran; the shutdown adds nothing needed
        finally:
            stopping = time.monotonic()
            master.terminate()  # both at once: each takes a second or two to shut down
            satellite.terminate()
            master.stop()
            satellite.stop()
            stopped = time.monotonic()
    leftovers = [_describe(pid) for node in (master, satellite) if node.proc for pid in _group_members(node.proc.pid)]
    assert not leftovers, f"processes left after stopping both daemons: {leftovers}"
    commands_after = satellite.check_commands()  # what the satellite's last (post-sync) worker compiled

    recorded: dict[str, list[Recorded]] = {case.service: [] for case in (*cases, control)}
    for row in rows:
        if row["SERVICE"] in recorded:
            recorded[row["SERVICE"]].append(Recorded(row["STATE"], int(row["EXIT"]), row["SOURCE"], row["OUTPUT"],
                                                     row["PERFDATA"]))
    TIMINGS.update(sync=float("nan") if sync_at is None else sync_at,
                   first_results=max(first_seen[service] for service in services),
                   pki=pki_done - started, stop=stopped - stopping, cluster=time.monotonic() - started)
    print(f"\nicinga2 cluster timings (s): {TIMINGS}")
    if not request.config.pluginmanager.has_plugin("icinga2-cluster-timings"):
        request.config.pluginmanager.register(_TimingSummary(), "icinga2-cluster-timings")
    yield Cluster(master, satellite, {case.service: case for case in cases}, control, recorded, commands_before,
                  commands_after)
    shutil.rmtree(base, ignore_errors=True)


def test_satellite_has_no_check_command_of_its_own(cluster: Cluster) -> None:
    before = cluster.commands_before_sync
    # The listing works (the ITL's commands are there) and has no tls_expiry: nothing local could provide it.
    assert "dummy" in before and "tls_expiry" not in before, sorted(before)
    local = [path for path in cluster.satellite.etc.rglob("*") if path.is_file()
             and "tls_expiry" in path.read_text(encoding="utf-8")]
    assert not local, local


def test_config_sync_delivered_the_command_verbatim(cluster: Cluster) -> None:
    synced = cluster.satellite.data / SYNCED
    assert synced.read_bytes() == CONTRIB.read_bytes()
    # The master sent both zones, the satellite validated the stage and took it into production.
    log = cluster.satellite.log_text()
    for zone in ("global-templates", "dmz"):
        assert f"Received configuration for zone '{zone}' from endpoint '{MASTER}'" in log, log
    assert re.search(r"Config validation for stage '.*/zones-stage/' was OK, replacing into", log), log
    assert (cluster.satellite.data / "api" / "zones" / "dmz" / "_etc" / "tls.conf").exists()
    print(f"config sync: {TIMINGS['sync']:.1f} s after the master started")


def test_satellite_compiled_the_synced_command(cluster: Cluster) -> None:
    entry = cluster.commands_after_sync.get("tls_expiry", "")
    assert f"% declared in '{cluster.satellite.data / SYNCED}'" in entry, entry
    # PluginDir is the satellite's own constant: its wrapper, not the master's.
    wrapper = cluster.satellite.base / "plugins" / "check_tls_expiry"
    assert re.search(rf"\* command = \[ {re.escape(json.dumps(str(wrapper)))} \]", entry), entry


def test_satellite_executed_every_dmz_check(cluster: Cluster) -> None:
    for case in cluster.cases.values():
        assert cluster.satellite.printed(case.marker), f"the satellite never ran {case.service}"
        # The synced command mapped the service's variables on the satellite: --warning only where it is set.
        for args in (args for args in cluster.satellite.runs() if re.search(case.marker, args)):
            assert bool(re.search(r"--warning 30d\s", args)) == ("tls_expiry_warning" in case.vars), (case.service, args)
            assert f"--cafile {case.vars['tls_expiry_cafile']} " in args, (case.service, args)
    assert not cluster.satellite.printed(cluster.control.marker), "the satellite ran the master's control service"


def test_master_ran_only_its_own_zone(cluster: Cluster) -> None:
    runs = cluster.master.runs()
    # The master's wrapper works (its control ran), so no recorded dmz run means the master did not run one.
    assert cluster.master.printed(cluster.control.marker), runs
    for case in cluster.cases.values():
        assert not [args for args in runs if re.search(case.marker, args)], f"the master ran {case.service}"
    assert {rec.source for rec in cluster.recorded[cluster.control.service]} == {MASTER}


@pytest.mark.parametrize("service", ["tls_ok", "tls_warning", "tls_expired", "tls_refused"])
def test_master_records_what_the_satellite_printed(cluster: Cluster, service: str) -> None:
    case = cluster.cases[service]
    recorded = cluster.recorded[service]
    assert recorded, f"the master recorded no result for {service}"
    printed = cluster.satellite.printed(case.marker)
    # Icinga keeps the text before the first "|" as the output (with the space before it), the rest as perfdata.
    printed_split = [(out.rstrip("\n").partition("|")[0], out.partition("|")[2].strip(), code) for out, code in printed]
    for rec in recorded:
        detail = f"{service}: the master recorded {rec}\nthe satellite's plugin printed: {printed[-1:]}"
        assert rec.source == SATELLITE, detail
        assert rec.state == case.state, detail
        assert rec.exit_code == {"OK": 0, "WARNING": 1, "CRITICAL": 2}[case.state], detail
        assert case.output.fullmatch(rec.output.rstrip(" ")), detail
        assert (rec.output, rec.perfdata, rec.exit_code) in printed_split, detail
        labels = tuple(item.split("=")[0] for item in rec.perfdata.split()) if rec.perfdata else ()
        assert labels == case.perf_labels, detail
        if rec.perfdata:  # the leaf's days left; for tls_warning its own warning threshold, 30 days
            days = {"tls_ok": r"(199\.9\d*|200)", "tls_warning": r"(19\.9\d*|20);30", "tls_expired": r"-(2|1\.9\d*)"}
            assert re.match(rf"days={days[service]};", rec.perfdata), detail


def test_both_daemons_stop_without_sigkill(cluster: Cluster) -> None:
    # Within STOP_TIMEOUT of SIGTERM, nothing of either daemon's process group is left (no SIGKILL needed).
    # Its exit status is not asserted: 2.13's umbrella process sometimes reports the SIGTERM itself (-15).
    for node in (cluster.master, cluster.satellite):
        assert node.proc is not None and node.proc.returncode is not None
        assert not node.leftovers, f"{node.name} needed SIGKILL: {node.leftovers}"
