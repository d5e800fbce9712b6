#!/usr/bin/env python3
"""Coverage-guided fuzz target (atheris/libFuzzer): bytes -> a PEM or DER file -> the whole plugin, in-process.

Each input is one ``--file`` check. The first byte picks the options (output mode, -v count, whether and which -H,
thresholds) and how the rest becomes the file: raw bytes as they are (a DER certificate or any PEM text), or
split on ``\\x00CHAIN\\x00`` into DER certificates that are each wrapped in a PEM block, so that mutations land
inside the DER of a chain. Every run must obey the operator contract of ``tests/test_fuzz.py`` (exit code and
status line agree, one ``|``, perfdata grammar, strict one-line JSON, nothing on stderr, nothing raises, no
"internal error"); a violation is an uncaught exception, which libFuzzer reports as a crash and saves.

The plugin runs with ``-t 2``: its own whole-run safety net (SIGALRM after t + 0.5 s) then turns an input that
makes parsing or evaluation hang into a "did not finish" status, which this target reports as a crash too. That
safety net re-arms the process-wide timer, so libFuzzer's own ``-timeout`` does not work here; this replaces it.

Run from the checkout, with atheris installed (``pip install atheris``; wheels for CPython 3.8-3.11 on Linux):

    python fuzz/fuzz_certificate.py -runs=20000 /tmp/tls-corpus          # bounded number of inputs
    python fuzz/fuzz_certificate.py -max_total_time=600 /tmp/tls-corpus  # a 10-minute campaign
    python fuzz/fuzz_certificate.py fuzz/crashes/crash-<sha1>            # replay one saved input
    fuzz/fuzz_certificate.py -fork=1 -ignore_crashes=1 -max_total_time=600 /tmp/tls-corpus  # go on past crashes
    python fuzz/fuzz_certificate.py --triage fuzz/crashes/crash-*        # group saved inputs by violation

Fork mode re-runs this file as a program, so it needs its executable bit (it has one in git).

A corpus directory that is missing or empty is first filled with seeds made with ``tests/pki.py`` (a chain, DER,
expired, not yet valid, hostile names, RSA, Ed25519, a stray cross-sign...). Crashes go to ``fuzz/crashes/``
unless ``-artifact_prefix=`` says otherwise. The coverage that guides mutation is that of the plugin's Python
code (and nagiosplugin, service_identity); cryptography's Rust parser is not instrumented, so the DER seeds matter.
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import sys
from datetime import timedelta
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent
sys.path[:0] = [str(CHECKOUT), str(CHECKOUT / "tests")]

# Coverage feedback comes from these modules (imported here, instrumented, before the plugin imports them lazily).
INSTRUMENTED = ["check_tls_expiry", "plugin.certinfo", "plugin.compat", "plugin.evaluate.engine", "plugin.acquire.files",
                "plugin.acquire.pkcs12",
                "plugin.present.jsonout", "plugin.evaluate.names", "plugin.present.nagios", "plugin.sanitize", "plugin.target",
                "plugin.thresholds", "service_identity.cryptography"]
with atheris.instrument_imports(include=["check_tls_expiry", "plugin", "nagiosplugin", "service_identity"]):
    for module in INSTRUMENTED:
        importlib.import_module(module)

from test_fuzz import check_output, run_main  # the contract, shared with the property tests (after instrumenting)

SEPARATOR = b"\x00CHAIN\x00"
HOSTS = ["localhost", "127.0.0.1", "::1", "a.example", "www.example", "xn--bcher-kva.example", "bücher.example",
         "old.example"]
THRESHOLDS = [[], ["-w", "30", "-c", "14"], ["-w", "45d,50%", "-c", "1%"], ["-w", "1h", "-c", "0"]]
# Flags in the first byte.
JSON, PEM_WRAP, WITH_HOST = 0x01, 0x02, 0x04
VERBOSE_SHIFT, THRESHOLD_SHIFT = 3, 5  # two bits each

WORKDIR = Path(os.environ.get("TMPDIR", "/tmp")) / f"fuzz_certificate.{os.getpid()}"
WORKDIR.mkdir(exist_ok=True)
INPUT = WORKDIR / "input"


class ContractViolation(AssertionError):
    pass


def _pem(der: bytes) -> bytes:
    body = base64.encodebytes(der)
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"


def decode(data: bytes) -> tuple[list[str], bytes]:
    """The command line (without --file) and the file content for one input."""
    if not data:
        return [], b""
    flags, rest = data[0], data[1:]
    argv: list[str] = []
    if flags & WITH_HOST and rest:
        argv += ["-H", HOSTS[rest[0] % len(HOSTS)]]
        rest = rest[1:]
    argv += THRESHOLDS[(flags >> THRESHOLD_SHIFT) & 3]
    argv += ["-v"] * ((flags >> VERBOSE_SHIFT) & 3)
    argv += ["-t", "2"]
    if flags & JSON:
        argv += ["--output", "json"]
    content = b"".join(_pem(der) for der in rest.split(SEPARATOR)) if flags & PEM_WRAP else rest
    return argv, content


def test_one_input(data: bytes) -> None:
    argv, content = decode(data)
    INPUT.write_bytes(content)
    argv = ["--file", str(INPUT), *argv]
    code, out, err = run_main(argv)
    try:
        check_output(argv, code, out, err)
        if "did not finish within" in out:
            raise AssertionError("the whole-run safety net fired: this input makes the check hang")
    except AssertionError as exc:
        raise ContractViolation(f"{exc}\nargv: {argv}\nstdout: {out!r}\nstderr: {err!r}") from None


def make_seeds(directory: Path) -> int:
    """Write seed inputs (valid certificates in the shapes above) into ``directory``."""
    from pki import CA, make_name, self_signed_leaf

    day = timedelta(days=1)
    root = CA.root()
    inter = root.intermediate()
    old_root = CA.root("Old Root", not_before=-3000 * day, not_after=-10 * day)
    leaf = inter.leaf(("localhost", "127.0.0.1", "*.example"), not_after=60 * day)
    chains = {
        "chain": [leaf, inter.issued],
        "chain-root": [leaf, inter.issued, root.issued],
        "expired": [inter.leaf(("old.example",), not_before=-400 * day, not_after=-3 * day), inter.issued],
        "future": [inter.leaf(("www.example",), not_before=5 * day, not_after=50 * day)],
        "hostile": [inter.leaf(("a.example",), subject=make_name("x|y\nTLS_EXPIRY OK - \u2028\x85" * 3)),
                    inter.issued],
        "nosan": [inter.leaf((), cn="www.example")],
        "rsa": [inter.leaf(("www.example",), key_type="rsa")],
        "ed25519": [self_signed_leaf(("a.example",), key_type="ed25519")],
        "cross": [leaf, inter.issued, old_root.cross_sign(root)],
        "wrong-order": [inter.issued, leaf, leaf],
        "root-only": [root.issued],
    }
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, items in chains.items():
        ders = [item.der for item in items]
        for flags in (PEM_WRAP, PEM_WRAP | JSON | WITH_HOST | (1 << VERBOSE_SHIFT), PEM_WRAP | (1 << THRESHOLD_SHIFT)):
            host = b"\x00" if flags & WITH_HOST else b""
            (directory / f"{name}-{flags:02x}").write_bytes(bytes([flags]) + host + SEPARATOR.join(ders))
            count += 1
        (directory / f"{name}-raw-pem").write_bytes(b"\x00" + b"".join(_pem(der) for der in ders))
        (directory / f"{name}-raw-der").write_bytes(bytes([JSON]) + ders[0])
        count += 2
    return count


def triage(paths: list[str]) -> None:
    """Replay saved inputs and group them by the first line of the violation they cause."""
    groups: dict[str, list[str]] = {}
    for name in paths:
        try:
            test_one_input(Path(name).read_bytes())
            summary = "passes now"
        except Exception as exc:  # noqa: BLE001 - a report, whatever the input raises
            first = str(exc).splitlines()[0].replace(str(INPUT), "FILE")
            summary = re.sub(r"\d+", "N", f"{type(exc).__name__}: {first}")[:200]
        groups.setdefault(summary, []).append(name)
    for summary, names in sorted(groups.items(), key=lambda item: -len(item[1])):
        print(f"{len(names):5d}  {summary}\n       e.g. {names[0]}")


def main() -> None:
    argv = list(sys.argv)
    if argv[1:2] == ["--triage"]:
        triage(argv[2:])
        return
    if not any(arg.startswith("-artifact_prefix=") for arg in argv):
        crashes = HERE / "crashes"
        crashes.mkdir(exist_ok=True)
        argv.insert(1, f"-artifact_prefix={crashes}/")
    for arg in argv[1:]:
        path = Path(arg)
        if not arg.startswith("-") and (not path.exists() or (path.is_dir() and not any(path.iterdir()))):
            print(f"seeding {path} with {make_seeds(path)} inputs", flush=True)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
