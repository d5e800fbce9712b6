#!/usr/bin/env python3
"""Benchmark: the installed check_tls_expiry against two Python floors, side by side, on a local TLS server.

    python benchmarks/bench.py                 # 30 rounds
    python benchmarks/bench.py --rounds 50
    python benchmarks/bench.py --plugin before='check_tls_expiry' --plugin after='/tmp/other/bin/check_tls_expiry'

A throw-away PKI (root -> intermediate -> leaf for localhost, EC P-256, made with ``cryptography``) is served by
``openssl s_server`` on 127.0.0.1, leaf and intermediate sent. Each round runs, in turn, every plugin command and
both floors, as fresh processes (interleaved, so that drift in the machine's load hits all of them alike):

* the plugin: ``check_tls_expiry -H localhost -p PORT --cafile root.pem`` (a healthy check, Nagios output);
* the floor: the same interpreter running a few lines of plain Python that resolve ``localhost``, connect,
  complete one verified handshake (hostname checked) and print one line;
* the floor+nagiosplugin: the same handshake done the way a minimal nagiosplugin check does it, as the design
  requires that framework: ``import nagiosplugin`` at the top, a ``nagiosplugin.Check`` with one Resource (whose
  ``probe()`` does the handshake and yields the leaf's days left as one Metric), one ``ScalarContext`` (30:/14:)
  and a Summary, run with ``check()`` and formatted with ``nagiosplugin.output.Output`` over a logging handler,
  without the Runtime singleton -- as ``plugin.present.nagios.render()`` does -- into one status line with perfdata;
* for reference, ``python -c pass`` (the interpreter's own start-up, shown but not a contender).

Run it with the interpreter of a normal, non-editable install, as an operator has it (README):

    python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install .
    /tmp/bench-venv/bin/python benchmarks/bench.py

An editable install (``pip install -e``) adds a path finder that every process, both floors included, imports at
start-up; the script says so when it sees one, and any other ``.pth`` file that runs code.

Trust is the same for all, and it is the throw-away root (the real system store does not hold it):

* ``--trust cafile`` (default): passed to the plugin with ``--cafile root.pem`` and to the floors with
  ``load_verify_locations(cafile=...)``: one small file each;
* ``--trust system``: the plugin's system-store path, pointed with ``SSL_CERT_DIR`` at a hashed directory holding
  the root (the plugin then loads that directory lazily, as it does /etc/ssl/certs); the floors load the same
  directory with ``load_verify_locations(capath=...)``. A floor built with ``create_default_context()`` would also
  parse the whole system bundle (~40 ms on Debian), which the plugin avoids: that would flatter the plugin.

Per run it records wall time (spawn to reap), CPU time (user + system of the child, from ``os.wait4``) and the
child's peak RSS (``ru_maxrss``). It prints the medians, the ratios of the medians plugin/floor (for reference:
what the plugin costs over bare Python) and plugin/floor+nagiosplugin, and the machine. The issue's goal: the
healthy check within 1.2x of the floor+nagiosplugin in wall and CPU time (medians of the interleaved runs), peak
RSS < 40 MB.

See ``benchmarks/importtime.py`` for where the plugin's start-up time goes.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

FLOOR = """\
import socket, ssl, sys
host, port, kind, where = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.load_verify_locations(**{kind: where})
with socket.create_connection((host, port), timeout=10) as sock:
    with context.wrap_socket(sock, server_hostname=host) as tls:
        print(f"FLOOR OK - {host}:{port}: {tls.version()}, leaf expires {tls.getpeercert()['notAfter']}")
"""

# The second floor: FLOOR's handshake as a minimal nagiosplugin check, formatted like plugin.present.nagios.render().
FLOOR_NAGIOSPLUGIN = """\
import io, logging, socket, ssl, sys, time
import nagiosplugin
from nagiosplugin.output import Output
host, port, kind, where = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


