"""The Debian packaging in debian/: its version follows the plugin's, its files exist, and its two scripts work.

Building, linting and installing the package is .ci/deb's job (root, apt); these checks need neither.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from plugin import __version__

REPO = Path(__file__).resolve().parent.parent
DEBIAN = REPO / "debian"


def test_changelog_version_is_the_plugin_version() -> None:
    first = (DEBIAN / "changelog").read_text().splitlines()[0]
    match = re.fullmatch(r"check-tls-expiry \((\S+)\) \S+; urgency=\w+", first)
    assert match, first
    assert match[1] == __version__, "a native package: debian/changelog's version is plugin.__version__, no revision"


def test_installed_and_example_files_exist() -> None:
    sources = [line.split()[0] for line in (DEBIAN / "install").read_text().splitlines() if line.strip()]
    examples = [line.strip() for line in (DEBIAN / "examples").read_text().splitlines() if line.strip()]
    assert sorted(examples) == sorted(str(path.relative_to(REPO)) for path in (REPO / "contrib").rglob("*")
                                      if path.is_file())
    for name in [*sources, *examples]:
        assert (REPO / name).exists(), name


def test_wrapper_puts_the_private_directory_first(tmp_path: Path) -> None:
    """The packaged command, pointed at this checkout instead of /usr/share/check-tls-expiry, runs the plugin."""
    text = (DEBIAN / "bin" / "check_tls_expiry").read_text()
    assert text.splitlines()[0] == "#!/usr/bin/python3"
    assert 'PRIVATE = "/usr/share/check-tls-expiry"' in text
    wrapper = tmp_path / "check_tls_expiry"
    wrapper.write_text(text.replace('"/usr/share/check-tls-expiry"', repr(str(REPO))))
    for shadow in ("plugin", "argparse"):  # neither the checkout's package nor the standard library is shadowed
        (tmp_path / f"{shadow}.py").write_text(f"raise SystemExit('the directory of the command shadowed {shadow}')\n")
    proc = subprocess.run([sys.executable, str(wrapper), "--version"], check=False, capture_output=True, text=True,
                          timeout=30, cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, f"check_tls_expiry {__version__}\n", "")


def test_help2man_wrapper() -> None:
    """help2man gets --help and --version with status 0, the usage as one "Usage:" line."""
    run = [sys.executable, str(DEBIAN / "help2man-wrapper")]
    version = subprocess.run([*run, "--version"], check=False, capture_output=True, text=True, timeout=30)
    assert (version.returncode, version.stdout) == (0, f"check_tls_expiry {__version__}\n")
    helped = subprocess.run([*run, "--help"], check=False, capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0 and helped.stderr == ""
    usage, blank = helped.stdout.splitlines()[:2]
    assert usage.startswith("Usage: check_tls_expiry [-h] [-H NAME]") and usage.endswith("[-V]") and blank == ""
