#!/usr/bin/env python3
"""Where a healthy check's start-up goes: ``python -X importtime`` on the plugin and on the floors, compared.

    python benchmarks/importtime.py                       # healthy check against a local s_server, 7 runs
    python benchmarks/importtime.py --top 40 --runs 11
    python benchmarks/importtime.py -- --file /etc/ssl/certs/ISRG_Root_X1.pem   # any other command line

Starts the same throw-away PKI and ``openssl s_server`` as ``bench.py`` and runs
``check_tls_expiry -H localhost -p PORT --cafile root.pem`` (default Nagios output) under ``-X importtime``, and
both floor scripts of ``bench.py`` likewise (plain Python, and the minimal nagiosplugin check). Each module's self
and cumulative import times are the median over the runs (the first run is a warm-up and not counted). It prints:

1. the total import time of each, and the differences: the plugin's import budget on top of each floor;
2. the plugin's modules by cumulative time, with who imported them (the chain up to the plugin's own code);
3. what the plugin imports that the compared floor (``--floor``, default the nagiosplugin one, which the issue's
   goal is set against) does not, by top-level package (self time summed): the candidates for lazy imports.

Run it with the interpreter of a non-editable install (see ``bench.py``), so that start-up matches an operator's.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


@dataclass
class Module:
    name: str
    level: int
    parent: str | None
    self_us: list[int] = field(default_factory=list)
    cumulative_us: list[int] = field(default_factory=list)

    @property
    def self_ms(self) -> float:
        return statistics.median(self.self_us) / 1000

    @property
    def cumulative_ms(self) -> float:
        return statistics.median(self.cumulative_us) / 1000


def parse(stderr: str, modules: dict[str, Module]) -> None:
    """Add one run's ``-X importtime`` lines to ``modules`` (name -> Module), recording each one's importer."""
    entries = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match:
            entries.append((int(match.group(1)), int(match.group(2)), len(match.group(3)) // 2, match.group(4)))
    # The output is post-order (a module after the ones it imported); reversed, a module's importer comes first.
    stack: list[tuple[int, str]] = []
    for self_us, cumulative_us, level, name in reversed(entries):
        while stack and stack[-1][0] >= level:
            stack.pop()
        parent = stack[-1][1] if stack else None
        module = modules.setdefault(name, Module(name, level, parent))
        module.self_us.append(self_us)
        module.cumulative_us.append(cumulative_us)
        stack.append((level, name))


def profile(argv: list[str], runs: int) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for run in range(runs + 1):
        result = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True, check=False)
        if result.returncode not in (0, 1, 2):
            sys.exit(f"importtime: {' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
        if run:  # the first run warms the caches
            parse(result.stderr, modules)
    return modules


def total_ms(modules: dict[str, Module]) -> float:
    return sum(module.self_ms for module in modules.values())


def chain(name: str, modules: dict[str, Module]) -> str:
    """``x <- y <- z`` up to the first module of the plugin itself (or the top)."""
    links = []
    parent = modules[name].parent
    while parent is not None:
        links.append(parent)
        if parent == "check_tls_expiry" or parent.startswith("plugin"):
            break
        parent = modules[parent].parent
    return " <- ".join(links)


def report(plugin: dict[str, Module], floors: dict[str, dict[str, Module]], compared: str, top: int) -> str:
    out = ["total import time (sum of self, medians): "
           + ", ".join(f"{name} {total_ms(modules):.1f} ms" for name, modules in {"plugin": plugin, **floors}.items()),
           "plugin on top of: " + ", ".join(f"{name} {total_ms(plugin) - total_ms(modules):.1f} ms"
                                            for name, modules in floors.items()), ""]
    floor = floors[compared]
    out.append(f"plugin: top {top} modules by cumulative import time (ms); * = the {compared} imports it too")
    out.append(f"{'cumul':>7} {'self':>6}  module  [imported by]")
    ranked = sorted(plugin.values(), key=lambda module: -module.cumulative_ms)
    for module in ranked[:top]:
        mark = "*" if module.name in floor else " "
        by = chain(module.name, plugin)
        out.append(f"{module.cumulative_ms:7.1f} {module.self_ms:6.1f} {mark}{'  ' * module.level}{module.name}"
                   + (f"  [{by}]" if by else ""))
    extra: dict[str, list[Module]] = {}
    for module in plugin.values():
        if module.name not in floor:
            extra.setdefault(module.name.split(".")[0], []).append(module)
    out += ["", f"imported by the plugin but not by the {compared}, by top-level package (self ms summed):"]
    for package, members in sorted(extra.items(), key=lambda item: -sum(module.self_ms for module in item[1])):
        spent = sum(module.self_ms for module in members)
        if spent < 0.3:
            continue
        first = min(members, key=lambda module: module.level)
        via = chain(first.name, plugin) or "a function-level import, at run time"
        out.append(f"{spent:7.1f}  {package:28} {len(members):3d} modules, first via: {via}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command, after one warm-up (default 7)")
    parser.add_argument("--top", type=int, default=30, help="how many modules to list (default 30)")
    parser.add_argument("--plugin", help="the console script (default: the installed check_tls_expiry)")
    parser.add_argument("--floor", choices=("plain", "nagiosplugin"), default="nagiosplugin",
                        help="the floor to compare module by module (default nagiosplugin: the goal's floor)")
    parser.add_argument("args", nargs="*", help="after --: the plugin's command line instead of the healthy check")
    options = parser.parse_args(argv)
    script = options.plugin or bench.console_script()
    python = bench.interpreter_of(script)
    with tempfile.TemporaryDirectory(prefix="importtime-") as temp:
        directory = Path(temp)
        pki = bench.make_pki(directory)
        scripts = {"floor": (directory / "floor.py", bench.FLOOR),
                   "floor+nagiosplugin": (directory / "floor_nagiosplugin.py", bench.FLOOR_NAGIOSPLUGIN)}
        for path, text in scripts.values():
            path.write_text(text)
        with bench.tls_server(pki, directory) as port:
            args = options.args or ["-H", "localhost", "-p", str(port), "--cafile", str(pki["root"])]
            print(f"plugin: {python} -X importtime {script} {' '.join(args)}")
            for name, (path, _) in scripts.items():
                print(f"{name}: {python} -X importtime {path.name} localhost {port} cafile root.pem")
            print(f"{options.runs} runs each after a warm-up; {bench.machine(python)[1]}", end="\n\n")
            plugin = profile([python, script, *args], options.runs)
            floors = {name: profile([python, str(path), "localhost", str(port), "cafile", str(pki["root"])],
                                    options.runs) for name, (path, _) in scripts.items()}
    print(report(plugin, floors, "floor+nagiosplugin" if options.floor == "nagiosplugin" else "floor", options.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
