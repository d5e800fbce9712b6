"""--cache-dir: what --crl, --ocsp, --aia and --ari fetch is kept, and the next check uses it without the servers.

Real parts as in test_crl/test_ocsp/test_aia/test_ari: CRLs signed by the test CA on a real HTTP server, the real
``openssl ocsp`` responder, the scripted RFC 9773 responder over real HTTPS, openssl s_server endpoints. "Without
the servers" means the servers are stopped before the second check, so only the cache can answer it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from pki import CA, write_pem
from runner import run
from servers import HttpFiles, http_file_server
from test_ari import Acme, _serve, acme  # noqa: F401 - the ACME responder fixture
from test_ocsp import _free_port, _url, ocsp_responder  # noqa: F401 - the openssl ocsp fixture

from check_tls_expiry import main
from plugin.acquire.cache import Cache
from plugin.compat import crl_next_update

REPO = Path(__file__).resolve().parent.parent
D = timedelta(days=1)


def _json(capsys: pytest.CaptureFixture[str], *argv: object) -> dict[str, Any]:
    assert main([str(arg) for arg in argv] + ["--output", "json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def _entries(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if not path.name.startswith("."))


def _expiry(entry: Path) -> float:
    """The expiry an entry's header records (and its mtime mirrors)."""
    return float(entry.read_bytes().split(b"\n", 1)[0].split(b" ")[2])


def test_a_cached_crl_answers_when_the_server_is_gone(tls_server, intermediate_ca: CA, root_pem: Path,
                                                      tmp_path: Path, capsys) -> None:
    cache = tmp_path / "cache"
    (tmp_path / "www").mkdir()
    with http_file_server(tmp_path / "www") as files:
        url = files.serve("ca.crl", intermediate_ca.crl([(12345, None)], next_update=2 * D))
        port = tls_server(intermediate_ca.leaf(not_after=60 * D, crl_url=url), [intermediate_ca.issued])
        base = ("-H", "localhost", "-p", port, "--cafile", root_pem, "--crl", "--cache-dir", cache)
        first = run(capsys, *base)
        assert first.code == 0 and first.status.endswith(", chain verified, not revoked (CRL)"), first.status
        assert files.requests() == ["/ca.crl"]
    # The directory was made for the user alone, and the entries are readable only by them: the CRL, and the
    # verdicts on the leaf (listed or not) and on the intermediate (it names no CRL).
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert len(_entries(cache)) == 3
    assert {stat.S_IMODE(entry.stat().st_mode) for entry in _entries(cache)} == {0o600}
    # Kept until the CRL's nextUpdate only when that is sooner than the cap: here the cap (one hour) is sooner.
    assert abs(_expiry(cache / Cache.key("GET", url)) - (time.time() + 3600)) < 60
    second = run(capsys, *base)  # the HTTP server is stopped: only the cache can answer
    assert second.code == 0 and second.status.endswith(", chain verified, not revoked (CRL)"), second.status
    document = _json(capsys, *base)
    assert document["chain"][0]["revocation"] == [{"status": "good", "source": "CRL", "cached": True}]
    # Without the cache the same check has nothing to go on, and says so.
    assert "not checked" in run(capsys, *base[:-2]).status


def test_a_crl_kept_for_one_certificate_serves_another_of_its_ca(tls_server, intermediate_ca: CA, root_pem: Path,
                                                                  tmp_path: Path, capsys) -> None:
    (tmp_path / "www").mkdir()
    with http_file_server(tmp_path / "www") as files:
        url = files.url("shared.crl")
        first, other = (intermediate_ca.leaf(not_after=60 * D, crl_url=url) for _ in range(2))
        files.serve("shared.crl", intermediate_ca.crl([(other.cert.serial_number, None)]))
        port = tls_server(first, [intermediate_ca.issued])
        cache = ("--cache-dir", tmp_path / "cache")
        assert run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--crl", *cache).code == 0
    # The server is gone; the other certificate's verdict is not kept, the CRL is, and it lists that one.
    port = tls_server(other, [intermediate_ca.issued])
    result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--crl", *cache)
    assert result.code == 2 and " was revoked on " in result.status and result.status.endswith(", CRL)")


