"""--max-validity and --issuer: the operator's rules for the leaf, one verdict on every code path.

Every certificate is checked against real ``openssl s_server`` endpoints on 127.0.0.1 (one handshake, the same
with --ignore-trust, and two addresses, 127.0.0.1 and 127.0.0.2 on one port, serving it), and as a ``--file``
bundle holding what the server sends (in that order, and leaf last); each in Nagios and in JSON output. The state, the finding's kind and label, and its sentence must be the same
everywhere (a finding of a check of several addresses says where: "on 127.0.0.1:P and 127.0.0.2:P, ...").

Validity periods are counted as the CA/Browser Forum counts them (Baseline Requirements 6.3.2): notBefore through
notAfter inclusive, so a leaf made with ``not_after - not_before = 398 days - 1 s`` is 398 days, and exactly
398 days between the two is 399.

Nothing here resolves a name: every network run connects to a literal loopback address (``-I``).
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pki import CA, Issued, write_pem
from runner import Outcome, run
from servers import openssl_server
from test_one_verdict import run_json as one_verdict_json

from check_tls_expiry import main

# The hostile names are longer than X.509 allows; cryptography warns while building them, on purpose here.
pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length")

REPO = Path(__file__).resolve().parent.parent
D = timedelta(days=1)
S = timedelta(seconds=1)
HOST = "localhost"
#: A CA name with several attributes, one of them with a comma (escaped in RFC 4514 as "\,").
RICH_NAME = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                       x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Trust, Inc."),
                       x509.NameAttribute(NameOID.COMMON_NAME, "Example TLS CA R1")])
RICH_RFC4514 = "CN=Example TLS CA R1,O=Example Trust\\, Inc.,C=US"
EVIL = "evil|days=9999;1;1 x=1\nTLS_EXPIRY CRITICAL - forged | days=1\r\u2028\u202e"


def named_root(name: x509.Name) -> CA:
    """A self-signed root CA with any subject (pki's CA.root takes only a CN)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    usage = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - 365 * D)
            .not_valid_after(now + 3650 * D)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return CA(Issued(cert, key))


def days_leaf(issuer: CA, validity_days: int, *, left: int = 60) -> Issued:
    """A leaf whose validity period is ``validity_days`` as the CA/Browser Forum counts it (notAfter is
    notBefore + days - 1 s, as careful CAs issue), with ``left`` days to go."""
    return issuer.leaf((HOST,), not_before=(left - validity_days) * D, not_after=left * D - S)


# --- running every path ------------------------------------------------------------------------------------------

@contextlib.contextmanager
def two_addresses(tmp_path: Path, first: Issued, second: Issued, chain: Sequence[Issued]) -> Iterator[int]:
    """``first`` served on 127.0.0.1 and ``second`` on 127.0.0.2, on one port (yielded)."""
    for _ in range(5):
        attempt = ExitStack()
        try:
            port = attempt.enter_context(openssl_server(tmp_path, first, chain, host="127.0.0.1"))
            attempt.enter_context(openssl_server(tmp_path, second, chain, host="127.0.0.2", port=port))
        except (RuntimeError, OSError):  # the port is taken on 127.0.0.2: start again on another one
            attempt.close()
            continue
        with attempt:
            yield port
        return
    raise RuntimeError("could not start servers on 127.0.0.1 and 127.0.0.2 on one port")


def run_json(*argv: object) -> dict[str, Any]:
    return one_verdict_json(argv)  # the JSON contract, checked once (tests/test_one_verdict.py)


def status_text(outcome: Outcome, endpoint: str) -> str:
    """The status line's text after ``TLS_EXPIRY STATE - endpoint: ``."""
    prefix = f"TLS_EXPIRY {('OK', 'WARNING', 'CRITICAL', 'UNKNOWN')[outcome.code]} - {endpoint}: "
    assert outcome.status.startswith(prefix), (prefix, outcome.out)
    return outcome.status[len(prefix):]


def every_path(capsys: pytest.CaptureFixture[str], tmp_path: Path, leaf: Issued, chain: Sequence[Issued],
               root: CA, *policy: str) -> dict[str, tuple[Outcome, dict[str, Any], str]]:
    """Run name -> (Nagios outcome, JSON document, the "on A and B, " prefix a multi-address finding carries)."""
    cafile = write_pem(tmp_path / "root.pem", root.issued)
    bundles = {"file": write_pem(tmp_path / "bundle.pem", leaf, *chain),
               "file, leaf last": write_pem(tmp_path / "shuffled.pem", *chain, leaf)}
    runs: dict[str, tuple[Outcome, dict[str, Any], str]] = {}
    with two_addresses(tmp_path, leaf, leaf, chain) as port:
        one = ("-H", HOST, "-I", "127.0.0.1", "-p", port, "--cafile", cafile, *policy)
        both = ("-H", HOST, "-I", "127.0.0.1,127.0.0.2", "-p", port, "--cafile", cafile, *policy)
        runs["handshake"] = (run(capsys, *one), run_json(*one), "")
        runs["ignore-trust"] = (run(capsys, *one, "--ignore-trust"), run_json(*one, "--ignore-trust"), "")
        runs["two addresses"] = (run(capsys, *both), run_json(*both),
                                 f"on 127.0.0.1:{port} and 127.0.0.2:{port}, ")
        endpoint = f"{HOST}:{port}"
    for name, bundle in bundles.items():
        file = ("--file", bundle, "-H", HOST, "--cafile", cafile, *policy)
        runs[name] = (run(capsys, *file), run_json(*file), "")
    for name, (outcome, document, _) in runs.items():
        shown = str(bundles[name]) if name in bundles else endpoint
        assert document["message"] == status_text(outcome, shown), (name, outcome.out, document["message"])
    return runs


def one_verdict(runs: dict[str, tuple[Outcome, dict[str, Any], str]], state: str,
                kind: str | None, message: str | None) -> list[dict[str, Any]]:
    """Every run has ``state``; with ``kind``, exactly one problem, of that kind, on the leaf, saying ``message``
    (after the run's address prefix). Returns the findings of that kind, one per run."""
    found = []
    for name, (outcome, document, where) in runs.items():
        assert (document["state"], outcome.code) == (state, ("OK", "WARNING", "CRITICAL").index(state)), \
            (name, outcome.out)
        problems = [finding for finding in document["findings"] if finding["state"] != "OK"]
        if kind is None:
            assert not problems, (name, problems)
            assert [finding["kind"] for finding in document["findings"]] == ["healthy"], name
            continue
        assert [(f["kind"], f["state"], f.get("label")) for f in problems] == [(kind, state, "leaf")], (name, problems)
        assert problems[0]["message"] == where + message, (name, problems[0]["message"])
        assert document["message"] == where + message + (" (none of the 2 addresses is fine)" if where else ""), name
        found.append(problems[0])
    return found


# --- --max-validity ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    root = CA.root("Policy Root CA")
    return root, root.intermediate("Policy Intermediate CA")


def test_a_398_day_leaf_warns_under_max_validity_200_on_every_path(capsys, tmp_path: Path,
                                                                   pki: tuple[CA, CA]) -> None:
    root, inter = pki
    leaf = days_leaf(inter, 398)
    runs = every_path(capsys, tmp_path, leaf, [inter.issued], root, "--max-validity", "200")
    found = one_verdict(runs, "WARNING", "max_validity_exceeded",
                        "leaf 'localhost' is valid for 398 days, more than --max-validity 200")
    assert [(f["validity_days"], f["max_validity_days"]) for f in found] == [(398, 200)] * len(runs)
    for _, document, _ in runs.values():
        assert document["result"]["value"] == "valid"  # clients accept it: only the operator's rule does not
    # Perfdata still describe expiry, and the healthy-path thresholds are untouched.
    for outcome, _, _ in runs.values():
        assert outcome.perf["days_leaf"][0] == pytest.approx(60, abs=0.02)


def test_a_90_day_leaf_is_ok_under_max_validity_200_on_every_path(capsys, tmp_path: Path,
                                                                  pki: tuple[CA, CA]) -> None:
    root, inter = pki
    runs = every_path(capsys, tmp_path, days_leaf(inter, 90), [inter.issued], root, "--max-validity", "200")
    one_verdict(runs, "OK", None, None)


@pytest.mark.parametrize(("span", "limit", "shown"), [
    (200 * D - S, "200", None),   # 200 days as counted: at the limit, not above it
    (200 * D, "200", 201),        # notAfter - notBefore = 200 days is 200 days and 1 s: a started day counts
    (47 * D - S, "47", None),
    (47 * D + 3600 * S, "47", 48),
    (90 * D - S, "89", 90),       # a Let's Encrypt leaf (90 days - 1 s) against a lower limit
], ids=["200-at-limit", "200-plus-1s", "47-at-limit", "47-plus-1h", "acme-90-over-89"])
def test_the_validity_period_is_counted_as_the_ca_browser_forum_counts(root_ca: CA, tmp_path: Path, capsys,
                                                                       span: timedelta, limit: str,
                                                                       shown: int | None) -> None:
    left = timedelta(days=span.days // 2)  # half of it left: no expiry finding with the default thresholds
    leaf = root_ca.leaf((HOST,), not_before=left - span, not_after=left)
    result = run(capsys, "--file", write_pem(tmp_path / "leaf.pem", leaf), "--max-validity", limit)
    if shown is None:
        assert result.code == 0, result.out
    else:
        assert result.code == 1, result.out
        assert status_text(result, str(tmp_path / "leaf.pem")) == \
            f"leaf 'localhost' is valid for {shown} days, more than --max-validity {limit}"


def test_max_validity_judges_only_the_leaf(root_ca: CA, tmp_path: Path, capsys) -> None:
    """The chain's CAs live for years: only the end-entity certificate is judged; a root alone in --file (or a
    self-signed CA certificate, wherever it is) is not."""
    inter = root_ca.intermediate("Long Intermediate", not_after=3000 * D)
    leaf = days_leaf(inter, 90)
    bundle = write_pem(tmp_path / "bundle.pem", leaf, inter.issued, root_ca.issued)
    assert run(capsys, "--file", bundle, "--max-validity", "47").code == 1  # the 90-day leaf, nothing else
    assert run(capsys, "--file", bundle, "--max-validity", "90").code == 0
    lone_root = write_pem(tmp_path / "root.pem", root_ca.issued)
    assert run(capsys, "--file", lone_root, "--max-validity", "47").code == 0


def test_max_validity_is_said_by_the_address_that_serves_it(capsys, tmp_path: Path, pki: tuple[CA, CA]) -> None:
    root, inter = pki
    cafile = write_pem(tmp_path / "root.pem", root.issued)
    good, bad = days_leaf(inter, 90), days_leaf(inter, 398)
    with two_addresses(tmp_path, good, bad, [inter.issued]) as port:
        argv = ("-H", HOST, "-I", "127.0.0.1,127.0.0.2", "-p", port, "--cafile", cafile, "--max-validity", "200")
        result = run(capsys, *argv)
        document = run_json(*argv)
    said = f"on 127.0.0.2:{port}, leaf 'localhost' is valid for 398 days, more than --max-validity 200"
    assert result.code == 1 and status_text(result, f"{HOST}:{port}") == f"{said} (1 other address fine)"
    assert result.perf["addresses_failing"][0] == 1
    problems = [f for f in document["findings"] if f["state"] != "OK"]
    assert problems == [{"kind": "max_validity_exceeded", "state": "WARNING", "message": said, "label": "leaf",
                         "addresses": [f"127.0.0.2:{port}"], "validity_days": 398, "max_validity_days": 200}]


def test_max_validity_keeps_a_healthy_check_free_of_cryptography(tls_server, pki: tuple[CA, CA],
                                                                 tmp_path: Path) -> None:
    """The validity period comes from OpenSSL's own parse (README "Speed"): a CA-issued leaf needs no
    cryptography, with or without --max-validity."""
    root, inter = pki
    port = tls_server(days_leaf(inter, 90), [inter.issued])
    cafile = write_pem(tmp_path / "root.pem", root.issued)
    probe = ("import sys, check_tls_expiry\n"
             "code = check_tls_expiry.main(sys.argv[1:])\n"
             "print('cryptography' in sys.modules, code)\n")
    for policy in ((), ("--max-validity", "200")):
        done = subprocess.run([sys.executable, "-c", probe, "-H", HOST, "-I", "127.0.0.1", "-p", str(port),
                               "--cafile", str(cafile), *policy], capture_output=True, text=True, check=False,
                              cwd=REPO, timeout=60)
        lines = done.stdout.splitlines()
        assert lines[0].startswith("TLS_EXPIRY OK - ") and lines[-1] == "False 0", done.stdout + done.stderr


# --- --issuer ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rich() -> CA:
    return named_root(RICH_NAME)


@pytest.mark.parametrize("issuer", [
    ["example tls ca"],                       # the CN, in another case
    ["EXAMPLE TLS CA R1"],
    ["cn=example tls ca r1,o=example trust"],  # the RFC 4514 name
    ["O=Example Trust\\, Inc."],              # ... with its escape
    ["Example Trust, Inc."],                  # an attribute value as written (RFC 4514 escapes its comma)
    ["Let's Encrypt", "Example TLS"],         # repeatable: any one is enough (a CA migration)
], ids=["cn-lower", "cn-upper", "rfc4514", "rfc4514-escaped", "value-with-comma", "any-of-two"])
def test_a_matching_issuer_is_ok_on_every_path(capsys, tmp_path: Path, rich: CA, issuer: list[str]) -> None:
    policy = [item for text in issuer for item in ("--issuer", text)]
    runs = every_path(capsys, tmp_path, days_leaf(rich, 90), [], rich, *policy)
    one_verdict(runs, "OK", None, None)


@pytest.mark.parametrize(("issuer", "expected"), [
    (["Let's Encrypt"], "'Let's Encrypt'"),
    (["R11", "Example TLS CA R2"], "'R11' or 'Example TLS CA R2'"),
    (["C=DE"], "'C=DE'"),
], ids=["one", "two", "country"])
def test_another_issuer_is_critical_on_every_path(capsys, tmp_path: Path, rich: CA, issuer: list[str],
                                                  expected: str) -> None:
    policy = [item for text in issuer for item in ("--issuer", text)]
    runs = every_path(capsys, tmp_path, days_leaf(rich, 90), [], rich, *policy)
    found = one_verdict(runs, "CRITICAL", "issuer_mismatch",
                        f"leaf 'localhost' is issued by '{RICH_RFC4514}', expected {expected}")
    assert [(f["issuer"], f["expected"]) for f in found] == [(RICH_RFC4514, issuer)] * len(runs)
    for _, document, _ in runs.values():
        assert document["result"]["value"] == "invalid"  # like a pin mismatch: not the certificate expected


def test_a_self_signed_replacement_is_caught(tmp_path: Path, capsys) -> None:
    """What --issuer is for: the CA's certificate replaced by a self-signed one (here a CA:TRUE one, as
    ``openssl req -x509`` makes), with --ignore-trust or in a file, where no trust finding says so."""
    impostor = named_root(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
    path = write_pem(tmp_path / "impostor.pem", impostor.issued)
    result = run(capsys, "--file", path, "--issuer", "Example TLS CA")
    assert result.code == 2
    assert status_text(result, str(path)) == "root 'localhost' is issued by 'CN=localhost', expected 'Example TLS CA'"
    assert run(capsys, "--file", path, "--issuer", "LOCALHOST").code == 0


def test_issuer_and_max_validity_together(capsys, tmp_path: Path, rich: CA) -> None:
    """Both rules, one leaf: the CRITICAL issuer leads, the WARNING follows, on every path."""
    runs = every_path(capsys, tmp_path, days_leaf(rich, 398), [], rich, "--issuer", "R11", "--max-validity", "200")
    for name, (outcome, document, where) in runs.items():
        assert outcome.code == 2 and document["state"] == "CRITICAL", name
        kinds = [(f["kind"], f["state"]) for f in document["findings"]]
        assert kinds == [("issuer_mismatch", "CRITICAL"), ("max_validity_exceeded", "WARNING")], (name, kinds)
        assert document["message"].startswith(f"{where}leaf 'localhost' is issued by '{RICH_RFC4514}', expected "
                                              f"'R11' - {where}leaf 'localhost' is valid for 398 days"), name


# --- hostile issuers ---------------------------------------------------------------------------------------------

def _evil_root() -> CA:
    return named_root(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, EVIL, _validate=False)]))


