"""Pytest plugin: real mail/chat/news/FTP daemons on 127.0.0.1 for STARTTLS tests.

Register it with ``pytest_plugins = ["daemons_mail"]`` (root conftest or a test
module).  Every fixture here is SESSION scoped and starts its daemon once, in a
private directory from ``tmp_path_factory``, with a private configuration file
(nothing under ``/etc`` is read for writing, no system-wide instance is used or
touched).  Each daemon is stopped at session end through its own process group
(``start_new_session=True``: pgid == the daemon's own PID).

Fixtures (all ``scope="session"``):

``mail_chain -> MailChain``
    ``chain.pem`` (leaf + intermediate; leaf issued by ``intermediate_ca`` for
    ``localhost`` / ``127.0.0.1``, valid 60 days), ``leaf.key`` and
    ``root.pem`` (the session ``root_pem``).
``exim_server -> Daemon``
    exim4 (``-bdf``), EHLO offers STARTTLS.
``exim_no_starttls -> Daemon``
    a second port of the same exim whose EHLO does NOT offer STARTTLS
    (``tls_advertise_hosts`` expands to empty for that ``$received_port``).
``prosody_server -> XmppDaemon``
    prosody; ``.port == .c2s``, ``.s2s``, ``.domain == "localhost"``.
``ftp_server -> Daemon``
    vsftpd with ``AUTH TLS``.
``nntp_server -> Daemon``
    INN ``nnrpd`` (reader only, no innd) with ``STARTTLS``.
``irc_server -> Daemon``
    InspIRCd with ``m_ssl_gnutls`` + ``m_starttls``.

Missing binaries (or not running as root, which exim/vsftpd/the privilege
drops need) skip the test, except when ``CI == "true"``, where they fail.
Start times are printed in the terminal summary ("daemons_mail start times").
"""

from __future__ import annotations

import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from ci import unavailable
from pki import CA, write_key, write_pem

__all__ = [
    "Daemon",
    "MailChain",
    "XmppDaemon",
    "exim_no_starttls",
    "exim_server",
    "ftp_server",
    "irc_server",
    "mail_chain",
    "nntp_server",
    "prosody_server",
]

#: Seconds to wait for a daemon to listen before giving up.
READY_TIMEOUT = 20.0
#: Attempts with fresh ports when a port turned out to be taken.
PORT_ATTEMPTS = 3

EXIM = "/usr/sbin/exim4"
PROSODY = "/usr/bin/prosody"
VSFTPD = "/usr/sbin/vsftpd"
NNRPD = "/usr/lib/news/bin/nnrpd"
INN_BIN = "/usr/lib/news/bin"
INSPIRCD = "/usr/sbin/inspircd"
INSPIRCD_MODULES = "/usr/lib/inspircd/modules"

# Log text meaning "somebody else has this port": retry with fresh ports.
_BIND_FAILURE = re.compile(
    r"address already in use|already in use|failed to open server port"
    r"|could not bind|can't bind|cannot bind|failed to bind|bind\(\) .*failed",
    re.IGNORECASE,
)

# name -> seconds from spawn to "listening", for the terminal summary.
START_TIMES: dict[str, float] = {}


# --------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True)
class Daemon:
    """A running daemon: what a test needs to connect to it."""

    name: str
    port: int
    version: str


@dataclass(frozen=True)
class XmppDaemon(Daemon):
    """prosody: ``port`` is the c2s port (same as ``c2s``)."""

    c2s: int
    s2s: int
    domain: str = "localhost"


@dataclass(frozen=True)
class MailChain:
    """The certificate files served by every daemon of this module."""

    dir: Path
    chain: Path  # leaf + intermediate, PEM
    key: Path  # leaf key, PKCS#8 PEM, 0600 root
    root: Path  # trust anchor for clients (the session root_pem)


# --------------------------------------------------------------------------
# CI-aware skipping (plugin modules cannot import conftest)


