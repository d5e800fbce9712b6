"""Property-based tests: whatever the certificates, arguments or evaluation, the output obeys the operator contract.

The contract, checked on every example (``check_output``):

* nothing raises out of ``main()`` and nothing is written to stderr (warnings included);
* Nagios mode: exit code 0-3; the first line is ``TLS_EXPIRY <STATE> - `` with the state of the exit code; no
  other line starts like a status line; no line breaks other than ``\\n`` (no ``\\r``, ``\\x85``, U+2028...); at
  most one ``|`` in the whole output, and what follows it is perfdata in the grammar
  ``label=value[uom];warn;crit;min;max`` (labels ``[a-z0-9_]+``, plain numbers with at most two decimals, never an
  exponent, ``inf`` or ``nan``); no traceback and no "internal error" (the safety net is not a code path);
* JSON mode (``--output json``): exit code 0, exactly one line of strict JSON (no ``NaN``/``Infinity``) whose
  ``state`` and ``state_id`` agree.

``--help`` and ``--version`` are the one sanctioned exception: they print help or the version and exit 3.

Nothing here resolves a name or leaves the machine: every argument example that can reach the connect phase ends
with ``-I 127.0.0.1 -t 1``, and its port numbers are replaced by one where nothing listens on 127.0.0.1.

Example counts come from a hypothesis settings profile chosen with the environment variable
``HYPOTHESIS_PROFILE``: ``ci`` (the default, bounded so that this file runs in well under a minute on two cores)
or ``long`` (a campaign):

    HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py --hypothesis-show-statistics

``fuzz/fuzz_certificate.py`` (atheris, coverage-guided) reuses :func:`run_main` and :func:`check_output`.
"""

from __future__ import annotations

import _ssl  # _test_decode_cert: OpenSSL's certificate decoder, as get_info() uses it
import contextlib
import io
import ipaddress
import json
import math
import os
import re
import ssl
import tempfile
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from runner import TIME_ITEM

from check_tls_expiry import main

# --- settings profiles -------------------------------------------------------------------------------------------

_COMMON: dict[str, Any] = {
    "deadline": None,  # one example runs the whole plugin; timing varies with the machine
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,  # a failure prints a @reproduce_failure line
}
settings.register_profile("ci", max_examples=150, **_COMMON)
settings.register_profile("long", max_examples=20_000, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
# Applied per test rather than with load_profile(), so that other test files keep hypothesis' own defaults.
FUZZ = settings.get_profile(PROFILE)

# --- the operator contract ---------------------------------------------------------------------------------------

STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
_NUMBER = r"-?\d+(?:\.\d{1,2})?"
_UOM = r"(?:s|ms|us|%|B|KB|MB|TB|c)?"
PERF_ITEM = re.compile(rf"(?P<label>[a-z0-9_]+)=(?P<value>{_NUMBER}){_UOM}(?:;(?:{_NUMBER})?){{0,4}}")
# Warnings a real process would print on stderr (DeprecationWarning & co. are hidden by the default filters).
_SILENT_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def run_main(argv: Sequence[str]) -> tuple[int, str, str]:
    """Run the plugin in-process; return (exit code, stdout, stderr). Shown warnings count as stderr."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    shown = [f"{w.category.__name__}: {w.message}\n" for w in caught if not issubclass(w.category, _SILENT_WARNINGS)]
    return code, out.getvalue(), err.getvalue() + "".join(shown)


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON (the plugin decides this before parsing, so do we)."""
    return any(arg == "--output=json" or (arg == "--output" and argv[i + 1 : i + 2] == ["json"])
               for i, arg in enumerate(argv))


def is_help_or_version(argv: Sequence[str], code: int, out: str) -> bool:
    """``--help``/``--version`` (also inside combined short flags such as ``-vV``) print no status line."""
    asked = any(arg in ("--help", "--version") or re.match(r"-[^-]*[hV]", arg) for arg in argv)
    printed = out.startswith("usage: check_tls_expiry") and "show this help message" in out
    printed = printed or re.fullmatch(r"check_tls_expiry \S+\n", out) is not None
    return asked and printed and code == 3


def perfdata(text: str) -> dict[str, str]:
    """Parse the text after ``|``: label -> item. Asserts the grammar."""
    items: dict[str, str] = {}
    for item in text.split():
        # The handshake time has six decimals and a unit (runner.TIME_ITEM); only a real handshake prints it.
        assert PERF_ITEM.fullmatch(item) or TIME_ITEM.fullmatch(item), f"perfdata item {item!r} does not parse"
        label = item.split("=", 1)[0]
        assert label not in items, f"duplicate perfdata label {label!r}"
        items[label] = item
    assert items, "a '|' without perfdata after it"
    return items


def check_nagios(code: int, out: str) -> None:
    assert code in range(4), f"exit code {code}"
    assert out.endswith("\n"), f"no final newline: {out!r}"
    lines = out[:-1].split("\n")
    assert out.splitlines() == lines, f"a line break other than \\n: {out!r}"
    assert lines[0].startswith(f"TLS_EXPIRY {STATES[code]} - "), f"status line does not match exit {code}: {out!r}"
    assert not any(line.startswith("TLS_EXPIRY ") for line in lines[1:]), f"a second status line: {out!r}"
    # Line starts and the safety net's own wording: certificate text can say anything, but cannot start a line.
    assert not re.match(r"TLS_EXPIRY UNKNOWN - \S*: internal error: ", lines[0]), f"the safety net caught: {out!r}"
    assert not any(line.startswith("Traceback (most recent call last)") for line in lines), out
    assert not any(line.startswith("warning: removed illegal characters") for line in lines), f"stripped: {out!r}"
    assert out.count("|") <= 1, f"more than one '|': {out!r}"
    if "|" in out:
        before, after = out.split("|", 1)
        perf_line, _, rest = after.partition("\n")
        if "\n" in before:  # -v: perfdata alone on the last line
            assert before.endswith("\n") and rest == "", f"perfdata not on the last line: {out!r}"
        # else: at the end of the status line ("text|perf"); log lines may follow
        perfdata(perf_line)



def _has_null(value: object) -> bool:
    """A JSON null anywhere in the document (the text "null" inside a string, e.g. a SAN, is not one)."""
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_null(item) for item in value)
    return False

