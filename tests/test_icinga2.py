"""contrib/icinga2-commands.conf: validated by a real Icinga 2 and kept in sync with ``--help``.

* ``test_conf_*`` parse the CheckCommand and compare it with the plugin's argparse
  parser: every option is mapped (except --help/--version), keyed by its long name,
  with the ITL variable name and the exact --help text as description.  They need
  no Icinga and fail when an option or a help text changes without the conf.
* ``test_icinga2_*`` run ``icinga2 daemon`` in a temporary directory (validation,
  and a ~1 s checker run with a stand-in plugin that records its argv).  They are
  skipped when ``icinga2`` is missing, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from ci import unavailable
from pki import self_signed_leaf, write_pem

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "contrib" / "icinga2-commands.conf"
PLUGIN = ROOT / "check_tls_expiry.py"
COMMAND = "tls_expiry"
PREFIX = "tls_expiry_"
# argparse dests deliberately left out of the CheckCommand: --output json is for Zabbix external checks.
# --endpoint and --zabbix-discovery pack options into one argument for Zabbix, whose keys cannot leave a
# parameter out; Icinga 2 passes each option as its own argument, so the CheckCommand maps those instead.
NOT_MAPPED = {"help", "version", "output", "endpoint", "zabbix_discovery"}
SHORT_ONLY_VARS = {"-4": "ipv4", "-6": "ipv6"}


def _require_icinga2() -> str:
    """Path of ``icinga2``; skip when missing, but fail when ``CI`` is ``"true"``."""
    path = shutil.which("icinga2")
    if path is None:
        message = "icinga2 not found on PATH (apt-get install icinga2-bin icinga2-common)"
        unavailable(message)
    return path


# --- the plugin side ---------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    key: str  # argument key in the CheckCommand
    var: str  # custom variable, without the prefix
    flag: bool  # takes no value -> set_if
    help: str  # rendered, whitespace-normalised --help text


def _normalise(text: str) -> str:
    return " ".join(text.split())


def plugin_options() -> dict[str, Option]:
    """The options the CheckCommand must map, from the plugin's own parser."""
    sys.path.insert(0, str(ROOT))
    try:
        import check_tls_expiry
    finally:
        sys.path.remove(str(ROOT))
    parser = check_tls_expiry.build_parser()
    formatter = parser._get_formatter()
    options: dict[str, Option] = {}
    for action in parser._actions:
        if action.dest in NOT_MAPPED:
            continue
        assert action.option_strings, f"positional {action.dest!r}: map it by hand and extend this test"
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs:
            key = longs[0]
            var = key[2:].replace("-", "_")
        else:
            (key,) = action.option_strings
            assert key in SHORT_ONLY_VARS, f"short-only option {key}: choose its variable name in SHORT_ONLY_VARS"
            var = SHORT_ONLY_VARS[key]
        # "%%" -> "%", "%(default)s" -> value: the text --help shows, before line wrapping
        # (wrapping the output would also split "self-signed" at the hyphen).
        text = _normalise(formatter._expand_help(action))
        options[key] = Option(key, var, action.nargs == 0, text)
    return options


# --- the conf side -------------------------------------------------------------------

_STRING = r'"((?:[^"\\\n]|\\.)*)"'


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), text)


def _strip_comments(text: str) -> str:
    """Drop /* */ and // comments, leaving strings alone."""
    out, i = [], 0
    while i < len(text):
        if text[i] == '"':
            m = re.compile(_STRING).match(text, i)
            assert m, f"unterminated string at offset {i}"
            out.append(m[0])
            i = m.end()
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif text.startswith("//", i) or text[i] == "#":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _block(text: str, open_at: int) -> str:
    """The text inside the braces opening at ``text[open_at]``, strings respected."""
    assert text[open_at] == "{"
    depth, i = 0, open_at
    string = re.compile(_STRING)
    while i < len(text):
        if text[i] == '"':
            i = string.match(text, i).end()  # type: ignore[union-attr]
            continue
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i]
        i += 1
    raise AssertionError("unbalanced braces")


