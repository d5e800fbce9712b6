"""Every usage error: exit 3, a `TLS_EXPIRY UNKNOWN - <sentence>` first line, then the usage, all on stdout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from check_tls_expiry import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give an endpoint with -H/--host"),
        (["-H"], "-H/--host: expected one argument"),
        (["-H", "localhost", "--bogus"], "unrecognized arguments: --bogus"),
        (["-H", "localhost", "extra"], "unrecognized arguments: extra"),
        (["--hos", "localhost"], "unrecognized arguments"),  # no silent abbreviations
        (["-H", "localhost", "-p", "0"], "--port '0' is not a TCP port"),
        (["-H", "localhost", "-p", "https"], "--port 'https' is not a TCP port"),
        (["-H", "localhost", "-p", "²"], "--port '²' is not a TCP port"),  # str.isdigit() says yes, int() says no
        (["-H", "localhost", "-w", "３０d"], "'３０d' is not a threshold"),
        (["-H", "localhost", "-w", "9" * 120], "is more than a century"),  # 9 * 400 would be float inf
        (["-H", "localhost", "-w", "abc"], "'abc' is not a threshold"),
        (["-H", "localhost", "-c", "30x"], "'30x' is not a threshold"),
        (["-H", "localhost", "-w", "150%"], "more than 100%"),
        (["-H", "localhost", "-w", "10", "-c", "20"], "-w 10d never fires first: with -c 20d a 398-day certificate"),
        (["-H", "localhost", "-w", "5%", "-c", "10%"], "-w 5% never fires first"),
        (["-H", "localhost", "-w", "7"], ("-w 7d never fires first: with -c 14d,10% a 398-day certificate turns "
                                         "CRITICAL at 14 days left, before WARNING at 7 days left")),
        (["-H", "localhost", "-w", "30d,25%", "-c", "40d"], "-w 30d,25% never fires first"),
        (["-H", "localhost", "-t", "0"], "not a number of seconds"),
        (["-H", "localhost", "-t", "soon"], "not a number of seconds"),
        (["-H", "localhost", "-4", "-6"], "not allowed with argument"),
        (["-H", "localhost", "-6", "-I", "127.0.0.1"], "-6 conflicts with the IPv4 address 127.0.0.1"),
        (["-H", "a..b"], "'a..b' is not a valid host name"),
        (["-H", "☃.net"], "not a valid internationalised host name"),
        (["-H", "localhost", "--sni", "bad name"], "--sni 'bad name' is not a valid host name"),
        (["-H", "localhost", "-I", "not an address"], "--address 'not an address' is not a valid host name"),
        (["--file", "x.pem", "-I", "127.0.0.1"], "--address cannot be used with --file"),
        (["--file", "x.pem", "--cafile", "ca.pem"], "--cafile ca.pem does not exist or is not a file"),
        (["-H", "localhost", "--cafile", "/"], "--cafile / is a directory (use --capath)"),
        (["-H", "localhost", "--capath", "/nonexistent-capath"], "--capath /nonexistent-capath is not a directory"),
        (["--file", "x.pem", "-4"], "-4/-6 cannot be used with --file"),
        (["-H", "localhost", "--starttls", "gopher"], "argument --starttls: invalid choice: 'gopher'"),
        (["-H", "localhost", "--xmpp-domain", "example.com"], "--xmpp-domain only applies to --starttls xmpp"),
        (["-H", "127.0.0.1", "--starttls", "xmpp"], "--starttls xmpp needs an XMPP domain: give --xmpp-domain"),
        (["-H", "localhost", "--starttls", "xmpp", "--xmpp-domain", "bad domain"], "--xmpp-domain 'bad domain'"),
        (["-H", "localhost", "--alpn", ",,"], "--alpn ',,' is not a comma list of protocol names"),
        (["-H", "localhost", "--output", "xml"], "argument --output: invalid choice: 'xml'"),
        (["--file", "x.pem", "--starttls", "smtp"], "--starttls cannot be used with --file"),
        (["--file", "x.pem", "-p", "25"], "--port cannot be used with --file"),
    ],
)
def test_usage_error(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 3
    out, err = capsys.readouterr()
    first, _, rest = out.partition("\n")
    assert first.startswith("TLS_EXPIRY UNKNOWN - ")
    assert message in first
    assert rest.startswith("usage: check_tls_expiry")
    assert "|" not in out  # argparse's "[-4 | -6]" would start perfdata in Nagios' long output
    assert err == ""


def test_help_exits_3_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 3
    out, err = capsys.readouterr()
    assert out.startswith("usage: check_tls_expiry") and "--ignore-trust" in out and "30d,25%" in out
    assert err == ""


def test_version_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    from plugin import __version__

    assert main(["-V"]) == 3
    assert capsys.readouterr().out == f"check_tls_expiry {__version__}\n"


def test_usage_fits_the_guidelines(capsys: pytest.CaptureFixture[str]) -> None:
    main([])
    usage = capsys.readouterr().out.split("\n", 1)[1]
    lines = usage.splitlines()
    assert len(lines) <= 23 and all(len(line) <= 80 for line in lines)


def test_the_starttls_ports_of_the_parser_are_the_registry() -> None:
    """The parser keeps its own copy of the protocol list so that a healthy check does not import them all."""
    import check_tls_expiry
    from plugin.acquire.starttls import REGISTRY

    assert check_tls_expiry.STARTTLS_PORTS == {name: negotiator.default_port for name, negotiator in REGISTRY.items()}


def test_a_pin_whose_base64_starts_with_a_slash_is_read_in_both_forms(root_ca, tmp_path, capsys) -> None:
    """Base64 may begin with "/": curl's ``sha256///...`` and the short ``sha256//...`` are the same pin."""
    import base64

    from pki import write_pem
    from runner import run

    path = write_pem(tmp_path / "leaf.pem", root_ca.leaf(not_after=timedelta(days=200)))
    digest = base64.b64encode(b"\xfc" + bytes(31)).decode("ascii")
    assert digest.startswith("/")
    for pin in (f"sha256//{digest}", f"sha256/{digest}"):
        result = run(capsys, "--file", path, "--pin", pin)
        assert result.code == 2 and "(1 pin given, the leaf's is sha256//" in result.status, pin