def test_a_revocation_read_from_the_cache_is_still_critical(tls_server, intermediate_ca: CA, root_pem: Path,
                                                            tmp_path: Path, capsys) -> None:
    (tmp_path / "www").mkdir()
    with http_file_server(tmp_path / "www") as files:
        url = files.url("revoked.crl")
        leaf = intermediate_ca.leaf(not_after=60 * D, crl_url=url)
        files.serve("revoked.crl", intermediate_ca.crl([(leaf.cert.serial_number, x509.ReasonFlags.key_compromise)]))
        port = tls_server(leaf, [intermediate_ca.issued])
        base = ("-H", "localhost", "-p", port, "--cafile", root_pem, "--crl", "--cache-dir", tmp_path / "cache")
        first = run(capsys, *base)
    second = run(capsys, *base)
    assert first.code == second.code == 2
    assert second.status == first.status and second.status.endswith(" (key compromise, CRL)"), second.status


def test_an_entry_lives_until_next_update_when_that_is_sooner(tls_server, intermediate_ca: CA, root_pem: Path,
                                                              http_files: HttpFiles, tmp_path: Path, capsys) -> None:
    crl = intermediate_ca.crl(next_update=timedelta(minutes=20))
    url = http_files.serve("soon.crl", crl)
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, crl_url=url), [intermediate_ca.issued])
    cache = tmp_path / "cache"
    assert run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--crl", "--cache-dir", cache).code == 0
    entry = cache / Cache.key("GET", url)
    next_update = crl_next_update(x509.load_der_x509_crl(crl))
    assert next_update is not None
    assert _expiry(entry) == pytest.approx(next_update.timestamp(), abs=1)
    assert entry.stat().st_mtime == pytest.approx(_expiry(entry), abs=1)  # what pruning goes by


def test_the_cap_bounds_an_entry_and_then_the_check_fetches_again(tls_server, intermediate_ca: CA, root_pem: Path,
                                                                  tmp_path: Path, capsys) -> None:
    (tmp_path / "www").mkdir()
    with http_file_server(tmp_path / "www") as files:
        url = files.serve("ca.crl", intermediate_ca.crl())
        port = tls_server(intermediate_ca.leaf(not_after=60 * D, crl_url=url), [intermediate_ca.issued])
        base = ("-H", "localhost", "-p", port, "--cafile", root_pem, "--crl", "--cache-dir", tmp_path / "cache",
                "--cache-max-age", "1")
        assert run(capsys, *base).code == 0
        assert run(capsys, *base).status.endswith("not revoked (CRL)")
        assert files.requests() == ["/ca.crl"]  # the second check used the cache
        time.sleep(1.1)
        assert run(capsys, *base).code == 0
        assert files.requests() == ["/ca.crl", "/ca.crl"]  # expired: fetched again
    time.sleep(1.1)  # the second fetch's entry lives a second, too
    gone = run(capsys, *base)
    assert gone.code == 0 and "revocation of leaf 'localhost' not checked" in gone.status, gone.status


@pytest.mark.parametrize("name", ["stale.crl", "junk.crl"])
def test_a_stale_or_unusable_crl_is_not_kept(tls_server, intermediate_ca: CA, root_pem: Path, http_files: HttpFiles,
                                             tmp_path: Path, capsys, name: str) -> None:
    data = intermediate_ca.crl(last_update=-10 * D, next_update=-2 * D) if name == "stale.crl" else b"<html/>"
    url = http_files.serve(name, data)
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, crl_url=url), [intermediate_ca.issued])
    base = ("-H", "localhost", "-p", port, "--cafile", root_pem, "--crl", "--cache-dir", tmp_path / "cache")
    first = run(capsys, *base)
    before = http_files.requests().count(f"/{name}")
    second = run(capsys, *base)
    assert second.code == first.code and http_files.requests().count(f"/{name}") == before + 1  # asked again
    assert not (tmp_path / "cache" / Cache.key("GET", url)).exists()


