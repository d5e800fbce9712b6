#!/usr/bin/env python3
"""Benchmark: what checking 8 addresses at once (``-I A,B,...``, plugin.acquire.probes) costs over checking one, in one process.

    python benchmarks/concurrency.py                  # 20 rounds, 50 ms per handshake
    python benchmarks/concurrency.py --rounds 50 --delay 100
    python benchmarks/concurrency.py --direct         # bare loopback, no delay (the start-up then hides it all)
    python benchmarks/concurrency.py --json           # one JSON object instead of the table

A throw-away PKI (``bench.make_pki``: root -> intermediate -> leaf for localhost, EC P-256) is served by eight
``openssl s_server -www``, one for each of 127.0.0.1 ... 127.0.0.8, all on the same port. On loopback a handshake
costs ~2 ms, most of it CPU, so "8 addresses cost one handshake's wall time" would be lost in the check's own work;
a real endpoint is tens of milliseconds away. So each s_server sits behind a tiny relay (a separate Python
process, a thread per connection) that listens on 127.0.0.N:PORT, holds the client's first bytes (the ClientHello)
for ``--delay`` ms, then copies both ways to its s_server, which listens on a Unix socket (so that nothing else on
the machine reaches it, and it takes no port on 127.0.0.N): every handshake takes a known, mostly idle, time, as
over a network. The relays and the servers are other processes: their CPU is not counted, but they run on the
same cores (about 0.8 ms of CPU each per handshake, on a 2-core VM), which a real network would not ask of the
monitoring host. ``--direct`` drops the relays: the s_servers then listen on 127.0.0.N:PORT themselves.

Each round runs, in turn (interleaved, so that drift in the machine's load hits all of them alike), in this
process, ``check_tls_expiry.main([...])`` of the repository with ``-H localhost -p PORT --cafile root.pem``
(stdout to /dev/null, the garbage collector off as in the console script):

* ``one``: ``-I 127.0.0.1`` -- the baseline: one probe, run in the calling thread;
* ``eight``: ``-I 127.0.0.1,...,127.0.0.8`` -- eight probes, a thread each, one ``-t`` budget;
* ``sequential``: eight ``main()`` calls, ``-I 127.0.0.N`` each -- for reference, what a loop over the addresses
  (or eight services) costs;

and, as a reference for what the machine itself allows, a plain-Python floor: ``floor``, one verified handshake
(``ssl`` only, a fresh context with the same root, hostname checked) with 127.0.0.1, and ``floor x8``, eight of
them in eight threads at once.

Per run it records wall time (``time.perf_counter``) and the process's CPU time (``time.process_time``, which
sums every thread: the probes' included). It prints the medians and:

* wall(eight) / wall(one): close to 1 when the handshakes overlap, 8 if they ran one after the other (compare
  ``sequential``). What is left above 1, in ms, does not grow with ``--delay``: the probes' set-up before their
  ClientHello (a verifying context, about 0.6 ms, and the TCP connect, in each thread; the threads start one
  after the other) staggers the eight handshakes by a few ms, and after the delay the eight handshakes' CPU
  (client, servers, relays) arrives at once on however many cores there are. ``floor x8`` / ``floor`` shows how
  much of it the machine imposes on any eight concurrent handshakes;
* CPU per extra handshake: (cpu(eight) - cpu(one)) / 7 in ms, and as a ratio to cpu(one), the whole check of one
  address: what each further address adds to a run (handshake, verification and its evaluation), without the
  interpreter's start-up, the imports and the argument parsing, which a run pays once.

Absolute times depend on the machine and on ``--delay``; the ratios are what compares across machines. The
issue's expectation: wall(eight)/wall(one) close to 1 and well below 8.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository's check_tls_expiry and plugin, not an installed copy
sys.path.insert(0, str(HERE))

import bench  # for make_pki: the same throw-away PKI as the other benchmarks

import check_tls_expiry

ADDRESSES = [f"127.0.0.{n}" for n in range(1, 9)]

# One relay: accepts on the listening socket it inherits (fd argv[1]), and for each connection connects to the
# s_server behind it (a Unix socket, argv[2]) and copies bytes both ways, holding the client's first bytes for
# argv[3] ms. A thread per connection; it ends with the connection (either side closing, an error, 30 s of silence).
RELAY = """\
import select, socket, sys, threading, time
listener = socket.socket(fileno=int(sys.argv[1]))
backend, delay = sys.argv[2], float(sys.argv[3]) / 1000


