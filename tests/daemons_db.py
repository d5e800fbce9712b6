"""Real server daemons on 127.0.0.1 for STARTTLS integration tests (a pytest plugin).

Register with ``pytest_plugins = ["daemons_db"]`` (in the top-level
``tests/conftest.py`` or in a test module).  Session-scoped fixtures:

* ``daemon_chain`` -> :class:`DaemonChain`: ``chain.pem`` (leaf + intermediate,
  leaf issued by the session ``intermediate_ca`` for localhost/127.0.0.1,
  valid 60 days), ``leaf.key`` and ``root.pem``.
* ``postgres_server`` -> :class:`Daemon`: PostgreSQL (initdb + postgres, ssl=on).
* ``mariadb_server`` -> :class:`Daemon`: MariaDB with ``--ssl-cert``/``--ssl-key``,
  ``--skip-grant-tables`` and ``--skip-innodb`` (ready in ~0.1 s).
* ``slapd_server`` -> :class:`Daemon`: OpenLDAP slapd, StartTLS on ldap://.
* ``dovecot_server`` -> :class:`DovecotDaemon`: one dovecot serving IMAP
  (STARTTLS), POP3 (STLS), LMTP (STARTTLS) and ManageSieve (STARTTLS).
* ``dovecot_no_starttls`` -> :class:`DovecotDaemon`: a second dovecot with
  ``ssl = no`` on all four protocols, i.e. no STARTTLS offered anywhere.

Each daemon is started once per session, on free ports, in a private
directory, and stopped at session end by its own PID (then its whole
process group, which only it lives in, is waited for or killed).  A missing
binary skips the test, or fails it when ``CI=true`` (see
:func:`require_binary`).

Privileges: run as root, each daemon runs as its own service user
(postgres, mysql, openldap; dovecot as nobody) because initdb/postgres refuse
root.  Those users must be able to traverse to their files, but pytest makes
``/tmp/pytest-of-<user>`` mode 0700 and re-tightens it at the start of every
session (so a concurrent pytest run could revoke access).  So, when root and
the ``tmp_path_factory`` directory is not world-traversable, the daemons live
in a fresh ``$TMPDIR/pytest-daemons-*`` (mode 0755) instead, which is removed
at session end after the daemons' logs are copied into the ``tmp_path_factory``
directory ``daemons<N>/logs``.  Run as a normal user, every daemon runs as
that user directly under ``tmp_path_factory``.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ci import in_ci, require_binary
from pki import CA, Issued, write_key, write_pem

__all__ = [
    "HOST",
    "Daemon",
    "DaemonChain",
    "DaemonStartError",
    "DovecotDaemon",
    "daemon_chain",
    "daemon_workdir",
    "dovecot_no_starttls",
    "dovecot_server",
    "mariadb_server",
    "postgres_server",
    "require_binary",
    "slapd_server",
]

#: Address every daemon listens on.
HOST = "127.0.0.1"

#: Bound on a daemon becoming ready (per attempt).
STARTUP_TIMEOUT = 20.0

#: Bound on a daemon exiting after its stop signal, before it is SIGKILLed.
STOP_TIMEOUT = 10.0

#: Attempts with fresh ports when a daemon reports EADDRINUSE.
PORT_ATTEMPTS = 5

#: Where sbin binaries live when PATH (e.g. a non-root user's) lacks them.
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")

_ADDR_IN_USE = re.compile(r"Address already in use|errno[= ]98\b|EADDRINUSE")
_LOG_TAIL_LINES = 40

# (name, version, seconds) of each daemon started this session, for the summary.
_STARTED: list[tuple[str, str, float]] = []


# --------------------------------------------------------------------------
# Public types


@dataclass(frozen=True)
class Daemon:
    """A running single-port daemon."""

    name: str
    port: int
    version: str
    host: str = HOST
    pid: int = 0
    workdir: Path | None = None
    log: Path | None = None
    startup_seconds: float = 0.0


@dataclass(frozen=True)
class DovecotDaemon:
    """A running dovecot instance with one listener per protocol."""

    name: str
    version: str
    imap: int
    pop3: int
    lmtp: int
    sieve: int
    starttls: bool
    host: str = HOST
    pid: int = 0
    workdir: Path | None = None
    log: Path | None = None
    startup_seconds: float = 0.0

    @property
    def ports(self) -> dict[str, int]:
        """``{"imap": ..., "pop3": ..., "lmtp": ..., "sieve": ...}``."""
        return {"imap": self.imap, "pop3": self.pop3, "lmtp": self.lmtp, "sieve": self.sieve}


@dataclass(frozen=True)
class DaemonChain:
    """The certificate files every daemon serves (in a mode-755 directory)."""

    dir: Path
    chain: Path  # leaf + intermediate, PEM, mode 0644
    key: Path  # leaf key, PKCS#8 PEM, mode 0600 (daemons get their own copies)
    root: Path  # the session root CA, PEM, mode 0644
    leaf: Issued
    intermediate: CA


class DaemonStartError(RuntimeError):
    """A daemon did not become ready; the message includes its log tail."""


# --------------------------------------------------------------------------
# Helpers


def _postgres_bindir() -> Path:
    """Directory with initdb/postgres: Debian's versioned dirs (15 first), then PATH."""
    versioned = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    before = [os.environ.get("PG_BINDIR", ""), "/usr/lib/postgresql/15/bin", *map(str, versioned)]
    initdb = require_binary("initdb", before=[d for d in before if d])
    return Path(initdb).parent