def check_json(code: int, out: str) -> dict[str, Any]:
    assert code == 0, f"JSON mode exited {code}"
    assert out.endswith("\n") and out.count("\n") == 1, f"not exactly one line: {out!r}"

    def strict(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON: {out!r}")

    document = json.loads(out, parse_constant=strict)
    assert isinstance(document, dict)
    assert document["state"] in STATES and STATES.index(document["state"]) == document["state_id"], out
    assert not _has_null(document), f"a null in the JSON (the README says: never): {out}"
    return document


def check_output(argv: Sequence[str], code: int, out: str, err: str) -> None:
    """The whole contract for one run of ``main(argv)``."""
    assert err == "", f"stderr: {err!r}"
    if is_help_or_version(argv, code, out):
        return
    if wants_json(argv):
        check_json(code, out)
    else:
        check_nagios(code, out)


def run_checked(argv: Sequence[str]) -> tuple[int, str]:
    """Run, check the contract, and tell hypothesis' statistics (--hypothesis-show-statistics) what happened."""
    code, out, err = run_main(argv)
    check_output(argv, code, out, err)
    if wants_json(argv):
        event(f"json: {out[:200].split(',')[2] if out.startswith('{') else 'help/version'}")
    else:
        words = out.split(" - ", 1)
        detail = "usage" if "\nusage: " in out else words[1].split(": ", 1)[-1][:24] if len(words) > 1 else out[:10]
        event(f"nagios exit {code}: {detail}")
    return code, out


# --- a pool of keys and ready-made certificates ------------------------------------------------------------------

_KEYS: list[Any] = [ec.generate_private_key(ec.SECP256R1()) for _ in range(4)]
_KEYS += [ed25519.Ed25519PrivateKey.generate(), rsa.generate_private_key(public_exponent=65537, key_size=2048)]
UTC = timezone.utc
NOW = datetime.now(UTC)


def _hash_for(key: Any) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _cn_name(text: str) -> x509.Name:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text, _validate=False)])


def _simple(subject: str, issuer: str, key: Any, signer: Any, days: tuple[float, float], *, ca: bool,
            sans: Sequence[str] = ()) -> bytes:
    builder = (x509.CertificateBuilder().subject_name(_cn_name(subject)).issuer_name(_cn_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW + timedelta(days=days[0])).not_valid_after(NOW + timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(name) for name in sans if not name[0].isdigit()]
            + [x509.IPAddress(ipaddress.ip_address(name)) for name in sans if name[0].isdigit()]), critical=False)
    return builder.sign(signer, _hash_for(signer)).public_bytes(serialization.Encoding.DER)