def pipe(client):
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.settimeout(10)
        upstream.connect(backend)
        upstream.settimeout(None)
    except OSError:
        client.close()
        upstream.close()
        return
    held = delay > 0
    try:
        while True:
            ready, _, _ = select.select([client, upstream], [], [], 30)
            if not ready:
                return
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                if source is client and held:
                    time.sleep(delay)
                    held = False
                (upstream if source is client else client).sendall(data)
    except OSError:
        return
    finally:
        client.close()
        upstream.close()


while True:
    client, _ = listener.accept()
    threading.Thread(target=pipe, args=(client,), daemon=True).start()
"""


# --- the servers --------------------------------------------------------------------------------------------------

def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes a child get SIGTERM when this process dies (Linux), even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return preexec


def start(stack: contextlib.ExitStack, argv: list[str], *, output: IO[bytes] | None = None,
          pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
    """Start a helper process in its own session (Ctrl-C reaches only us, and we stop it); stopped when ``stack``
    closes. Every helper is started before this process starts any thread, so a preexec_fn is safe here."""
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output,
                               stderr=subprocess.STDOUT if output is not None else None, pass_fds=pass_fds,
                               start_new_session=True, preexec_fn=_die_with_parent())  # noqa: PLW1509

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    stack.callback(stop)
    return process


def s_server(stack: contextlib.ExitStack, pki: dict[str, Path], log: Path, accept: list[str]) -> bytes | None:
    """``openssl s_server -www`` with leaf + intermediate, accepting where ``accept`` says (``-accept HOST:PORT``,
    ``-unix PATH``); returns its ACCEPT line once it listens, or None when it could not bind."""
    openssl = shutil.which("openssl")
    if openssl is None:
        sys.exit("concurrency: the openssl command is needed for s_server")
    with open(log, "wb") as out:
        server = start(stack, [openssl, "s_server", *accept, "-cert", str(pki["leaf"]), "-key", str(pki["key"]),
                               "-cert_chain", str(pki["inter"]), "-www"], output=out)
    deadline = time.monotonic() + 10
    while True:
        match = re.search(rb"^ACCEPT.*$", log.read_bytes(), re.MULTILINE)
        if match and b"error" not in match.group(0):
            return match.group(0)
        if server.poll() is not None and re.search(rb"in use", log.read_bytes(), re.IGNORECASE):
            return None
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"concurrency: s_server {' '.join(accept)} did not start: {log.read_text(errors='replace')}")
        time.sleep(0.02)


def listeners() -> tuple[int, list[socket.socket]]:
    """A port that is free on all of ADDRESSES, and a listening socket on each (held: no race)."""
    for _ in range(20):
        held: list[socket.socket] = []
        try:
            for address in ADDRESSES:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(sock)
                sock.bind((address, held[0].getsockname()[1] if len(held) > 1 else 0))
                sock.listen(64)
            return held[0].getsockname()[1], held
        except OSError:
            for sock in held:
                sock.close()
    sys.exit(f"concurrency: found no port free on all of {', '.join(ADDRESSES)}")


@contextlib.contextmanager
def servers(pki: dict[str, Path], directory: Path, delay_ms: float, direct: bool) -> Iterator[int]:
    """Eight s_servers on ADDRESSES, one port; each behind a relay unless ``direct``. Yields the port once every
    address completes a verified handshake; stops every process it started, whatever happens."""
    with contextlib.ExitStack() as stack:
        if direct:
            for _ in range(20):  # s_server binds itself: take the port of the first, retry if another has it
                with contextlib.ExitStack() as attempt:
                    line = s_server(attempt, pki, directory / "s_server-1.log", ["-accept", f"{ADDRESSES[0]}:0"])
                    found = re.search(rb":(\d+)\r?$", line or b"")
                    if found is None:
                        sys.exit(f"concurrency: no port in s_server's {line!r}")
                    port = int(found.group(1))
                    if all(s_server(attempt, pki, directory / f"s_server-{n}.log", ["-accept", f"{address}:{port}"])
                           for n, address in enumerate(ADDRESSES[1:], 2)):
                        stack.push(attempt.pop_all())
                        break
            else:
                sys.exit("concurrency: found no port free on all of the addresses")
        else:
            # The s_servers listen on Unix sockets: nothing else on this machine connects to them by chance, and
            # they take no TCP port that a test running meanwhile might want on 127.0.0.N.
            # OpenSSL 3.0's s_server fails ("ACCEPTunknown:error") on a socket path longer than 31 bytes (it
            # formats the path into a 32-byte buffer): the sockets get a short directory of their own.
            short = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cc-", dir="/tmp")))
            port, sockets = listeners()
            for n, sock in enumerate(sockets, 1):
                stack.callback(sock.close)
                backend = short / f"{n}.sock"
                s_server(stack, pki, directory / f"s_server-{n}.log", ["-unix", str(backend)])
                start(stack, [sys.executable, "-I", "-S", "-c", RELAY, str(sock.fileno()), str(backend),
                              str(delay_ms)], pass_fds=(sock.fileno(),))
                sock.close()  # the relay holds it now
        for address in ADDRESSES:
            ready(address, port, pki["root"])
        yield port


def handshake(address: str, port: int, cafile: Path) -> None:
    """One verified handshake (hostname checked), the way the floor does it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=cafile)
    with socket.create_connection((address, port), timeout=10) as sock, \
            context.wrap_socket(sock, server_hostname="localhost") as tls:
        tls.getpeercert()