@dataclass(frozen=True)
class _User:
    name: str
    group: str
    uid: int
    gid: int

    @property
    def switch(self) -> bool:
        return self.uid != os.geteuid()

    def popen_kwargs(self) -> dict[str, Any]:
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, *paths: Path) -> None:
        """chown ``paths`` (recursively) to this user, if we are switching to it."""
        if not self.switch:
            return
        for top in paths:
            os.chown(top, self.uid, self.gid, follow_symlinks=False)
            if top.is_dir() and not top.is_symlink():
                for dirpath, dirnames, filenames in os.walk(top):
                    for entry in (*dirnames, *filenames):
                        os.chown(os.path.join(dirpath, entry), self.uid, self.gid, follow_symlinks=False)


def _run_user(*preferred: str) -> _User:
    """The first existing user of ``preferred`` (then nobody) when root, else ourselves."""
    if os.geteuid() == 0:
        for name in (*preferred, "nobody"):
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                continue
            if pw.pw_uid != 0:
                return _User(name, grp.getgrgid(pw.pw_gid).gr_name, pw.pw_uid, pw.pw_gid)
        raise DaemonStartError(f"none of the users {preferred + ('nobody',)} exists")
    pw = pwd.getpwuid(os.geteuid())
    return _User(pw.pw_name, grp.getgrgid(os.getegid()).gr_name, os.geteuid(), os.getegid())


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago (bind 0, close)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(paths: Sequence[Path]) -> str:
    parts = []
    for path in paths:
        lines = _read(path).splitlines()[-_LOG_TAIL_LINES:]
        parts.append(f"--- {path} (last {len(lines)} lines) ---\n" + "\n".join(lines))
    return "\n".join(parts)


def _version(cmd: Sequence[str]) -> str:
    """First non-empty line of ``cmd``'s output, whitespace collapsed."""
    out = subprocess.run(
        list(cmd), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
    )
    for line in (out.stdout + "\n" + out.stderr).splitlines():
        if line.strip():
            return " ".join(line.split())
    raise DaemonStartError(f"{cmd!r} printed no version (rc {out.returncode})")


def _copy_key(src: Path, dst: Path, user: _User) -> Path:
    """A private copy of a key: mode 0600, owned by the daemon's user."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(src.read_bytes())
    os.chmod(dst, 0o600)
    user.own(dst)
    return dst


def _env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), "LC_ALL": "C", "TZ": "UTC"}


def _group_alive(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid`` (Linux /proc)."""
    alive = []
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - non-Linux
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except OSError:
            return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            alive.append(int(entry))
    return alive


