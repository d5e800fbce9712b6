"""The plugin as monitoring systems run it: as `nagios` (Icinga 2, Nagios 4) and `zabbix`, from a deployment that
follows the README (Debian's python3-* packages and a copy of the plugin), with a service user's bare environment.

Service users cannot read root's home, write to the plugin's directory, or rely on root's PATH, so a check that
works here does not depend on any of those. The deployment is $CHECK_TLS_EXPIRY_COMMAND when CI made one with the
README's commands, else a copy made here the same way.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from ci import unavailable
from pki import CA, write_pem
from runner import assert_contract

REPO = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"
DEBIAN_PACKAGES = "python3-nagiosplugin python3-cryptography python3-idna python3-service-identity"




def _as(user: str, *argv: object, cwd: str = "/") -> tuple[int, str, str]:
    """Run argv as ``user`` with the bare environment a monitoring daemon gives its checks."""
    command = ["runuser", "-u", user, "--", "env", "-i", "PATH=/usr/bin:/bin", "LANG=C", *map(str, argv)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


def _snapshot(folder: Path) -> dict[str, float]:
    return {str(path): path.stat().st_mtime for path in folder.rglob("*")}


@pytest.fixture(scope="module")
def service_users() -> list[str]:
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        unavailable("running checks as service users needs root and runuser")
    users = []
    for user in ("nagios", "zabbix"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            unavailable(f"user {user!r} does not exist (apt-get install icinga2-common zabbix-server-pgsql)")
        users.append(user)
    code, _, err = _as(users[0], SYSTEM_PYTHON, "-c", "import nagiosplugin, cryptography, idna, service_identity")
    if code != 0:
        unavailable(f"{SYSTEM_PYTHON} lacks Debian's packages ({DEBIAN_PACKAGES}): {err.strip()[-200:]}")
    return users


@pytest.fixture(scope="module")
def deployed(service_users: list[str]) -> Iterator[Path]:
    """The copy install of the README: plugin files readable by all, byte-compiled, run by /usr/bin/python3."""
    given = os.environ.get("CHECK_TLS_EXPIRY_COMMAND")
    if given:
        yield Path(given)
        return
    # Not under pytest's tmp dirs: pytest makes those 0700, which no service user can traverse.
    folder = Path(tempfile.mkdtemp(prefix="check_tls_expiry-"))
    try:
        folder.chmod(0o755)
        shutil.copy2(REPO / "check_tls_expiry.py", folder)
        shutil.copytree(REPO / "plugin", folder / "plugin", ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([SYSTEM_PYTHON, "-m", "compileall", "-q", str(folder)], check=True)
        subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)
        yield folder / "check_tls_expiry.py"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def public_files(root_ca: CA, intermediate_ca: CA) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="tls-public-"))
    folder.chmod(0o755)
    write_pem(folder / "chain.pem", intermediate_ca.leaf(not_after=timedelta(days=90)), intermediate_ca.issued)
    write_pem(folder / "root.pem", root_ca.issued)
    for path in folder.iterdir():
        path.chmod(0o644)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_file_check_as_each_service_user(service_users: list[str], deployed: Path, public_files: Path) -> None:
    for user in service_users:
        code, out, err = _as(user, deployed, "--file", public_files / "chain.pem", "-H", "localhost")
        assert err == "", (user, err)
        result = assert_contract(code, out)
        assert code == 0 and "leaf 'localhost' expires first" in result.status, (user, out)


def test_network_check_as_nagios_and_json_as_zabbix(
    service_users: list[str], deployed: Path, public_files: Path, tls_server, intermediate_ca: CA
) -> None:
    port = tls_server(intermediate_ca.leaf(not_after=timedelta(days=90)), [intermediate_ca.issued])
    code, out, err = _as("nagios", deployed, "-H", "localhost", "-p", port, "--cafile", public_files / "root.pem")
    assert err == "" and assert_contract(code, out).code == 0, out
    assert out.startswith(f"TLS_EXPIRY OK - localhost:{port}: leaf 'localhost' expires first")
    code, out, err = _as("zabbix", deployed, "--output", "json", "-H", "localhost", "-p", port,
                         "--cafile", public_files / "root.pem")
    assert code == 0 and err == ""
    document = json.loads(out)
    assert document["state"] == "OK" and document["result"]["value"] == "valid"


def test_nothing_is_written(service_users: list[str], deployed: Path, public_files: Path, tmp_path: Path) -> None:
    """Neither the plugin's own directory nor the working directory changes, for a service user or for root."""
    folder = deployed.resolve().parent
    cwd = Path(tempfile.mkdtemp(prefix="tls-cwd-"))
    cwd.chmod(0o777)  # writable on purpose: the plugin must not use that
    try:
        before, before_cwd = _snapshot(folder), _snapshot(cwd)
        for user in [*service_users, "root"]:
            code, out, _ = _as(user, deployed, "--file", public_files / "chain.pem", cwd=str(cwd))
            assert code == 0, (user, out)
        assert _snapshot(folder) == before
        assert _snapshot(cwd) == before_cwd == {}
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


def test_the_checkout_interpreter_is_not_what_runs(deployed: Path) -> None:
    """The deployment's shebang is Debian's interpreter, not whatever `python3` comes first on root's PATH."""
    assert deployed.resolve().read_text().splitlines()[0] == f"#!{SYSTEM_PYTHON}"