ROOT, INTER, OTHER = _KEYS[0], _KEYS[1], _KEYS[2]
READY: dict[str, bytes] = {
    "root": _simple("Root", "Root", ROOT, ROOT, (-365, 3650), ca=True),
    "inter": _simple("Inter", "Root", INTER, ROOT, (-30, 1825), ca=True),
    "leaf": _simple("localhost", "Inter", OTHER, INTER, (-1, 60), ca=False, sans=("localhost", "127.0.0.1")),
    "expired": _simple("old.example", "Inter", OTHER, INTER, (-400, -3), ca=False, sans=("old.example",)),
    "future": _simple("new.example", "Inter", OTHER, INTER, (5, 50), ca=False, sans=("*.example",)),
    "cross": _simple("Inter", "Old Root", INTER, _KEYS[3], (-900, -10), ca=True),
    "self": _simple("self|signed\n", "self|signed\n", _KEYS[4], _KEYS[4], (-1, 9), ca=False, sans=("a.example",)),
    "nosan": _simple("rsa.example", "Inter", _KEYS[5], INTER, (-1, 400), ca=False),
}


# --- DER surgery: enough to make what the certificate builder refuses to (inverted dates, odd serials) -----------

def _tlv_bounds(data: bytes, pos: int) -> tuple[int, int]:
    """(start of content, end of element) of the DER element at ``pos``."""
    length = data[pos + 1]
    start = pos + 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[start : start + size], "big")
        start += size
    return start, start + length


def _children(element: bytes) -> list[bytes]:
    start, end = _tlv_bounds(element, 0)
    out, pos = [], start
    while pos < end:
        pos_end = _tlv_bounds(element, pos)[1]
        out.append(element[pos:pos_end])
        pos = pos_end
    return out


def _tlv(tag: int, content: bytes) -> bytes:
    if len(content) < 0x80:
        return bytes([tag, len(content)]) + content
    size = len(content).to_bytes((len(content).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _resign(cert: x509.Certificate, tbs_children: list[bytes], signer: Any) -> bytes:
    """Re-encode a TBSCertificate from its (modified) children and sign it again with ``signer``."""
    tbs = _tlv(0x30, b"".join(tbs_children))
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        signature = signer.sign(tbs, ec.ECDSA(hashes.SHA256()))
    elif isinstance(signer, rsa.RSAPrivateKey):
        from cryptography.hazmat.primitives.asymmetric import padding

        signature = signer.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = signer.sign(tbs)
    algorithm = _children(cert.public_bytes(serialization.Encoding.DER))[1]
    return _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))


def _retag(name: bytes, tag: int) -> bytes:
    """The Name with its first attribute value's ASN.1 string tag replaced (UTF8String -> VideotexString...)."""
    rdns = _children(name)
    if not rdns:
        return name
    attributes = _children(rdns[0])
    oid, value = _children(attributes[0])
    attributes[0] = _tlv(0x30, oid + bytes([tag]) + value[1:])
    return _tlv(0x30, _tlv(0x31, b"".join(attributes)) + b"".join(rdns[1:]))


def _tamper(cert: x509.Certificate, signer: Any, *, swap_dates: bool = False, serial: bytes | None = None,
            retag: tuple[str, int] | None = None, version: bytes | None = None) -> bytes:
    """Swap notBefore/notAfter, replace the serial's or the version's content bytes and/or retag a name, keeping a
    valid signature."""
    children = _children(cert.tbs_certificate_bytes)
    offset = 1 if children[0][0] == 0xA0 else 0  # [0] version
    if version is not None and offset:
        children[0] = _tlv(0xA0, _tlv(0x02, version))
    if serial is not None:
        children[offset] = _tlv(0x02, serial)
    if swap_dates:
        validity = offset + 3  # serial, signature algorithm, issuer, validity
        before, after = _children(children[validity])
        children[validity] = _tlv(0x30, after + before)
    if retag is not None:
        index = offset + (2 if retag[0] == "issuer" else 4)
        children[index] = _retag(children[index], retag[1])
    return _resign(cert, children, signer)


def leaf_variant(*, version: bytes | None = None, issuer_string_tag: int | None = None) -> bytes:
    """READY["leaf"], validly re-signed, with another version number or another ASN.1 string tag in its issuer CN."""
    cert = x509.load_der_x509_certificate(READY["leaf"])
    children = _children(cert.tbs_certificate_bytes)
    if version is not None:
        children[0] = _tlv(0xA0, _tlv(0x02, version))
    if issuer_string_tag is not None:
        children[3] = children[3].replace(b"\x0c\x05Inter", bytes([issuer_string_tag]) + b"\x05Inter")
    return _resign(cert, children, INTER)


def openssl_view(der: bytes) -> dict[str, Any] | None:
    """OpenSSL's parse of a certificate: the dictionary ``get_info()`` hands the plugin after a handshake (the same
    C decoder, reached here through a file); None where OpenSSL refuses the certificate."""
    with tempfile.NamedTemporaryFile(suffix=".pem") as file:
        file.write(_pem_block(der))
        file.flush()
        try:
            view: dict[str, Any] = _ssl._test_decode_cert(file.name)  # type: ignore[attr-defined]
        except (ssl.SSLError, ValueError, OSError):
            return None
    return view