def _stop(proc: subprocess.Popen[bytes], sig: int, *, group: bool = False) -> None:
    """Stop ``proc`` with ``sig``; then make sure its process group is gone.

    Each daemon is started with ``start_new_session=True``, so its process
    group holds only it and its children (dovecot's and postgres' workers).
    ``group=True`` also signals the rest of the group 50 ms after the leader:
    dovecot's master alone takes ~1.1 s to exit on SIGTERM, ~0.1 s this way.
    (Signalling the whole group at once is worse: a master still starting up
    sees its children die, logs "child killed with signal 15" and takes 6 s.)
    """
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
            if group:
                try:
                    proc.wait(0.05)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _group_alive(proc.pid):
        if time.monotonic() > deadline:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        time.sleep(0.02)


class _Attempt:
    """One launch of a daemon: its process, ports and log files."""

    def __init__(self, proc: subprocess.Popen[bytes], ports: list[int], logs: list[Path], marker: str | None):
        self.proc = proc
        self.ports = ports
        self.logs = logs
        self.marker = marker


def _start(
    name: str,
    nports: int,
    launch: Callable[[list[int], int], _Attempt],
    stop_signal: int,
    *,
    group: bool = False,
) -> tuple[_Attempt, float]:
    """Launch with fresh ports until ready (retrying on EADDRINUSE); return attempt + seconds."""
    started = time.monotonic()
    for attempt_no in range(1, PORT_ATTEMPTS + 1):
        attempt = launch(_free_ports(nports), attempt_no)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while True:
                rc = attempt.proc.poll()
                if rc is not None:
                    text = "\n".join(_read(p) for p in attempt.logs)
                    if _ADDR_IN_USE.search(text) and attempt_no < PORT_ATTEMPTS:
                        break  # lost a port race: retry with new ports
                    raise DaemonStartError(
                        f"{name} exited with status {rc} before becoming ready "
                        f"(ports {attempt.ports}, attempt {attempt_no})\n{_tail(attempt.logs)}"
                    )
                marker_ok = attempt.marker is None or any(attempt.marker in _read(p) for p in attempt.logs)
                if marker_ok and all(_port_open(port) for port in attempt.ports):
                    return attempt, time.monotonic() - started
                if time.monotonic() > deadline:
                    raise DaemonStartError(
                        f"{name} not ready within {STARTUP_TIMEOUT}s (ports {attempt.ports}, "
                        f"waiting for {attempt.marker!r})\n{_tail(attempt.logs)}"
                    )
                time.sleep(0.02)
        except BaseException:
            _stop(attempt.proc, stop_signal, group=group)
            raise
        _stop(attempt.proc, stop_signal, group=group)
    raise AssertionError("unreachable")  # pragma: no cover


def _popen(cmd: Sequence[str], user: _User, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=_env(cwd),
            start_new_session=True,
            **user.popen_kwargs(),
        )


def _others_can_traverse(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents))


def _record(name: str, version: str, seconds: float) -> None:
    _STARTED.append((name, version, seconds))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the daemons this session started, with versions and start times."""
    if not _STARTED:
        return
    terminalreporter.section("real daemons (daemons_db)")
    for name, version, seconds in _STARTED:
        terminalreporter.write_line(f"{name:<22} started in {seconds:6.3f}s  {version}")


# --------------------------------------------------------------------------
# Fixtures: working directory and certificates


@pytest.fixture(scope="session")
def daemon_workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A mode-755 directory every daemon user can reach (see the module docstring)."""
    keep = tmp_path_factory.mktemp("daemons")
    if os.geteuid() != 0 or _others_can_traverse(keep):
        keep.chmod(0o755)
        yield keep
        return
    work = Path(tempfile.mkdtemp(prefix="pytest-daemons-"))
    work.chmod(0o755)
    if not _others_can_traverse(work):
        shutil.rmtree(work, ignore_errors=True)
        raise DaemonStartError(f"{work} is not traversable by other users; set TMPDIR to a 755 path")
    (keep / "WORKDIR").write_text(f"{work}\n")
    try:
        yield work
    finally:
        for log in work.rglob("*.log"):
            dst = keep / "logs" / log.relative_to(work)
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(log, dst)
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def daemon_chain(intermediate_ca: CA, root_pem: Path, daemon_workdir: Path) -> DaemonChain:
    """chain.pem (leaf + intermediate), leaf.key and root.pem for the daemons."""
    leaf = intermediate_ca.leaf(names=("localhost", "127.0.0.1"), not_after=timedelta(days=60))
    directory = daemon_workdir / "pki"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    chain = write_pem(directory / "chain.pem", leaf, intermediate_ca.issued)
    chain.chmod(0o644)
    key = write_key(directory / "leaf.key", leaf)
    root = directory / "root.pem"
    shutil.copyfile(root_pem, root)
    root.chmod(0o644)
    return DaemonChain(directory, chain, key, root, leaf, intermediate_ca)


