"""End to end under a real Zabbix 6.0 server with a private PostgreSQL: ``--output json`` as an external check.

* Session: PostgreSQL in a temp dir (unix socket only), the Zabbix schema imported once (the slow part).
* One server run (as root, ``AllowRoot=1``, so it can execute this checkout's interpreter wherever CI put it)
  executes loopback checks through a recording wrapper in ``ExternalScripts``:

  - items inserted with SQL as in real-servers.md section 12: an external-check master item running
    ``--output json`` and dependent items with JSONPath preprocessing (``item_preproc``), for a healthy endpoint
    and one that refuses connections;
  - when the Zabbix frontend (``zabbix-frontend-php``, ``php-cli``, ``php-pgsql``) is installed: the contrib
    template, imported through the real frontend's API (``configuration.import``), linked to one host per
    endpoint (healthy, expiring soon, below the lifetime thresholds, expired, refusing), with its triggers;
  - with the frontend and exim: the contrib discovery template (low-level discovery), linked to ONE host whose
    ``{$TLS.EXPIRY.ENDPOINTS}`` lists three endpoints (direct TLS with a private CA; SMTP STARTTLS through the
    real exim with the private CA and a per-entry ``-w=90d``; a refused port), separated by a newline and spaces.
    The rule runs ``--zabbix-discovery``, Zabbix creates the items and triggers of each endpoint from the
    prototypes and polls them in the same server run.

  Asserted: the values in history (the master's JSON verbatim as the plugin printed it, the float and unixtime
  dependent items), that no item becomes unsupported (``item_rtdata.state = 0``), the failure case (JSON with
  ``result.value`` "error", ``x509`` null, validity "error", nothing stored for days left), and the template's
  trigger values; for discovery: the rule is supported and found exactly the three entries, the discovered items
  are linked to their prototypes, ran the plugin with ``--endpoint <entry>`` and got the values and trigger values
  of each endpoint.

Skipped when the server, PostgreSQL or the schema is missing (or the frontend, for the template tests), except
under ``CI=true`` where that fails (the discovery part also needs exim, from daemons_mail).
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from ci import require_binary, unavailable
from cryptography.hazmat.primitives import hashes
from daemons_mail import Daemon
from e2e import write_recording_wrapper
from pki import CA, Issued, load_pems, not_after
from servers import openssl_server, refused_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "check_tls_expiry.py"
TEMPLATE = ROOT / "contrib" / "zabbix" / "template_tls_expiry.yaml"
TEMPLATE_NAME = "TLS certificate chain by check_tls_expiry"
DISCOVERY_TEMPLATE = ROOT / "contrib" / "zabbix" / "template_tls_expiry_discovery.yaml"
DISCOVERY_TEMPLATE_NAME = "TLS certificate chains by check_tls_expiry discovery"  # technical name: no "( )"
SCHEMA_DIR = Path("/usr/share/zabbix-server-pgsql")
FRONTEND_DIR = Path("/usr/share/zabbix")
SERVER_TIMEOUT = 3  # Zabbix's own default Timeout; the plugin's JSON mode defaults to 2.5 s
DEADLINE = 60.0
INTERVAL = "3s"  # update interval of the master items
# The discovery rule's interval: its first run falls anywhere within one interval after the server loaded it, and
# the discovered items then wait for a config cache sync (CacheUpdateFrequency) and their own first interval.
DISCOVERY_INTERVAL = "2s"


def _not_after(leaf: Issued | None) -> int:
    assert leaf is not None
    cert = leaf.cert
    moment = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- PostgreSQL with the Zabbix schema (once per session) ---------------------------------------------------


class Database:
    """A private PostgreSQL cluster on a unix socket in ``base``, holding the Zabbix schema."""

    PORT = 5434  # only names the socket file inside our own directory

    def __init__(self, base: Path) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            unavailable("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin = Path(bins[-1]).parent
        self.psql = require_binary("psql")
        self.base = base
        self.data = base / "pg"
        self.socket_dir = base / "pgsock"

    def _as_postgres(self, *argv: str) -> None:
        result = subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True,
                                timeout=120, check=False)
        assert result.returncode == 0, f"{shlex.join(argv)}:\n{result.stdout}{result.stderr}"

    def start(self) -> None:
        for path in (self.data, self.socket_dir):
            path.mkdir()
            shutil.chown(path, "postgres", "postgres")
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-E", "UTF8")
        options = (f"-p {self.PORT} -k {self.socket_dir} -c listen_addresses= -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-o", options,
                          "-l", str(self.socket_dir / "pg.log"), "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def load_schema(self) -> None:
        self.run_sql("create role zabbix login; create database zabbix owner zabbix;", user="postgres",
                     database="postgres")
        sql = b"".join(gzip.decompress((SCHEMA_DIR / f"{name}.sql.gz").read_bytes())
                       for name in ("schema", "images", "data"))
        self.run_sql(sql.decode("utf-8"), single_transaction=True)

    def psql_argv(self, user: str = "zabbix", database: str = "zabbix") -> list[str]:
        return [self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir), "-p", str(self.PORT),
                "-U", user, database]

    def run_sql(self, sql: str, *, user: str = "zabbix", database: str = "zabbix",
                single_transaction: bool = False) -> None:
        argv = self.psql_argv(user, database) + (["-1"] if single_transaction else [])
        result = subprocess.run(argv, input=sql, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, f"psql failed:\n{result.stderr[-4000:]}"

    def query(self, sql: str) -> list[dict[str, Any]]:
        wrapped = f"select coalesce(json_agg(t), '[]') from ({sql}) t"
        result = subprocess.run(self.psql_argv() + ["-A", "-t", "-c", wrapped], capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return rows


@pytest.fixture(scope="session")
def zabbix_db() -> Iterator[Database]:
    """PostgreSQL with a fresh Zabbix 6.0 schema, shared by the session (the import dominates the run time)."""
    require_binary("zabbix_server")
    if os.geteuid() != 0:
        unavailable("the Zabbix end-to-end test runs PostgreSQL as user postgres and needs root")
    if not (SCHEMA_DIR / "schema.sql.gz").exists():
        unavailable(f"{SCHEMA_DIR}/schema.sql.gz not found (apt-get install zabbix-server-pgsql)")
    base = Path(tempfile.mkdtemp(prefix="e2e-zabbix-"))
    base.chmod(0o755)  # postgres must traverse it
    database = Database(base)
    try:
        database.start()
        database.load_schema()
        yield database
    finally:
        database.stop()
        shutil.rmtree(base, ignore_errors=True)


# --- the frontend API, for importing the template ---------------------------------------------------------


class Frontend:
    """The packaged Zabbix frontend, copied to ``base`` and served by ``php -S``; only its API is used.

    Debian's frontend reads its database settings from /etc/zabbix/zabbix.conf.php (a constant in
    CConfigFile.php); the copy points that constant at a file in ``base`` so the system stays untouched.
    """

    @staticmethod
    def missing() -> str:
        """Why the frontend cannot run here, or ""."""
        if shutil.which("php") is None or not (FRONTEND_DIR / "api_jsonrpc.php").exists():
            return "Zabbix frontend not found (apt-get install zabbix-frontend-php php-cli php-pgsql)"
        return ""

    def __init__(self, base: Path, database: Database) -> None:
        php = shutil.which("php")
        assert php is not None
        self.root = base / "frontend"
        shutil.copytree(FRONTEND_DIR, self.root, symlinks=True)
        conf = base / "zabbix.conf.php"
        conf.write_text(
            "<?php\n"
            "$DB['TYPE'] = 'POSTGRESQL';\n"
            f"$DB['SERVER'] = {json.dumps(str(database.socket_dir))};\n"
            f"$DB['PORT'] = '{database.PORT}';\n"
            "$DB['DATABASE'] = 'zabbix';\n$DB['USER'] = 'zabbix';\n$DB['PASSWORD'] = '';\n$DB['SCHEMA'] = '';\n"
            "$DB['ENCRYPTION'] = false;\n$DB['KEY_FILE'] = '';\n$DB['CERT_FILE'] = '';\n$DB['CA_FILE'] = '';\n"
            "$DB['VERIFY_HOST'] = false;\n$DB['CIPHER_LIST'] = '';\n$DB['VAULT_URL'] = '';\n"
            "$DB['VAULT_DB_PATH'] = '';\n$DB['VAULT_TOKEN'] = '';\n$DB['DOUBLE_IEEE754'] = true;\n"
            "$ZBX_SERVER_NAME = '';\n$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;\n",
            encoding="utf-8")
        config_class = self.root / "include" / "classes" / "core" / "CConfigFile.php"
        text = config_class.read_text(encoding="utf-8")
        if "'/etc/zabbix/zabbix.conf.php'" in text:  # Debian; upstream reads conf/zabbix.conf.php
            config_class.write_text(text.replace("'/etc/zabbix/zabbix.conf.php'", repr(str(conf))), encoding="utf-8")
        else:
            shutil.copy(conf, self.root / "conf" / "zabbix.conf.php")
        self.port = _free_port()
        self.log = base / "php.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.php = php
        self.token = ""

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([self.php, "-S", f"127.0.0.1:{self.port}", "-t", str(self.root)],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"php -S did not start:\n{self.log.read_text()}") from None
                time.sleep(0.05)
        self.token = self.call("user.login", {"username": "Admin", "password": "zabbix"})

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, timeout=10)

    def call(self, method: str, params: Any) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
        if self.token:
            body["auth"] = self.token
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api_jsonrpc.php",
                                         json.dumps(body).encode(), {"Content-Type": "application/json-rpc"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        return answer["result"]


# --- the run ------------------------------------------------------------------------------------------------

SERVER_CONF = """\
LogFile=@Z@/zabbix_server.log
LogType=file
DebugLevel=3
PidFile=@Z@/zabbix_server.pid
SocketDir=@Z@
DBHost=@SOCK@
DBPort=@PORT@
DBName=zabbix
DBUser=zabbix
ExternalScripts=@Z@/externalscripts
Timeout=@TIMEOUT@
AllowRoot=1
StartPollers=3
StartPollersUnreachable=1
StartPingers=0
StartDiscoverers=0
StartHTTPPollers=0
StartTimers=1
StartEscalators=1
StartAlerters=1
StartLLDProcessors=1
StartPreprocessors=2
StartReportWriters=0
StartODBCPollers=0
CacheUpdateFrequency=2
HousekeepingFrequency=0
"""

# Item ids for the SQL-inserted items: far above what the schema and the frontend allocate.
SQL_HOST = 900001


@dataclass
class Endpoint:
    name: str
    port: int
    leaf: Issued | None
    macros: dict[str, str] = field(default_factory=dict)


@dataclass
class Discovery:
    """The discovery host: its id, its ``{$TLS.EXPIRY.ENDPOINTS}`` value and the entries in it by role."""

    hostid: int
    macro: str
    entries: dict[str, str]  # "direct", "starttls", "refused" -> the entry verbatim
    leaves: dict[str, tuple[int, str]]  # "direct", "starttls" -> the served leaf's notAfter and SHA-256


@dataclass
class ZabbixRun:
    db: Database
    records: Path
    endpoints: dict[str, Endpoint]
    sql_items: dict[str, int]
    template_hosts: dict[str, int]  # endpoint name -> hostid; empty without the frontend
    template_error: str  # why the template part did not run ("" when it did)
    log: str
    discovery: Discovery | None = None  # None without the frontend or exim
    discovery_error: str = ""  # why the discovery part did not run

    def printed(self, port: int) -> list[str]:
        """Every JSON line the plugin printed for checks of ``port``."""
        lines = []
        for args in self.records.glob("run.*.args"):
            if re.search(rf"-p {port}\b", args.read_text(encoding="utf-8")):
                out = args.with_suffix(".out")
                if args.with_suffix(".rc").exists():
                    lines.append(out.read_text(encoding="utf-8").rstrip("\n"))
        return lines

    def history(self, itemid: int, table: str) -> list[Any]:
        return [row["value"] for row in self.db.query(
            f"select value from {table} where itemid={itemid} order by clock, ns")]

    def item(self, hostid: int, key: str) -> dict[str, Any]:
        rows = self.db.query(
            "select i.itemid, i.value_type, i.key_, r.state, r.error from items i join item_rtdata r using (itemid)"
            f" where i.hostid={hostid} and i.key_='{key}'")
        assert len(rows) == 1, (hostid, key, rows)
        return rows[0]


def _sql_items(endpoints: dict[str, Endpoint], cafile: Path) -> tuple[str, dict[str, int]]:
    """SQL for one host with, per endpoint: a master external check and two dependent items (JSONPath)."""
    statements = [
        "update hosts set status=1 where host='Zabbix server';",
        f"insert into hosts (hostid,host,name,status) values ({SQL_HOST},'sql-items','sql-items',0);",
        f"insert into hosts_groups (hostgroupid,hostid,groupid) values ({SQL_HOST},{SQL_HOST},2);",
        ("insert into interface (interfaceid,hostid,main,type,useip,ip,dns,port) values "
         f"({SQL_HOST},{SQL_HOST},1,1,1,'127.0.0.1','','10050');"),
    ]
    ids: dict[str, int] = {}
    for offset, name in enumerate(("ok", "refused")):
        port = endpoints[name].port
        master, days, validity = (SQL_HOST + 10 * (offset + 1) + n for n in range(3))
        ids.update({f"{name}.master": master, f"{name}.days": days, f"{name}.validity": validity})
        key = (f'check_tls_expiry["--output","json","-H","localhost","-I","{{HOST.CONN}}","-p","{port}",'
               f'"--cafile","{cafile}"]')
        statements += [
            ("insert into items (itemid,type,hostid,name,key_,delay,value_type,interfaceid,history,trends) values "
             f"({master},10,{SQL_HOST},'json {name}','{key}','{INTERVAL}',4,{SQL_HOST},'1d','0');"),
            # type 18 dependent; value types 0 float, 1 character
            ("insert into items (itemid,type,hostid,name,key_,delay,value_type,history,trends,master_itemid) values"
             f" ({days},18,{SQL_HOST},'days {name}','days.{name}','0',0,'1d','0',{master}),"
             f" ({validity},18,{SQL_HOST},'validity {name}','validity.{name}','0',1,'1d','0',{master});"),
            # preprocessing type 12 JSONPath; error handler 1 discard the value, 2 set this value
            ("insert into item_preproc (item_preprocid,itemid,step,type,params,error_handler,error_handler_params)"
             f" values ({days},{days},1,12,'$.days_left',1,''),"
             f" ({validity},{validity},1,12,'$.result.value',2,'error');"),
            f"insert into item_rtdata (itemid) values ({master}),({days}),({validity});",
        ]
    return "\n".join(statements), ids


def _import(frontend: Frontend, path: Path, name: str) -> str:
    """Import a contrib template through the API; return its templateid."""
    rules = {
        "groups": {"createMissing": True},
        "templates": {"createMissing": True, "updateExisting": True},
        "items": {"createMissing": True, "updateExisting": True, "deleteMissing": True},
        "triggers": {"createMissing": True, "updateExisting": True, "deleteMissing": True},
        "discoveryRules": {"createMissing": True, "updateExisting": True, "deleteMissing": True},
        "templateLinkage": {"createMissing": True},
    }
    assert frontend.call("configuration.import", {"format": "yaml", "source": path.read_text(encoding="utf-8"),
                                                  "rules": rules}) is True
    (template,) = frontend.call("template.get", {"output": ["templateid"], "filter": {"host": name}})
    return str(template["templateid"])


def _template_hosts(frontend: Frontend, endpoints: dict[str, Endpoint], cafile: Path) -> dict[str, int]:
    """Import the contrib template through the API and link it to one host per endpoint."""
    templateid = _import(frontend, TEMPLATE, TEMPLATE_NAME)
    (group,) = frontend.call("hostgroup.get", {"output": ["groupid"], "filter": {"name": "Linux servers"}})
    hosts = {}
    for endpoint in endpoints.values():
        macros = {"{$TLS.EXPIRY.HOST}": "localhost", "{$TLS.EXPIRY.PORT}": str(endpoint.port),
                  "{$TLS.EXPIRY.OPTION}": f"--cafile={cafile}", "{$TLS.EXPIRY.INTERVAL}": INTERVAL,
                  **endpoint.macros}
        result = frontend.call("host.create", {
            "host": f"tls-{endpoint.name}",
            "groups": [{"groupid": group["groupid"]}],
            "templates": [{"templateid": templateid}],
            "interfaces": [{"type": 1, "main": 1, "useip": 1, "ip": "127.0.0.1", "dns": "", "port": "10050"}],
            "macros": [{"macro": name, "value": value} for name, value in macros.items()],
        })
        hosts[endpoint.name] = int(result["hostids"][0])
    return hosts


def _discovery_host(frontend: Frontend, macro: str) -> int:
    """Import the discovery template and link it to one host listing the endpoints ``macro``."""
    templateid = _import(frontend, DISCOVERY_TEMPLATE, DISCOVERY_TEMPLATE_NAME)
    (group,) = frontend.call("hostgroup.get", {"output": ["groupid"], "filter": {"name": "Linux servers"}})
    macros = {"{$TLS.EXPIRY.ENDPOINTS}": macro, "{$TLS.EXPIRY.DISCOVERY.INTERVAL}": DISCOVERY_INTERVAL,
              "{$TLS.EXPIRY.INTERVAL}": INTERVAL}
    result = frontend.call("host.create", {
        "host": "tls-discovery",
        "groups": [{"groupid": group["groupid"]}],
        "templates": [{"templateid": templateid}],
        # Zabbix 6.0 wants an interface (of any type) on a host with external checks, though they do not use it.
        "interfaces": [{"type": 1, "main": 1, "useip": 1, "ip": "127.0.0.1", "dns": "", "port": "10050"}],
        "macros": [{"macro": name, "value": value} for name, value in macros.items()],
    })
    return int(result["hostids"][0])


def _wait(db: Database, server: subprocess.Popen[bytes], ready: str, log: Path) -> None:
    """Poll until the SQL condition ``ready`` returns true."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"zabbix_server exited with {server.returncode}:\n{log.read_text()[-4000:]}", pytrace=False)
        if db.query(f"select ({ready}) as ready")[0]["ready"]:
            return
        time.sleep(0.5)
    pytest.fail(f"Zabbix did not produce the expected values within {DEADLINE}s:\n{log.read_text()[-4000:]}",
                pytrace=False)