# --- strategies --------------------------------------------------------------------------------------------------

HOSTILE = ["|", "\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x00", "\x1b[31m", "\u202e",
           "\u200b", "\ufeff", "\\", "\\x7c", "'", '"', "TLS_EXPIRY OK - ", "\nTLS_EXPIRY OK - x", " | days=1;2;3",
           "\n| days=1", "=", ";", "%s", "%(x)s", "{}", "\t", "\x7f", "é", "\U0001f600", "..."]
# Everything but lone surrogates, which no certificate can encode. (Not characters(codec=...): Debian 12's
# hypothesis 6.67 predates it, and CI runs this file on that stack too.)
_any_char = st.characters(min_codepoint=0, max_codepoint=0x10FFFF).filter(lambda char: not 0xD800 <= ord(char) <= 0xDFFF)
_ascii_char = st.characters(min_codepoint=0, max_codepoint=0x7F)
_short = st.text(_any_char, max_size=40)
_hostile = st.lists(st.one_of(st.sampled_from(HOSTILE), _short), max_size=12).map("".join)
_long = st.builds(lambda piece, count: piece * count, st.text(_any_char, min_size=1, max_size=4), st.integers(64, 1500))
field_text = st.one_of(_short, _hostile, _long)
_ascii_hostile = st.lists(st.one_of(st.sampled_from([h for h in HOSTILE if h.isascii()]),
                                    st.text(_ascii_char, max_size=20)), max_size=8).map("".join)
dns_text = st.one_of(st.sampled_from(["localhost", "*.example", "a.example", "xn--bcher-kva.example", "", "*", "*.*"]),
                     st.text(_ascii_char, max_size=40), _ascii_hostile,
                     st.builds(lambda n: "a" * n, st.integers(200, 3000)))
ip_text = st.one_of(st.ip_addresses().map(str), st.sampled_from(["127.0.0.1", "::1"]))
# The builder takes 1950..9999; UTCTime below 2050, GeneralizedTime above.
moments = st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda moment: moment.replace(microsecond=0, tzinfo=UTC))
near = st.floats(min_value=-800, max_value=800, allow_nan=False).map(lambda days: NOW + timedelta(days=days))
_ATTRIBUTE_OIDS = [NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME,
                   NameOID.LOCALITY_NAME, NameOID.STATE_OR_PROVINCE_NAME]


@st.composite
def names(draw: st.DrawFn) -> x509.Name:
    rdns = []
    for _ in range(draw(st.integers(0, 3))):
        oids = draw(st.lists(st.sampled_from(_ATTRIBUTE_OIDS), min_size=1, max_size=2, unique=True))  # multi-valued
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            attributes = [x509.NameAttribute(oid, draw(field_text), _validate=False) for oid in oids]
        rdns.append(x509.RelativeDistinguishedName(attributes))
    return x509.Name(rdns)


@st.composite
def certificate_sets(draw: st.DrawFn, retag: bool = True) -> list[bytes]:
    """1-5 certificates that refer to each other (issuer names, signatures) in arbitrary ways, as sent in a file.

    Certificate i is issued by a later certificate j (a chain), by itself (self-signed) or by a stranger; names,
    SANs, dates (also inverted, far past or future), serials and CA flags are arbitrary. The file order is a
    shuffle with possible duplicates.
    """
    count = draw(st.integers(1, 5))
    subjects = [draw(names()) for _ in range(count)]
    keys = [draw(st.sampled_from(_KEYS)) for _ in range(count)]
    ders = []
    for index in range(count):
        choice = draw(st.integers(-2, count - 1))
        if choice >= index:  # a later certificate issued this one
            issuer, signer = subjects[choice], keys[choice]
        elif choice == -1 or index == count - 1:  # self-signed
            issuer, signer = subjects[index], keys[index]
        else:  # a stranger's name, maybe signed with a key that is in the set
            issuer, signer = draw(names()), draw(st.sampled_from(_KEYS))
        first, second = sorted(draw(st.lists(st.one_of(near, moments), min_size=2, max_size=2)))
        builder = (x509.CertificateBuilder().subject_name(subjects[index]).issuer_name(issuer)
                   .public_key(keys[index].public_key()).serial_number(draw(st.integers(1, 2**159 - 1)))
                   .not_valid_before(first).not_valid_after(max(second, first + timedelta(seconds=1))))
        ca = draw(st.sampled_from([None, True, False]))
        if ca is not None:
            builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        if draw(st.booleans()):
            general: list[x509.GeneralName] = [x509.DNSName(name) for name in draw(st.lists(dns_text, max_size=6))]
            general += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in draw(st.lists(ip_text, max_size=2))]
            builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
        cert = builder.sign(signer, _hash_for(signer))
        swap = draw(st.integers(0, 5)) == 0  # not_before > not_after, which the builder refuses
        serial = draw(st.sampled_from([None] * 6 + [b"\x00", b"\xff", b"\x80" + b"\x00" * 30, b"\x00" * 3]))
        # another string type for a name's first value: the ones X.520 allows, and any tag (OpenSSL takes most)
        new_tag = draw(st.one_of(st.none(), st.none(), st.none(), st.tuples(
            st.sampled_from(["issuer", "subject"]),
            st.one_of(st.sampled_from([0x13, 0x14, 0x15, 0x16, 0x1A, 0x1C, 0x1E]), st.integers(0, 0x1F)))))
        # versions 1-3 are 0-2; OpenSSL takes others, cryptography refuses them
        version = draw(st.sampled_from([None] * 8 + [b"\x00", b"\x03", b"\x50"]))
        new_tag = new_tag if retag else None
        if swap or serial is not None or new_tag is not None or version is not None:
            ders.append(_tamper(cert, signer, swap_dates=swap, serial=serial, retag=new_tag, version=version))
        else:
            ders.append(cert.public_bytes(serialization.Encoding.DER))
    order = draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=count + 2))
    order = [0, *order] if draw(st.booleans()) else order  # usually the leaf comes first, as servers send it
    return [ders[i] for i in order]


