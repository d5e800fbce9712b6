"""One endpoint and its options in one argument: ``NAME[:PORT][;OPTION...]`` (``--endpoint``, Zabbix discovery).

Zabbix passes each parameter of an item key as one argument and cannot leave a parameter out, so a key with a
fixed list of parameters cannot carry "any number of options, or none". An endpoint spec can: the discovery
rule lists specs, each discovered item passes its spec as the one value of ``--endpoint``, and the plugin
expands it into ``-H NAME [-p PORT] OPTION...``. Nothing empty ever reaches the option parser: ``a;;b`` and a
trailing ``;`` are the same as ``a;b``.

Grammar (no quoting, on purpose: the text passes through a Zabbix macro, an item key and an ``argv``):

* ``NAME`` a host name or an IP address; an IPv6 address with a port in brackets, ``[2001:db8::1]:443``;
* ``:PORT`` optional: without it the plugin's default applies (443, or the ``--starttls`` protocol's port);
* each ``OPTION`` is ``--long``, ``--long=value`` or ``-x=value`` (``-4``/``-6`` alone); a value cannot hold
  ``;``. The options are the plugin's own, parsed and validated by the same parser as the command line, after
  the other arguments (an entry's ``-w=20d`` overrides the key's ``-w``).

Not allowed inside a spec, because the spec already says it or it would change what the spec means: the name
(``-H``), the port (``-p``), ``--file``, ``--endpoint`` and ``--zabbix-discovery``.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import UsageError
from .sanitize import clean

__all__ = ["EndpointSpec", "parse_spec", "split_list"]

# Option names an entry may not hold, and why (said in the usage error).
_FORBIDDEN = {"-H": "the name comes first in the entry", "--host": "the name comes first in the entry",
              "-p": "give the port as NAME:PORT", "--port": "give the port as NAME:PORT",
              "--file": "an endpoint is a network check", "--endpoint": "an entry cannot hold another",
              "--zabbix-discovery": "an entry cannot hold a discovery", "-h": "not a check's option",
              "--help": "not a check's option", "-V": "not a check's option", "--version": "not a check's option"}


class EndpointSpec(NamedTuple):
    """A parsed spec. ``argv`` is what it stands for on the command line."""

    text: str
    host: str
    port: str | None
    options: tuple[str, ...]

    @property
    def argv(self) -> list[str]:
        return ["-H", self.host, *(("-p", self.port) if self.port is not None else ()), *self.options]


def _fail(text: str, why: str) -> UsageError:
    return UsageError(f"endpoint {clean(text, 120)!r}: {why}")


def _host_port(text: str, first: str) -> tuple[str, str | None]:
    if first.startswith("["):
        inside, bracket, rest = first[1:].partition("]")
        if not bracket or not inside or (rest and not rest.startswith(":")):
            raise _fail(text, "write an IPv6 address as [ADDRESS] or [ADDRESS]:PORT")
        host, port = inside, (rest[1:] if rest else None)
    elif first.count(":") == 1:
        host, port = first.split(":")
    else:  # a name, or an IPv6 address without a port
        host, port = first, None
    if not host:
        raise _fail(text, "no host name before the port")
    if port is not None and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise _fail(text, f"{clean(port, 40)!r} after the ':' is not a TCP port (1-65535)")
    return host, port


def _option(text: str, token: str) -> list[str]:
    name, equals, value = token.partition("=")
    if not (name.startswith("--") and len(name) > 2) and not (len(name) == 2 and name[0] == "-" and name[1].isalnum()):
        raise _fail(text, f"{clean(token, 60)!r} is not an option: write --name, --name=value, -x or -x=value, "
                          "with ';' between options")
    if name in _FORBIDDEN:
        raise _fail(text, f"{name} is not allowed in an entry ({_FORBIDDEN[name]})")
    if len(name) == 2 and equals:
        return [name, value]  # argparse would read "-w=20d" as the value "=20d"
    return [token]


def parse_spec(text: str) -> EndpointSpec:
    """Parse ``NAME[:PORT][;OPTION...]``; raise UsageError naming the entry and what is wrong with it.

    Only the shape is checked here; the name, the port and the options are validated by the same code as
    ``-H``, ``-p`` and the command line's options once the spec is expanded.
    """
    first, *tokens = text.split(";")
    host, port = _host_port(text, first.strip())
    options = [part for token in tokens if token.strip() for part in _option(text, token.strip())]
    return EndpointSpec(text, host, port, tuple(options))


def split_list(text: str) -> list[str]:
    """The entries of a discovery list: separated by whitespace (spaces, tabs, newlines), repeats dropped."""
    return list(dict.fromkeys(text.split()))