def ready(address: str, port: int, cafile: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            handshake(address, port, cafile)
            return
        except (OSError, ssl.SSLError) as exc:
            if time.monotonic() > deadline:
                sys.exit(f"concurrency: no handshake with {address}:{port}: {exc}")
            time.sleep(0.05)


# --- measuring ----------------------------------------------------------------------------------------------------

@dataclass
class Sample:
    wall: float  # seconds
    cpu: float  # seconds, every thread of this process


@dataclass
class Case:
    name: str
    calls: int
    handshakes: int
    run: Callable[[], None]
    samples: list[Sample] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return float(statistics.median(getattr(sample, attribute) for sample in self.samples))

    def measure(self) -> Sample:
        gc.collect()  # outside the timed part; the collector is off inside it, as in the console script
        wall, cpu = time.perf_counter(), time.process_time()
        self.run()
        return Sample(time.perf_counter() - wall, time.process_time() - cpu)


def plugin(argv_list: list[list[str]], sink: io.TextIOBase) -> Callable[[], None]:
    """``check_tls_expiry.main`` once per argv in ``argv_list``, printing into ``sink``; each must be OK."""

    def run() -> None:
        for argv in argv_list:
            with contextlib.redirect_stdout(sink):
                code = check_tls_expiry.main(argv)
            if code != 0:  # run it again to show what it says (the timed runs print to /dev/null)
                again = io.StringIO()
                with contextlib.redirect_stdout(again):
                    code_again = check_tls_expiry.main(argv)
                sys.exit(f"concurrency: check_tls_expiry {' '.join(argv)} exited {code}; run again, it exited "
                         f"{code_again}:\n{again.getvalue()}")

    return run


def floor_threads(port: int, cafile: Path) -> Callable[[], None]:
    """Eight plain handshakes at once, a thread each (as plugin.acquire.probes starts them)."""

    def run() -> None:
        errors: list[BaseException] = []

        def one(address: str) -> None:
            try:
                handshake(address, port, cafile)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, in the calling thread
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(address,), daemon=True) for address in ADDRESSES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    return run


def machine_lines(options: argparse.Namespace, port: int) -> list[str]:
    import cryptography

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    where = ("bare loopback (--direct)" if options.direct
             else f"each behind a relay holding the ClientHello {options.delay:g} ms")
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores ({usable} usable)"
    python = f"python {platform.python_version()} ({sys.executable})"
    return [
        f"machine: {cpu}, {platform.system()} {platform.release()}, load {load}",
        f"{python}, {ssl.OPENSSL_VERSION}, cryptography {cryptography.__version__}",
        f"plugin: {check_tls_expiry.__file__}",
        f"servers: 8 x openssl s_server -www on 127.0.0.1..8:{port}, leaf + intermediate, EC P-256, {where}",
        f"rounds: {options.rounds} measured (+{options.warmup} warm-up), interleaved; medians",
    ]


def results(cases: dict[str, Case]) -> dict[str, float]:
    one, eight, seq = cases["one"], cases["eight"], cases["sequential"]
    floor, floor8 = cases["floor"], cases["floor x8"]
    extra_cpu = (eight.median("cpu") - one.median("cpu")) / 7
    return {
        "wall_eight_over_one": eight.median("wall") / one.median("wall"),
        "wall_sequential_over_one": seq.median("wall") / one.median("wall"),
        "wall_floor8_over_floor": floor8.median("wall") / floor.median("wall"),
        "wall_eight_minus_one_ms": (eight.median("wall") - one.median("wall")) * 1000,
        "wall_floor8_minus_floor_ms": (floor8.median("wall") - floor.median("wall")) * 1000,
        "cpu_per_extra_handshake_ms": extra_cpu * 1000,
        "cpu_per_extra_handshake_over_cpu_one": extra_cpu / one.median("cpu"),
        "cpu_per_extra_sequential_call_ms": (seq.median("cpu") - one.median("cpu")) / 7 * 1000,
        "cpu_per_extra_floor_handshake_ms": (floor8.median("cpu") - floor.median("cpu")) / 7 * 1000,
    }


