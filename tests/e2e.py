"""Shared by the end-to-end suites: the wrapper a monitoring daemon runs in place of the plugin."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

__all__ = ["PLUGIN", "write_recording_wrapper"]

PLUGIN = Path(__file__).resolve().parent.parent / "check_tls_expiry.py"

# Runs this checkout's plugin with the test's interpreter and keeps a copy of its argv, stdout and exit code per
# run (mktemp: daemons run checks in parallel), so tests can compare what a daemon recorded with what was printed.
_WRAPPER = """\
#!/bin/sh
rec=$(mktemp @REC@/run.XXXXXX) || exit 3
printf '%s\\n' "$*" > "$rec.args"
@PY@ @PLUGIN@ "$@" > "$rec.out"; rc=$?
printf '%s\\n' "$rc" > "$rec.rc"
cat "$rec.out"
exit $rc
"""


def write_recording_wrapper(path: Path, records: Path) -> Path:
    """Write the wrapper to ``path`` (mode 755), recording into ``records`` (created if needed)."""
    records.mkdir(parents=True, exist_ok=True)
    text = (_WRAPPER.replace("@REC@", shlex.quote(str(records)))
            .replace("@PY@", shlex.quote(sys.executable))
            .replace("@PLUGIN@", shlex.quote(str(PLUGIN))))
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path