def conf_command() -> tuple[dict[str, str], str]:
    """(argument key -> body, command body without the arguments) of the CheckCommand."""
    text = _strip_comments(CONF.read_text(encoding="utf-8"))
    heads = list(re.finditer(r'object\s+CheckCommand\s+"([^"]+)"\s*\{', text))
    assert [m[1] for m in heads] == [COMMAND], "expected exactly one CheckCommand, named tls_expiry"
    body = _block(text, heads[0].end() - 1)
    args_head = re.search(r"\barguments\s*=\s*\{", body)
    assert args_head, "no arguments dictionary"
    args_text = _block(body, args_head.end() - 1)
    rest = body[: args_head.start()] + body[args_head.end() + len(args_text) + 1 :]
    entries: dict[str, str] = {}
    entry = re.compile(r'\s*"([^"]+)"\s*=\s*\{')
    pos = 0
    while args_text[pos:].strip():
        m = entry.match(args_text, pos)
        assert m, f"cannot parse the arguments near {args_text[pos:pos + 60]!r}"
        assert m[1] not in entries, f"duplicate argument {m[1]}"
        entries[m[1]] = _block(args_text, m.end() - 1)
        pos = m.end() + len(entries[m[1]]) + 1
    return entries, rest


def _attr(body: str, name: str) -> str | None:
    m = re.search(rf"\b{name}\s*=\s*" + _STRING, body)
    return _unescape(m[1]) if m else None


# --- mechanical comparison with --help (no icinga2 needed) ------------------------------


def test_conf_maps_every_plugin_option() -> None:
    entries, _ = conf_command()
    expected = set(plugin_options())
    assert set(entries) == expected, (
        f"not mapped: {sorted(expected - set(entries))}; not a plugin option: {sorted(set(entries) - expected)}"
    )


def test_conf_descriptions_are_the_help_texts() -> None:
    entries, _ = conf_command()
    options = plugin_options()
    wrong = {
        key: (_attr(body, "description"), options[key].help)
        for key, body in entries.items()
        if key in options and _attr(body, "description") != options[key].help
    }
    assert not wrong, "description != --help text (conf, plugin):\n" + "\n".join(
        f"{key}:\n  conf:   {conf!r}\n  plugin: {plugin!r}" for key, (conf, plugin) in wrong.items()
    )


def test_conf_variables_follow_itl_naming() -> None:
    entries, rest = conf_command()
    for key, option in plugin_options().items():
        body = entries[key]
        macro = f"${PREFIX}{option.var}$"
        if option.flag:
            assert _attr(body, "set_if") == macro, f"{key}: flag needs set_if = \"{macro}\""
            assert "value" not in re.findall(r"\b(\w+)\s*=", body), f"{key}: flag with a value"
            assert re.search(rf"\bvars\.{PREFIX}{option.var}\s*=\s*false\b", rest), f"{key}: needs a false default"
        else:
            assert _attr(body, "value") == macro, f"{key}: needs value = \"{macro}\""
    # Defaults: only these; the plugin's own defaults apply to everything else.
    defaults = dict(re.findall(r"\bvars\.(\w+)\s*=\s*(\"[^\"]*\"|\w+)", rest))
    assert defaults == {
        "tls_expiry_host": '"$host.name$"',
        "tls_expiry_address": '"$check_address$"',
        "tls_expiry_ipv4": "false",
        "tls_expiry_ipv6": "false",
        "tls_expiry_ignore_trust": "false",
        "tls_expiry_all_addresses": "false",
        "tls_expiry_all_key_types": "false",
        "tls_expiry_aia": "false",
        "tls_expiry_crl": "false",
        "tls_expiry_ocsp": "false",
        "tls_expiry_ari": "false",
        "tls_expiry_verbose": "false",
        "check_ipv4": '"$tls_expiry_ipv4$"',
        "check_ipv6": '"$tls_expiry_ipv6$"',
    }
    assert re.search(r'\bimport\s+"ipv4-or-ipv6"', rest)
    assert re.search(r'\bcommand\s*=\s*\[\s*PluginDir\s*\+\s*"/check_tls_expiry"\s*\]', rest)
    assert re.search(r"\brequired\s*=\s*true\b", entries["--host"])