def require_executable(path_or_name: str) -> str:
    """Return the executable's path; skip (or fail when CI=="true") if missing.

    Absolute paths are checked as they are; bare names are looked up on PATH
    plus ``/usr/sbin:/sbin`` (daemons live there and PATH may lack them).
    """
    if os.path.isabs(path_or_name):
        found = path_or_name if os.access(path_or_name, os.X_OK) else None
    else:
        search = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
        found = shutil.which(path_or_name, path=search)
    if found is None:
        unavailable(f"required binary {path_or_name!r} not found")
    assert found is not None
    return found


def require_root(what: str) -> None:
    """Skip (or fail when CI=="true") unless running as root."""
    if os.geteuid() != 0:
        unavailable(f"{what} needs root (to run as its own daemon user)")


def _user(name: str) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        unavailable(f"system user {name!r} missing (is its package installed?)")
        raise
    return entry.pw_uid, entry.pw_gid


# --------------------------------------------------------------------------
# Files and directories


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


# Directories that daemon users must be able to traverse (see _make_traversable).
_TRAVERSE: set[Path] = set()


def _make_traversable(path: Path, basetemp: Path) -> None:
    """Give other users search (x) permission on ``path`` up to pytest's temp root.

    pytest creates ``/tmp/pytest-of-<user>/pytest-<N>`` with mode 0700, which
    daemon users such as ``Debian-exim`` or ``news`` cannot traverse.  Only
    ``path``, its ancestors up to ``basetemp``, and ``basetemp``'s parent when
    it is pytest's own ``pytest-of-<user>`` directory are changed (to add
    ``o+x,g+x``).  Every new pytest session resets ``pytest-of-<user>`` to 0700,
    so this is re-applied before each test (see ``pytest_runtest_setup``).
    """
    basetemp = basetemp.resolve()
    stop = basetemp.parent if basetemp.parent.name.startswith("pytest-of-") else basetemp
    chain = [path, *path.parents]
    if stop not in chain:
        return
    for directory in chain[: chain.index(stop) + 1]:
        _TRAVERSE.add(directory)
    _retraverse()


def _retraverse() -> None:
    for directory in _TRAVERSE:
        try:
            mode = directory.stat().st_mode
            if mode & 0o011 != 0o011:
                os.chmod(directory, (mode & 0o7777) | 0o011)
        except OSError:
            pass


def _private_dir(factory: pytest.TempPathFactory, name: str, owner: str | None = None) -> Path:
    path = factory.mktemp(name)
    os.chmod(path, 0o755)
    _make_traversable(path.resolve(), factory.getbasetemp())
    if owner is not None:
        uid, gid = _user(owner)
        os.chown(path, uid, gid)
    return path


def _install_tls(chain: MailChain, dest: Path, owner: str | None) -> tuple[Path, Path]:
    """Copy chain.pem (0644) and leaf.key (0600) into ``dest``, owned by ``owner``."""
    cert = dest / "chain.pem"
    key = dest / "leaf.key"
    shutil.copyfile(chain.chain, cert)
    os.chmod(cert, 0o644)
    shutil.copyfile(chain.key, key)
    os.chmod(key, 0o600)
    if owner is not None:
        uid, gid = _user(owner)
        os.chown(cert, uid, gid)
        os.chown(key, uid, gid)
    return cert, key


def _tail(paths: Sequence[Path], lines: int = 30) -> str:
    out = []
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            out.append(f"--- {path}: {exc}")
            continue
        out.append(f"--- {path} (last {lines} lines)")
        out.extend(text.splitlines()[-lines:])
    return "\n".join(out)


def _logs_text(paths: Sequence[Path]) -> str:
    chunks = []
    for path in paths:
        try:
            chunks.append(path.read_text(errors="replace"))
        except OSError:
            pass
    return "\n".join(chunks)