class Handshake(nagiosplugin.Resource):
    name = "FLOOR"

    def probe(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(**{kind: where})
        with socket.create_connection((host, port), timeout=10) as sock:
            with context.wrap_socket(sock, server_hostname=host) as tls:
                self.version, self.not_after = tls.version(), tls.getpeercert()["notAfter"]
        days = (ssl.cert_time_to_seconds(self.not_after) - time.time()) / 86400
        return [nagiosplugin.Metric("days", round(days, 2), context="days")]


class Line(nagiosplugin.Summary):
    def ok(self, results):
        return f"{host}:{port}: {resource.version}, leaf expires {resource.not_after}"


resource = Handshake()
check = nagiosplugin.Check(resource, nagiosplugin.ScalarContext("days", "30:", "14:"), Line())
handler = logging.StreamHandler(io.StringIO())
handler.setFormatter(logging.Formatter("%(message)s"))
handler.setLevel(logging.WARNING)
logging.getLogger().addHandler(handler)
check()
output = Output(handler, verbose=0)
output.add(check)
sys.stdout.write(str(output).replace(" | ", "|", 1))
sys.exit(check.exitcode)
"""

GOAL, RSS_GOAL_MB = 1.2, 40.0  # plugin / floor+nagiosplugin, wall and CPU; peak RSS


# --- a throw-away PKI and a server --------------------------------------------------------------------------------

def make_pki(directory: Path) -> dict[str, Path]:
    """root -> intermediate -> leaf (localhost, 127.0.0.1), EC P-256; returns the PEM files' paths."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(timezone.utc)

    def issue(subject: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, ca: bool,
              days: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        issuer_name, signer = issuer if issuer is not None else (name, key)
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(signer, hashes.SHA256()), key

    root, root_key = issue("Bench Root CA", None, True, 3650)
    inter, inter_key = issue("Bench Intermediate CA", (root.subject, root_key), True, 1825)
    leaf, leaf_key = issue("localhost", (inter.subject, inter_key), False, 90)
    pem = serialization.Encoding.PEM
    files = {
        "root": (directory / "root.pem", root.public_bytes(pem)),
        "inter": (directory / "inter.pem", inter.public_bytes(pem)),
        "leaf": (directory / "leaf.pem", leaf.public_bytes(pem)),
        "key": (directory / "leaf.key", leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                                serialization.NoEncryption())),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return {name: path for name, (path, _) in files.items()}


@contextmanager
def tls_server(pki: dict[str, Path], directory: Path) -> Iterator[int]:
    """``openssl s_server -www`` on 127.0.0.1 (kernel-chosen port) sending leaf + intermediate; yields the port."""
    openssl = shutil.which("openssl")
    if openssl is None:
        sys.exit("bench: the openssl command is needed for s_server")
    log = directory / "s_server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [openssl, "s_server", "-accept", "127.0.0.1:0", "-cert", str(pki["leaf"]), "-key", str(pki["key"]),
             "-cert_chain", str(pki["inter"]), "-www"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            match = re.search(rb"^ACCEPT .*:(\d+)\r?$", log.read_bytes(), re.MULTILINE)
            if match:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"bench: s_server did not start: {log.read_text(errors='replace')}")
            time.sleep(0.02)
        yield int(match.group(1))
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def hashed_store(root: Path, store: Path) -> Path:
    """A c_rehash-style directory holding ``root`` as ``<subject hash>.0``."""
    digest = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(root)], capture_output=True, text=True,
                            check=True).stdout.strip()
    store.mkdir()
    (store / f"{digest}.0").write_bytes(root.read_bytes())
    return store


# --- measuring one process ----------------------------------------------------------------------------------------

@dataclass
class Sample:
    wall: float  # seconds
    cpu: float  # seconds, user + system
    rss_mb: float


@dataclass
class Contender:
    name: str
    argv: list[str]
    samples: list[Sample] = field(default_factory=list)
    first_output: str = ""

    def median(self, attribute: str) -> float:
        values: list[float] = [getattr(sample, attribute) for sample in self.samples]
        return statistics.median(values)


# Each run is started by this small launcher (python -I -S, nothing imported) rather than by the benchmark itself:
# Linux carries the RSS a process had when it was forked into its ru_maxrss across exec, so a child forked
# straight from this script (which imports cryptography) would report this script's RSS as its own peak. The
# launcher spawns the command, reaps it with wait4 and reports wall time (spawn to reap), user+system CPU, peak
# RSS (KiB) and the exit code on its stderr; the command's stdout and stderr go to the output file.
LAUNCHER = """\
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, 1, 2)])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status), file=sys.stderr)
"""


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[Sample, int, str]:
    """Run ``argv`` once through the launcher; return its wall/CPU/peak RSS, exit code and output."""
    with tempfile.TemporaryFile() as out:
        launched = subprocess.run([sys.executable, "-I", "-S", "-c", LAUNCHER, *argv], stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.PIPE, check=False, env=env)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if launched.returncode != 0:
        sys.exit(f"bench: cannot run {argv[0]}: {launched.stderr.decode(errors='replace').strip()[-300:]}")
    wall, cpu, rss_kib, code = launched.stderr.split()
    return Sample(float(wall), float(cpu), int(rss_kib) / 1024), int(code), text


