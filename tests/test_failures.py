"""The last lines of defence: an internal error and the whole-run backstop still give one UNKNOWN status line."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from pki import CA, write_pem
from runner import run

import plugin.evaluate


def _crash(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom\nsecond line | days=1")


def test_internal_error_is_unknown_without_traceback(root_ca: CA, tmp_path: Path, capsys, monkeypatch) -> None:
    path = write_pem(tmp_path / "leaf.pem", root_ca.leaf())
    monkeypatch.setattr(plugin.evaluate, "evaluate", _crash)
    import check_tls_expiry  # noqa: F401 - the entry point imports evaluate lazily, so the patch applies

    result = run(capsys, "--file", path)
    assert result.code == 3
    assert result.out == f"TLS_EXPIRY UNKNOWN - {path}: internal error: RuntimeError: boom\\x0asecond line \\x7c days=1\n"


def test_traceback_only_at_vvv(root_ca: CA, tmp_path: Path, capsys, monkeypatch) -> None:
    path = write_pem(tmp_path / "leaf.pem", root_ca.leaf())
    monkeypatch.setattr(plugin.evaluate, "evaluate", _crash)
    from check_tls_expiry import main

    assert main(["--file", str(path), "-vvv"]) == 3
    out = capsys.readouterr().out
    assert out.startswith("TLS_EXPIRY UNKNOWN - ") and "Traceback (most recent call last)" in out


def test_backstop_fires_when_something_hangs(root_ca: CA, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(plugin.evaluate, "evaluate", lambda *args, **kwargs: time.sleep(30))
    started = time.monotonic()
    result = run(capsys, "-H", "127.0.0.1", "--file", write_pem(tmp_path / "l.pem", root_ca.leaf()), "-t", "0.5")
    assert result.code == 3
    assert result.status.endswith("the check did not finish within its 0.5s timeout")
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("flag", ["-v", "-vv"])
def test_verbose_levels_keep_one_status_line(root_ca: CA, tmp_path: Path, capsys, flag: str) -> None:
    result = run(capsys, "--file", write_pem(tmp_path / "l.pem", root_ca.leaf(not_after=timedelta(days=90))), flag)
    assert result.code == 0 and len([line for line in result.lines if line.startswith("TLS_EXPIRY")]) == 1