@pytest.mark.parametrize("verbose", [[], ["-v"], ["-vvv"]])
def test_a_hostile_issuer_cannot_forge_output(tls_server, tmp_path: Path, capsys, verbose: list[str]) -> None:
    evil = _evil_root()
    leaf = days_leaf(evil, 398)
    path = write_pem(tmp_path / "evil.pem", leaf)
    port = tls_server(leaf)
    for argv in (("--file", path), ("-H", HOST, "-I", "127.0.0.1", "-p", port, "--ignore-trust")):
        result = run(capsys, *argv, "--issuer", "Example TLS CA", "--max-validity", "200", *verbose)
        assert result.code == 2, result.out
        assert [line for line in result.lines if line.startswith("TLS_EXPIRY")] == [result.lines[0]]
        assert set(result.perf) == {"days", "days_leaf"}  # and a valid "time" in network mode (run() checks it)
        # RFC 4514 escapes ";" as "\\;", and the Nagios presenter the ";" itself (Nagios would rewrite it to ":").
        assert "is issued by 'CN=evil\\x7cdays=9999\\\\x3b1\\\\x3b1 x=1\\x0aTLS_EXPIRY CRITICAL - forged \\x7c " \
               "days=1\\x0d\\u2028\\u202e', expected 'Example TLS CA'" in result.status, result.status
        for line in result.lines:
            assert "\r" not in line and "\u2028" not in line and "\u202e" not in line
        document = run_json(*argv, "--issuer", "Example TLS CA")
        finding = next(f for f in document["findings"] if f["kind"] == "issuer_mismatch")
        assert "\n" not in finding["issuer"] and "|" not in finding["issuer"], finding
        # The hostile text is matched as what it is: it contains this.
        assert run(capsys, *argv, "--issuer", "EVIL|DAYS=9999", *verbose).code == 0


