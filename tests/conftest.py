"""Shared pytest fixtures: a session-wide test PKI and loopback TLS servers.

Deliberately free of product imports, so fixture problems and product
problems show up separately.  The helpers live in ``tests/pki.py`` and
``tests/servers.py`` (importable as ``pki`` / ``servers`` because pytest puts
this directory on ``sys.path``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest
from ci import require_binary
from cryptography import x509
from pki import CA, Issued, write_pem
from servers import HttpFiles, TLSServerFactory, http_file_server, openssl_server

# Session-scoped real daemons for the STARTTLS tests; each starts only when a test asks for it.
pytest_plugins = ["daemons_db", "daemons_mail"]


@pytest.fixture(scope="session")
def openssl_bin() -> str:
    """Path of the ``openssl`` binary (skips, or fails under CI, if missing)."""
    return require_binary("openssl")


@pytest.fixture(scope="session")
def root_ca() -> CA:
    """A self-signed root CA ("Test Root CA"), shared by the whole session."""
    return CA.root()


@pytest.fixture(scope="session")
def intermediate_ca(root_ca: CA) -> CA:
    """An intermediate CA issued by :func:`root_ca`."""
    return root_ca.intermediate()


@pytest.fixture(scope="session")
def root_pem(root_ca: CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a PEM file holding only the root certificate (a CA bundle)."""
    return write_pem(tmp_path_factory.mktemp("trust") / "root.pem", root_ca.issued)


@pytest.fixture
def tls_server(openssl_bin: str, tmp_path: Path) -> Iterator[TLSServerFactory]:
    """Factory: ``tls_server(leaf, chain=(), extra_args=()) -> port``.

    Starts ``openssl s_server`` on 127.0.0.1 presenting ``leaf`` followed by
    ``chain``; may be called several times per test.  All servers are stopped
    at teardown.
    """
    with ExitStack() as stack:

        def start(
            leaf: Issued,
            chain: Sequence[Issued | x509.Certificate] = (),
            extra_args: Sequence[str] = (),
            host: str = "127.0.0.1",
        ) -> int:
            return stack.enter_context(
                openssl_server(tmp_path, leaf, chain, extra_args=extra_args, host=host)
            )

        yield start


@pytest.fixture(scope="session")
def http_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpFiles]:
    """A real HTTP server (Python's http.server) on 127.0.0.1 serving a fresh directory: ``http_files.serve(name,
    data) -> url``; ``http_files.requests()`` lists the paths it was asked for."""
    with http_file_server(tmp_path_factory.mktemp("www")) as served:
        yield served