def test_a_damaged_entry_is_a_miss_and_is_replaced(tls_server, intermediate_ca: CA, root_pem: Path,
                                                   http_files: HttpFiles, tmp_path: Path, capsys) -> None:
    url = http_files.serve("damaged.crl", intermediate_ca.crl())
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, crl_url=url), [intermediate_ca.issued])
    cache = tmp_path / "cache"
    base = ("-H", "localhost", "-p", port, "--cafile", root_pem, "--crl", "--cache-dir", cache)
    assert run(capsys, *base).code == 0
    wholes = {entry: entry.read_bytes() for entry in _entries(cache)}
    for entry, whole in wholes.items():
        entry.write_bytes(whole[:-10])  # truncated, as a disk full or a crash might leave it
    before = http_files.requests().count("/damaged.crl")
    again = run(capsys, *base)
    assert again.code == 0 and again.status.endswith("not revoked (CRL)")
    assert http_files.requests().count("/damaged.crl") == before + 1
    for entry, whole in wholes.items():  # replaced, whole (the header's expiry aside)
        assert entry.read_bytes().split(b"\n", 1)[1] == whole.split(b"\n", 1)[1]


def test_an_ocsp_answer_is_kept_until_its_next_update(ocsp_responder, tls_server, intermediate_ca: CA,  # noqa: F811
                                                      root_pem: Path, tmp_path: Path, capsys) -> None:
    port = _free_port()
    leaf = intermediate_ca.leaf(not_after=60 * D, ocsp_url=_url(port))
    responder = ocsp_responder(intermediate_ca, port, good=[leaf])
    tls = tls_server(leaf, [intermediate_ca.issued])
    base = ("-H", "localhost", "-p", tls, "--cafile", root_pem, "--ocsp", "--cache-dir", tmp_path / "cache",
            "--cache-max-age", "86400")
    first = run(capsys, *base)
    assert first.code == 0 and first.status.endswith("not revoked (OCSP)"), first.status
    responder.terminate()
    responder.wait(5)
    for entry in _entries(tmp_path / "cache"):  # openssl ocsp -ndays 1: nextUpdate in a day, the cap a day too
        assert abs(_expiry(entry) - (time.time() + 86400)) < 120
    second = run(capsys, *base)
    assert second.code == 0 and second.status.endswith("not revoked (OCSP)"), second.status


def test_a_fetched_intermediate_is_kept(tls_server, intermediate_ca: CA, root_pem: Path, tmp_path: Path,
                                        capsys) -> None:
    (tmp_path / "www").mkdir()
    with http_file_server(tmp_path / "www") as files:
        url = files.serve("int.der", intermediate_ca.issued.der)
        port = tls_server(intermediate_ca.leaf(not_after=60 * D, ca_issuers=url))  # the intermediate is not sent
        base = ("-H", "localhost", "-p", port, "--cafile", root_pem, "--aia", "--cache-dir", tmp_path / "cache")
        first = run(capsys, *base)
    second = run(capsys, *base)
    assert first.code == second.code == 2
    assert second.status == first.status and "the server does not send intermediate" in second.status


def test_an_ari_window_is_kept_as_long_as_retry_after_asks(tls_server, intermediate_ca: CA, root_pem: Path,
                                                            acme: Acme, tmp_path: Path, capsys) -> None:  # noqa: F811
    leaf = intermediate_ca.leaf(not_after=60 * D)
    _serve(acme, leaf, -1 * D, 5 * D, "https://community.example/incident")
    port = tls_server(leaf, [intermediate_ca.issued])
    cache = tmp_path / "cache"
    base = ("-H", "localhost", "-p", port, "--cafile", root_pem, "--ari", "--acme-directory", acme.directory,
            "--cache-dir", cache, "--cache-max-age", "60")
    acme.retry_after = "21600"
    asked = len(acme.asked)
    first = run(capsys, *base)
    assert first.code == 1 and "the CA asks for renewal of leaf 'localhost' now" in first.status
    assert len(acme.asked) == asked + 2  # the directory, then the window
    entries = {_expiry(entry) for entry in _entries(cache)}
    # The directory lives to the cap (60 s); the window as long as the CA's Retry-After (6 h), beyond the cap.
    assert [expiry - time.time() for expiry in sorted(entries)] == [pytest.approx(60, abs=10),
                                                                    pytest.approx(21600, abs=10)]
    document = _json(capsys, *base)
    assert len(acme.asked) == asked + 2  # nothing asked: both came from the cache
    assert document["ari"]["status"] == "renew_now" and document["ari"]["cached"] is True