# --- real icinga2 ----------------------------------------------------------------------


class Icinga2:
    """An Icinga 2 instance confined to ``base`` (see real-servers.md section 10)."""

    def __init__(self, base: Path) -> None:
        self.binary = _require_icinga2()
        self.base = base
        for sub in ("etc", "data", "log", "cache", "spool", "run", "bin"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        self.conf = base / "etc" / "icinga2.conf"
        self.plugin_dir = base / "bin"
        # As root the daemon would drop privileges to nagios; run as whoever we are.
        self.env = dict(
            os.environ,
            ICINGA2_USER=pwd.getpwuid(os.getuid()).pw_name,
            ICINGA2_GROUP=grp.getgrgid(os.getgid()).gr_name,
        )
        self.defines = [
            f"-DConfiguration.{name}={base / sub}"
            for name, sub in (("DataDir", "data"), ("CacheDir", "cache"), ("LogDir", "log"),
                              ("SpoolDir", "spool"), ("InitRunDir", "run"))
        ]

    def write(self, objects: str, *, checker: bool = False) -> None:
        def quoted(path: Path) -> str:
            return json.dumps(str(path))

        self.conf.write_text(
            f"const PluginDir = {quoted(self.plugin_dir)}\n"
            'const NodeName = "icinga2-test.local"\n'
            'const ZoneName = "icinga2-test.local"\n'
            "include <itl>\n"
            "include <plugins>\n"
            f"include {quoted(CONF)}\n"
            + ('object CheckerComponent "checker" { }\n' if checker else "")
            + objects,
            encoding="utf-8",
        )

    def argv(self, *extra: str) -> list[str]:
        return [self.binary, "daemon", *extra, "-c", str(self.conf), *self.defines]


def _problems(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(r"\b(warning|critical)/", line)]


SERVICES = """
object Host "web1.example.com" {
  address = "127.0.0.1"
  address6 = "::1"
  check_command = "dummy"
  enable_active_checks = false
}
object Service "tls" {
  host_name = "web1.example.com"
  check_command = "tls_expiry"
  check_interval = 1s
}
object Service "tls-file" {
  host_name = "web1.example.com"
  check_command = "tls_expiry"
  check_interval = 1s
  vars.tls_expiry_file = @FILE@
  vars.tls_expiry_address = ""
}
"""


def test_icinga2_validates_the_conf(tmp_path: Path) -> None:
    icinga = Icinga2(tmp_path / "i2")
    icinga.write(SERVICES.replace("@FILE@", '"/etc/ssl/certs/web1.pem"'))
    result = subprocess.run(icinga.argv("-C"), env=icinga.env, capture_output=True, text=True, timeout=30, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not _problems(output), output
    assert "Instantiated 2 Services." in output, output
    assert "Finished validating the configuration file(s)." in output, output


def test_icinga2_builds_the_expected_command_lines(tmp_path: Path) -> None:
    """Run the checker for ~1 s with a stand-in plugin that records its argv.

    This is what ``daemon -C`` cannot show: how unset, empty and boolean variables
    end up on the command line.  The file-mode argv is then run through the real
    plugin, which rejects --address (and an empty one) together with --file.
    """
    icinga = Icinga2(tmp_path / "i2")
    record = tmp_path / "argv.jsonl"
    stand_in = icinga.plugin_dir / "check_tls_expiry"
    stand_in.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(record)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "print('TLS_EXPIRY OK - stand-in')\n",
        encoding="utf-8",
    )
    stand_in.chmod(0o755)
    pem = write_pem(tmp_path / "web1.pem", self_signed_leaf(["web1.example.com"], not_after=timedelta(days=200)))
    objects = SERVICES.replace("@FILE@", json.dumps(str(pem))) + """
object Host "noaddr.example.com" { check_command = "dummy"; enable_active_checks = false }
object Service "tls-noaddr" { host_name = "noaddr.example.com"; check_command = "tls_expiry"; check_interval = 1s }
object Service "tls-v6" {
  host_name = "web1.example.com"
  check_command = "tls_expiry"
  check_interval = 1s
  vars.tls_expiry_ipv6 = true
}
object Service "tls-every" {
  host_name = "web1.example.com"
  check_command = "tls_expiry"
  check_interval = 1s
  vars.tls_expiry_all_addresses = true
  vars.tls_expiry_all_key_types = true
}
object Service "tls-list" {
  host_name = "web1.example.com"
  check_command = "tls_expiry"
  check_interval = 1s
  vars.tls_expiry_address = [ "127.0.0.1", "127.0.0.2" ]
}
object Service "tls-all" {
  host_name = "web1.example.com"
  check_command = "tls_expiry"
  check_interval = 1s
  vars.tls_expiry_host = "mail.example.com"
  vars.tls_expiry_port = 587
  vars.tls_expiry_sni = "smtp.example.com"
  vars.tls_expiry_starttls = "smtp"
  vars.tls_expiry_warning = "21d,20%"
  vars.tls_expiry_critical = "7d"
  vars.tls_expiry_cafile = "/etc/ssl/private-ca.pem"
  vars.tls_expiry_timeout = 20
  vars.tls_expiry_ipv4 = true
  vars.tls_expiry_verbose = true
}
"""
    expected = {
        # default: connect to the address, verify the host object's name
        "tls": ["--address", "127.0.0.1", "--host", "web1.example.com"],
        # file mode: the empty tls_expiry_address drops --address
        "tls-file": ["--file", str(pem), "--host", "web1.example.com"],
        # no address on the host: --address omitted, the plugin resolves --host
        "tls-noaddr": ["--host", "noaddr.example.com"],
        # tls_expiry_ipv6 selects address6 via check_ipv6 and passes -6
        "tls-v6": ["--address", "::1", "--host", "web1.example.com", "-6"],
        # --all-addresses leaves --address out: every address of --host is checked
        "tls-every": ["--all-addresses", "--all-key-types", "--host", "web1.example.com"],
        # an array of addresses repeats --address
        "tls-list": ["--address", "127.0.0.1", "--address", "127.0.0.2", "--host", "web1.example.com"],
        # unordered arguments come out sorted by key
        "tls-all": ["--address", "127.0.0.1", "--cafile", "/etc/ssl/private-ca.pem", "--critical", "7d",
                    "--host", "mail.example.com", "--port", "587", "--sni", "smtp.example.com",
                    "--starttls", "smtp", "--timeout", "20", "--verbose", "--warning", "21d,20%", "-4"],
    }
    icinga.write(objects, checker=True)
    log = tmp_path / "daemon.out"
    with log.open("w") as out:
        daemon = subprocess.Popen(icinga.argv(), env=icinga.env, stdout=out, stderr=subprocess.STDOUT)
        try:
            seen: set[str] = set()
            deadline = time.monotonic() + 15
            while len(seen) < len(expected) and time.monotonic() < deadline and daemon.poll() is None:
                time.sleep(0.1)
                if record.exists():
                    seen = set(record.read_text().splitlines())
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
    output = log.read_text()
    got = sorted(json.loads(line) for line in seen)
    want = sorted(expected.values())
    assert got == want, (
        "command lines built by icinga2:\n"
        + "".join(f"  got:  {argv}\n" for argv in got if argv not in want)
        + "".join(f"  want: {argv}\n" for argv in want if argv not in got)
        + f"--- daemon output ---\n{output}"
    )
    assert not _problems(output), output

    # The file-mode command line is accepted by the real plugin.
    result = subprocess.run([sys.executable, str(PLUGIN), *expected["tls-file"]],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("TLS_EXPIRY OK"), result.stdout