@st.composite
def mutated_der(draw: st.DrawFn) -> bytes:
    """A ready-made certificate with bytes overwritten, inserted or cut: it gets past the first tags."""
    data = bytearray(draw(st.sampled_from(sorted(READY.values()))))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "insert", "delete"]))
        if action == "set":
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif len(data) > 1:
            del data[position]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


der_bytes = st.one_of(st.binary(max_size=600), mutated_der(), st.sampled_from(sorted(READY.values())))
_huge = st.builds(lambda digits, unit: "9" * digits + unit, st.integers(300, 330), st.sampled_from(["", "d", "h"]))
bound = st.one_of(st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,3})?[dh:%]?\Z"), _huge,
                  st.sampled_from(["30d", "25%", "14d", "10%", "0", "0%", "100%", "12h", ".5", "1e3"]))
_bounds = st.lists(bound, min_size=1, max_size=3).map(",".join)
threshold_text = st.one_of(_bounds, _bounds, st.text(max_size=20))  # two thirds look like thresholds
HOSTS = ["localhost", "127.0.0.1", "::1", "[::1]", "a.example", "www.example", "bücher.example",
         "xn--bcher-kva.example", "old.example.", "new.example", "x.example"]
host_text = st.one_of(st.sampled_from(HOSTS), st.sampled_from(HOSTS), field_text)  # two thirds valid


def write_file(directory: Path, ders: Sequence[bytes], pem: bool) -> str:
    """A PEM bundle (or, for one certificate, optionally DER) in a fresh file."""
    handle, name = tempfile.mkstemp(dir=directory, suffix=".pem" if pem else ".der")
    with os.fdopen(handle, "wb") as file:
        if pem or len(ders) != 1:
            file.write(b"".join(_pem_block(der) for der in ders))
        else:
            file.write(ders[0])
    return name


def _pem_block(der: bytes) -> bytes:
    import base64

    body = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def chain_file(workdir: Path) -> str:
    return write_file(workdir, [READY["leaf"], READY["inter"]], pem=True)


@pytest.fixture(scope="module")
def refused(workdir: Path) -> int:
    from servers import refused_port

    return refused_port()


# --- a. certificate parsing and evaluation ------------------------------------------------------------------------

@FUZZ
@given(der=der_bytes)
@example(der=leaf_variant(version=b"\x50"))  # found by fuzz/: cryptography raises InvalidVersion, not a ValueError
@example(der=leaf_variant(issuer_string_tag=0xDC))  # found by fuzz/: rfc4514_string() raises KeyError(220)
def test_parse_certificate_accepts_or_rejects_cleanly(der: bytes) -> None:
    from plugin.certinfo import CertificateParseError, CertInfo
    from plugin.sanitize import clean

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            info = CertInfo.from_der(der)
        except CertificateParseError as exc:
            clean(str(exc))
            return
        # everything evaluation and the renderers read from it
        facts = (info.sha256, info.self_issued, info.is_ca, info.short_name, info.lifetime, info.names,
                 info.not_before.utcoffset(), info.not_after.timestamp(), f"{info.serial:x}", info.subject,
                 info.issuer, info.has_san)
    assert info.lifetime >= 1 and facts
    assert not [w for w in caught if not issubclass(w.category, _SILENT_WARNINGS)], [str(w.message) for w in caught]