# --------------------------------------------------------------------------
# Ports and processes


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (bound together, then closed)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _listen_inodes(port: int) -> set[str] | None:
    """Inodes of LISTEN sockets on TCP ``port`` (None if /proc/net is unreadable)."""
    found: set[str] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            # fields: sl local_address rem_address st(0A == LISTEN) ... inode
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found if readable else None


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _listening(port: int, pid: int) -> bool:
    """True once process ``pid`` itself listens on 127.0.0.1:``port``.

    Checking ownership (not just "something accepts") matters: a port taken
    by someone else between ``free_ports`` and the daemon's bind() would
    otherwise look ready while the daemon is failing to bind it.
    """
    listeners = _listen_inodes(port)
    if listeners is None:  # no /proc: fall back to a plain connect
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False
    return bool(listeners & _socket_inodes(pid))


def _no_core_dumps() -> None:
    # Runs in the child after the uid switch, so a daemon that dropped root
    # cannot raise it again.  InspIRCd raises its own core limit at startup
    # and (Debian 3.15 with m_ssl_gnutls) segfaults on SIGTERM: without this,
    # every session leaves a ~1 MB core file in its temp dir.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class PortInUse(Exception):
    """The daemon could not bind one of its ports."""


class DaemonProcess:
    """A foreground daemon in its own session/process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        logs: Sequence[Path] = (),
        user: str | None = None,
        env: dict[str, str] | None = None,
        log_on_stdin: bool = False,
    ) -> None:
        self.name = name
        self.out = cwd / f"{name}.out"
        self.logs = [self.out, *logs]
        uid, gid = _user(user) if user is not None else (None, None)
        base_env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(cwd),
        }
        with open(self.out, "w+b") as out:
            self.proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                # vsftpd writes "500 OOPS: ..." to fd 0 (its control connection).
                stdin=out if log_on_stdin else subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_no_core_dumps,  # noqa: PLW1509 (one setrlimit call)
                env={**base_env, **(env or {})},
                user=uid,
                group=gid,
                extra_groups=[] if user is not None else None,
            )
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        pid: int = self.proc.pid
        return pid

    def wait_ready(self, ports: Sequence[int]) -> float:
        """Wait until the daemon itself listens on every port; return seconds."""
        deadline = self.started + READY_TIMEOUT
        pending = list(ports)
        while True:
            logs = _logs_text(self.logs)
            if _BIND_FAILURE.search(logs):
                raise PortInUse(self.failure("could not bind its port"))
            if self.proc.poll() is not None:
                if any(_listen_inodes(p) for p in pending):
                    raise PortInUse(self.failure("exited; its port is taken"))
                raise RuntimeError(self.failure(f"exited with status {self.proc.returncode}"))
            pending = [p for p in pending if not _listening(p, self.pid)]
            if not pending:
                return time.monotonic() - self.started
            if time.monotonic() > deadline:
                raise RuntimeError(self.failure(f"not ready after {READY_TIMEOUT:.0f} s (ports {pending})"))
            time.sleep(0.01)

    def failure(self, what: str) -> str:
        return f"{self.name} (pid {self.pid}) {what}; argv={self.proc.args!r}\n" + _tail(self.logs)

    def stop(self) -> None:
        """SIGTERM the daemon's own process group, SIGKILL after 5 s.

        The group is signalled only while its leader (our child) is unreaped
        or while /proc still lists members, so its id cannot have been reused.
        """
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=5)
        if _group_members(self.proc.pid):  # per-connection children, if any
            self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces and ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def _start(
    name: str,
    nports: int,
    spawn: Callable[[list[int]], DaemonProcess],
) -> tuple[DaemonProcess, list[int]]:
    """Spawn with fresh ports until one attempt binds; record the start time."""
    last: Exception | None = None
    for _ in range(PORT_ATTEMPTS):
        ports = free_ports(nports)
        daemon = spawn(ports)
        try:
            START_TIMES[name] = daemon.wait_ready(ports)
            return daemon, ports
        except PortInUse as exc:
            daemon.stop()
            last = exc
        except BaseException:
            daemon.stop()
            raise
    raise RuntimeError(f"{name}: no free port after {PORT_ATTEMPTS} attempts\n{last}")


def _run(argv: Sequence[str], **kwargs: object) -> str:
    result = subprocess.run(
        list(argv),
        check=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        **kwargs,  # type: ignore[call-overload]
    )
    output: str = result.stdout + result.stderr
    return output.strip()


def _first_line(text: str) -> str:
    return text.splitlines()[0].strip() if text.strip() else ""


# --------------------------------------------------------------------------
# Certificates


@pytest.fixture(scope="session")
def mail_chain(intermediate_ca: CA, root_pem: Path, tmp_path_factory: pytest.TempPathFactory) -> MailChain:
    """chain.pem (leaf + intermediate, 60 days, localhost/127.0.0.1), leaf.key, root.pem."""
    directory = _private_dir(tmp_path_factory, "mail-chain")
    leaf = intermediate_ca.leaf(names=("localhost", "127.0.0.1"), not_after=timedelta(days=60))
    chain = write_pem(directory / "chain.pem", leaf, intermediate_ca.issued)
    os.chmod(chain, 0o644)
    key = write_key(directory / "leaf.key", leaf)
    root = directory / "root.pem"
    shutil.copyfile(root_pem, root)
    os.chmod(root, 0o644)
    return MailChain(dir=directory, chain=chain, key=key, root=root)


# --------------------------------------------------------------------------
# exim4


EXIM_USER = "Debian-exim"


def exim_daemon(name: str, exim: str, base: Path, ports: str, advertise: str, certificates: str,
                keys: str) -> DaemonProcess:
    """Write ``base/exim.conf`` (root-owned, as exim requires) for a daemon on 127.0.0.1 ``ports`` (exim's
    list syntax) that offers STARTTLS where ``advertise`` says, with ``certificates``/``keys`` (one file each,
    or exim's "a : b" list for several), and return the process to start. ``base`` holds spool/ and log/."""
    config = base / "exim.conf"
    config.write_text(
        f"""\
primary_hostname = localhost
exim_user = {EXIM_USER}
exim_group = {EXIM_USER}
never_users = root
keep_environment =
spool_directory = {base}/spool
log_file_path = {base}/log/%slog
pid_file_path = {base}/exim.pid
local_interfaces = 127.0.0.1
daemon_smtp_ports = {ports}
host_lookup =
rfc1413_hosts =
tls_advertise_hosts = {advertise}
tls_certificate = {certificates}
tls_privatekey = {keys}
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  deny message = test server accepts no mail
begin routers
begin transports
"""
    )
    os.chmod(config, 0o644)
    for old in (base / "log").iterdir():
        old.unlink()
    return DaemonProcess(name, [exim, "-C", str(config), "-bdf"], cwd=base,
                         logs=[base / "log" / "mainlog", base / "log" / "paniclog"])


@dataclass(frozen=True)
class _Exim:
    starttls: Daemon
    plain: Daemon


@pytest.fixture(scope="session")
def _exim(mail_chain: MailChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Exim]:
    """One exim daemon, two ports: STARTTLS advertised on the first only."""
    exim = require_executable(EXIM)
    require_root("exim4")
    version = _first_line(_run([exim, "-bV"]))
    base = _private_dir(tmp_path_factory, "exim", owner=EXIM_USER)
    cert, key = _install_tls(mail_chain, base, EXIM_USER)
    for sub in ("spool", "log"):
        (base / sub).mkdir(mode=0o750)
    _chown_tree(base, *_user(EXIM_USER))

    def spawn(ports: list[int]) -> DaemonProcess:
        tls_port, plain_port = ports
        advertise = f"${{if ={{$received_port}}{{{tls_port}}}{{*}}{{}}}}"
        return exim_daemon("exim", exim, base, f"{tls_port} : {plain_port}", advertise, str(cert), str(key))

    daemon, (tls_port, plain_port) = _start("exim", 2, spawn)
    try:
        yield _Exim(
            starttls=Daemon("exim", tls_port, version),
            plain=Daemon("exim-no-starttls", plain_port, version),
        )
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def exim_server(_exim: _Exim) -> Daemon:
    """exim4 SMTP on 127.0.0.1 whose EHLO offers STARTTLS (chain from mail_chain)."""
    return _exim.starttls


@pytest.fixture(scope="session")
def exim_no_starttls(_exim: _Exim) -> Daemon:
    """exim4 SMTP on 127.0.0.1 whose EHLO does NOT offer STARTTLS."""
    return _exim.plain


# --------------------------------------------------------------------------
# prosody


PROSODY_USER = "prosody"


@pytest.fixture(scope="session")
def prosody_server(mail_chain: MailChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppDaemon]:
    """prosody (XMPP) with c2s and s2s STARTTLS ports, VirtualHost "localhost".

    Never call ``prosody --version`` or ``prosody`` with the system config: any
    invocation of the ``prosody`` script starts the system-wide server.
    """
    prosody = require_executable(PROSODY)
    require_root("prosody")
    base = _private_dir(tmp_path_factory, "prosody", owner=PROSODY_USER)
    cert, key = _install_tls(mail_chain, base, PROSODY_USER)
    (base / "data").mkdir(mode=0o750)
    (base / "certs").mkdir(mode=0o750)
    config = base / "prosody.cfg.lua"
    log = base / "prosody.log"

    def spawn(ports: list[int]) -> DaemonProcess:
        c2s, s2s = ports
        config.write_text(
            f"""\
pidfile = "{base}/prosody.pid"
data_path = "{base}/data"
certificates = "{base}/certs"
log = {{ info = "{log}"; error = "{base}/prosody.err" }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ {s2s} }}
modules_enabled = {{ "tls"; "saslauth"; "disco"; "roster"; "dialback" }}
ssl = {{ certificate = "{cert}"; key = "{key}" }}
c2s_require_encryption = true
s2s_require_encryption = true
VirtualHost "localhost"
"""
        )
        _chown_tree(base, *_user(PROSODY_USER))
        for old in (log, base / "prosody.err"):
            old.unlink(missing_ok=True)
        return DaemonProcess(
            "prosody",
            [prosody, "--config", str(config), "-F"],
            cwd=base,
            logs=[log, base / "prosody.err"],
            user=PROSODY_USER,
        )

    daemon, (c2s, s2s) = _start("prosody", 2, spawn)
    try:
        match = re.search(r"Prosody version (\S+)", _logs_text([log]))
        if match:
            version = f"Prosody {match.group(1)}"
        else:
            version_file = Path("/usr/lib/prosody/prosody.version")
            version = f"Prosody {version_file.read_text().strip()}"
        yield XmppDaemon("prosody", c2s, version, c2s=c2s, s2s=s2s)
    finally:
        daemon.stop()


# --------------------------------------------------------------------------
# vsftpd


def _vsftpd_version(vsftpd: str, scratch: Path) -> str:
    # "vsftpd -v" writes its version to file descriptor 0 (sic).
    with open(scratch / "vsftpd-version.txt", "w+b") as fd0:
        subprocess.run([vsftpd, "-v"], check=False, stdin=fd0, stdout=subprocess.DEVNULL, timeout=10)
        fd0.seek(0)
        return fd0.read().decode(errors="replace").strip()


@pytest.fixture(scope="session")
def ftp_server(mail_chain: MailChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """vsftpd with explicit FTPS (``AUTH TLS``), no anonymous/local login needed."""
    vsftpd = require_executable(VSFTPD)
    require_root("vsftpd")
    base = _private_dir(tmp_path_factory, "vsftpd")
    cert, key = _install_tls(mail_chain, base, None)  # vsftpd reads them as root
    empty = base / "empty"
    empty.mkdir(mode=0o755)  # secure_chroot_dir: root-owned, not writable
    version = _vsftpd_version(vsftpd, base)
    config = base / "vsftpd.conf"

    def spawn(ports: list[int]) -> DaemonProcess:
        (port,) = ports
        config.write_text(
            f"""\
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
anonymous_enable=NO
local_enable=YES
ssl_enable=YES
rsa_cert_file={cert}
rsa_private_key_file={key}
secure_chroot_dir={empty}
xferlog_enable=NO
"""
        )
        os.chmod(config, 0o600)
        return DaemonProcess("vsftpd", [vsftpd, str(config)], cwd=base, log_on_stdin=True)

    daemon, (port,) = _start("vsftpd", 1, spawn)
    try:
        yield Daemon("vsftpd", port, version)
    finally:
        daemon.stop()


# --------------------------------------------------------------------------
# INN nnrpd


INN_USER = "news"
_INN_PATH_KEYS = (
    "pathrun",
    "pathlog",
    "pathspool",
    "pathoverview",
    "pathdb",
    "pathtmp",
    "patharticles",
    "patharchive",
    "pathincoming",
    "pathoutgoing",
    "pathhttp",
    "tlscertfile",
    "tlskeyfile",
    "domain",
    "pathhost",
    "port",
    "enableoverview",
    "ovmethod",
)


@pytest.fixture(scope="session")
def nntp_server(mail_chain: MailChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """INN's nnrpd alone (no innd) with NNTP STARTTLS, run as ``news``.

    Uses a private inn.conf (``INNCONF``) derived from ``/etc/news/inn.conf``
    with every path moved into the temp dir; the spool gets an empty
    ``tradspool.map`` and ``tdx-util -A`` builds the overview ``group.index``,
    without which nnrpd answers ``400 NNTP server unavailable``.
    """
    nnrpd = require_executable(NNRPD)
    tdx_util = require_executable(f"{INN_BIN}/tdx-util")
    innconfval = require_executable(f"{INN_BIN}/innconfval")
    require_root("nnrpd")
    system_conf = Path("/etc/news/inn.conf")
    if not system_conf.is_file():
        unavailable(f"{system_conf} missing (is inn2 installed?)")
    base = _private_dir(tmp_path_factory, "inn", owner=INN_USER)
    cert, key = _install_tls(mail_chain, base, INN_USER)
    dirs = {
        "pathrun": base / "run",
        "pathlog": base / "log",
        "pathspool": base / "spool",
        "pathoverview": base / "overview",
        "pathdb": base / "db",
        "pathtmp": base / "tmp",
        "patharticles": base / "spool" / "articles",
        "patharchive": base / "spool" / "archive",
        "pathincoming": base / "spool" / "incoming",
        "pathoutgoing": base / "spool" / "outgoing",
        "pathhttp": base / "http",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # The reader needs an active file (the package's default groups).
    db = dirs["pathdb"]
    for name in ("active", "newsgroups"):
        source = Path("/var/lib/news") / name
        if source.is_file():
            shutil.copyfile(source, db / name)
        else:
            (db / name).write_text("junk 0000000000 0000000001 n\n")
    for name in ("active.times", "history"):
        (db / name).touch()
    (dirs["pathspool"] / "tradspool.map").touch()
    kept = [
        line
        for line in system_conf.read_text().splitlines()
        if not re.match(rf"\s*({'|'.join(_INN_PATH_KEYS)})\s*:", line)
    ]
    settings = {name: str(path) for name, path in dirs.items()}
    settings.update(
        tlscertfile=str(cert),
        tlskeyfile=str(key),
        domain="example.test",  # the machine's hostname need not resolve
        pathhost="localhost",
        enableoverview="true",
        ovmethod="tradindexed",
    )
    inn_conf = base / "inn.conf"
    inn_conf.write_text("\n".join(kept + [f"{k}: {v}" for k, v in settings.items()]) + "\n")
    readers = base / "readers.conf"
    readers.write_text(
        'auth "all" {\n    hosts: "*"\n    default: "<all>"\n}\n'
        'access "all" {\n    users: "<all>"\n    newsgroups: "*"\n    access: R\n}\n'
    )
    _chown_tree(base, *_user(INN_USER))
    env = {"INNCONF": str(inn_conf)}
    uid, gid = _user(INN_USER)
    subprocess.run(
        [tdx_util, "-A"],
        env={"INNCONF": str(inn_conf), "PATH": "/usr/bin:/bin"},
        user=uid,
        group=gid,
        extra_groups=[],
        cwd=base,
        stdin=subprocess.DEVNULL,
        capture_output=True,  # "group ... missing from overview" is expected
        timeout=30,
        check=True,
    )
    version = _first_line(_run([innconfval, "-v"], env={"INNCONF": str(inn_conf)}))

    def spawn(ports: list[int]) -> DaemonProcess:
        (port,) = ports
        return DaemonProcess(
            "nnrpd",
            [nnrpd, "-D", "-f", "-b", "127.0.0.1", "-p", str(port), "-c", str(readers)],
            cwd=base,
            user=INN_USER,
            env=env,
        )

    daemon, (port,) = _start("nnrpd", 1, spawn)
    try:
        yield Daemon("nnrpd", port, version)
    finally:
        daemon.stop()


# --------------------------------------------------------------------------
# InspIRCd


IRC_USER = "irc"


@pytest.fixture(scope="session")
def irc_server(mail_chain: MailChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """InspIRCd 3 with GnuTLS and the ``starttls`` module, run as ``irc``."""
    inspircd = require_executable(INSPIRCD)
    require_root("inspircd")
    for module in ("m_ssl_gnutls.so", "m_starttls.so"):
        if not (Path(INSPIRCD_MODULES) / module).is_file():
            unavailable(f"InspIRCd module {module} missing")
    version = _first_line(_run([inspircd, "--version"]))
    base = _private_dir(tmp_path_factory, "inspircd", owner=IRC_USER)
    cert, key = _install_tls(mail_chain, base, IRC_USER)
    config = base / "inspircd.conf"
    log = base / "inspircd.log"

    def spawn(ports: list[int]) -> DaemonProcess:
        (port,) = ports
        config.write_text(
            f"""\
<config format="xml">
<server name="irc.example.test" description="test" network="TestNet">
<admin name="t" nick="t" email="t@example.test">
<path configdir="{base}" datadir="{base}" logdir="{base}" runtimedir="{base}" moduledir="{INSPIRCD_MODULES}">
<pid file="{base}/inspircd.pid">
<bind address="127.0.0.1" port="{port}" type="clients">
<connect name="main" allow="*" timeout="20" resolvehostnames="no" useident="no" localmax="1000" globalmax="1000">
<performance nouserdns="yes">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{log}">
<module name="ssl_gnutls">
<sslprofile name="t" provider="gnutls" certfile="{cert}" keyfile="{key}" dhfile="" requestclientcert="no" hash="sha256">
<module name="starttls">
<starttls provider="t">
"""
        )
        _chown_tree(base, *_user(IRC_USER))
        log.unlink(missing_ok=True)
        return DaemonProcess(
            "inspircd",
            [inspircd, f"--config={config}", "--nofork"],
            cwd=base,
            logs=[log],
            user=IRC_USER,
        )

    daemon, (port,) = _start("inspircd", 1, spawn)
    try:
        yield Daemon("inspircd", port, version)
    finally:
        daemon.stop()


# --------------------------------------------------------------------------
# Reporting


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Undo a concurrent pytest session's reset of pytest-of-<user> to 0700."""
    if _TRAVERSE:
        _retraverse()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if START_TIMES:
        terminalreporter.write_sep("-", "daemons_mail start times")
        for name, seconds in START_TIMES.items():
            terminalreporter.write_line(f"{name}: {seconds:.3f} s")