def console_script() -> str:
    """The installed ``check_tls_expiry``: next to this interpreter, else on PATH."""
    beside = Path(sys.executable).with_name("check_tls_expiry")
    if beside.exists():
        return str(beside)
    found = shutil.which("check_tls_expiry")
    if found is None:
        sys.exit("bench: check_tls_expiry is not installed (pip install . in a venv, then run this with its python)")
    return found


def interpreter_of(script: str) -> str:
    """The Python a console script runs with (its shebang), so that the floors use the very same one."""
    try:
        first = Path(script).read_bytes().split(b"\n", 1)[0].decode()
    except OSError:
        return sys.executable
    if first.startswith("#!") and "python" in first and " " not in first[2:].strip():
        return first[2:].strip()
    return sys.executable


# --- the report ---------------------------------------------------------------------------------------------------

def machine(python: str) -> list[str]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = subprocess.run(
        [python, "-c", "import sys, ssl; print(sys.version.split()[0]); print(ssl.OPENSSL_VERSION)"],
        capture_output=True, text=True, check=True).stdout.split("\n")
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=False).stdout.strip()
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"machine: {model}, {usable} usable cores (of {os.cpu_count()}), {platform.system()} {platform.release()}",
        f"python:  {python} {versions[0]}, ssl module on {versions[1]}; server: {openssl} s_server",
        f"load average before the run: {load}",
    ]


def startup_notes(python: str) -> list[str]:
    """Warn about .pth files that run code at every interpreter start (an editable install adds one)."""
    code = "import site, sys; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()]))"
    paths = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    notes = []
    for directory in paths:
        for pth in sorted(Path(directory).glob("*.pth")) if Path(directory).is_dir() else []:
            if pth.name == "distutils-precedence.pth":  # setuptools' own, in every venv; well under a millisecond
                continue
            if any(line.startswith(("import ", "import\t")) for line in pth.read_text(errors="replace").splitlines()):
                kind = "an editable install's finder" if pth.name.startswith("__editable__") else "code"
                notes.append(f"note: {pth} runs {kind} at every start-up (every contender pays it)")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        notes.append("note: PYTHONDONTWRITEBYTECODE is set: modules without a .pyc already on disk (an editable "
                     "checkout, say) are compiled again on every run; pip install . writes them")
    return notes


def ratios(contender: Contender, floor: Contender) -> tuple[float, float]:
    """Wall and CPU ratios of the medians, ``contender`` over ``floor``."""
    return contender.median("wall") / floor.median("wall"), contender.median("cpu") / floor.median("cpu")