VERIFY_CODES = st.one_of(st.sampled_from([None, 0, 2, 9, 10, 18, 19, 20, 62]), st.integers(-2**40, 2**40))


@st.composite
def presented(draw: st.DrawFn) -> Any:
    from plugin.acquire.presented import Presented, Verification

    certificates = draw(st.one_of(certificate_sets(), st.lists(der_bytes, max_size=5)))
    attempted = draw(st.booleans())
    verification = Verification(
        attempted=attempted,
        code=draw(VERIFY_CODES),
        message=draw(st.one_of(st.none(), field_text)),
        waived=draw(st.sampled_from([frozenset(), frozenset({"time"}), frozenset({"name", "time"})])),
        name_matched=draw(st.sampled_from([None, True, False])),
        alarm_trust=draw(st.booleans()),
        reason=draw(st.sampled_from(["", "file", "--ignore-trust"])),
    )
    path_choice = draw(st.sampled_from(["none", "sent", "sent+anchor", "arbitrary"]))
    if path_choice == "none" or not certificates:
        verified: tuple[bytes, ...] = ()
    elif path_choice == "sent":
        verified = tuple(draw(st.permutations(certificates)))
    elif path_choice == "sent+anchor":
        verified = (certificates[0], *certificates[1:], READY["root"])
    else:
        verified = tuple(draw(st.lists(der_bytes, max_size=4)))
    # After a handshake the plugin also has OpenSSL's parse of each certificate (None where it has none).
    handshake = draw(st.booleans())
    def delivered(ders: Any) -> tuple[tuple[bytes, Any], ...]:
        return tuple((der, openssl_view(der) if handshake else None) for der in ders)

    return Presented(certificates=delivered(certificates), verification=verification, path=delivered(verified),
                     tls_version=draw(st.sampled_from([None, "TLSv1.2", "TLSv1.3"])),
                     peer="127.0.0.1:443" if handshake else None)


@st.composite
def policies(draw: st.DrawFn) -> Any:
    from plugin.errors import UsageError
    from plugin.evaluate import Policy
    from plugin.target import parse_host
    from plugin.thresholds import parse_threshold

    def threshold() -> Any:
        text = draw(threshold_text)
        try:
            return parse_threshold(text)
        except ValueError:
            return parse_threshold("30d,25%")

    name = None
    host = draw(st.one_of(st.none(), host_text))
    if host is not None:
        try:
            name = parse_host(host)
        except UsageError:
            name = None
    return Policy(threshold(), threshold(), name)


@FUZZ
@given(presented=presented(), policy=policies(), now=st.one_of(moments, near), verbose=st.integers(0, 3))
def test_evaluate_and_render_any_presented_chain(presented: Any, policy: Any, now: datetime, verbose: int) -> None:
    """Arbitrary DER lists and OpenSSL verdicts through evaluate() and both renderers."""
    from plugin.evaluate import evaluate
    from plugin.present.jsonout import render_json
    from plugin.present.nagios import build_check, render

    evaluation = evaluate(presented, policy, now)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text, code = render(build_check("fuzz.example:443", lambda: evaluation, verbose), verbose)
        document = check_json(0, render_json("fuzz.example:443", lambda: evaluation))
    assert not [w for w in caught if not issubclass(w.category, _SILENT_WARNINGS)], [str(w.message) for w in caught]
    check_nagios(code, text)
    assert code == int(evaluation.status) and document["state_id"] == code


def test_an_extra_certificate_only_openssl_can_read_is_no_internal_error() -> None:
    """A verified chain plus one extra certificate that OpenSSL parses and cryptography refuses (X.509 version
    field 80), as a handshake presents them, with OpenSSL's views. Found by the evaluation property above."""
    from plugin.evaluate import Policy, evaluate
    from plugin.present.jsonout import render_json
    from plugin.present.nagios import build_check, render
    from plugin.acquire.presented import Presented, Verification
    from plugin.thresholds import parse_threshold

    junk = leaf_variant(version=b"\x50")
    assert openssl_view(junk) is not None
    sent = (READY["leaf"], READY["inter"], junk)
    path = (READY["leaf"], READY["inter"], READY["root"])
    presented = Presented(certificates=tuple((der, openssl_view(der)) for der in sent),
                          verification=Verification(attempted=True), peer="127.0.0.1:443",
                          path=tuple((der, openssl_view(der)) for der in path))
    policy = Policy(parse_threshold("30d,25%"), parse_threshold("14d,10%"))
    evaluation = evaluate(presented, policy, NOW)
    for verbose in range(4):
        text, code = render(build_check("fuzz.example:443", lambda: evaluation, verbose), verbose)
        check_nagios(code, text)
    check_json(0, render_json("fuzz.example:443", lambda: evaluation))