@pytest.fixture(scope="module")
def zabbix_run(request: pytest.FixtureRequest, zabbix_db: Database, intermediate_ca: CA,
               root_pem: Path) -> Iterator[ZabbixRun]:
    base = Path(tempfile.mkdtemp(prefix="e2e-zabbix-run-"))
    base.chmod(0o755)
    try:
        yield from _zabbix_run(request, zabbix_db, intermediate_ca, root_pem, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _exim(request: pytest.FixtureRequest) -> tuple[Daemon | None, str]:
    """daemons_mail's session exim (STARTTLS, chain from intermediate_ca, 60 days), or why there is none.

    Requested here rather than as a fixture argument, so that a machine without exim still runs the rest."""
    try:
        return request.getfixturevalue("exim_server"), ""
    except pytest.skip.Exception as exc:
        return None, str(exc.msg)


def _zabbix_run(request: pytest.FixtureRequest, db: Database, intermediate_ca: CA, root_pem: Path,
                base: Path) -> Iterator[ZabbixRun]:
    zabbix_server = require_binary("zabbix_server")
    names = ("localhost", "127.0.0.1")
    records = base / "records"
    scripts = base / "externalscripts"
    for path in (records, scripts):
        path.mkdir()
    write_recording_wrapper(scripts / "check_tls_expiry", records)
    leaves = {
        "ok": intermediate_ca.leaf(names, not_after=timedelta(days=200)),
        "soon": intermediate_ca.leaf(names, not_after=timedelta(days=20)),
        "warning": intermediate_ca.leaf(names, not_after=timedelta(days=20)),
        "expired": intermediate_ca.leaf(names, not_after=timedelta(days=-2)),
    }
    with ExitStack() as stack:
        endpoints = {name: Endpoint(name, stack.enter_context(openssl_server(base, leaf, [intermediate_ca.issued])),
                                    leaf) for name, leaf in leaves.items()}
        endpoints["refused"] = Endpoint("refused", refused_port(), None)
        # "soon": 20 days left, below {$TLS.EXPIRY.SOON.DAYS}=30, but the plugin's 30d,25% -> 5.25 days is fine.
        endpoints["soon"].macros["{$TLS.EXPIRY.SOON.DAYS}"] = "30"
        # "warning": the plugin's own threshold (-w 30d) says WARNING; 20 days is above SOON.DAYS (14).
        endpoints["warning"].macros["{$TLS.EXPIRY.WARNING}"] = "30d"

        template_hosts: dict[str, int] = {}
        template_error = Frontend.missing()
        discovery: Discovery | None = None
        discovery_error = template_error
        exim: Daemon | None = None
        if not template_error:
            exim, discovery_error = _exim(request)
        if exim is not None:
            direct_leaf = intermediate_ca.leaf(names, not_after=timedelta(days=200))
            direct = stack.enter_context(openssl_server(base, direct_leaf, [intermediate_ca.issued]))
            entries = {
                "direct": f"localhost:{direct};--cafile={root_pem}",
                # exim's leaf has 60 days: OK with the key's -w 30d,25%, WARNING with the entry's own -w=90d.
                "starttls": f"localhost:{exim.port};--starttls=smtp;--cafile={root_pem};-w=90d",
                "refused": f"localhost:{refused_port()}",
            }
            macro = f"{entries['direct']}\n  {entries['starttls']}   {entries['refused']}"
            discovery = Discovery(0, macro, entries, {"direct": (_not_after(direct_leaf), direct_leaf.sha256),
                                                      "starttls": _mail_leaf(request)})
        if not template_error:
            frontend = Frontend(base, db)
            try:
                frontend.start()
                template_hosts = _template_hosts(frontend, endpoints, root_pem)
                if discovery is not None:
                    discovery.hostid = _discovery_host(frontend, discovery.macro)
            finally:
                frontend.stop()
        sql, sql_items = _sql_items(endpoints, root_pem)
        db.run_sql(sql)

        conf = base / "zabbix_server.conf"
        conf.write_text(SERVER_CONF.replace("@Z@", str(base)).replace("@SOCK@", str(db.socket_dir))
                        .replace("@PORT@", str(db.PORT)).replace("@TIMEOUT@", str(SERVER_TIMEOUT)), encoding="utf-8")
        # Ready when every master item has a value and every dependent item that should get one has one
        # (triggers are evaluated as the values arrive).
        ready = [f"exists (select 1 from history_text where itemid={sql_items[f'{n}.master']})"
                 for n in ("ok", "refused")]
        ready += [f"exists (select 1 from history where itemid={sql_items['ok.days']})",
                  f"exists (select 1 from history_str where itemid={sql_items['ok.validity']})",
                  f"exists (select 1 from history_str where itemid={sql_items['refused.validity']})"]
        for hostid in template_hosts.values():
            ready.append("exists (select 1 from history_text h join items i using (itemid) where "
                         f"i.hostid={hostid} and i.key_ like 'check_tls_expiry[%')")
            ready.append("exists (select 1 from history_str h join items i using (itemid) where "
                         f"i.hostid={hostid} and i.key_='tls_expiry.state')")
        if discovery is not None:
            # Discovered (flags 4) items of all three endpoints with a value: master, state, validity; days left
            # for the two that have a certificate.
            for table, key, count in (("history_text", "check_tls_expiry[%", 3), ("history_str", "tls_expiry.state[%", 3),
                                      ("history_str", "tls_expiry.validity[%", 3), ("history", "tls_expiry.days_left[%", 2)):
                ready.append(f"(select count(distinct h.itemid) from {table} h join items i using (itemid) where "
                             f"i.hostid={discovery.hostid} and i.flags=4 and i.key_ like '{key}') = {count}")
        log = base / "zabbix_server.log"
        with (base / "server.out").open("wb") as out:
            server = subprocess.Popen([zabbix_server, "-f", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        try:
            _wait(db, server, " and ".join(ready), log)
            time.sleep(1.5)  # one more history sync, for trigger values of the last batch
        finally:
            _stop(server)
    yield ZabbixRun(db, records, endpoints, sql_items, template_hosts, template_error,
                    log.read_text(encoding="utf-8", errors="replace"), discovery, discovery_error)


def _mail_leaf(request: pytest.FixtureRequest) -> tuple[int, str]:
    """notAfter and SHA-256 of the leaf exim serves (the first certificate of daemons_mail's chain.pem)."""
    leaf = load_pems(request.getfixturevalue("mail_chain").chain.read_bytes())[0]
    return int(not_after(leaf).timestamp()), leaf.fingerprint(hashes.SHA256()).hex()


# --- tests: SQL-inserted items ------------------------------------------------------------------------------


def test_master_item_stores_the_plugins_json_verbatim(zabbix_run: ZabbixRun) -> None:
    port = zabbix_run.endpoints["ok"].port
    values = zabbix_run.history(zabbix_run.sql_items["ok.master"], "history_text")
    printed = zabbix_run.printed(port)
    assert values and all(value in printed for value in values), (values, printed)
    document = json.loads(values[-1])
    leaf = zabbix_run.endpoints["ok"].leaf
    assert leaf is not None
    assert document["state"] == "OK" and document["state_id"] == 0
    assert document["result"]["value"] == "valid"
    assert document["x509"]["subject"] == "CN=localhost"
    assert document["x509"]["not_after"]["timestamp"] == _not_after(leaf)
    assert document["sha256_fingerprint"] == leaf.sha256
    assert [row["label"] for row in document["chain"]] == ["leaf", "int1", "root"]


def test_dependent_float_item_gets_days_left(zabbix_run: ZabbixRun) -> None:
    masters = [json.loads(v) for v in zabbix_run.history(zabbix_run.sql_items["ok.master"], "history_text")]
    days = zabbix_run.history(zabbix_run.sql_items["ok.days"], "history")
    assert days, "no value for the float dependent item"
    assert {round(float(d), 2) for d in days} <= {m["days_left"] for m in masters}
    assert all(199.9 <= float(d) <= 200.0 for d in days), days
    assert zabbix_run.history(zabbix_run.sql_items["ok.validity"], "history_str")[-1] == "valid"


def test_refused_endpoint_gives_error_json_and_error_validity(zabbix_run: ZabbixRun) -> None:
    port = zabbix_run.endpoints["refused"].port
    values = zabbix_run.history(zabbix_run.sql_items["refused.master"], "history_text")
    assert values and all(value in zabbix_run.printed(port) for value in values)
    document = json.loads(values[-1])
    assert "x509" not in document and document["chain"] == []  # never null: Zabbix would read "null"
    assert document["state"] == "CRITICAL"
    message = f"cannot connect: 127.0.0.1:{port} refused the connection"
    assert document["result"] == {"value": "error", "message": message}
    assert set(zabbix_run.history(zabbix_run.sql_items["refused.validity"], "history_str")) == {"error"}
    # $.days_left does not exist in the failure JSON: "custom on fail: discard value" stores nothing ...
    assert zabbix_run.history(zabbix_run.sql_items["refused.days"], "history") == []


def test_no_sql_item_becomes_unsupported(zabbix_run: ZabbixRun) -> None:
    # ... and the item does not become unsupported either.
    ids = ",".join(str(i) for i in zabbix_run.sql_items.values())
    rows = zabbix_run.db.query(f"select itemid, state, error from item_rtdata where itemid in ({ids})")
    assert len(rows) == len(zabbix_run.sql_items)
    assert all(row["state"] == 0 and row["error"] == "" for row in rows), rows


def test_json_mode_fits_in_the_server_timeout(zabbix_run: ZabbixRun) -> None:
    # Nothing was killed at the server's Timeout (3 s) and nothing became "not supported", not even briefly.
    assert "Timeout while executing" not in zabbix_run.log
    assert "not supported" not in zabbix_run.log, [line for line in zabbix_run.log.splitlines()
                                                   if "not supported" in line]


# --- tests: the contrib template, imported by the real frontend -----------------------------------------------


@pytest.fixture
def template(zabbix_run: ZabbixRun) -> ZabbixRun:
    if not zabbix_run.template_hosts:
        unavailable(zabbix_run.template_error or "template part did not run")
    return zabbix_run


TEMPLATE_KEYS = ("tls_expiry.days_left", "tls_expiry.not_after", "tls_expiry.validity", "tls_expiry.message",
                 "tls_expiry.state", "tls_expiry.sha256_fingerprint", "tls_expiry.time", "tls_expiry.addresses_failing",
                 "tls_expiry.revoked", "tls_expiry.ari_status")


def _trigger_values(run: ZabbixRun, hostid: int) -> dict[str, tuple[int, int, str]]:
    """{template trigger name: (value, state, error)} on ``hostid``."""
    rows = run.db.query(
        "select distinct t.triggerid, t.description, t.value, t.state, t.error from triggers t"
        " join functions f using (triggerid) join items i using (itemid)"
        f" where i.hostid={hostid}")
    return {re.sub(r"^TLS \{\$TLS\.EXPIRY\.HOST\}:\{\$TLS\.EXPIRY\.PORT\}: ", "", row["description"]):
            (row["value"], row["state"], row["error"]) for row in rows}


def test_template_items_are_all_supported(template: ZabbixRun) -> None:
    for name, hostid in template.template_hosts.items():
        rows = template.db.query(
            "select i.key_, r.state, r.error from items i join item_rtdata r using (itemid)"
            f" where i.hostid={hostid}")
        assert len(rows) == 1 + len(TEMPLATE_KEYS), (name, rows)
        assert {row["key_"] for row in rows} >= set(TEMPLATE_KEYS)
        assert all(row["state"] == 0 and row["error"] == "" for row in rows), (name, rows)


def test_template_dependent_values(template: ZabbixRun) -> None:
    hostid = template.template_hosts["ok"]
    leaf = template.endpoints["ok"].leaf
    assert leaf is not None

    def values(key: str, table: str) -> list[Any]:
        return template.history(template.item(hostid, key)["itemid"], table)

    assert all(199.9 <= float(v) <= 200.0 for v in values("tls_expiry.days_left", "history"))
    assert set(values("tls_expiry.not_after", "history_uint")) == {_not_after(leaf)}
    assert set(values("tls_expiry.validity", "history_str")) == {"valid"}
    assert set(values("tls_expiry.state", "history_str")) == {"OK"}
    assert set(values("tls_expiry.sha256_fingerprint", "history_str")) == {leaf.sha256}
    assert values("tls_expiry.time", "history") and all(0 < float(v) < 2.5 for v in values("tls_expiry.time", "history"))
    assert values("tls_expiry.addresses_failing", "history_uint") == []  # one address: no count
    (message,) = set(values("tls_expiry.message", "history_text"))
    assert message.startswith("leaf 'localhost' expires first, in ") and message.endswith(", chain verified")
    # The master item's key got the macros: the plugin ran with the host's port, --cafile from the option macro,
    # and the thresholds and timeout defaults.
    runs = [p.read_text() for p in template.records.glob("run.*.args")
            if f"-p {template.endpoints['ok'].port} " in p.read_text() and "--cafile=" in p.read_text()]
    assert runs and runs[0].split() == [
        "--output", "json", "-H", "localhost", "-I", "127.0.0.1", "-p", str(template.endpoints["ok"].port),
        "-w", "30d,25%", "-c", "14d,10%", "-t", "2.5", f"--cafile={runs[0].split('--cafile=')[1].strip()}"]


def test_template_failure_discards_instead_of_unsupported(template: ZabbixRun) -> None:
    hostid = template.template_hosts["refused"]
    for key in ("tls_expiry.days_left", "tls_expiry.not_after", "tls_expiry.sha256_fingerprint", "tls_expiry.time",
                "tls_expiry.addresses_failing"):
        item = template.item(hostid, key)
        table = {0: "history", 1: "history_str", 3: "history_uint"}[item["value_type"]]
        assert template.history(item["itemid"], table) == [], key
        assert item["state"] == 0, item
    assert set(template.history(template.item(hostid, "tls_expiry.validity")["itemid"], "history_str")) == {"error"}
    assert set(template.history(template.item(hostid, "tls_expiry.state")["itemid"], "history_str")) == {"CRITICAL"}
    port = template.endpoints["refused"].port
    assert set(template.history(template.item(hostid, "tls_expiry.message")["itemid"], "history_text")) == {
        f"cannot connect: 127.0.0.1:{port} refused the connection"}


INVALID = "certificate is invalid or the check failed"
SOON = "certificate expires soon"
STATE = "check_tls_expiry reports a problem"
FINGERPRINT = "certificate fingerprint has changed"
REVOKED = "certificate revoked"
RENEW = "the CA asks for renewal now"


@pytest.mark.parametrize(("endpoint", "problems"), [
    ("ok", set()),
    ("soon", {SOON}),
    ("warning", {STATE}),
    ("expired", {INVALID}),
    ("refused", {INVALID}),
])
def test_template_triggers(template: ZabbixRun, endpoint: str, problems: set[str]) -> None:
    triggers = _trigger_values(template, template.template_hosts[endpoint])
    assert set(triggers) == {INVALID, SOON, STATE, FINGERPRINT, REVOKED, RENEW}, triggers
    assert {name for name, (value, _, _) in triggers.items() if value == 1} == problems, triggers
    # Evaluated without errors (an "unknown" trigger would have state 1 and an error).
    assert all(state == 0 and error == "" for _, state, error in triggers.values()), triggers


# --- tests: the discovery template (LLD), one host listing three endpoints -----------------------------------


@pytest.fixture
def discovery(zabbix_run: ZabbixRun) -> Discovery:
    if zabbix_run.discovery is None:
        unavailable(zabbix_run.discovery_error or "discovery part did not run")
    return zabbix_run.discovery


DISCOVERY_MASTER = 'check_tls_expiry["--output","json","-w","{{$TLS.EXPIRY.WARNING}}","-c","{{$TLS.EXPIRY.CRITICAL}}",' \
    '"-t","{{$TLS.EXPIRY.TIMEOUT}}","--endpoint","{entry}"]'


def _discovered(run: ZabbixRun, discovery: Discovery, role: str) -> dict[str, dict[str, Any]]:
    """{item key without the entry: row} of the discovered items of one entry (``check_tls_expiry`` = master)."""
    entry = discovery.entries[role]
    rows = run.db.query(
        "select i.itemid, i.key_, i.value_type, i.flags, r.state, r.error from items i join item_rtdata r using (itemid)"
        f" where i.hostid={discovery.hostid} and i.flags=4")
    found = {}
    for row in rows:
        if row["key_"] == DISCOVERY_MASTER.format(entry=entry):
            found["check_tls_expiry"] = row
        elif row["key_"].endswith(f'["{entry}"]'):
            found[row["key_"].split("[", 1)[0]] = row
    assert set(found) == {"check_tls_expiry", *TEMPLATE_KEYS}, (role, sorted(found))
    return found


def _discovered_history(run: ZabbixRun, discovery: Discovery, role: str, key: str) -> list[Any]:
    item = _discovered(run, discovery, role)[key]
    table = {0: "history", 1: "history_str", 3: "history_uint", 4: "history_text"}[item["value_type"]]
    return run.history(item["itemid"], table)


def _discovery_runs(run: ZabbixRun) -> list[tuple[str, str]]:
    """(argv as the wrapper recorded it, what was printed) of every finished --zabbix-discovery run."""
    return [(args.read_text(encoding="utf-8"), args.with_suffix(".out").read_text(encoding="utf-8"))
            for args in run.records.glob("run.*.args")
            if args.read_text(encoding="utf-8").startswith("--zabbix-discovery ") and args.with_suffix(".rc").exists()]


def test_discovery_rule_is_supported_and_finds_the_three_entries(zabbix_run: ZabbixRun, discovery: Discovery) -> None:
    (rule,) = zabbix_run.db.query(
        "select i.key_, r.state, r.error from items i join item_rtdata r using (itemid)"
        f" where i.hostid={discovery.hostid} and i.flags=1")
    assert rule["key_"] == 'check_tls_expiry["--zabbix-discovery","{$TLS.EXPIRY.ENDPOINTS}"]'
    assert (rule["state"], rule["error"]) == (0, ""), rule
    # The macro reached the plugin as one argument, newline and spaces included; every run printed the same three
    # rows (the rule's value, which Zabbix does not keep in history).
    runs = _discovery_runs(zabbix_run)
    assert runs
    assert {args for args, _ in runs} == {f"--zabbix-discovery {discovery.macro}\n"}, runs[0]
    exim_port = discovery.entries["starttls"].split(";")[0].split(":")[1]
    expected = [
        {"{#TLS.ENDPOINT}": discovery.entries["direct"], "{#TLS.HOST}": "localhost",
         "{#TLS.PORT}": discovery.entries["direct"].split(";")[0].split(":")[1], "{#TLS.STARTTLS}": ""},
        {"{#TLS.ENDPOINT}": discovery.entries["starttls"], "{#TLS.HOST}": "localhost", "{#TLS.PORT}": exim_port,
         "{#TLS.STARTTLS}": "smtp"},
        {"{#TLS.ENDPOINT}": discovery.entries["refused"], "{#TLS.HOST}": "localhost",
         "{#TLS.PORT}": discovery.entries["refused"].split(":")[1], "{#TLS.STARTTLS}": ""},
    ]
    assert all(json.loads(out) == expected for _, out in runs), runs


def test_discovery_created_the_items_from_the_prototypes(zabbix_run: ZabbixRun, discovery: Discovery) -> None:
    masters = zabbix_run.db.query(
        f"select key_ from items where hostid={discovery.hostid} and flags=4 and key_ like 'check_tls_expiry[%'")
    assert sorted(row["key_"] for row in masters) == sorted(
        DISCOVERY_MASTER.format(entry=entry) for entry in discovery.entries.values())
    for role in discovery.entries:
        _discovered(zabbix_run, discovery, role)  # the master and all ten dependent items, with the entry in the key
    # Every discovered item (flags 4) is linked to a prototype (flags 2) of the host's discovery rule, and the
    # dependent ones hang off the discovered master of their own entry.
    # (Plain queries joined here: without ANALYZE after the schema import, PostgreSQL plans multi-way joins of
    # items with itself badly enough to take minutes.)
    items = {row["itemid"]: row for row in zabbix_run.db.query(
        f"select itemid, key_, type, flags, master_itemid from items where hostid={discovery.hostid}")}
    discovered = [row for row in items.values() if row["flags"] == 4]
    links = {row["itemid"]: row["parent_itemid"] for row in zabbix_run.db.query(
        "select itemid, parent_itemid from item_discovery where itemid in"
        f" ({','.join(str(row['itemid']) for row in discovered)})")}
    assert len(discovered) == len(links) == len(discovery.entries) * (1 + len(TEMPLATE_KEYS)), discovered
    for row in discovered:
        prototype = items[links[row["itemid"]]]
        assert prototype["flags"] == 2, (row, prototype)
        entry = next(e for e in discovery.entries.values() if row["key_"].endswith(f'"{e}"]'))
        assert row["key_"] == prototype["key_"].replace("{#TLS.ENDPOINT}", entry), (row, prototype)
        master = items[row["master_itemid"]]["key_"] if row["master_itemid"] else None
        assert master == (None if row["type"] == 10 else DISCOVERY_MASTER.format(entry=entry)), row


def test_discovered_items_are_all_supported(zabbix_run: ZabbixRun, discovery: Discovery) -> None:
    rows = zabbix_run.db.query(
        "select i.key_, i.flags, r.state, r.error from items i join item_rtdata r using (itemid)"
        f" where i.hostid={discovery.hostid} and i.flags in (1, 4)")
    assert len(rows) == 1 + len(discovery.entries) * (1 + len(TEMPLATE_KEYS)), rows
    assert all(row["state"] == 0 and row["error"] == "" for row in rows), [r for r in rows if r["state"]]


def test_discovered_items_run_the_plugin_with_the_entry(zabbix_run: ZabbixRun, discovery: Discovery) -> None:
    # The wrapper records "$*": the entries hold no spaces, so this is the argv, one argument per key parameter.
    records = {args: args.read_text(encoding="utf-8") for args in zabbix_run.records.glob("run.*.args")}
    for role, entry in discovery.entries.items():
        runs = [args for args, text in records.items() if f"--endpoint {entry}\n" in text]
        assert runs, role
        assert {records[args] for args in runs} == {f"--output json -w 30d,25% -c 14d,10% -t 2.5 --endpoint {entry}\n"}
        printed = {args.with_suffix(".out").read_text(encoding="utf-8").rstrip("\n") for args in runs
                   if args.with_suffix(".rc").exists()}
        values = _discovered_history(zabbix_run, discovery, role, "check_tls_expiry")
        assert values and set(values) <= printed, (role, values, printed)


def test_discovered_direct_endpoint(zabbix_run: ZabbixRun, discovery: Discovery) -> None:
    def values(key: str) -> list[Any]:
        return _discovered_history(zabbix_run, discovery, "direct", key)

    document = json.loads(values("check_tls_expiry")[-1])
    assert (document["state"], document["result"]["value"]) == ("OK", "valid"), document
    assert values("tls_expiry.days_left") and all(199.9 <= float(v) <= 200.0 for v in values("tls_expiry.days_left"))
    assert (set(values("tls_expiry.not_after")), set(values("tls_expiry.sha256_fingerprint"))) == (
        {discovery.leaves["direct"][0]}, {discovery.leaves["direct"][1]})
    assert set(values("tls_expiry.validity")) == {"valid"} and set(values("tls_expiry.state")) == {"OK"}
    assert values("tls_expiry.time") and values("tls_expiry.addresses_failing") == []


def test_discovered_starttls_endpoint_verifies_the_private_chain(zabbix_run: ZabbixRun, discovery: Discovery) -> None:
    def values(key: str) -> list[Any]:
        return _discovered_history(zabbix_run, discovery, "starttls", key)

    document = json.loads(values("check_tls_expiry")[-1])
    assert document["result"]["value"] == "valid", document  # exim's chain, verified against --cafile=<root>
    assert document["x509"]["subject"] == "CN=localhost"
    assert [row["label"] for row in document["chain"]] == ["leaf", "int1", "root"]
    assert document["state"] == "WARNING", document  # the entry's -w=90d overrides the key's -w 30d,25%
    assert values("tls_expiry.days_left") and all(59.9 <= float(v) <= 60.0 for v in values("tls_expiry.days_left"))
    assert (set(values("tls_expiry.not_after")), set(values("tls_expiry.sha256_fingerprint"))) == (
        {discovery.leaves["starttls"][0]}, {discovery.leaves["starttls"][1]})
    assert set(values("tls_expiry.validity")) == {"valid"} and set(values("tls_expiry.state")) == {"WARNING"}


def test_discovered_failing_endpoint_discards_instead_of_unsupported(zabbix_run: ZabbixRun,
                                                                     discovery: Discovery) -> None:
    def values(key: str) -> list[Any]:
        return _discovered_history(zabbix_run, discovery, "refused", key)

    masters = [json.loads(v) for v in values("check_tls_expiry")]
    assert masters and all(m["result"]["value"] == "error" and "x509" not in m for m in masters), masters
    assert all(m["result"]["message"].startswith("cannot connect: ") for m in masters), masters
    for key in ("tls_expiry.days_left", "tls_expiry.not_after", "tls_expiry.sha256_fingerprint", "tls_expiry.time",
                "tls_expiry.addresses_failing", "tls_expiry.revoked", "tls_expiry.ari_status"):
        assert values(key) == [], key
    assert set(values("tls_expiry.validity")) == {"error"}
    assert set(values("tls_expiry.state")) == {"CRITICAL"}
    assert set(values("tls_expiry.message")) == {masters[-1]["result"]["message"]}


@pytest.mark.parametrize(("role", "problems"), [
    ("direct", set()),
    ("starttls", {STATE}),
    ("refused", {INVALID}),
])
def test_discovered_triggers(zabbix_run: ZabbixRun, discovery: Discovery, role: str, problems: set[str]) -> None:
    rows = zabbix_run.db.query(
        "select distinct t.triggerid, t.description, t.value, t.state, t.error, t.priority, t.manual_close"
        " from triggers t join functions f using (triggerid) join items i using (itemid)"
        f" where i.hostid={discovery.hostid} and t.flags=4")
    assert len(rows) == 6 * len(discovery.entries), rows
    prefix = f"TLS {discovery.entries[role]}: "
    mine = {row["description"].removeprefix(prefix): row for row in rows if row["description"].startswith(prefix)}
    assert set(mine) == {INVALID, SOON, STATE, FINGERPRINT, REVOKED, RENEW}, sorted(mine)
    assert {name for name, row in mine.items() if row["value"] == 1} == problems, mine
    assert all(row["state"] == 0 and row["error"] == "" for row in mine.values()), mine
    # The per-host template's severities (1 information, 2 warning, 3 average, 4 high) and manual close.
    assert {name: row["priority"] for name, row in mine.items()} == {
        INVALID: 4, SOON: 2, STATE: 3, FINGERPRINT: 1, REVOKED: 4, RENEW: 2}
    assert {name for name, row in mine.items() if row["manual_close"] == 1} == {FINGERPRINT}
    # Dependencies were discovered too: "reports a problem" depends on "expires soon" and "invalid" of its entry.
    names = {row["triggerid"]: row["description"] for row in rows}
    deps = zabbix_run.db.query(
        "select triggerid_down, triggerid_up from trigger_depends"
        f" where triggerid_down in ({','.join(str(row['triggerid']) for row in mine.values())})")
    assert sorted((names[row["triggerid_down"]], names[row["triggerid_up"]]) for row in deps) == sorted(
        [(prefix + SOON, prefix + INVALID), (prefix + STATE, prefix + SOON), (prefix + STATE, prefix + INVALID)])


# --- static checks of the template (no daemon) ----------------------------------------------------------------


def _key_params(key: str) -> list[str]:
    """The parameters of a Zabbix item key whose parameters are all quoted: ``k["a","b,c"]`` -> ["a", "b,c"]."""
    match = re.fullmatch(r'[\w.-]+\[(.*)\]', key)
    assert match, key
    params = re.findall(r'"((?:[^"\\]|\\.)*)"(?:,|$)', match[1])
    assert ",".join(f'"{p}"' for p in params) == match[1], f"unquoted or malformed parameters in {key}"
    return [p.replace('\\"', '"') for p in params]


def test_template_is_consistent_with_the_plugin() -> None:
    """The master key, with the macros' defaults, is a valid plugin command line; every macro is defined;
    every dependent item hangs off the master item."""
    import check_tls_expiry

    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.startswith("zabbix_export:\n  version: '6.0'\n")
    (master,) = re.findall(r"^          key: '(check_tls_expiry\[.*\])'$", text, re.MULTILINE)
    masters = re.findall(r"^          master_item:\n            key: '(.*)'$", text, re.MULTILINE)
    assert masters and set(masters) == {master}
    assert len(masters) == len(re.findall(r"^          type: DEPENDENT$", text, re.MULTILINE)) == len(TEMPLATE_KEYS)
    defaults = dict(re.findall(r"^        -\n          macro: '(\{\$[A-Z0-9_.]+\})'\n(?:          value: '?(.*?)'?\n)?",
                               text, re.MULTILINE))
    used = set(re.findall(r"\{\$[A-Z0-9_.]+\}", text))
    assert used == set(defaults), f"used but not defined: {used - set(defaults)}; unused: {set(defaults) - used}"
    values = {**defaults, "{$TLS.EXPIRY.HOST}": "www.example.com", "{HOST.CONN}": "192.0.2.10"}
    argv = [re.sub(r"\{\$?[A-Z0-9_.]+\}", lambda m: values[m[0]], param) for param in _key_params(master)]
    options = check_tls_expiry.build_parser().parse_args(argv)
    assert (options.output, options.host, options.address, str(options.port)) == (
        "json", "www.example.com", ["192.0.2.10"], "443")
    assert options.timeout < SERVER_TIMEOUT


def _list_entries(section: str, indent: int) -> list[tuple[dict[str, str], str]]:
    """The elements of a YAML block list (as Zabbix exports it: ``-`` alone on its line) whose dashes stand at
    ``indent``: each one's scalar fields at ``indent + 2`` (quotes removed) and its raw text."""
    dash = " " * indent + "-"
    entries, current = [], None
    for line in section.splitlines(keepends=True):
        if line.rstrip("\n") == dash:
            current = []
            entries.append(current)
        elif current is not None and line.strip() and len(line) - len(line.lstrip(" ")) <= indent:
            current = None
        elif current is not None:
            current.append(line)
    result = []
    for lines in entries:
        block = "".join(lines)
        fields = {name: value[1:-1].replace("''", "'") if value.startswith("'") else value
                  for name, value in re.findall(rf"^ {{{indent + 2}}}(\w+): (.+)$", block, re.MULTILINE)}
        result.append((fields, block))
    return result


def _between(text: str, start: str, end: str) -> str:
    assert text.count(start) == 1 and text.count(end) >= 1, (start, end)
    rest = text.split(start, 1)[1]
    return rest.split(end, 1)[0]


def _as_prototype(text: str) -> str:
    """A per-host template name, key reference or trigger name as the discovery template must spell it."""
    text = text.replace(f"/{TEMPLATE_NAME}/", f"/{DISCOVERY_TEMPLATE_NAME}/")
    text = re.sub(r"(/tls_expiry\.\w+)(?=[,)])", r'\1["{#TLS.ENDPOINT}"]', text)
    text = text.replace("TLS {$TLS.EXPIRY.HOST}:{$TLS.EXPIRY.PORT}: ", "TLS {#TLS.ENDPOINT}: ")
    return text.replace("TLS expiry: ", "TLS {#TLS.ENDPOINT}: ")


def _dedent(block: str) -> list[str]:
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_discovery_template_is_consistent_with_the_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    """The discovery template mirrors the per-host one (items, preprocessing, triggers), every macro it uses is
    defined, the discovery rule's and the master prototype's keys, with the macros' defaults and an example
    entry, are valid plugin command lines, and every LLD macro it uses is one --zabbix-discovery prints."""
    import check_tls_expiry
    from plugin.endpoint_spec import parse_spec

    text = DISCOVERY_TEMPLATE.read_text(encoding="utf-8")
    per_host = TEMPLATE.read_text(encoding="utf-8")
    assert text.startswith("zabbix_export:\n  version: '6.0'\n")
    assert f"\n      template: '{DISCOVERY_TEMPLATE_NAME}'\n" in text
    assert "\n      name: 'TLS certificate chains by check_tls_expiry (discovery)'\n" in text
    assert re.fullmatch(r"[0-9a-zA-Z_. -]+", DISCOVERY_TEMPLATE_NAME)  # Zabbix's host name characters

    # UUIDs: 32 hex digits, unique, none shared with the per-host template (the stock group's excepted).
    uuids = re.findall(r"^ +uuid: (\S+)$", text.split("\n  templates:\n", 1)[1], re.MULTILINE)
    theirs = set(re.findall(r"^ +uuid: (\S+)$", per_host.split("\n  templates:\n", 1)[1], re.MULTILINE))
    assert all(re.fullmatch(r"[0-9a-f]{32}", u) for u in uuids) and len(set(uuids)) == len(uuids) == 19, uuids
    assert not set(uuids) & theirs

    # The discovery rule: an external check of the whole list, JSON errors make it unsupported.
    (rule, rule_block), = _list_entries(_between(text, "\n      discovery_rules:\n", "\n      tags:\n") + "\n", 8)
    assert (rule["type"], rule["key"], rule["delay"], rule["lifetime"]) == (
        "EXTERNAL", 'check_tls_expiry["--zabbix-discovery","{$TLS.EXPIRY.ENDPOINTS}"]',
        "{$TLS.EXPIRY.DISCOVERY.INTERVAL}", "7d")
    assert rule["description"]
    assert rule_block.endswith("          preprocessing:\n            -\n              type: CHECK_JSON_ERROR\n"
                               "              parameters:\n                - $.error\n"), rule_block[-300:]

    # Item prototypes mirror the per-host items one by one: same types, value types, units, history, and the
    # same preprocessing (JSONPath, error handlers, discard-unchanged); every dependent one hangs off the master.
    items = _list_entries(_between(per_host, "\n      items:\n", "\n      tags:\n") + "\n", 8)
    prototypes = _list_entries(_between(text, "\n          item_prototypes:\n", "\n          preprocessing:\n") + "\n",
                               12)
    assert len(prototypes) == len(items) == 1 + len(TEMPLATE_KEYS)
    (master, _), *dependents = prototypes
    assert (master["type"], master["value_type"], master["delay"]) == ("EXTERNAL", "TEXT", "{$TLS.EXPIRY.INTERVAL}")
    assert [f["key"] for f, _ in dependents] == [f'{key}["{{#TLS.ENDPOINT}}"]' for key in TEMPLATE_KEYS]
    assert all(f["type"] == "DEPENDENT" for f, _ in dependents)
    masters = re.findall(r"^              master_item:\n                key: '(.*)'$", text, re.MULTILINE)
    assert masters == [master["key"]] * len(TEMPLATE_KEYS)
    trigger_count = 0
    for (item, item_block), (prototype, prototype_block) in zip(items, prototypes):
        assert prototype["name"] == _as_prototype(item["name"]), (item["name"], prototype["name"])
        for field_name in ("type", "value_type", "units", "history", "trends", "delay"):
            assert prototype.get(field_name) == item.get(field_name), (item["name"], field_name)
        steps = [_dedent(b) for b in re.findall(r"preprocessing:\n(.*?)\n +master_item:", item_block, re.DOTALL)]
        prototype_steps = [_dedent(b) for b in re.findall(r"preprocessing:\n(.*?)\n +master_item:", prototype_block,
                                                          re.DOTALL)]
        assert [[_as_prototype(line) for line in s] for s in steps] == prototype_steps, item["name"]
        # Triggers: same expressions (on the prototype keys), names, event names, severities, manual close and
        # dependencies.
        triggers = _list_entries(item_block.split("          triggers:\n", 1)[1], 12) if (
            "          triggers:\n" in item_block) else []
        prototype_triggers = _list_entries(prototype_block.split("              trigger_prototypes:\n", 1)[1], 16) if (
            "              trigger_prototypes:\n" in prototype_block) else []
        assert len(triggers) == len(prototype_triggers), item["name"]
        trigger_count += len(triggers)
        for (trigger, trigger_block), (proto, proto_block) in zip(triggers, prototype_triggers):
            for field_name in ("expression", "name", "event_name"):
                assert (_as_prototype(trigger[field_name]) if field_name in trigger else None) == proto.get(
                    field_name), (trigger["name"], field_name)
            assert (trigger["priority"], trigger.get("manual_close")) == (proto["priority"], proto.get("manual_close"))
            dependencies = re.findall(r"name: '(.*)'\n +expression: '(.*)'", trigger_block)
            assert [(_as_prototype(n), _as_prototype(e)) for n, e in dependencies] == re.findall(
                r"name: '(.*)'\n +expression: '(.*)'", proto_block), trigger["name"]
    assert trigger_count == 6

    # Macros: every one used is defined, with a description, and the documented defaults.
    defaults = dict(re.findall(r"^        -\n          macro: '(\{\$[A-Z0-9_.]+\})'\n(?:          value: '?(.*?)'?\n)?"
                               r"          description: '.+'\n", text, re.MULTILINE))
    assert defaults == {"{$TLS.EXPIRY.ENDPOINTS}": "", "{$TLS.EXPIRY.WARNING}": "30d,25%",
                        "{$TLS.EXPIRY.CRITICAL}": "14d,10%", "{$TLS.EXPIRY.TIMEOUT}": "2.5",
                        "{$TLS.EXPIRY.INTERVAL}": "15m", "{$TLS.EXPIRY.SOON.DAYS}": "14",
                        "{$TLS.EXPIRY.DISCOVERY.INTERVAL}": "1h"}
    used = set(re.findall(r"\{\$[A-Z0-9_.]+\}", text))
    assert used == set(defaults), f"used but not defined: {used - set(defaults)}; unused: {set(defaults) - used}"

    # The discovery key with an example list: the LLD JSON names every LLD macro the template uses; the
    # default (empty) list discovers nothing; a wrong call answers {"error": ...}, which CHECK_JSON_ERROR reads.
    entry = "mail.example.com:587;--starttls=smtp;-w=20d"
    example = f"www.example.com\n  {entry}\t[2001:db8::1]:8443;--sni=api.example.com"
    assert check_tls_expiry.main([re.sub(r"\{\$[A-Z0-9_.]+\}", example, p) for p in _key_params(rule["key"])]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["{#TLS.ENDPOINT}"] for row in rows] == example.split()
    assert set(re.findall(r"\{#[A-Z0-9_.]+\}", text)) <= set(rows[0])
    assert check_tls_expiry.main([re.sub(r"\{\$[A-Z0-9_.]+\}", "", p) for p in _key_params(rule["key"])]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert check_tls_expiry.main(["--zabbix-discovery", example, "-w", "20d"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"error"}

    # The master prototype's key, with the defaults and the example entry, is a valid command line; expanded as
    # the plugin does (the entry's -H NAME -p PORT OPTION... after the key's arguments), the entry's -w wins.
    values = {**defaults, "{#TLS.ENDPOINT}": entry}
    argv = [re.sub(r"\{[$#][A-Z0-9_.]+\}", lambda m: values[m[0]], param) for param in _key_params(master["key"])]
    assert argv[-2:] == ["--endpoint", entry]
    parser = check_tls_expiry.build_parser()
    options = parser.parse_args(argv)
    assert (options.output, options.endpoint, options.host, options.port) == ("json", entry, None, None)
    assert options.timeout < SERVER_TIMEOUT
    expanded = parser.parse_args([*argv, *parse_spec(entry).argv])
    assert (expanded.host, str(expanded.port), expanded.starttls) == ("mail.example.com", "587", "smtp")
    assert expanded.warning == parser.parse_args(["-H", "x", "-w", "20d"]).warning
    assert expanded.critical == parser.parse_args(["-H", "x", "-c", "14d,10%"]).critical
