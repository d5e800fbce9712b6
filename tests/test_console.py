"""The installed console command and `python3 check_tls_expiry.py`, run as real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from ci import unavailable
from pki import CA, write_pem
from runner import assert_contract
from servers import refused_port

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.subprocess


def console_command() -> str:
    """The installed command: $CHECK_TLS_EXPIRY_COMMAND (a copy install), else beside the interpreter, else PATH."""
    beside = Path(sys.executable).parent / "check_tls_expiry"
    found = os.environ.get("CHECK_TLS_EXPIRY_COMMAND") or (
        str(beside) if beside.exists() else shutil.which("check_tls_expiry")
    )
    if found is None:
        message = "the check_tls_expiry console command is not installed (pip install -e .)"
        unavailable(message)
    return found


def execute(*argv: object, cwd: Path | None = None) -> tuple[int, str]:
    proc = subprocess.run([str(arg) for arg in argv], capture_output=True, text=True, timeout=30, cwd=cwd)
    assert proc.stderr == "", proc.stderr  # Zabbix merges stderr into the value; Nagios drops it
    return proc.returncode, proc.stdout


def test_installed_command_ok(tls_server, intermediate_ca: CA, root_pem: Path) -> None:
    port = tls_server(intermediate_ca.leaf(not_after=timedelta(days=100)), [intermediate_ca.issued])
    code, out = execute(console_command(), "-H", "localhost", "-p", port, "--cafile", root_pem)
    result = assert_contract(code, out)
    assert code == 0 and result.status.endswith("chain verified")
    assert list(result.perf) == ["days", "days_int1", "days_leaf", "days_root"]


def test_installed_command_critical_and_usage() -> None:
    port = refused_port()
    code, out = execute(console_command(), "-H", "127.0.0.1", "-p", port)
    assert assert_contract(code, out).code == 2 and "refused the connection" in out
    code, out = execute(console_command(), "--warning", "soon")
    assert code == 3 and out.startswith("TLS_EXPIRY UNKNOWN - argument -w/--warning: 'soon' is not a threshold")


def test_checkout_script(root_ca: CA, tmp_path: Path) -> None:
    path = write_pem(tmp_path / "leaf.pem", root_ca.leaf(not_after=timedelta(days=5)))
    code, out = execute(sys.executable, "check_tls_expiry.py", "--file", path, "-w", "30d", "-c", "7d", cwd=REPO)
    assert assert_contract(code, out).code == 2 and "leaf 'localhost' expires in 5.0 days" in out


def test_silent_peer_ends_the_process_within_t_plus_half_a_second() -> None:
    import time

    from servers import silent_server

    with silent_server() as port:
        started = time.monotonic()
        code, out = execute(console_command(), "-H", "127.0.0.1", "-p", port, "-t", "2")
        elapsed = time.monotonic() - started
    assert assert_contract(code, out).code == 2 and "timed out during the TLS handshake" in out
    assert elapsed < 2.5
