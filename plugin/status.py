"""The four monitoring-plugin states, without importing nagiosplugin."""

from __future__ import annotations

import enum

__all__ = ["NAME", "Status"]

# The check's name, the first word of every status line.
NAME = "TLS_EXPIRY"


class Status(enum.IntEnum):
    """A Nagios service state; the value is the plugin's exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3
