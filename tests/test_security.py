"""Security review, as tests: no shell or subprocess in the product, no files written, nothing secret printed.

One module writes: plugin/acquire/cache.py, the --cache-dir store (its rules and the "nothing written without
the option" behaviour are tested in test_cache.py); it is held to the no-shell rules all the same.

Certificate text is sanitised in every output mode: see test_hostile.py (Nagios, -v, -vvv) and test_json.py.
"""

from __future__ import annotations

import ast
import os
from datetime import timedelta
from pathlib import Path

import pytest
from pki import CA
from runner import run

REPO = Path(__file__).resolve().parent.parent
PRODUCT = [REPO / "check_tls_expiry.py", *sorted((REPO / "plugin").rglob("*.py"))]
FORBIDDEN_MODULES = {"subprocess", "pty", "pipes", "multiprocessing", "shutil", "tempfile", "pickle", "marshal"}
SHELL_MODULES = {"subprocess", "pty", "pipes", "multiprocessing", "pickle", "marshal"}
FORBIDDEN_CALLS = {("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execvp"), ("os", "spawnv"),
                   ("os", "fork"), ("os", "remove"), ("os", "unlink"), ("os", "rename"), ("os", "mkdir"),
                   ("os", "makedirs"), ("os", "chmod"), ("os", "write")}
SHELL_CALLS = {call for call in FORBIDDEN_CALLS if call[1] in {"system", "popen", "execv", "execvp", "spawnv", "fork"}}
WRITER = REPO / "plugin" / "acquire" / "cache.py"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(REPO)))
def test_no_shell_subprocess_or_file_writing_modules(path: Path) -> None:
    modules, calls = (SHELL_MODULES, SHELL_CALLS) if path == WRITER else (FORBIDDEN_MODULES, FORBIDDEN_CALLS)
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names = {(node.module or "").split(".")[0]}
        else:
            names = set()
        assert not names & modules, (path, names)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            value = node.func.value
            if isinstance(value, ast.Name):
                assert (value.id, node.func.attr) not in calls, (path, node.lineno)
            if path != WRITER:
                assert node.func.attr not in {"write_text", "write_bytes", "unlink", "mkdir"}, (path, node.lineno)


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(REPO)))
def test_files_are_opened_for_reading_only(path: Path) -> None:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else next(
                (kw.value for kw in node.keywords if kw.arg == "mode"), ast.Constant("r"))
            assert isinstance(mode, ast.Constant) and set(str(mode.value)) <= {"r", "b"}, (path, node.lineno)


def test_a_check_writes_nothing(root_ca: CA, tmp_path: Path, capsys, monkeypatch) -> None:
    """Run checks in an empty working directory with a fresh HOME; nothing appears in either."""
    from pki import write_pem

    certificate = write_pem(tmp_path / "leaf.pem", root_ca.leaf(not_after=timedelta(days=90)))
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    for argv in (["--file", certificate], ["--file", certificate, "-vvv"], ["--file", certificate, "--output", "json"]):
        main_code = __import__("check_tls_expiry").main([str(arg) for arg in argv])
        assert main_code == 0
    capsys.readouterr()
    assert list(work.iterdir()) == [] and list(home.iterdir()) == []


def test_private_keys_and_passphrases_are_never_printed(root_ca: CA, tmp_path: Path, capsys) -> None:
    """A combined key+certificate file, an encrypted key, and a key-only file: no key material in any output."""
    from cryptography.hazmat.primitives import serialization

    leaf = root_ca.leaf(not_after=timedelta(days=90))
    encrypted = leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"hunter2-passphrase"))
    cases = {
        "combined.pem": leaf.key_pem + leaf.pem,
        "encrypted.pem": encrypted + leaf.pem,
        "key-only.pem": leaf.key_pem,
    }
    secrets = [b"".join(leaf.key_pem.splitlines()[1:-1])[:48].decode(), "hunter2", "PRIVATE KEY",
               b"".join(encrypted.splitlines()[1:-1])[:48].decode()]
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        for extra in ([], ["-vvv"], ["--output", "json"]):
            code = __import__("check_tls_expiry").main(["--file", str(path), *extra])
            out, err = capsys.readouterr()
            assert code in (0, 2) and err == ""
            flat = out.replace("\n", "")
            assert not any(secret in flat for secret in secrets), (name, extra, out)


def test_environment_does_not_leak_into_output(root_ca: CA, tmp_path: Path, capsys, monkeypatch) -> None:
    from pki import write_pem

    monkeypatch.setenv("SECRET_TOKEN", "s3cr3t-value-that-must-not-print")
    path = write_pem(tmp_path / "leaf.pem", root_ca.leaf())
    result = run(capsys, "--file", path, "-vvv")
    assert "s3cr3t" not in result.out and os.environ["SECRET_TOKEN"]


def test_no_option_prints_a_password_or_a_credential(root_ca: CA, tmp_path: Path, capsys) -> None:
    """Every option that carries a secret (--proxy's userinfo, --proxy-auth-file, --client-key-password-file,
    --password-file), in every output mode, on the way to a failure (a proxy that refuses the connection, a
    wrong password, a usage error): the secret and its Base64 (a Basic credential) never reach stdout or stderr."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    from pki import write_pem
    from servers import refused_port

    secret = "Sup3r-S3cret-Value"
    leaf = root_ca.leaf(("monitor",), cn="monitor", not_after=timedelta(days=90), client=True)
    cert = write_pem(tmp_path / "client.pem", leaf)
    key = tmp_path / "client.key"
    key.write_bytes(leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(secret.encode())))
    keystore = tmp_path / "store.p12"
    keystore.write_bytes(pkcs12.serialize_key_and_certificates(
        b"x", leaf.key, leaf.cert, None, serialization.BestAvailableEncryption(secret.encode())))
    right, wrong = tmp_path / "right", tmp_path / "wrong"
    right.write_text(secret + "\n")
    wrong.write_text(secret + "-not\n")
    auth = tmp_path / "auth"
    auth.write_text(f"monitor:{secret}\n")
    down = refused_port()
    network = ["-H", "localhost", "-I", "127.0.0.1", "-p", "1", "-t", "2"]
    cases = [
        [*network, "--proxy", f"http://monitor:{secret}@127.0.0.1:{down}"],
        [*network, "--proxy", f"http://monitor:{secret}@127.0.0.1"],  # usage error: no port
        [*network, "--proxy", f"https://monitor:{secret}@127.0.0.1:{down}"],  # usage error: not http://
        [*network, "--proxy", f"http://127.0.0.1:{down}", "--proxy-auth-file", auth],
        [*network, "--client-cert", cert, "--client-key", key, "--client-key-password-file", right],
        [*network, "--client-cert", cert, "--client-key", key, "--client-key-password-file", wrong],
        ["--file", keystore, "--password-file", right],
        ["--file", keystore, "--password-file", wrong],
        ["--file", keystore],
    ]
    forbidden = [secret, base64.b64encode(f"monitor:{secret}".encode()).decode()]
    for argv in cases:
        for extra in ([], ["-vvv"], ["--output", "json"]):
            code = __import__("check_tls_expiry").main([str(arg) for arg in argv] + extra)
            out, err = capsys.readouterr()
            assert code in (0, 1, 2, 3), (argv, extra)
            assert not any(text in out or text in err for text in forbidden), (argv, extra, out, err)