@FUZZ
@given(ders=certificate_sets(retag=False))
def test_openssl_view_agrees_with_cryptography(ders: list[bytes]) -> None:
    """The healthy path reads dates, CN and self-issued from OpenSSL's parse; they must be cryptography's.

    Names keep the string types the builder gives them (UTF8String): where a value's bytes do not fit a retagged
    type (non-ASCII in a NumericString, UTF-8 in a T61String), OpenSSL and cryptography decode them differently.
    """
    from plugin.certinfo import CertificateParseError, CertInfo

    for der in dict.fromkeys(ders):
        view = openssl_view(der)
        if view is None:
            continue
        try:
            full = CertInfo.from_der(der)
        except CertificateParseError:
            continue  # OpenSSL reads what cryptography refuses: see the test above
        fast = CertInfo.from_handshake(der, view)
        assert (fast.not_before, fast.not_after) == (full.not_before, full.not_after), view
        assert fast.subject_cn == full.subject_cn, view
        assert fast.self_issued == full.self_issued, (view, full.subject, full.issuer)


@FUZZ
@given(ders=certificate_sets(), pem=st.booleans(), host=st.one_of(st.none(), st.sampled_from(HOSTS)),
       thresholds=st.sampled_from([(), ("-w", "30", "-c", "14"), ("-w", "45d,50%", "-c", "1%"), ("-w", "1h", "-c", "0"),
                                   ("-w", "100%", "-c", "99%"), ("-c", "36500d")]),
       verbose=st.integers(0, 3), as_json=st.booleans())
def test_whole_plugin_on_certificate_files(workdir: Path, ders: list[bytes], pem: bool, host: str | None,
                                           thresholds: tuple[str, ...], verbose: int, as_json: bool) -> None:
    """Structurally valid certificates with arbitrary text, dates and links, checked with --file, both outputs."""
    path = write_file(workdir, ders, pem)
    try:
        argv = ["--file", path, *thresholds]
        argv += ["-H", host] if host is not None else []
        argv += ["-v"] * verbose
        argv += ["--output", "json"] if as_json else []
        code, out = run_checked(argv)
        if not as_json and code != 3:
            assert "|days=" in out or "| days=" in out or "cannot be parsed" in out or \
                "not a readable certificate" in out, out
    finally:
        os.unlink(path)


@FUZZ
@given(data=st.one_of(st.binary(max_size=3000), mutated_der().map(_pem_block),
                      st.lists(mutated_der(), min_size=1, max_size=3).map(lambda ders: b"".join(map(_pem_block, ders))),
                      st.builds(lambda junk, der: junk + _pem_block(der) + junk, st.binary(max_size=50),
                                mutated_der())),
       as_json=st.booleans())
@example(data=b"\x00", as_json=False)  # found here: a one-byte file crashed the PKCS#12 sniffing (der.header)
@example(data=b"\x30\x84", as_json=False)
def test_whole_plugin_on_arbitrary_files(workdir: Path, data: bytes, as_json: bool) -> None:
    handle, path = tempfile.mkstemp(dir=workdir)
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    try:
        run_checked(["--file", path, "-H", "localhost", *(["--output", "json"] if as_json else [])])
    finally:
        os.unlink(path)


# --- b. threshold and argument parsing ----------------------------------------------------------------------------

@FUZZ
@given(text=threshold_text)
@example(text="9" * 400)  # a number of days that float() makes infinite
def test_threshold_limits_are_finite(text: str) -> None:
    from plugin.thresholds import parse_threshold

    try:
        threshold = parse_threshold(text)
    except ValueError:
        return
    for lifetime in (1.0, 6 * 86400.0, 398 * 86400.0, 1e12):
        limit = threshold.limit(lifetime)
        assert math.isfinite(limit) and limit >= 0, (text, lifetime, limit)


FILE_OPTIONS: dict[str, st.SearchStrategy[str] | None] = {
    "-H": host_text, "--host": host_text, "-w": threshold_text, "--warning": threshold_text, "-c": threshold_text,
    "--critical": threshold_text, "-t": st.one_of(st.from_regex(r"\A-?[0-9]{0,5}(\.[0-9]{0,4})?(e-?[0-9]{1,3})?\Z"),
                                                  st.sampled_from(["nan", "inf", "0", "3600", "3600.1"]), _short),
    "--timeout": _short, "-v": None, "-vv": None, "-vvv": None, "--ignore-trust": None, "--output": st.sampled_from(
        ["json", "nagios", "xml", ""]),
}
# Options that --file refuses: drawn less often, so that most examples get past the usage check.
FILE_REFUSED: dict[str, st.SearchStrategy[str] | None] = {"--sni": host_text, "-p": _short, "--alpn": field_text,
                                                          "-4": None, "-6": None, "--cafile": _short}
