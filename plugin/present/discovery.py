"""Present for Zabbix low-level discovery: the rows of ``--zabbix-discovery``, as one line of JSON.

The answer is a JSON array (the LLD format since Zabbix 4.2), one object of LLD macros per endpoint, or, when
the discovery call itself is wrong, ``{"error": "..."}``: the template's discovery rule has a "check for error
in JSON" step on ``$.error``, so the rule becomes unsupported with that sentence instead of discovering nothing.
Like ``--output json``, it is always one line on stdout with exit 0 (Zabbix ignores the exit code and would
merge stderr into the value). ``json.dumps`` escapes control characters, so an entry cannot break the line.
"""

from __future__ import annotations

import json

from ..sanitize import clean

__all__ = ["discovery_error", "render_discovery"]


def render_discovery(rows: list[dict[str, str]]) -> str:
    return json.dumps(rows, separators=(",", ":")) + "\n"


def discovery_error(message: str) -> str:
    return json.dumps({"error": clean(message, 300)}, separators=(",", ":")) + "\n"
