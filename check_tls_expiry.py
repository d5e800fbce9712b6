#!/usr/bin/python3
"""check_tls_expiry: warn before any certificate in a TLS endpoint's chain expires, breaks trust or misnames.

The single entry point. It only parses the command line and wires the layers together:
acquire (plugin.acquire.tls / plugin.acquire.files) -> evaluate (plugin.evaluate) -> present (plugin.present.nagios).
``main(argv=None)`` returns the exit code, so tests can run the whole plugin in-process.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gc
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NoReturn

from plugin import __version__
from plugin.errors import BackstopTimeout, CheckError, UsageError
from plugin.sanitize import clean
from plugin.status import NAME, Status
from plugin.thresholds import DEFAULT_CRITICAL, DEFAULT_WARNING, Threshold, conflict, parse_threshold

if TYPE_CHECKING:
    from plugin.acquire.tls import ClientCert
    from plugin.budget import Budget
    from plugin.evaluate import Policy
    from plugin.evaluate.findings import Evaluation
    from plugin.target import HostName, Proxy

__all__ = ["build_parser", "main"]

# plugin.acquire.starttls.REGISTRY's names and default ports (tests/test_usage.py keeps them equal), so that parsing the
# command line does not import every negotiator (2-3 ms of a healthy run).
STARTTLS_PORTS = {"smtp": 25, "lmtp": 24, "imap": 143, "pop3": 110, "ftp": 21, "ldap": 389, "xmpp": 5222,
                  "xmpp-server": 5269, "postgres": 5432, "mysql": 3306, "nntp": 119, "sieve": 4190, "irc": 6667}
DEFAULT_TIMEOUT = 10.0
# Zabbix kills external checks after its Timeout (3 s by default, 4 s on Debian): answer well before that.
JSON_TIMEOUT = 2.5
# The whole-run safety net fires this long after the -t budget: every network phase has its own timeout
# inside the budget, so reaching it means something unexpected hung.
BACKSTOP_GRACE = 0.5
# With several handshakes, the evaluation may run this long past -t (see _assemble): probe threads get 0.1 s
# past the deadline, the evaluation of their chains this much, together still inside BACKSTOP_GRACE.
EVALUATION_OVERTIME = 0.3

DESCRIPTION = """\
Check the certificate chain a TLS endpoint presents: verify it, match the host
name, and alarm before any certificate that clients depend on (leaf,
intermediates and the trust anchor) expires.
"""

EPILOG = """\
thresholds:
  -w/-c alarm when the time left on a certificate falls below T: days (30,
  30:, 2.5 or 30d), hours (12h) or percent of that certificate's own lifetime
  (25%). A comma list alarms only when the time left is below every bound,
  i.e. below the smallest. With the defaults a 90-day certificate warns at
  22.5 days left, a 1-year one at 30 days, and a 6-day one at 1.5 days.

exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (usage error, unreadable
  input, internal error). Network failures are CRITICAL.

examples:
  check_tls_expiry -H www.example.com
  check_tls_expiry -H www.example.com -I 192.0.2.10 -w 21d,20% -c 7d,10%
  check_tls_expiry -H www.example.com --all-addresses --all-key-types
  check_tls_expiry -H www.example.com --expect-file /etc/letsencrypt/live/www.example.com/cert.pem
  check_tls_expiry -H nas.internal --cafile /etc/ssl/private-ca.pem
  check_tls_expiry -H mail.example.com --starttls smtp -p 587
  check_tls_expiry -H db.example.com --starttls postgres
  check_tls_expiry --endpoint 'mail.example.com:587;--starttls=smtp;-w=21d'
  check_tls_expiry --file /etc/ssl/certs/ssl-cert-snakeoil.pem
"""


class _Parser(argparse.ArgumentParser):
    """argparse that follows the plugin API: usage errors, --help and --version exit 3, all on stdout."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stdout.write(message)
        raise SystemExit(Status.UNKNOWN)

    def print_help(self, file: object = None) -> None:
        super().print_help(sys.stdout)

    # argparse writes "[-4 | -6]"; a "|" in plugin output starts perfdata, so the usage says "[-4 / -6]".
    def format_usage(self) -> str:
        return super().format_usage().replace(" | ", " / ")

    def format_help(self) -> str:
        return super().format_help().replace(" | ", " / ")