def _daemon_dir(workdir: Path, name: str, user: _User, *subdirs: str) -> Path:
    directory = workdir / name
    directory.mkdir(mode=0o755)
    for sub in subdirs:
        (directory / sub).mkdir(mode=0o700)
        (directory / sub).chmod(0o755 if sub == "run" else 0o700)  # dovecot wants base_dir world-readable
    user.own(directory)
    return directory


# --------------------------------------------------------------------------
# PostgreSQL


@pytest.fixture(scope="session")
def postgres_server(daemon_chain: DaemonChain, daemon_workdir: Path) -> Iterator[Daemon]:
    """PostgreSQL (15 preferred) with ssl=on, listening on 127.0.0.1 only."""
    bindir = _postgres_bindir()
    postgres = require_binary("postgres", before=[str(bindir)])
    version = _version([postgres, "--version"])
    t0 = time.monotonic()
    user = _run_user("postgres")
    d = _daemon_dir(daemon_workdir, "postgres", user)
    crt = d / "server.crt"
    shutil.copyfile(daemon_chain.chain, crt)
    user.own(crt)
    key = _copy_key(daemon_chain.key, d / "server.key", user)  # must be 0600 and owned by the server user
    initdb = subprocess.run(
        [str(bindir / "initdb"), "-D", str(d / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
         "--locale=C", "--no-sync", "--no-instructions"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=d, env=_env(d), timeout=120, check=False,
        **user.popen_kwargs(),
    )
    if initdb.returncode != 0:
        raise DaemonStartError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}\n{initdb.stderr}")
    log = d / "postgres.log"

    def launch(ports: list[int], attempt: int) -> _Attempt:
        cmd = [
            postgres, "-D", str(d / "data"), "-p", str(ports[0]), "-k", str(d),
            "-c", f"listen_addresses={HOST}", "-c", "ssl=on",
            "-c", f"ssl_cert_file={crt}", "-c", f"ssl_key_file={key}",
            "-c", "logging_collector=off", "-c", "fsync=off", "-c", "max_connections=20",
        ]
        return _Attempt(_popen(cmd, user, d, log), ports, [log], "ready to accept connections")

    attempt, _ = _start("postgres", 1, launch, signal.SIGINT)  # SIGINT = fast shutdown
    seconds = time.monotonic() - t0  # including initdb
    _record("postgres_server", version, seconds)
    try:
        yield Daemon("postgres", attempt.ports[0], version, HOST, attempt.proc.pid, d, log, seconds)
    finally:
        _stop(attempt.proc, signal.SIGINT)


# --------------------------------------------------------------------------
# MariaDB


@pytest.fixture(scope="session")
def mariadb_server(daemon_chain: DaemonChain, daemon_workdir: Path) -> Iterator[Daemon]:
    """MariaDB with TLS, --skip-grant-tables and --skip-innodb, on 127.0.0.1 only.

    No ``mariadb-install-db``: with --skip-grant-tables and without InnoDB the
    server starts from an empty datadir in ~0.1 s (it logs warnings about the
    missing mysql.* tables, which is fine for a TLS handshake).
    """
    mariadbd = require_binary("mariadbd", "mysqld")
    raw = _version([mariadbd, "--version"])
    version = raw.replace(mariadbd, os.path.basename(mariadbd), 1)
    user = _run_user("mysql")
    d = _daemon_dir(daemon_workdir, "mariadb", user, "data", "tmp")
    crt = d / "chain.pem"
    shutil.copyfile(daemon_chain.chain, crt)
    user.own(crt)
    key = _copy_key(daemon_chain.key, d / "leaf.key", user)
    log = d / "mariadb.log"

    def launch(ports: list[int], attempt: int) -> _Attempt:
        cmd = [
            mariadbd, "--no-defaults",  # must come first
            f"--datadir={d / 'data'}", f"--socket={d / 'mysqld.sock'}", f"--pid-file={d / 'mysqld.pid'}",
            f"--tmpdir={d / 'tmp'}", f"--bind-address={HOST}", f"--port={ports[0]}",
            "--skip-grant-tables", "--skip-name-resolve", "--skip-innodb",
            "--default-storage-engine=Aria", "--default-tmp-storage-engine=Aria",
            f"--ssl-cert={crt}", f"--ssl-key={key}",
        ]
        return _Attempt(_popen(cmd, user, d, log), ports, [log], "ready for connections")

    attempt, seconds = _start("mariadb", 1, launch, signal.SIGTERM)
    _record("mariadb_server", version, seconds)
    try:
        yield Daemon("mariadb", attempt.ports[0], version, HOST, attempt.proc.pid, d, log, seconds)
    finally:
        _stop(attempt.proc, signal.SIGTERM)


# --------------------------------------------------------------------------
# slapd


@pytest.fixture(scope="session")
def slapd_server(daemon_chain: DaemonChain, daemon_workdir: Path) -> Iterator[Daemon]:
    """OpenLDAP slapd (mdb, empty) offering StartTLS on ldap://127.0.0.1:<port>/."""
    slapd = require_binary("slapd")
    raw = _version([slapd, "-VV"])  # "@(#) $OpenLDAP: slapd 2.5.13+dfsg-5 (Feb 8 2023 01:56:12) $"
    version = raw.removeprefix("@(#)").strip().strip("$").strip()
    schema = Path("/etc/ldap/schema/core.schema")
    if not schema.exists():
        schema = Path("/etc/openldap/schema/core.schema")
    modulepath = next((p for p in ("/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap")
                       if Path(p, "back_mdb.so").exists() or Path(p, "back_mdb.la").exists()), None)
    user = _run_user("openldap", "ldap")
    d = _daemon_dir(daemon_workdir, "slapd", user, "db")
    crt = d / "chain.pem"
    shutil.copyfile(daemon_chain.chain, crt)
    user.own(crt)
    key = _copy_key(daemon_chain.key, d / "leaf.key", user)
    conf = d / "slapd.conf"
    lines = [f"include {schema}", f"pidfile {d / 'slapd.pid'}", f"argsfile {d / 'slapd.args'}"]
    if modulepath:  # else back_mdb is assumed to be built in
        lines += [f"modulepath {modulepath}", "moduleload back_mdb"]
    lines += [
        f"TLSCertificateFile {crt}",
        f"TLSCertificateKeyFile {key}",
        "database mdb",
        'suffix "dc=example,dc=com"',
        f"directory {d / 'db'}",
        "maxsize 10485760",
    ]
    conf.write_text("\n".join(lines) + "\n")
    user.own(conf)
    log = d / "slapd.log"

    def launch(ports: list[int], attempt: int) -> _Attempt:
        # "-d none": stay in the foreground and log only errors (e.g. EADDRINUSE) to stderr.
        cmd = [slapd, "-f", str(conf), "-h", f"ldap://{HOST}:{ports[0]}/", "-d", "none"]
        # "slapd starting" is logged after the listeners are bound (a port merely
        # accepting connections could belong to whoever won a port race).
        return _Attempt(_popen(cmd, user, d, log), ports, [log], "slapd starting")

    attempt, seconds = _start("slapd", 1, launch, signal.SIGTERM)
    _record("slapd_server", version, seconds)
    try:
        yield Daemon("slapd", attempt.ports[0], version, HOST, attempt.proc.pid, d, log, seconds)
    finally:
        _stop(attempt.proc, signal.SIGTERM)


# --------------------------------------------------------------------------
# dovecot


def _dovecot_conf(d: Path, ports: list[int], user: _User, tls: bool) -> str:
    imap, pop3, lmtp, sieve = ports
    tls_lines = f"ssl = yes\nssl_cert = <{d / 'chain.pem'}\nssl_key = <{d / 'leaf.key'}\n" if tls else "ssl = no\n"
    lmtp_tls = "protocol lmtp {\n  ssl = yes\n}\n" if tls else ""
    # Unprivileged master: no chroot for login processes and anvil; all
    # internal/login processes run as the same user.
    return f"""\
protocols = imap pop3 sieve lmtp
base_dir = {d / 'run'}
state_dir = {d / 'state'}
log_path = {d / 'dovecot.log'}
listen = {HOST}
{tls_lines}default_internal_user = {user.name}
default_internal_group = {user.group}
default_login_user = {user.name}
mail_location = maildir:{d / 'mail'}/%u
passdb {{
  driver = static
  args = password=x
}}
userdb {{
  driver = static
  args = uid={user.name} gid={user.group} home={d / 'mail'}/%u
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = {HOST}
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service managesieve-login {{
  chroot =
  inet_listener sieve {{
    address = {HOST}
    port = {sieve}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {HOST}
    port = {lmtp}
  }}
}}
{lmtp_tls}"""


def _dovecot(name: str, chain: DaemonChain | None, workdir: Path) -> Iterator[DovecotDaemon]:
    dovecot = require_binary("dovecot")
    version = _version([dovecot, "--version"])
    user = _run_user("nobody")
    d = _daemon_dir(workdir, name, user, "run", "state", "mail")
    if len(str(d / "run")) > 80:  # unix socket paths are limited to 107 bytes
        raise DaemonStartError(f"dovecot base_dir {d / 'run'} is too long for unix sockets")
    if chain is not None:
        crt = d / "chain.pem"
        shutil.copyfile(chain.chain, crt)
        user.own(crt)
        _copy_key(chain.key, d / "leaf.key", user)
    conf = d / "dovecot.conf"
    log = d / "dovecot.log"
    out = d / "stdout.log"

    def launch(ports: list[int], attempt: int) -> _Attempt:
        conf.write_text(_dovecot_conf(d, ports, user, tls=chain is not None))
        user.own(conf)
        log.unlink(missing_ok=True)  # written by dovecot's log process as `user`
        proc = _popen([dovecot, "-F", "-c", str(conf)], user, d, out)
        # "master: Info: Dovecot v2.3.19.1 (...) starting up for imap, ..." follows the binds.
        return _Attempt(proc, ports, [out, log], "starting up for")

    attempt, seconds = _start(name, 4, launch, signal.SIGTERM, group=True)
    _record(f"{name}", version, seconds)
    imap, pop3, lmtp, sieve = attempt.ports
    try:
        yield DovecotDaemon(name, version, imap, pop3, lmtp, sieve, chain is not None, HOST,
                            attempt.proc.pid, d, log, seconds)
    finally:
        _stop(attempt.proc, signal.SIGTERM, group=True)


@pytest.fixture(scope="session")
def dovecot_server(daemon_chain: DaemonChain, daemon_workdir: Path) -> Iterator[DovecotDaemon]:
    """dovecot with STARTTLS on IMAP, STLS on POP3, STARTTLS on LMTP and ManageSieve."""
    yield from _dovecot("dovecot", daemon_chain, daemon_workdir)


@pytest.fixture(scope="session")
def dovecot_no_starttls(daemon_workdir: Path) -> Iterator[DovecotDaemon]:
    """A second dovecot with ``ssl = no``: IMAP/POP3/LMTP/ManageSieve without STARTTLS."""
    yield from _dovecot("dovecot_no_starttls", None, daemon_workdir)