def report(cases: dict[str, Case], lines: list[str], first_output: str) -> str:
    one = cases["one"]
    out = [*lines, ""]
    out.append(f"{'':<12}{'calls':>6}{'handshakes':>12}{'wall ms':>10}{'wall min..p90':>16}{'cpu ms':>10}"
               f"{'wall/one':>10}{'cpu/one':>9}")
    for case in cases.values():
        walls = sorted(sample.wall * 1000 for sample in case.samples)
        p90 = walls[min(len(walls) - 1, round(0.9 * (len(walls) - 1)))]
        wall, cpu = case.median("wall"), case.median("cpu")
        out.append(f"{case.name:<12}{case.calls:>6}{case.handshakes:>12}{wall * 1000:>10.1f}"
                   f"{walls[0]:>9.1f}..{p90:<5.1f}{cpu * 1000:>10.1f}{wall / one.median('wall'):>9.2f}x"
                   f"{cpu / one.median('cpu'):>8.2f}x")
    numbers = results(cases)
    out.append("")
    out.append(f"wall(eight)/wall(one):   {numbers['wall_eight_over_one']:.2f}x, +{numbers['wall_eight_minus_one_ms']:.1f}"
               f" ms (sequential: {numbers['wall_sequential_over_one']:.2f}x; the plain floor x8/floor: "
               f"{numbers['wall_floor8_over_floor']:.2f}x, +{numbers['wall_floor8_minus_floor_ms']:.1f} ms)")
    out.append(f"CPU per extra handshake: {numbers['cpu_per_extra_handshake_ms']:.2f} ms = "
               f"{numbers['cpu_per_extra_handshake_over_cpu_one']:.2f} x cpu(one), (cpu(eight) - cpu(one)) / 7 "
               f"(a whole extra main() call: {numbers['cpu_per_extra_sequential_call_ms']:.2f} ms; "
               f"an extra plain handshake: {numbers['cpu_per_extra_floor_handshake_ms']:.2f} ms)")
    out.append("")
    out.append(f"eight printed: {first_output.splitlines()[0] if first_output else '(nothing)'}")
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="rounds run first and not counted (default 2)")
    parser.add_argument("--delay", type=float, default=50.0, metavar="MS",
                        help="ms each relay holds a connection's first bytes: the handshake's added latency "
                             "(default 50)")
    parser.add_argument("--direct", action="store_true",
                        help="no relays: the check talks to the s_servers on bare loopback (--delay is ignored)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    options = parser.parse_args(argv)
    if options.rounds < 1 or options.warmup < 0 or options.delay < 0:
        parser.error("--rounds must be >= 1, --warmup and --delay >= 0")
    return options


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the ExitStacks, which stop the servers


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGHUP, _terminated)
    with tempfile.TemporaryDirectory(prefix="concurrency-") as temp, open(os.devnull, "w") as devnull:
        directory = Path(temp)
        pki = bench.make_pki(directory)
        with servers(pki, directory, options.delay, options.direct) as port:
            common = ["-H", "localhost", "-p", str(port), "--cafile", str(pki["root"])]
            captured = io.StringIO()
            plugin([[*common, "-I", ",".join(ADDRESSES)]], captured)()  # healthy? (and the imports, once)
            cases = {case.name: case for case in [
                Case("floor", 1, 1, lambda: handshake(ADDRESSES[0], port, pki["root"])),
                Case("floor x8", 1, 8, floor_threads(port, pki["root"])),
                Case("one", 1, 1, plugin([[*common, "-I", ADDRESSES[0]]], devnull)),
                Case("eight", 1, 8, plugin([[*common, "-I", ",".join(ADDRESSES)]], devnull)),
                Case("sequential", 8, 8, plugin([[*common, "-I", address] for address in ADDRESSES], devnull)),
            ]}
            lines = machine_lines(options, port)
            gc.disable()
            try:
                for round_number in range(options.warmup + options.rounds):
                    for case in cases.values():
                        sample = case.measure()
                        if round_number >= options.warmup:
                            case.samples.append(sample)
            finally:
                gc.enable()
    if options.json:
        print(json.dumps({
            "machine": lines,
            "medians_ms": {name: {"wall": case.median("wall") * 1000, "cpu": case.median("cpu") * 1000}
                           for name, case in cases.items()},
            **results(cases),
        }, indent=2))
    else:
        print(report(cases, lines, captured.getvalue()))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers are stopped already (the ExitStacks unwound)
        sys.exit(130)