def _threshold(text: str) -> Threshold:
    try:
        return parse_threshold(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(most: float, shown: str) -> Callable[[str], float]:
    """An argparse ``type``: a number of seconds above 0 and at most ``most`` (``shown`` in the message)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 < value <= most:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds between 0 and {shown}")
        return value

    return parse


_timeout = _seconds(3600, "3600")
_max_age = _seconds(30 * 86400, "2592000 (30 days)")


def _escaped(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help strings


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="check_tls_expiry",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    where = parser.add_argument_group("endpoint")
    where.add_argument("-H", "--host", metavar="NAME",
                       help="DNS name or IP address of the endpoint; used to connect, for SNI and to verify the "
                            "certificate's name. Unicode names are sent as IDNA A-labels.")
    where.add_argument("--endpoint", metavar="SPEC",
                       help="the endpoint and its options as one argument, NAME[:PORT][;OPTION...] (IPv6 as "
                            "[ADDR]:PORT; options as --name=value), e.g. mail.example.com;--starttls=smtp: what a "
                            "Zabbix item discovered from a list passes; instead of -H and -p")
    where.add_argument("-I", "--address", metavar="ADDR", action="append",
                       help="connect to this address instead of resolving --host; SNI and name verification still "
                            "use the host name. Several (a comma list, or -I repeated; IPv6 bare or in brackets): "
                            "every one is checked, the state is the worst and the status line names the address at "
                            "fault")
    where.add_argument("--all-addresses", action="store_true",
                       help="check every address --host resolves to (A and AAAA; -4/-6 restrict), and every -I "
                            "address, concurrently within -t: a stale node behind round-robin DNS or a load "
                            "balancer is named; perfdata adds addresses= and addresses_failing=")
    where.add_argument("--all-key-types", action="store_true",
                       help="also fetch the RSA and the ECDSA certificate (TLS 1.2 handshakes offering only that "
                            "type's cipher suites), so a forgotten RSA certificate behind a renewed ECDSA one is "
                            "found; a server with one type is fine, a TLS 1.3-only server gets a note")
    where.add_argument("-p", "--port", metavar="N",
                       help="TCP port (default: 443, or the standard port of the --starttls protocol)")
    where.add_argument("--sni", metavar="NAME",
                       help="server name to send in SNI and to verify, instead of --host")
    family = where.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=socket.AF_INET,
                        default=socket.AF_UNSPEC, help="connect over IPv4 only")
    family.add_argument("-6", dest="family", action="store_const", const=socket.AF_INET6,
                        help="connect over IPv6 only")
    where.add_argument("--expect-file", metavar="PATH",
                       help="the certificate (PEM or DER; a bundle in any order) the service should be serving, "
                            "such as the file a renewal job wrote: WARNING when the server still serves an older "
                            "one (reload the service), CRITICAL once that one is below -c")
    where.add_argument("--file", metavar="PATH",
                       help="check a PEM bundle (a chain), DER certificate or PKCS#12 (.p12/.pfx) file instead of "
                            "an endpoint; with --host the name is verified too")
    where.add_argument("--password-file", metavar="FILE",
                       help="the password of a PKCS#12 --file: the first line of FILE (never shown); without it "
                            "a PKCS#12 file must be unencrypted")

    protocols = ", ".join(f"{name} ({port})" for name, port in STARTTLS_PORTS.items())
    where.add_argument("--starttls", metavar="PROTO", choices=list(STARTTLS_PORTS),
                       help=f"upgrade a plaintext connection with STARTTLS before the handshake; PROTO (default "
                            f"port) is one of: {protocols}")
    where.add_argument("--xmpp-domain", metavar="DOMAIN",
                       help="XMPP domain for the stream's 'to' (default: the --sni or --host name)")
    where.add_argument("--alpn", metavar="PROTOS",
                       help="offer these ALPN protocols, comma-separated (e.g. postgresql for PostgreSQL 17 "
                            "direct TLS, h2,http/1.1)")
    where.add_argument("--proxy", metavar="URL",
                       help="reach the endpoint through this HTTP proxy, http://[user:pass@]host:port: HTTP CONNECT "
                            "(STARTTLS too; the proxy resolves the name unless -I gives an address), and the "
                            "--crl/--ocsp/--aia/--ari fetches; the environment's *_proxy variables are not read")
    where.add_argument("--client-cert", metavar="FILE",
                       help="present this client certificate (PEM, with its key unless --client-key) to a server "
                            "that asks for one (mTLS); its own expiry is checked with the same thresholds "
                            "(days_client), and a server that refuses it is CRITICAL with its alert")
    where.add_argument("--client-key", metavar="FILE", help="the key of --client-cert (PEM), when not in its file")
    where.add_argument("--client-key-password-file", metavar="FILE",
                       help="the password of an encrypted client key: the first line of FILE (never shown)")
    where.add_argument("--proxy-auth-file", metavar="FILE",
                       help="the proxy's credentials, one user:password line (kept out of process lists and "
                            "monitoring configs; never shown)")

    what = parser.add_argument_group("thresholds and trust")
    what.add_argument("-w", "--warning", metavar="T", type=_threshold, default=parse_threshold(DEFAULT_WARNING),
                      help=f"warn when the time left falls below T (default: {_escaped(DEFAULT_WARNING)})")
    what.add_argument("-c", "--critical", metavar="T", type=_threshold, default=parse_threshold(DEFAULT_CRITICAL),
                      help=f"critical when the time left falls below T (default: {_escaped(DEFAULT_CRITICAL)})")
    what.add_argument("--cafile", metavar="FILE", help="trust the CA certificates in this PEM file instead of the "
                                                       "system store (with --file or --ignore-trust: they complete "
                                                       "the path and are reported as its root)")
    what.add_argument("--capath", metavar="DIR", help="trust the CA certificates in this hashed directory "
                                                      "(c_rehash) instead of the system store")
    what.add_argument("--pin", metavar="PIN", action="append", default=[],
                      help="CRITICAL unless a certificate on the path has this public key: sha256//BASE64 (curl's "
                           "--pinnedpubkey form; sha256/BASE64 too), repeatable or comma-separated; -v shows each "
                           "certificate's pin")
    from plugin.evaluate.engine import issuer_text, max_validity_days  # the policy's rules for its own values

    what.add_argument("--issuer", metavar="TEXT", action="append", default=[], type=issuer_text,
                      help="CRITICAL unless the leaf's issuer contains TEXT, ignoring case: in its RFC 4514 name "
                           "(CN=R11,O=Let's Encrypt,C=US) or in one of its values (its CN, its O); repeatable: any "
                           "one matching is enough, so a CA migration can list the old CA and the new one; -v shows "
                           "each certificate's issuer")
    what.add_argument("--max-validity", metavar="DAYS", type=max_validity_days, default=None,
                      help="WARNING when the leaf's validity period is longer than DAYS, a whole number (notBefore "
                           "through notAfter, a started day counting as a day, as the CA/Browser Forum counts): e.g. "
                           "200, the limit for public certificates issued from 2026-03-15 (100 from 2027-03-15, 47 "
                           "from 2029-03-15); off by default")
    what.add_argument("--aia", action="store_true",
                      help="when the chain stops for want of an issuer, fetch it from the certificate's AIA "
                           "caIssuers URL (http://, as browsers do) to tell a missing intermediate (the server "
                           "does not send it) from a CA the trust store does not trust; off by default: the URL "
                           "comes from the server")
    what.add_argument("--crl", action="store_true",
                      help="look every certificate of the verified path up in the CRL its distribution point "
                           "names (http://, verified with the issuer's key): CRITICAL when revoked, WARNING when "
                           "the CRL is past its nextUpdate")
    what.add_argument("--ocsp", action="store_true",
                      help="ask the OCSP responder of every certificate of the verified path (AIA, http://, POST "
                           "per RFC 6960; the answer signed by the issuer or a responder it delegated): CRITICAL "
                           "when revoked, WARNING when unknown. Python's ssl cannot ask for a stapled response")
    what.add_argument("--ari", action="store_true",
                      help="read the CA's ACME Renewal Information (RFC 9773) for the leaf: WARNING once the CA's "
                           "suggested renewal window has begun, CRITICAL once it has ended; the window in -v and "
                           "JSON")
    what.add_argument("--acme-directory", metavar="URL",
                      help="the https:// ACME directory for --ari (default: looked up by the leaf's issuer for "
                           "Let's Encrypt and Google Trust Services)")
    what.add_argument("--revocation-unavailable", choices=("ok", "warning", "critical", "unknown"), default="ok",
                      help="the state when a CRL, OCSP or ARI answer cannot be had (refused, timed out, too "
                           "large, not signed by the issuer); with ok (the default) the status line still says "
                           "'not checked'")
    what.add_argument("--cache-dir", metavar="DIR",
                      help="keep what --crl, --ocsp, --aia and --ari fetch in DIR (made 0700 if missing; it must be "
                           "yours and writable by no one else), until the answer's nextUpdate or Retry-After and at "
                           "most --cache-max-age: the next check uses it instead of fetching, and verifies it again. "
                           "Without it nothing is written")
    what.add_argument("--cache-max-age", metavar="S", type=_max_age, default=None,
                      help="the longest a cached CRL, OCSP answer or intermediate is used, in seconds (default: "
                           "3600); an ARI answer is kept as long as its Retry-After asks (1 minute to 1 day)")
    what.add_argument("--ignore-trust", action="store_true",
                      help="do not alarm when the chain does not reach a trust anchor (self-signed or private CA); "
                           "expiry, weak crypto and the host name are still checked. Prefer --cafile with your "
                           "private CA where you can.")

    running = parser.add_argument_group("running")
    running.add_argument("-t", "--timeout", metavar="S", type=_timeout, default=None,
                     help=f"seconds for the whole check: resolution, connect, STARTTLS, handshake and evaluation (default: "
                          f"{DEFAULT_TIMEOUT:g})")
    running.add_argument("--output", choices=("nagios", "json"), default="nagios",
                     help="nagios: status line, long output and perfdata (default); json: one JSON line for a Zabbix "
                          "external check, always exit 0, failures inside the JSON, default timeout "
                          f"{JSON_TIMEOUT:g}s")
    running.add_argument("--zabbix-discovery", metavar="LIST",
                     help="print Zabbix low-level discovery JSON for a list of --endpoint SPECs separated by "
                          "whitespace, and exit (the only option in this mode; nothing is checked)")
    running.add_argument("-v", "--verbose", action="count", default=0,
                     help="-v: list every certificate; -vv: connection details; -vvv: debug, with tracebacks")
    running.add_argument("-V", "--version", action="version", version=f"check_tls_expiry {__version__}")
    return parser


def _options(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    options = parser.parse_args(argv)
    if options.endpoint is not None:
        options = _expanded(parser, sys.argv[1:] if argv is None else argv, options)
    if options.file is None and options.host is None:
        raise UsageError("give an endpoint with -H/--host (or --endpoint), or a certificate file with --file")
    if options.file is not None:
        given = (("--address", options.address), ("--sni", options.sni), ("--port", options.port),
                 ("--all-addresses", options.all_addresses or None),
                 ("--all-key-types", options.all_key_types or None), ("--aia", options.aia or None),
                 ("--crl", options.crl or None), ("--ocsp", options.ocsp or None), ("--ari", options.ari or None),
                 ("--acme-directory", options.acme_directory), ("--cache-dir", options.cache_dir),
                 ("--cache-max-age", options.cache_max_age),
                 ("--expect-file", options.expect_file),
                 ("--starttls", options.starttls), ("--xmpp-domain", options.xmpp_domain), ("--alpn", options.alpn),
                 ("--proxy", options.proxy), ("--proxy-auth-file", options.proxy_auth_file),
                 ("--client-cert", options.client_cert), ("--client-key", options.client_key),
                 ("--client-key-password-file", options.client_key_password_file))
        network_only = [flag for flag, value in given if value is not None]
        if options.family != socket.AF_UNSPEC:
            network_only.append("-4/-6")
        if network_only:
            raise UsageError(f"{', '.join(network_only)} cannot be used with --file (file mode does not connect)")
    elif options.password_file is not None:
        raise UsageError("--password-file only applies to a PKCS#12 --file")
    _trust_paths(options.cafile, options.capath)
    options.via = _proxy(options)
    options.client = _client(options)
    if options.acme_directory is not None:
        if not options.ari:
            raise UsageError("--acme-directory only applies to --ari")
        if not options.acme_directory.lower().startswith("https://"):
            raise UsageError(f"--acme-directory {clean(options.acme_directory, 120)!r} is not an https:// URL "
                             "(ACME is HTTPS only)")
    if options.cache_dir is not None and not (options.crl or options.ocsp or options.aia or options.ari):
        raise UsageError("--cache-dir only applies to --crl, --ocsp, --aia or --ari (nothing else is fetched)")
    if options.cache_max_age is not None and options.cache_dir is None:
        raise UsageError("--cache-max-age only applies to --cache-dir")
    options.cache = None
    if options.cache_dir is not None:
        from plugin.acquire.cache import DEFAULT_MAX_AGE, Cache  # only with the option: it may make the directory

        options.cache = Cache.open(options.cache_dir, options.cache_max_age or DEFAULT_MAX_AGE)
    options.pins = _pins(options.pin)
    if options.timeout is None:
        options.timeout = JSON_TIMEOUT if options.output == "json" else DEFAULT_TIMEOUT
    problem = conflict(options.warning, options.critical)
    if problem is not None:
        raise UsageError(problem)
    return options


def _expanded(parser: argparse.ArgumentParser, argv: list[str], options: argparse.Namespace) -> argparse.Namespace:
    """Parse ``argv`` again with the --endpoint spec's ``-H NAME [-p PORT] OPTION...`` after it."""
    from plugin.endpoint_spec import parse_spec

    for flag, given in (("-H/--host", options.host), ("-p/--port", options.port), ("--file", options.file)):
        if given is not None:
            raise UsageError(f"--endpoint cannot be used with {flag} (the entry gives the name and the port)")
    spec = parse_spec(options.endpoint)
    try:
        return parser.parse_args([*argv, *spec.argv])
    except UsageError as exc:
        raise UsageError(f"endpoint {clean(spec.text, 120)!r}: {exc.message}") from None


def _discovery(argv: list[str]) -> str:
    """``--zabbix-discovery LIST``: one LLD row per distinct entry, from the same parser as a check's."""
    from plugin.endpoint_spec import parse_spec, split_list
    from plugin.present.discovery import discovery_error, render_discovery

    if len(argv) == 1 and argv[0].startswith("--zabbix-discovery="):
        argv = argv[0].split("=", 1)
    if len(argv) != 2 or argv[0] != "--zabbix-discovery":
        return discovery_error("--zabbix-discovery takes one argument, the list of endpoints, and no other option")
    parser = build_parser()
    rows = []
    for entry in split_list(argv[1]):
        row = {"{#TLS.ENDPOINT}": entry, "{#TLS.HOST}": "", "{#TLS.PORT}": "", "{#TLS.STARTTLS}": ""}
        try:  # an entry that does not parse is listed all the same: its items then say why, as a problem
            options = parser.parse_args(parse_spec(entry).argv)
            row.update({"{#TLS.HOST}": options.host, "{#TLS.PORT}": str(_port(options)),
                        "{#TLS.STARTTLS}": options.starttls or ""})
        except UsageError:
            pass
        rows.append(row)
    return render_discovery(rows)


def _pins(texts: list[str]) -> tuple[str, ...]:
    """``--pin`` values as ``sha256//BASE64`` (the form -v prints), each a SHA-256 of a SubjectPublicKeyInfo."""
    pins = []
    for text in (item.strip() for value in texts for item in value.split(",")):
        raw = _sha256_pin(text)
        if raw is None:
            raise UsageError(f"--pin {clean(text, 80)!r} is not sha256//BASE64 (a base64 SHA-256 of 32 bytes)")
        pins.append("sha256//" + base64.b64encode(raw).decode("ascii"))
    return tuple(pins)


def _sha256_pin(text: str) -> bytes | None:
    """The 32 bytes of ``sha256//BASE64`` or ``sha256/BASE64``. Both are tried: base64 may itself start with
    "/", so ``sha256///x...`` (curl's form) and ``sha256//x...`` (the short form of the same pin) overlap."""
    if text[:7].lower() != "sha256/":
        return None
    for digest in (text[8:], text[7:]) if text[7:8] == "/" else (text[7:],):
        try:
            raw = base64.b64decode(digest, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32:
            return raw
    return None


def _client(options: argparse.Namespace) -> ClientCert | None:
    """--client-cert, --client-key and --client-key-password-file, loaded once before any I/O."""
    if options.client_cert is None:
        for flag, value in (("--client-key", options.client_key),
                            ("--client-key-password-file", options.client_key_password_file)):
            if value is not None:
                raise UsageError(f"{flag} only applies to --client-cert")
        return None
    for flag, path in (("--client-cert", options.client_cert), ("--client-key", options.client_key)):
        # OpenSSL opens these itself: a FIFO or a device there would block the check before any timeout runs.
        if path is not None and os.path.exists(path) and not os.path.isfile(path):
            raise UsageError(f"{flag} {clean(path, 120)} is not a regular file")
    from plugin.acquire.tls import ClientCert
    from plugin.errors import InputError

    password = None
    if options.client_key_password_file is not None:
        password = _first_line(options.client_key_password_file, "--client-key-password-file")
    try:
        return ClientCert.load(options.client_cert, options.client_key, password)
    except InputError as exc:  # like --cafile: a file that cannot be used is a usage error, before any I/O
        raise UsageError(exc.message) from None


def _first_line(path: str, option: str) -> bytes:
    """The first line of a small secret file (password, credentials), without its line end; never shown. Like
    --cafile, a file that cannot be read is a usage error, found before any I/O."""
    from plugin.acquire.files import read_regular
    from plugin.errors import InputError

    shown = f"{option} {clean(path, 120)}"
    try:
        data = read_regular(path, shown, 4097)
    except InputError as exc:
        raise UsageError(exc.message) from None
    if len(data) > 4096:
        raise UsageError(f"{shown} must hold one line")
    return data.split(b"\n", 1)[0].removesuffix(b"\r")


def _proxy(options: argparse.Namespace) -> Proxy | None:
    """--proxy (and --proxy-auth-file), validated before any I/O."""
    if options.proxy is None:
        if options.proxy_auth_file is not None:
            raise UsageError("--proxy-auth-file only applies to --proxy")
        return None
    if options.family != socket.AF_UNSPEC and not options.all_addresses:
        raise UsageError("-4/-6 cannot be used with --proxy (the proxy resolves the name)")
    credentials = None
    if options.proxy_auth_file is not None:
        shown = f"--proxy-auth-file {clean(options.proxy_auth_file, 120)}"
        line = _first_line(options.proxy_auth_file, "--proxy-auth-file")
        try:
            credentials = line.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{shown} is not UTF-8 text") from None
        if not line:
            raise UsageError(f"{shown} must hold one user:password line")
    from plugin.target import Proxy

    return Proxy.parse(options.proxy, credentials)


def _policy(options: argparse.Namespace, name: HostName | None) -> Policy:
    """The evaluation's policy, the same for file and network mode: what the options say a verdict depends on."""
    from plugin.evaluate import Policy

    return Policy(options.warning, options.critical, name, options.pins,
                  Status[options.revocation_unavailable.upper()], max_validity=options.max_validity,
                  issuers=tuple(options.issuer))


def _trust_paths(cafile: str | None, capath: str | None) -> None:
    """Trust files are the operator's input: a wrong path is a usage error, found before any network I/O."""
    if cafile is not None and not os.path.isfile(cafile):
        why = "is a directory (use --capath)" if os.path.isdir(cafile) else "does not exist or is not a file"
        raise UsageError(f"--cafile {clean(cafile, 120)} {why}")
    if capath is not None and not os.path.isdir(capath):
        raise UsageError(f"--capath {clean(capath, 120)} is not a directory")


def main(argv: list[str] | None = None) -> int:
    """Run one check and print its result; return the exit code (0-3; always 0 with --output json)."""
    _tolerant_stdout()
    args = sys.argv[1:] if argv is None else argv
    if any(arg == "--zabbix-discovery" or arg.startswith("--zabbix-discovery=") for arg in args):
        return _emit(_discovery(args), 0)  # its own mode, whose every answer is JSON for a discovery rule
    json_mode = _wants_json(args)
    parser = build_parser()
    try:
        options = _options(parser, argv)
        endpoint, job = _assemble(options)
    except UsageError as exc:
        if json_mode:  # a discovered item's entry names the endpoint even when it does not parse
            return _emit(_json_failure(_entry(args), exc), 0)
        return _emit(f"{NAME} UNKNOWN - {clean(exc.message, 300, keep_escapes=True)}\n{parser.format_usage()}",
                     int(Status.UNKNOWN))
    except SystemExit as exc:  # --help / --version: already printed
        return int(exc.code) if isinstance(exc.code, int) else int(Status.UNKNOWN)

    try:
        with _backstop(options.timeout + BACKSTOP_GRACE):
            if json_mode:
                from plugin.present.jsonout import render_json

                return _emit(render_json(endpoint, job), 0)
            from plugin.present.nagios import build_check, render

            text, code = render(build_check(endpoint, job, options.verbose), options.verbose)
    except BackstopTimeout as exc:
        if json_mode:
            return _emit(_json_failure(endpoint, exc), 0)
        text, code = f"{NAME} UNKNOWN - {endpoint}: {exc.message}\n", int(Status.UNKNOWN)
    except Exception as exc:  # noqa: BLE001 - the plugin contract: never a traceback, always a status line
        message = f"internal error: {clean(f'{type(exc).__name__}: {exc}', 200)}"
        if json_mode:
            return _emit(_json_failure(endpoint, CheckError(message)), 0)
        text = f"{NAME} UNKNOWN - {endpoint}: {message}\n"
        if options.verbose >= 3:
            import traceback

            text += traceback.format_exc()
        code = int(Status.UNKNOWN)
    return _emit(text, code)


def _emit(text: str, code: int) -> int:
    sys.stdout.write(text)
    sys.stdout.flush()
    return code


def _wants_json(argv: list[str]) -> bool:
    """Known before parsing, so that even a usage error reaches Zabbix as JSON."""
    for index, arg in enumerate(argv):
        if arg == "--output=json" or (arg == "--output" and argv[index + 1 : index + 2] == ["json"]):
            return True
    return False


def _entry(argv: list[str]) -> str:
    """The --endpoint entry as given (the last, as argparse takes it), or ""."""
    entry = ""
    for index, arg in enumerate(argv):
        if arg == "--endpoint" and index + 1 < len(argv):
            entry = argv[index + 1]
        elif arg.startswith("--endpoint="):
            entry = arg[len("--endpoint="):]
    return clean(entry, 200)


def _json_failure(endpoint: str, error: CheckError | BackstopTimeout) -> str:
    from plugin.present.jsonout import failure_json

    return failure_json(endpoint, error)


def _assemble(options: argparse.Namespace) -> tuple[str, Callable[[], Evaluation]]:
    """Validate the target; return the endpoint's name and the acquire+evaluate job. Raises UsageError."""
    # Imported here, not at the top: tests patch plugin.evaluate.evaluate, which a top-level import would have
    # bound already. (The parser itself imports plugin.evaluate.engine for --issuer's and --max-validity's
    # validators, so --help pays for that module; a check imports it anyway.)
    from plugin.budget import Budget
    from plugin.evaluate import evaluate
    from plugin.target import Target, parse_host, split_addresses

    budget = Budget(options.timeout)

    def within_budget() -> None:
        budget.remaining("the evaluation of the chain")

    if options.file is not None:
        name = parse_host(options.host) if options.host is not None else None
        endpoint = clean(options.file, 120)

        def job() -> Evaluation:
            from plugin.acquire.chain import Anchors  # file mode only: it needs cryptography, network checks do not
            from plugin.acquire.files import load_file

            presented = load_file(options.file, options.password_file)
            # The trust store completes the path the way it would in a handshake (and gives days_root).
            anchors = Anchors.load(options.cafile, options.capath)
            return evaluate(presented, _policy(options, name), datetime.now(timezone.utc), anchors=anchors,
                            check=within_budget)
    else:
        addresses: list[str | None] = [None]
        if options.address is not None:
            # --all-addresses: every address of --host, and those of -I too (a Zabbix or Nagios command that always
            # passes the host's address loses nothing by it).
            addresses = [None] * options.all_addresses + [
                item for value in options.address for item in split_addresses(value)]
        port, alpn = _port(options), _alpn(options.alpn)
        targets = [Target.build(options.host, port, address=address, sni=options.sni, family=options.family,
                                protocol=options.starttls, xmpp_domain=options.xmpp_domain, alpn=alpn,
                                proxy=options.via)
                   for address in addresses]
        # A list (even "-I 127.0.0.1,127.0.0.1", one address twice) asks for the per-address verdict and counts.
        by_address = len(targets) > 1 or options.all_addresses
        targets = list(dict.fromkeys(targets))
        endpoint = targets[0].endpoint

        def job() -> Evaluation:
            from plugin.acquire.probes import Fetches, acquire, plan  # network mode only
            from plugin.acquire.tls import Trust

            expected = None
            if options.expect_file is not None:  # found before any network I/O when it is bad
                from plugin.acquire.files import load_expected

                expected = load_expected(options.expect_file)
            trust = Trust(cafile=options.cafile, capath=options.capath, ignore=options.ignore_trust,
                          client=options.client)
            policy = _policy(options, targets[0].verify)
            probes = plan(targets, budget, every_address=options.all_addresses, key_types=options.all_key_types)
            fetches = Fetches(options.aia, options.crl, options.ocsp,
                              (options.acme_directory or True) if options.ari else False, options.cache)
            acquired = acquire(probes, trust, budget, fetches)
            if len(acquired) == 1 and not by_address:  # the default check: one handshake, its own verdict
                presented = acquired[0].presented
                if presented is None:
                    raise acquired[0].error or CheckError("the handshake gave no result")
                return evaluate(presented, policy, datetime.now(timezone.utc), expected=expected,
                                check=within_budget)
            from plugin.evaluate.combine import evaluate_all

            # A black hole among the addresses holds its probe until the budget is spent, so the chains the
            # others brought are evaluated in a short overtime, inside the whole-run safety net.
            overtime = Budget(_left(budget) + EVALUATION_OVERTIME)

            def within_overtime() -> None:
                overtime.remaining("the evaluation of the chains")

            return evaluate_all(acquired, policy, datetime.now(timezone.utc), expected=expected,
                                by_address=by_address, check=within_overtime)

    return endpoint, job


def _left(budget: Budget) -> float:
    try:
        return budget.remaining("the evaluation")
    except CheckError:
        return 0.0


def _port(options: argparse.Namespace) -> int:
    from plugin.target import parse_port

    if options.port is not None:
        return parse_port(options.port)
    if options.starttls is not None:
        return STARTTLS_PORTS[options.starttls]
    return 443


def _alpn(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    protocols = tuple(item.strip() for item in text.split(","))
    if not all(0 < len(item) < 256 and item.isascii() and item.isprintable() for item in protocols):
        raise UsageError(f"--alpn {text!r} is not a comma list of protocol names")
    return protocols


class _backstop:
    """Raise BackstopTimeout if the block runs longer than ``seconds`` (SIGALRM; sub-second via setitimer)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def _fire(self, signum: int, frame: object) -> None:
        raise BackstopTimeout(f"the check did not finish within its {self.seconds - BACKSTOP_GRACE:g}s timeout")

    def __enter__(self) -> None:
        self._armed = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
        if self._armed:
            self._previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc_info: object) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)


def _tolerant_stdout() -> None:
    """Never die on printing: a certificate may carry text that the locale's encoding cannot represent."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


def run() -> NoReturn:
    """Console-script entry point."""
    # One short-lived process: the cyclic garbage collector would only run 20-30 times for nothing (4-5 ms).
    gc.disable()
    sys.exit(main())


if __name__ == "__main__":
    run()