def test_a_hostile_expected_text_is_escaped_too(root_ca: CA, tmp_path: Path, capsys) -> None:
    path = write_pem(tmp_path / "leaf.pem", days_leaf(root_ca, 90))
    result = run(capsys, "--file", path, "--issuer", "x|y=1\nTLS_EXPIRY OK - fine")
    assert result.code == 2 and len(result.lines) == 1, result.out
    assert result.status.endswith("expected 'x\\x7cy=1\\x0aTLS_EXPIRY OK - fine'"), result.status


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)


@settings(max_examples=40, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cn=_TEXT, wanted=_TEXT, as_json=st.booleans())
def test_any_issuer_and_any_text_keep_the_contract(tmp_path: Path, cn: str, wanted: str, as_json: bool) -> None:
    """Whatever the issuer's CN and the --issuer text: a verdict (or a usage error for a blank text), never an
    internal error, one status line, and OK exactly when the CN as written or the RFC 4514 name contains it."""
    from runner import assert_contract

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn, _validate=False)])
    path = write_pem(tmp_path / "leaf.pem", days_leaf(named_root(name), 90))
    argv = ["--file", str(path), f"--issuer={wanted}", "--max-validity=100"]
    if as_json:
        document = run_json(*argv)
        assert "internal error" not in document["message"], document
        state = document["state"]
    else:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(argv)
        outcome = assert_contract(code, out.getvalue())
        assert "internal error" not in outcome.status and \
            not any(line.startswith("TLS_EXPIRY") for line in outcome.lines[1:]), outcome.out
        state = ("OK", "WARNING", "CRITICAL", "UNKNOWN")[code]
    if not wanted.strip():
        assert state == "UNKNOWN"
    else:
        matches = any(wanted.casefold() in value.casefold() for value in (cn, name.rfc4514_string()))
        assert state == ("OK" if matches else "CRITICAL"), (state, cn, wanted)