NETWORK_OPTIONS: dict[str, st.SearchStrategy[str] | None] = {
    "-H": host_text, "--host": host_text, "--sni": host_text,
    "--alpn": st.one_of(field_text, st.sampled_from(["h2,http/1.1", "postgresql", ",", "a" * 256])),
    "-p": st.one_of(st.integers(1, 65535).map(str), _short, st.sampled_from(["²", "٣", "0", "-1", "70000", " 443"])),
    "--port": _short, "-w": threshold_text, "-c": threshold_text, "-4": None, "-6": None, "-v": None,
    "--starttls": st.sampled_from(["smtp", "imap", "postgres", "xmpp", "xmpp-server", "ldap", "bogus", ""]),
    "--xmpp-domain": host_text, "--ignore-trust": None, "--cafile": st.sampled_from(["/nonexistent", "/", ""]),
    "--capath": st.sampled_from(["/nonexistent", "/tmp"]), "--output": st.sampled_from(["json", "nagios"]),
}


@st.composite
def command_lines(draw: st.DrawFn, options: dict[str, st.SearchStrategy[str] | None],
                  rare: dict[str, st.SearchStrategy[str] | None] | None = None) -> list[str]:
    """Known options with arbitrary values (also as --opt=value), stray tokens, in any order."""
    argv: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 31))
        if kind == 0:
            argv.append(draw(_short))  # a stray token
            continue
        if kind == 1 and rare:
            options = {**options, **rare}
        flag = draw(st.sampled_from(sorted(options)))
        values = options[flag]
        if values is None:
            argv.append(flag)
        elif flag.startswith("--") and kind == 2:
            argv.append(f"{flag}={draw(values)}")
        else:
            argv += [flag, draw(values)]
    return argv


@FUZZ
@given(argv=command_lines(FILE_OPTIONS, FILE_REFUSED))
@example(argv=["-w", "9" * 400])
@example(argv=["-w", "nonsense"])  # a usage error prints the usage text, which has "[-4 | -6]"
def test_arguments_in_file_mode(chain_file: str, argv: list[str]) -> None:
    """Arbitrary -H/-w/-c/-t/... with --file first: parsing, validation and both outputs, no network."""
    run_checked(["--file", chain_file, *argv])


def _no_real_port(argv: list[str], refused: int) -> list[str]:
    """Port values that are real port numbers become the refused port: examples never reach a live service."""
    out = []
    for index, arg in enumerate(argv):
        if index and argv[index - 1] in ("-p", "--port") and arg.isascii() and arg.strip().isdigit():
            arg = str(refused)
        elif arg.startswith("--port=") and arg[7:].isascii() and arg[7:].strip().isdigit():
            arg = f"--port={refused}"
        out.append(arg)
    return out


@FUZZ
@given(host=host_text, argv=command_lines(NETWORK_OPTIONS))
@example(host="localhost", argv=["-p", "²"])  # str.isdigit() is true for a superscript two, int() refuses it
def test_arguments_in_network_mode(refused: int, host: str, argv: list[str]) -> None:
    """Arbitrary -H/--sni/--alpn/-p/--starttls/... against 127.0.0.1 where nothing listens.

    ``-I 127.0.0.1 -t 1`` comes last and wins over any -I/-t in the example, so no name is resolved; a valid
    port number is replaced by the refused port.
    """
    argv = _no_real_port(["-H", host, *argv], refused)
    has_port = any(arg in ("-p", "--port") or arg.startswith("--port=") for arg in argv)
    tail = ["-I", "127.0.0.1", "-t", "1"] + ([] if has_port else ["-p", str(refused)])
    run_checked([*argv, *tail])


ALL_FLAGS = sorted({*FILE_OPTIONS, *FILE_REFUSED, *NETWORK_OPTIONS, "--file", "-I", "--", "-h", "-V", "-"})


@FUZZ
@given(argv=st.lists(st.one_of(_short, st.sampled_from(ALL_FLAGS)), max_size=8))
def test_arbitrary_argv(refused: int, argv: list[str]) -> None:
    """Any token list, followed by a tail that keeps the run on loopback and short."""
    run_checked([*_no_real_port(argv, refused), "-I", "127.0.0.1", "-p", str(refused), "-t", "1"])
