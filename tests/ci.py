"""The one rule for tests whose server software is missing: skip on a laptop, with the reason; fail in CI.

CI sets ``CI=true``; there a missing daemon or binary means the submission's CI script forgot to install it, which
must not pass as a green run with tests quietly skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import NoReturn

import pytest

__all__ = ["in_ci", "require_binary", "unavailable"]

SBIN_DIRS = ("/usr/sbin", "/sbin")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(message: str) -> NoReturn:
    """Skip the test with ``message``, or fail it under CI=true."""
    if in_ci():
        pytest.fail(f"{message} (CI=true, refusing to skip)", pytrace=False)
    pytest.skip(message)


def require_binary(
    name: str, *alternatives: str, before: Sequence[str] = (), after: Sequence[str] = SBIN_DIRS
) -> str:
    """The path of the first of ``name``/``alternatives`` found in ``before``, $PATH, then ``after``."""
    search = os.pathsep.join([*before, os.environ.get("PATH", os.defpath), *after])
    for candidate in (name, *alternatives):
        path = shutil.which(candidate, path=search)
        if path is not None:
            return path
    names = " / ".join(repr(item) for item in (name, *alternatives))
    unavailable(f"required binary {names} not found (searched {search})")