# --- several handshakes without a network: key types ------------------------------------------------------------

def test_a_key_type_handshake_with_another_leaf_says_which_chain(root_ca: CA) -> None:
    """--all-key-types: the RSA handshake brought a different leaf, also too long: said for the RSA chain."""
    from plugin.acquire.presented import Presented, Verification
    from plugin.evaluate import Policy, evaluate
    from plugin.evaluate.combine import combine
    from plugin.evaluate.findings import Kind, ProbeOutcome
    from plugin.present.sentences import sentence
    from plugin.thresholds import parse_threshold

    inter = root_ca.intermediate("Key Type Intermediate")
    now = datetime.now(timezone.utc)
    policy = Policy(parse_threshold("30d,25%"), parse_threshold("14d,10%"), max_validity=200)

    def shown(leaf: Issued) -> Presented:
        sent = ((leaf.der, None), (inter.issued.der, None))
        return Presented(certificates=sent, verification=Verification(attempted=True, name_matched=True),
                         path=(*sent, (root_ca.issued.der, None)), tls_version="TLSv1.2", peer="127.0.0.1:443")

    ec_leaf = days_leaf(inter, 398)
    rsa_leaf = inter.leaf((HOST,), not_before=-300 * D, not_after=98 * D - S, key_type="rsa")
    outcomes = [ProbeOutcome("127.0.0.1:443", None, evaluate(shown(ec_leaf), policy, now)),
                ProbeOutcome("127.0.0.1:443", "RSA", evaluate(shown(rsa_leaf), policy, now)),
                ProbeOutcome("127.0.0.1:443", "ECDSA", evaluate(shown(ec_leaf), policy, now))]
    result = combine(outcomes, by_address=False)
    assert [(f.kind, f.key_type) for f in result.problems] == [(Kind.MAX_VALIDITY_EXCEEDED, None),
                                                               (Kind.MAX_VALIDITY_EXCEEDED, "RSA")]
    assert [sentence(f) for f in result.problems] == [
        "leaf 'localhost' is valid for 398 days, more than --max-validity 200",
        "the RSA chain: leaf 'localhost' is valid for 398 days, more than --max-validity 200"]