@pytest.mark.parametrize(("header", "kept"), [("5", 60), ("999999", 86400), (None, 3600)])
def test_retry_after_is_taken_within_a_minute_and_a_day(tls_server, intermediate_ca: CA, root_pem: Path,
                                                        acme: Acme, tmp_path: Path, capsys,  # noqa: F811
                                                        header: str | None, kept: int) -> None:
    leaf = intermediate_ca.leaf(not_after=60 * D)
    _serve(acme, leaf, 20 * D, 25 * D)
    port = tls_server(leaf, [intermediate_ca.issued])
    cache = tmp_path / "cache"
    acme.retry_after = header
    try:
        result = run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--ari", "--acme-directory",
                     acme.directory, "--cache-dir", cache)
    finally:
        acme.retry_after = "21600"
    assert result.code == 0
    window = cache / Cache.key("verdict", f"ARI {acme.directory}", leaf.der)
    assert _expiry(window) - time.time() == pytest.approx(kept, abs=30)


def test_concurrent_checks_share_one_cache_without_damage(tls_server, intermediate_ca: CA, root_pem: Path,
                                                          http_files: HttpFiles, tmp_path: Path) -> None:
    url = http_files.serve("shared.crl", intermediate_ca.crl([(n, None) for n in range(1, 2000)]))
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, crl_url=url), [intermediate_ca.issued])
    cache = tmp_path / "cache"
    argv = [sys.executable, str(REPO / "check_tls_expiry.py"), "-H", "localhost", "-p", str(port), "--cafile",
            str(root_pem), "--crl", "--cache-dir", str(cache)]
    # Eight at once, all cold: each fetches and replaces the same entry; none may see half of another's.
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(8)]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0 and b"not revoked (CRL)" in out and err == b"", (out, err)
    assert len(_entries(cache)) == 3  # the CRL and two verdicts, each written eight times
    assert not [path for path in cache.iterdir() if path.name.startswith(".tmp-")]  # no temporary file left
    body = Cache(str(cache)).load(Cache.key("GET", url))
    assert body is not None and x509.load_der_x509_crl(body).issuer == intermediate_ca.name


def test_readers_see_a_whole_entry_or_none_while_writers_replace_it(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path / "cache"))
    key = Cache.key("GET", "http://127.0.0.1/x.crl")
    bodies = [bytes([n]) * (200_000 + n) for n in range(4)]
    seen: list[bytes | None] = []
    stop = threading.Event()

    def write(body: bytes) -> None:
        while not stop.is_set():
            cache.store(key, body, time.time() + 60)

    writers = [threading.Thread(target=write, args=(body,)) for body in bodies]
    for writer in writers:
        writer.start()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        seen.append(cache.load(key))
    stop.set()
    for writer in writers:
        writer.join()
    assert seen and all(body is None or body in bodies for body in seen)
    assert sum(body is not None for body in seen) > len(seen) // 2


def test_old_entries_and_stray_temporary_files_are_pruned_and_other_files_left(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path / "cache"))
    old = time.time() - 3 * 86400
    expired = cache.key("GET", "http://127.0.0.1/old.crl")
    cache.store(expired, b"old", time.time() + 60)
    os.utime(tmp_path / "cache" / expired, (old, old))
    stray = tmp_path / "cache" / ".tmp-crashed"
    stray.write_bytes(b"half")
    os.utime(stray, (old, old))
    mine = tmp_path / "cache" / "README"
    mine.write_text("the operator's own file")
    os.utime(mine, (old, old))
    # The next run (pruning is once a run, after its first store):
    Cache.open(str(tmp_path / "cache")).store(cache.key("GET", "http://127.0.0.1/new.crl"), b"new", time.time() + 60)
    names = sorted(path.name for path in (tmp_path / "cache").iterdir())
    assert names == sorted(["README", cache.key("GET", "http://127.0.0.1/new.crl")])