def report(contenders: list[Contender], floor: Contender, framework: Contender, bare: Contender, rounds: int,
           warmup: int, lines: list[str]) -> str:
    everyone = [*contenders, floor, framework, bare]
    out = [*lines, f"rounds: {rounds} measured (+{warmup} warm-up), alternating "
           + ", ".join(contender.name for contender in everyone), ""]
    width = max(14, *(len(contender.name) + 2 for contender in everyone))
    header = f"{'':{width}}{'wall ms':>10}{'cpu ms':>10}{'peak RSS MB':>13}{'wall min..p90':>18}"
    out.append(header)
    for contender in everyone:
        walls = sorted(sample.wall * 1000 for sample in contender.samples)
        p90 = walls[min(len(walls) - 1, round(0.9 * (len(walls) - 1)))]
        wall, cpu = contender.median("wall") * 1000, contender.median("cpu") * 1000
        out.append(f"{contender.name:{width}}{wall:10.1f}{cpu:10.1f}{contender.median('rss_mb'):13.1f}"
                   f"{walls[0]:10.1f}..{p90:<6.1f}")
    out.append("")
    label = max(len(f"{contender.name}/{framework.name}") for contender in [*contenders, framework]) + 1
    wall, cpu = ratios(framework, floor)
    out.append(f"{framework.name + '/' + floor.name + ':':{label}} wall {wall:.2f}x, cpu {cpu:.2f}x "
               "(what nagiosplugin costs a minimal check)")
    for contender in contenders:
        wall, cpu = ratios(contender, floor)
        out.append(f"{contender.name + '/' + floor.name + ':':{label}} wall {wall:.2f}x, cpu {cpu:.2f}x "
                   "(over plain Python, for reference)")
        wall, cpu = ratios(contender, framework)
        rss = max(sample.rss_mb for sample in contender.samples)
        verdict = "meets the goal" if max(wall, cpu) <= GOAL else "MISSES the goal"
        out.append(f"{contender.name + '/' + framework.name + ':':{label}} wall {wall:.2f}x, cpu {cpu:.2f}x "
                   f"({verdict}: <= {GOAL}x in both); peak RSS max {rss:.1f} MB "
                   f"({'under' if rss < RSS_GOAL_MB else 'OVER'} {RSS_GOAL_MB:g} MB)")
    out.append("")
    for contender in [*contenders, floor, framework]:
        out.append(f"{contender.name} printed: {contender.first_output.splitlines()[0]}")
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="rounds run first and not counted (default 3)")
    parser.add_argument("--plugin", action="append", metavar="[NAME=]COMMAND",
                        help="plugin command to time (repeatable; default: the installed check_tls_expiry); "
                             "'-H localhost -p PORT --cafile ROOT' is appended")
    parser.add_argument("--python", help="interpreter for the floors (default: the plugin script's own)")
    parser.add_argument("--trust", choices=("cafile", "system"), default="cafile",
                        help="how all load the throw-away root (default cafile; see the module's docstring)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    commands = options.plugin or [f"plugin={shlex.quote(console_script())}"]
    contenders = []
    for index, text in enumerate(commands):
        name, _, command = text.partition("=") if re.match(r"^[\w.+-]+=", text) else (f"plugin{index + 1}", "", text)
        words = shlex.split(command)
        words[0] = shutil.which(words[0]) or words[0]  # posix_spawn does not search PATH
        contenders.append(Contender(name, words))
    python = shutil.which(options.python or interpreter_of(contenders[0].argv[0])) or sys.executable
    lines = machine(python) + startup_notes(python)
    bare = Contender("python -c pass", [python, "-c", "pass"])
    with tempfile.TemporaryDirectory(prefix="bench-") as temp:
        directory = Path(temp)
        pki = make_pki(directory)
        floor_script = directory / "floor.py"
        floor_script.write_text(FLOOR)
        framework_script = directory / "floor_nagiosplugin.py"
        framework_script.write_text(FLOOR_NAGIOSPLUGIN)
        env = dict(os.environ)
        if options.trust == "system":
            store = hashed_store(pki["root"], directory / "store")
            env["SSL_CERT_DIR"] = str(store)
            env.pop("SSL_CERT_FILE", None)
            plugin_trust, floor_trust = [], ["capath", str(store)]
            lines.append(f"trust: the throw-away root in a hashed directory, SSL_CERT_DIR={store} for the plugin's "
                         "system-store path, load_verify_locations(capath=...) for the floors")
        else:
            plugin_trust, floor_trust = ["--cafile", str(pki["root"])], ["cafile", str(pki["root"])]
            lines.append(f"trust: the throw-away root, given to all (--cafile {pki['root'].name} / "
                         "load_verify_locations(cafile=...))")
        with tls_server(pki, directory) as port:
            lines.append(f"server: openssl s_server on 127.0.0.1:{port}, leaf + intermediate, EC P-256")
            for contender in contenders:
                contender.argv += ["-H", "localhost", "-p", str(port), *plugin_trust]
            floor = Contender("floor", [python, str(floor_script), "localhost", str(port), *floor_trust])
            framework = Contender("floor+nagiosplugin",
                                  [python, str(framework_script), "localhost", str(port), *floor_trust])
            for round_number in range(options.warmup + options.rounds):
                for contender in [*contenders, floor, framework, bare]:
                    sample, code, text = measure(contender.argv, env)
                    healthy = code == 0 and (contender is bare or text.startswith(("TLS_EXPIRY OK - ", "FLOOR OK - ")))
                    if not healthy:
                        print(f"bench: {' '.join(contender.argv)} exited {code}:\n{text}", file=sys.stderr)
                        return 1
                    if round_number >= options.warmup:
                        contender.samples.append(sample)
                    contender.first_output = contender.first_output or text
    print(report(contenders, floor, framework, bare, options.rounds, options.warmup, lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
