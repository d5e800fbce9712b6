"""--proxy and --proxy-auth-file against a real proxy: Debian's tinyproxy, started per test with its own
configuration (CONNECT allowed to the test's ports only, Basic authentication or none), in front of real
openssl s_server endpoints, the real exim4 (STARTTLS) and the real HTTP and ACME servers of the fetches."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pki import CA
from runner import run
from servers import HttpFiles, refused_port, silent_server, tinyproxy
from test_ari import Acme, _serve, acme  # noqa: F401 - the ACME responder fixture

from check_tls_expiry import main

D = timedelta(days=1)
SECRET = "Pr0xy-S3cret-do-not-print"


@pytest.fixture
def endpoint(tls_server, intermediate_ca: CA, root_pem: Path):  # type: ignore[no-untyped-def]
    """A healthy endpoint: (port, the check's arguments without -I)."""
    port = tls_server(intermediate_ca.leaf(not_after=60 * D), [intermediate_ca.issued])
    return port, ["-H", "localhost", "-p", str(port), "--cafile", str(root_pem)]


def test_a_check_through_the_proxy_is_the_same_check(endpoint, tmp_path: Path, capsys) -> None:
    port, args = endpoint
    direct = run(capsys, *args, "-I", "127.0.0.1")
    with tinyproxy(tmp_path / "tp", [port]) as proxy:
        proxied = run(capsys, *args, "-I", "127.0.0.1", "--proxy", proxy.url)
        by_name = run(capsys, *args, "--proxy", proxy.url, "-vv")  # the proxy resolves "localhost"
        log = proxy.logged()
    assert proxied.code == direct.code == 0
    assert proxied.status == direct.status, (proxied.status, direct.status)
    assert by_name.status == direct.status
    assert f"CONNECT 127.0.0.1:{port}" in log or f"127.0.0.1:{port}" in log
    assert f"localhost:{port} via the proxy 127.0.0.1:{proxy.port}" in by_name.out, by_name.out


def test_starttls_through_the_proxy(exim_server, mail_chain, tmp_path: Path, capsys) -> None:
    args = ["-H", "localhost", "-I", "127.0.0.1", "-p", str(exim_server.port), "--starttls", "smtp", "--cafile",
            str(mail_chain.root)]
    direct = run(capsys, *args)
    with tinyproxy(tmp_path / "tp", [exim_server.port]) as proxy:
        proxied = run(capsys, *args, "--proxy", proxy.url)
    assert direct.code == 0 and proxied.status == direct.status, proxied.out


def test_authentication_by_file_or_url_and_its_refusals(endpoint, tmp_path: Path, capsys) -> None:
    port, args = endpoint
    auth = tmp_path / "proxy.auth"
    auth.write_text(f"monitor:{SECRET}\n")
    wrong = tmp_path / "wrong.auth"
    wrong.write_text("monitor:not-it\r\n")
    with tinyproxy(tmp_path / "tp", [port], auth=("monitor", SECRET)) as proxy:
        good = run(capsys, *args, "-I", "127.0.0.1", "--proxy", proxy.url, "--proxy-auth-file", auth, "-vvv")
        in_url = run(capsys, *args, "-I", "127.0.0.1", "--proxy",
                     f"http://monitor:{SECRET}@127.0.0.1:{proxy.port}")
        none = run(capsys, *args, "-I", "127.0.0.1", "--proxy", proxy.url)
        refused = run(capsys, *args, "-I", "127.0.0.1", "--proxy", proxy.url, "--proxy-auth-file", wrong)
    assert good.code == in_url.code == 0, (good.out, in_url.out)
    assert none.code == refused.code == 2
    assert none.status == (f"TLS_EXPIRY CRITICAL - localhost:{port}: the proxy 127.0.0.1:{proxy.port} answered "
                           f"CONNECT 127.0.0.1:{port} with 407 Proxy Authentication Required (it wants "
                           "credentials: give --proxy-auth-file)")
    assert refused.status.endswith("with 401 Unauthorized (the credentials were refused)"), refused.status
    assert f"the proxy monitor@127.0.0.1:{proxy.port} answered" in refused.status
    for result in (good, in_url, none, refused):
        assert SECRET not in result.out


def test_a_port_the_proxy_does_not_allow_is_its_refusal(endpoint, tmp_path: Path, capsys) -> None:
    port, args = endpoint
    with tinyproxy(tmp_path / "tp", [port + 1 if port < 65535 else port - 1]) as proxy:
        result = run(capsys, *args, "-I", "127.0.0.1", "--proxy", proxy.url)
    assert result.code == 2
    assert result.status.startswith(f"TLS_EXPIRY CRITICAL - localhost:{port}: the proxy 127.0.0.1:{proxy.port} "
                                    f"refused CONNECT 127.0.0.1:{port}: 403 "), result.status


def test_a_proxy_that_is_down_or_silent(endpoint, capsys) -> None:
    port, args = endpoint
    down = refused_port()
    result = run(capsys, *args, "--proxy", f"http://127.0.0.1:{down}")
    assert result.code == 2
    assert result.status == (f"TLS_EXPIRY CRITICAL - localhost:{port}: cannot reach the proxy 127.0.0.1:{down}: "
                             f"127.0.0.1:{down} refused the connection")
    with silent_server() as silent:  # accepts, never answers CONNECT
        started = time.monotonic()
        slow = run(capsys, *args, "--proxy", f"http://127.0.0.1:{silent}", "-t", "1.5")
        elapsed = time.monotonic() - started
    assert slow.code == 2 and slow.status.endswith("timed out during the proxy CONNECT (the 1.5s timeout ran out)")
    assert elapsed < 2.0


def test_fetches_go_through_the_proxy(tls_server, intermediate_ca: CA, root_pem: Path, http_files: HttpFiles,
                                      acme: Acme, tmp_path: Path, capsys) -> None:  # noqa: F811
    url = http_files.serve("proxied.crl", intermediate_ca.crl())
    leaf = intermediate_ca.leaf(not_after=60 * D, crl_url=url)
    _serve(acme, leaf, 20 * D, 25 * D)
    port = tls_server(leaf, [intermediate_ca.issued])
    with tinyproxy(tmp_path / "tp", [port, acme.port]) as proxy:
        argv = ["-H", "localhost", "-I", "127.0.0.1", "-p", str(port), "--cafile", str(root_pem), "--crl", "--ari",
                "--acme-directory", acme.directory, "--proxy", proxy.url]
        result = run(capsys, *argv)
        assert main([*argv, "--output", "json"]) == 0
        document = json.loads(capsys.readouterr().out)
        log = proxy.logged()
    assert result.code == 0 and result.status.endswith("not revoked (CRL)"), result.status
    assert document["ari"]["status"] == "window"
    assert f"GET {url}" in log or "/proxied.crl" in log, log[-2000:]
    assert f"127.0.0.1:{acme.port}" in log


def test_a_fetch_the_proxy_cannot_make_is_unavailable(tls_server, intermediate_ca: CA, root_pem: Path,
                                                      tmp_path: Path, capsys) -> None:
    url = f"http://127.0.0.1:{refused_port()}/gone.crl"  # the proxy cannot reach the CA's server
    port = tls_server(intermediate_ca.leaf(not_after=60 * D, crl_url=url), [intermediate_ca.issued])
    with tinyproxy(tmp_path / "tp", [port]) as proxy:
        result = run(capsys, "-H", "localhost", "-I", "127.0.0.1", "-p", port, "--cafile", root_pem, "--crl",
                     "--proxy", proxy.url)
    assert result.code == 0, result.out
    assert f"revocation of leaf 'localhost' not checked: {url}: answered 5" in result.status, result.status


def test_a_fetch_through_a_proxy_that_is_down_names_the_proxy() -> None:
    from plugin.acquire import http
    from plugin.budget import Budget
    from plugin.errors import FetchError
    from plugin.target import Proxy

    down = refused_port()
    with pytest.raises(FetchError, match=f"cannot reach the proxy 127.0.0.1:{down}: 127.0.0.1:{down} refused"):
        http.get("http://127.0.0.1:9/x.crl", Budget(2), limit=1000, proxy=Proxy.parse(f"http://127.0.0.1:{down}"))


@pytest.mark.parametrize(("argv", "expected"), [
    (["--proxy", "https://127.0.0.1:3128"], "only http:// proxies are supported"),
    (["--proxy", "http://127.0.0.1"], "needs a host and a port"),
    (["--proxy", "http://127.0.0.1:3128/path"], "(no path)"),
    (["--proxy", "socks5://127.0.0.1:1080"], "only http:// proxies are supported"),
    (["--proxy", "http://u:hunter2@127.0.0.1:99999"], "is not an http://host:port URL"),
    (["--proxy-auth-file", "/etc/hostname"], "--proxy-auth-file only applies to --proxy"),
    (["--proxy", "http://127.0.0.1:3128", "-4"], "-4/-6 cannot be used with --proxy"),
])
def test_bad_proxy_options_are_usage_errors(capsys, argv: list[str], expected: str) -> None:
    result = run(capsys, "-H", "localhost", *argv)
    assert result.code == 3 and expected in result.status, result.status
    assert "hunter2" not in result.out


def test_bad_auth_files(tmp_path: Path, capsys) -> None:
    base = ("-H", "localhost", "--proxy", "http://127.0.0.1:3128", "--proxy-auth-file")
    missing = run(capsys, *base, tmp_path / "missing")
    assert missing.code == 3 and "cannot read --proxy-auth-file" in missing.status
    (tmp_path / "no-colon").write_text(f"{SECRET}\n")
    no_colon = run(capsys, *base, tmp_path / "no-colon")
    assert no_colon.code == 3 and "must hold one user:password line" in no_colon.status
    assert SECRET not in no_colon.out
    (tmp_path / "empty").write_text("")
    assert run(capsys, *base, tmp_path / "empty").code == 3
    assert run(capsys, *base, tmp_path).code == 3  # a directory
    leaf = tmp_path / "x.pem"
    leaf.write_text("")
    file_mode = run(capsys, "--file", leaf, "--proxy", "http://127.0.0.1:3128")
    assert file_mode.code == 3 and "--proxy cannot be used with --file" in file_mode.status


def test_the_proxy_never_shows_its_password() -> None:
    from plugin.target import Proxy

    proxy = Proxy.parse(f"http://monitor:{SECRET}@127.0.0.1:3128")
    assert SECRET not in repr(proxy) and SECRET not in proxy.display and SECRET not in str(proxy)
    assert proxy.authorization() is not None