def test_without_cache_dir_nothing_is_written(tls_server, intermediate_ca: CA, root_pem: Path,
                                             http_files: HttpFiles, tmp_path: Path, capsys, monkeypatch) -> None:
    url = http_files.serve("nowrite.crl", intermediate_ca.crl())
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, crl_url=url), [intermediate_ca.issued])
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(work))
    for extra in ((), ("-vvv",)):
        assert run(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--crl", "--aia", *extra).code == 0
    assert _json(capsys, "-H", "localhost", "-p", port, "--cafile", root_pem, "--crl")["state"] == "OK"
    assert list(work.iterdir()) == [] and list(home.iterdir()) == []


@pytest.mark.parametrize("case", ["a-file", "no-parent", "group-writable", "with-file-mode", "without-fetches",
                                  "max-age-alone", "max-age-zero"])
def test_a_cache_dir_that_cannot_be_used_is_a_usage_error(root_ca: CA, tmp_path: Path, capsys, case: str) -> None:
    leaf = write_pem(tmp_path / "leaf.pem", root_ca.leaf(not_after=60 * D))
    target = tmp_path / "cache"
    argv: list[object] = ["-H", "localhost", "-p", "1", "--crl", "--cache-dir", target]
    if case == "a-file":
        target.write_text("")
    elif case == "no-parent":
        argv[-1] = tmp_path / "missing" / "cache"
    elif case == "group-writable":
        target.mkdir()
        target.chmod(0o770)
    elif case == "with-file-mode":
        argv = ["--file", leaf, "--cache-dir", target]
    elif case == "without-fetches":
        argv = ["-H", "localhost", "--cache-dir", target]
    elif case == "max-age-alone":
        argv = ["-H", "localhost", "--crl", "--cache-max-age", "60"]
    else:
        argv += ["--cache-max-age", "0"]
    result = run(capsys, *argv)
    assert result.code == 3
    expected = {
        "a-file": "is not a directory",
        "no-parent": "cannot be made (No such file or directory)",
        "group-writable": "is writable by other users (mode 770)",
        "with-file-mode": "--cache-dir cannot be used with --file",
        "without-fetches": "--cache-dir only applies to --crl, --ocsp, --aia or --ari",
        "max-age-alone": "--cache-max-age only applies to --cache-dir",
        "max-age-zero": "is not a number of seconds between 0 and 2592000",
    }[case]
    assert result.status.startswith("TLS_EXPIRY UNKNOWN - ") and expected in result.status, result.status
    if case in ("no-parent", "with-file-mode", "without-fetches", "max-age-alone", "max-age-zero"):
        assert not target.exists()


def test_the_cache_must_belong_to_the_user(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can make a directory that belongs to someone else")
    from plugin.errors import UsageError

    other = tmp_path / "theirs"
    other.mkdir(mode=0o700)
    os.chown(other, 65534, 65534)
    with pytest.raises(UsageError, match="belongs to another user"):
        Cache.open(str(other))


def test_a_missing_cache_is_a_miss_and_a_vanished_directory_is_not_an_error(tmp_path: Path) -> None:
    cache = Cache.open(str(tmp_path / "cache"))
    assert cache.load(Cache.key("GET", "http://127.0.0.1/none")) is None
    (tmp_path / "cache").rmdir()
    cache.store(Cache.key("GET", "http://127.0.0.1/none"), b"x", time.time() + 60)  # no error, nothing kept
    assert not (tmp_path / "cache").exists()


def test_a_warm_check_neither_fetches_nor_imports_cryptography(tls_server, intermediate_ca: CA, root_pem: Path,
                                                               acme: Acme, tmp_path: Path, capsys) -> None:  # noqa: F811
    """What keeps a warm --crl --ari check within milliseconds of a healthy one (benchmarks/cache_bench.py)."""
    (tmp_path / "www").mkdir()
    with http_file_server(tmp_path / "www") as files:
        leaf = intermediate_ca.leaf(not_after=60 * D, crl_url=files.url("warm.crl"))
        files.serve("warm.crl", intermediate_ca.crl())
        _serve(acme, leaf, 20 * D, 25 * D)
        port = tls_server(leaf, [intermediate_ca.issued])
        argv = ["-H", "localhost", "-p", str(port), "--cafile", str(root_pem), "--crl", "--ari", "--acme-directory",
                acme.directory, "--cache-dir", str(tmp_path / "cache")]
        assert run(capsys, *argv).code == 0  # cold: fetched, judged, kept
    asked = len(acme.asked)
    probe = ("import sys, check_tls_expiry\n"
             "code = check_tls_expiry.main(sys.argv[1:])\n"
             "print('cryptography' in sys.modules, code)\n")
    done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=False,
                          cwd=REPO, timeout=60)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("TLS_EXPIRY OK - ") and lines[0].split("|")[0].endswith("not revoked (CRL)"), lines
    assert lines[-1] == "False 0", done.stdout + done.stderr
    assert len(acme.asked) == asked
