"""--endpoint NAME[:PORT][;OPTION...] and --zabbix-discovery LIST: one endpoint and its options in one argument.

Zabbix discovery lists endpoints in a host macro; each discovered item passes its entry as the one value of
--endpoint. Asserted: the grammar (good and bad entries, named in the usage error), that an entry is checked
exactly as the same options given one by one (a real handshake with a private CA; STARTTLS through the real
exim keeps its protocol's default port unless the entry gives one), that the entry's options come after the
key's (an entry's -w overrides), and the discovery JSON: one row per distinct entry, whitespace-separated,
exit 0, one line, nothing on stderr, ``{"error": ...}`` for a wrong call. Hypothesis feeds arbitrary text to
both options: the contract holds for each.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from daemons_mail import Daemon
from hypothesis import given
from hypothesis import strategies as st
from pki import CA
from runner import run
from servers import refused_port

from check_tls_expiry import main
from plugin.endpoint_spec import parse_spec, split_list
from plugin.errors import UsageError

D = timedelta(days=1)


@pytest.mark.parametrize(("text", "argv"), [
    ("www.example.com", ["-H", "www.example.com"]),
    ("www.example.com:8443", ["-H", "www.example.com", "-p", "8443"]),
    ("192.0.2.10:443", ["-H", "192.0.2.10", "-p", "443"]),
    ("[2001:db8::1]:993;--starttls=imap", ["-H", "2001:db8::1", "-p", "993", "--starttls=imap"]),
    ("[2001:db8::1]", ["-H", "2001:db8::1"]),
    ("2001:db8::1", ["-H", "2001:db8::1"]),  # bare IPv6: no port can be meant
    ("mail.example.com;--starttls=smtp", ["-H", "mail.example.com", "--starttls=smtp"]),
    # short options with "=" are split (argparse would take "=20d" as the value); empty options vanish
    ("a.example;-w=20d;;-c=5d;--all-addresses;", ["-H", "a.example", "-w", "20d", "-c", "5d", "--all-addresses"]),
    ("a.example;-4", ["-H", "a.example", "-4"]),
    ("a.example;--issuer=O=Let's Encrypt,C=US", ["-H", "a.example", "--issuer=O=Let's Encrypt,C=US"]),
])
def test_spec_expands_to_the_options_it_stands_for(text: str, argv: list[str]) -> None:
    spec = parse_spec(text)
    assert spec.argv == argv and spec.text == text


@pytest.mark.parametrize(("text", "why"), [
    ("", "no host name"),
    (":443", "no host name"),
    ("a.example:", "'' after the ':' is not a TCP port"),
    ("a.example:0", "'0' after the ':' is not a TCP port (1-65535)"),
    ("a.example:65536", "'65536' after the ':'"),
    ("a.example:https", "'https' after the ':'"),
    ("[2001:db8::1", "write an IPv6 address as [ADDRESS] or [ADDRESS]:PORT"),
    ("[2001:db8::1]443", "write an IPv6 address as"),
    ("a.example;starttls=smtp", "'starttls=smtp' is not an option"),
    ("a.example;-", "'-' is not an option"),
    ("a.example;-vH=x", "'-vH=x' is not an option"),  # no clusters: they could hide a second -H
    ("a.example;-H=b.example", "-H is not allowed in an entry (the name comes first in the entry)"),
    ("a.example;--host=b.example", "--host is not allowed"),
    ("a.example;--port=25", "--port is not allowed in an entry (give the port as NAME:PORT)"),
    ("a.example;-p=25", "-p is not allowed"),
    ("a.example;--file=/etc/passwd", "--file is not allowed"),
    ("a.example;--endpoint=b.example", "--endpoint is not allowed"),
    ("a.example;--help", "--help is not allowed"),
    ("a.example;--version", "--version is not allowed"),
])
def test_bad_spec_is_a_usage_error_naming_the_entry(text: str, why: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_spec(text)
    assert raised.value.message.startswith(f"endpoint {text!r}: ") and why in raised.value.message


@pytest.mark.parametrize(("argv", "message"), [
    (["--endpoint", "a.example;--starttls=smpt"], ("endpoint 'a.example;--starttls=smpt': argument --starttls: "
                                                  "invalid choice: 'smpt'")),
    (["--endpoint", "a.example;--no-such-option"], "endpoint 'a.example;--no-such-option': unrecognized arguments"),
    (["--endpoint", "a.example;-w=soon"], "endpoint 'a.example;-w=soon': argument -w/--warning"),
    (["--endpoint", "a.example", "-H", "b.example"], "--endpoint cannot be used with -H/--host"),
    (["--endpoint", "a.example", "-p", "443"], "--endpoint cannot be used with -p/--port"),
    (["--endpoint", "a.example", "--file", "/dev/null"], "--endpoint cannot be used with --file"),
    (["--endpoint", "a.example:99999"], "endpoint 'a.example:99999': '99999' after the ':' is not a TCP port"),
])
def test_bad_endpoint_options_are_unknown_with_the_entry_named(capsys: pytest.CaptureFixture[str],
                                                                argv: list[str], message: str) -> None:
    outcome = run(capsys, *argv)
    assert outcome.code == 3 and outcome.status.startswith(f"TLS_EXPIRY UNKNOWN - {message}"), outcome.out


def test_an_entry_is_checked_like_its_options_given_one_by_one(tls_server, intermediate_ca: CA, root_pem: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    port = tls_server(intermediate_ca.leaf(not_after=20 * D), [intermediate_ca.issued])
    by_options = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "-w", "30d")
    by_entry = run(capsys, "--endpoint", f"localhost:{port};--cafile={root_pem};-w=30d")
    assert by_options.code == by_entry.code == 1
    assert by_entry.status == by_options.status and by_entry.perf.keys() == by_options.perf.keys()
    assert by_entry.perf["days_leaf"][1] == 30  # the warn threshold reached the evaluation
    # The entry's options come after the others: its -w beats the key's, as the README promises.
    overridden = run(capsys, "-w", "15d", "--endpoint", f"localhost:{port};--cafile={root_pem};-w=30d")
    assert overridden.code == 1 and overridden.perf["days_leaf"][1] == 30
    kept = run(capsys, "-w", "15d", "--endpoint", f"localhost:{port};--cafile={root_pem}")
    assert kept.code == 0 and kept.perf["days_leaf"][1] == 15


def test_failure_json_names_the_expanded_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    port = refused_port()
    assert main(["--output", "json", "--endpoint", f"127.0.0.1:{port};-t=2"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert err == "" and document["endpoint"] == f"127.0.0.1:{port}"
    assert document["result"] == {"value": "error", "message": f"cannot connect: 127.0.0.1:{port} refused the "
                                                                  "connection"}


def test_starttls_entry_keeps_the_protocols_default_port(capsys: pytest.CaptureFixture[str]) -> None:
    # No port in the entry: -p is not passed, so --starttls=smtp connects to 25 (the endpoint says so whether or
    # not anything listens there; -t keeps it short).
    assert main(["--output", "json", "--endpoint", "127.0.0.1;--starttls=smtp;-t=1"]) == 0
    assert json.loads(capsys.readouterr().out)["endpoint"] == "127.0.0.1:25"


def test_starttls_entry_with_a_private_ca_through_real_exim(exim_server: Daemon, root_pem: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    port = exim_server.port
    by_options = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", port, "--starttls", "smtp",
                     "--cafile", root_pem)
    by_entry = run(capsys, "--endpoint", f"localhost:{port};-I=127.0.0.1;--starttls=smtp;--cafile={root_pem}")
    assert by_entry.code == by_options.code == 0, by_entry.out
    assert by_entry.status == by_options.status and by_entry.perf.keys() == by_options.perf.keys()
    assert by_entry.status.startswith(f"TLS_EXPIRY OK - localhost:{port}: leaf 'localhost' expires first")
    assert by_entry.status.endswith("chain verified")


# --- --zabbix-discovery ----------------------------------------------------------------------------------------


def discover(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.endswith("\n") and out.count("\n") == 1 and out.isascii(), (out, err)
    return json.loads(out)


def row(entry: str, host: str = "", port: str = "", starttls: str = "") -> dict[str, str]:
    return {"{#TLS.ENDPOINT}": entry, "{#TLS.HOST}": host, "{#TLS.PORT}": port, "{#TLS.STARTTLS}": starttls}


def test_discovery_lists_one_row_per_distinct_entry(capsys: pytest.CaptureFixture[str]) -> None:
    listed = ("www.example.com  mail.example.com;--starttls=smtp\n[2001:db8::1]:8443;--cafile=/etc/ca.pem;-w=20d"
              "\n\tdb.example.com;--starttls=postgres;--alpn=postgresql\nwww.example.com\n")
    assert discover(capsys, "--zabbix-discovery", listed) == [
        row("www.example.com", "www.example.com", "443"),
        row("mail.example.com;--starttls=smtp", "mail.example.com", "25", "smtp"),
        row("[2001:db8::1]:8443;--cafile=/etc/ca.pem;-w=20d", "2001:db8::1", "8443"),
        row("db.example.com;--starttls=postgres;--alpn=postgresql", "db.example.com", "5432", "postgres"),
    ]
    assert discover(capsys, f"--zabbix-discovery={listed}") == discover(capsys, "--zabbix-discovery", listed)


def test_discovery_of_nothing_is_an_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    # An empty host macro: nothing to discover (Zabbix then removes the items after their lifetime).
    assert discover(capsys, "--zabbix-discovery", "") == []
    assert discover(capsys, "--zabbix-discovery", " \n\t ") == []


@pytest.mark.parametrize("entry", ["a.example:99999", "a.example;--starttls=smpt", "a.example;--help",
                                   "a.example;-w=soon", "[2001:db8::1"])
def test_discovery_lists_a_bad_entry_so_its_item_reports_why(capsys: pytest.CaptureFixture[str], entry: str) -> None:
    # Dropping it would hide the typo; failing the whole rule would stop the other endpoints' discovery. Listed,
    # its item runs and reports the usage error as a problem.
    assert discover(capsys, "--zabbix-discovery", f"ok.example {entry}") == [row("ok.example", "ok.example", "443"),
                                                                            row(entry)]
    assert main(["--output", "json", "--endpoint", entry]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["state"] == "UNKNOWN" and document["result"]["value"] == "error"
    assert document["endpoint"] == entry  # the item says which entry it is about


@pytest.mark.parametrize("argv", [
    ["--zabbix-discovery"],
    ["--zabbix-discovery", "a.example", "b.example"],
    ["--output", "json", "--zabbix-discovery", "a.example"],
    ["--zabbix-discovery", "a.example", "-v"],
])
def test_discovery_misuse_is_an_error_object(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert discover(capsys, *argv) == {
        "error": "--zabbix-discovery takes one argument, the list of endpoints, and no other option"}


def test_split_list_keeps_the_first_of_repeats_in_order() -> None:
    assert split_list("b a\nb\r\n\ta  c") == ["b", "a", "c"]


@given(st.text(max_size=200))
def test_any_endpoint_text_keeps_the_json_contract(text: str) -> None:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--output", "json", "-t", "0.5", "-I", "127.0.0.1", "--endpoint", text.replace("\x00", "")])
    assert code == 0 and out.getvalue().count("\n") == 1
    assert json.loads(out.getvalue())["state"] in ("OK", "WARNING", "CRITICAL", "UNKNOWN")


@given(st.text(max_size=300))
def test_any_discovery_list_gives_one_json_line(text: str) -> None:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--zabbix-discovery", text.replace("\x00", "")])
    document = json.loads(out.getvalue())
    assert code == 0 and out.getvalue().count("\n") == 1 and isinstance(document, list)
    assert [item["{#TLS.ENDPOINT}"] for item in document] == split_list(text.replace("\x00", ""))