# --- the record both parses fill -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    RICH_NAME,
    x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "No CN Here")]),
    x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "First"), x509.NameAttribute(NameOID.COMMON_NAME, "Second")]),
    x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bücher CA ☃")]),
], ids=["rich", "no-cn", "two-cns", "unicode"])
def test_both_parses_agree_on_the_issuer_cn(name: x509.Name, tmp_path: Path) -> None:
    """CertInfo.issuer_cn from OpenSSL's view (a handshake) is cryptography's (a file)."""
    import _ssl

    from plugin.certinfo import CertInfo

    leaf = days_leaf(named_root(name), 90)
    view = _ssl._test_decode_cert(str(write_pem(tmp_path / "leaf.pem", leaf)))  # type: ignore[attr-defined]
    fast, full = CertInfo.from_handshake(leaf.der, view), CertInfo.from_der(leaf.der)
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert fast.issuer_cn == full.issuer_cn == (cns[0].value if cns else None)
    assert fast.subject_cn == full.subject_cn == HOST


# --- usage errors --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "message"), [
    (["--max-validity", "0"], "--max-validity '0' is not a whole number of days from 1 to 36500"),
    (["--max-validity=-5"], "--max-validity '-5' is not a whole number of days"),
    (["--max-validity", "-5"], "argument --max-validity: expected one argument"),  # argparse: -5 is an option
    (["--max-validity", "abc"], "--max-validity 'abc' is not a whole number of days"),
    (["--max-validity", "200.5"], "--max-validity '200.5' is not a whole number of days"),
    (["--max-validity", "200d"], "--max-validity '200d' is not a whole number of days"),
    (["--max-validity", "²"], "--max-validity '²' is not a whole number of days"),  # isdigit() says yes
    (["--max-validity", "36501"], "--max-validity '36501' is not a whole number of days from 1 to 36500"),
    (["--max-validity", "9" * 5000], "is not a whole number of days"),  # never int(): it refuses 4300+ digits
    (["--max-validity"], "argument --max-validity: expected one argument"),
    (["--issuer", ""], "--issuer '' is empty"),
    (["--issuer", "  "], "--issuer '  ' is empty"),
    (["--issuer", "R11", "--issuer", ""], "--issuer '' is empty"),
])
@pytest.mark.parametrize("mode", [["-H", HOST, "-I", "127.0.0.1"], ["--file", "x.pem"]], ids=["network", "file"])
def test_bad_policy_values_are_usage_errors(argv: list[str], message: str, mode: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*mode, *argv]) == 3
    out, err = capsys.readouterr()
    first, _, rest = out.partition("\n")
    assert first.startswith("TLS_EXPIRY UNKNOWN - ") and message in first, first
    assert rest.startswith("usage: check_tls_expiry") and "|" not in out and err == ""
    document = run_json(*mode, *argv)
    assert document["state"] == "UNKNOWN" and message in document["message"]


def test_help_describes_both_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 3
    out = " ".join(capsys.readouterr().out.split())
    assert "--issuer TEXT CRITICAL unless the leaf's issuer contains TEXT" in out
    assert "repeatable: any one matching is enough" in out
    assert "--max-validity DAYS WARNING when the leaf's validity period is longer than DAYS" in out
    assert "off by default" in out
