"""Acquire from a file: a PEM bundle (a chain, in file order) or one DER certificate.

Only CERTIFICATE blocks are read. Other PEM blocks (a private key in a combined file) are skipped and never
printed. Nothing is written.
"""

from __future__ import annotations

import base64
import binascii
import re

from .errors import CertificateFileError, InputError
from .presented import Presented, Verification
from .sanitize import clean

__all__ = ["MAX_FILE_SIZE", "load_file"]

MAX_FILE_SIZE = 4 * 1024 * 1024
_PEM = re.compile(rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----(.*?)-----END (?:X509 |TRUSTED )?CERTIFICATE-----", re.DOTALL)


def load_file(path: str) -> Presented:
    shown = clean(path, 120)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_SIZE + 1)
    except OSError as exc:
        raise InputError(f"cannot read {shown}: {clean(exc.strerror or str(exc))}") from exc
    if len(data) > MAX_FILE_SIZE:
        raise CertificateFileError(f"{shown} is larger than {MAX_FILE_SIZE // 1024 // 1024} MB, not a certificate")
    if b"-----BEGIN" in data:
        certificates = []
        for block in _PEM.findall(data):
            try:
                certificates.append(base64.b64decode(b"".join(block.split()), validate=True))
            except (binascii.Error, ValueError) as exc:
                raise CertificateFileError(f"{shown} holds a PEM certificate block that is not valid base64") from exc
        if not certificates:
            raise CertificateFileError(f"{shown} holds no PEM certificate")
    elif data:
        certificates = [data]
    else:
        raise CertificateFileError(f"{shown} is empty")
    return Presented(
        source=shown,
        certificates=tuple(certificates),
        verification=Verification(attempted=False, reason="file"),
    )
