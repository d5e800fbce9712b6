"""Acquire from a file: a PEM bundle (a chain, in file order), one DER certificate, or a PKCS#12 keystore.

Only CERTIFICATE blocks are read (``X509 CERTIFICATE`` and OpenSSL's ``TRUSTED CERTIFICATE`` too). Other PEM
blocks (a private key in a combined file) are skipped and never printed. Nothing is written, and nothing but a
regular file is opened, so a FIFO or a device can never block the check. A PKCS#12 keystore (.p12/.pfx) gives its
certificates, the key's certificate first (see :mod:`plugin.acquire.pkcs12`); its password comes from the first
line of ``--password-file``, read by the same rules, and is never shown.

Two states, by whose problem it is:

* :class:`~plugin.errors.InputError` (UNKNOWN): the file cannot be read at all: missing, no permission, a
  directory, a FIFO or device. The plugin was pointed at the wrong place; nothing is known about a certificate.
* :class:`~plugin.errors.CertificateFileError` (CRITICAL): the file was read but holds no certificate this
  check can use: empty, a key, a CSR, a CRL, a PKCS#12 keystore without a certificate, unreadable DER, text.
  Whatever serves from this file is broken. The message says what the file does hold, in the plugin's words,
  never a library's.

A PKCS#12 keystore that cannot be opened with the password given (none, or a wrong one) is UNKNOWN, like an
unreadable file: the check was not given what it needs, nothing is known about the certificates.

Certificates inside well-formed CERTIFICATE blocks are handed on as they are: a chain member that cannot be
parsed is reported by evaluation, with its position in the chain.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat

from ..certinfo import CertificateParseError, CertInfo
from ..errors import CertificateFileError, InputError, UsageError
from ..sanitize import clean
from . import pkcs12  # no cryptography import until a keystore is opened
from .der import CERTIFICATE_LABELS, Block, Tlv, children, header, pem_blocks, trusted_certificate
from .presented import Expected, Presented, Verification

__all__ = ["MAX_FILE_SIZE", "load_expected", "load_file", "read_regular"]

MAX_FILE_SIZE = 4 * 1024 * 1024
# A password file holds one line; more than this is not one (and is not read further).
_MAX_PASSWORD_FILE = 64 * 1024

# Control characters that never occur in a text file (tab, newlines and form feed do).
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")

_P7_HINT = 'extract the certificates with "openssl pkcs7 -print_certs -in FILE"'

# ASN.1 universal tags this module recognises (X.690).
_INTEGER, _BIT_STRING, _OCTET_STRING, _OID = 0x02, 0x03, 0x04, 0x06
_UTC_TIME, _GENERALIZED_TIME, _SEQUENCE, _CONTEXT_0 = 0x17, 0x18, 0x30, 0xA0
# id-signedData (1.2.840.113549.1.7.2), the ContentInfo type of a .p7b bundle.
_SIGNED_DATA_OID = bytes.fromhex("2a864886f70d010702")


def load_file(path: str, password_file: str | None = None) -> Presented:
    """The certificates in ``path``, in file order; InputError or CertificateFileError (see above) otherwise.

    ``password_file``: --password-file, for a PKCS#12 keystore; with any other file it is a UsageError, since the
    operator meant a different file or a different option.
    """
    return _load(path, password_file, can_ask=True)


def _load(path: str, password_file: str | None, *, can_ask: bool) -> Presented:
    # The status line already starts with the path (the endpoint): the sentences say "the file".
    shown = "the file"
    data = _read(path, shown)
    keystore = b"-----BEGIN" not in data and pkcs12.is_pfx(data)
    if password_file is not None and not keystore:
        raise UsageError("--password-file only applies to a PKCS#12 --file")
    if keystore:
        password = None if password_file is None else _password(password_file)
        certificates = pkcs12.certificates(data, password, can_ask=can_ask)
        del password  # not kept past its use
    elif b"-----BEGIN" in data:
        certificates = _from_pem(data, shown)
    else:
        certificates = [_from_der(data, shown)]
    return Presented(
        certificates=tuple((der, None) for der in certificates),
        verification=Verification(attempted=False, reason="file"),
    )


# --- reading ------------------------------------------------------------------------------------------------------


def load_expected(path: str) -> Expected:
    """The leaf of --expect-file (the end-entity certificate wherever it sits). Unreadable, or holding no
    certificate: UNKNOWN, since what is wrong is the check's input, not the service."""
    from .chain import choose_leaf  # cryptography: only --expect-file needs it here

    shown = clean(path, 120)
    try:
        presented = _load(path, None, can_ask=False)  # --password-file is for --file only
        infos = [CertInfo.from_der(der) for der, _ in presented.certificates]
    except CertificateFileError as exc:
        raise InputError(f"--expect-file {shown}: {exc.message}") from exc
    except CertificateParseError as exc:
        raise InputError(f"--expect-file {shown}: a certificate in it cannot be parsed: {clean(str(exc))}") from exc
    except InputError as exc:
        raise InputError(f"--expect-file {shown}: {exc.message}") from exc
    certs = [info.x509 for info in infos if info.x509 is not None]  # all of them: from_der parsed each
    return Expected(shown, infos[choose_leaf(certs)])


_KINDS = (
    (stat.S_ISDIR, "it is a directory"),
    (stat.S_ISFIFO, "it is a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "it is a character device, not a regular file"),
    (stat.S_ISBLK, "it is a block device, not a regular file"),
    (stat.S_ISSOCK, "it is a socket, not a regular file"),
)


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    return next((reason for test, reason in _KINDS if test(mode)), "it is not a regular file")


def _read(path: str, shown: str) -> bytes:
    """At most MAX_FILE_SIZE bytes of a regular file; InputError for anything that is not one, CertificateFileError
    for one that is empty or larger."""
    data = read_regular(path, shown, MAX_FILE_SIZE + 1)
    if len(data) > MAX_FILE_SIZE:
        raise CertificateFileError(f"{shown} is larger than {MAX_FILE_SIZE // 1024 // 1024} MB, not a certificate")
    if not data:
        raise CertificateFileError(f"{shown} is empty, not a certificate")
    return data


def _password(path: str) -> bytes:
    """The first line of the password file, without its line end (\\n or \\r\\n); an empty file is the empty password.

    Only the path is ever shown, never a byte of the content.
    """
    shown = f"--password-file {clean(path, 120)}"
    data = read_regular(path, shown, _MAX_PASSWORD_FILE + 1)
    line, newline, _ = data.partition(b"\n")
    if not newline and len(data) > _MAX_PASSWORD_FILE:
        raise InputError(f"{shown} does not hold a password: its first line is longer than "
                         f"{_MAX_PASSWORD_FILE // 1024} KB")
    return line[:-1] if newline and line.endswith(b"\r") else line


def read_regular(path: str, shown: str, most: int) -> bytes:
    """At most ``most`` bytes of a regular file; InputError for anything that is not one."""
    try:
        # stat before open: opening a FIFO waits for a writer, and opening a device can have side effects.
        reason = _not_regular(os.stat(path).st_mode)
        if reason is not None:
            raise InputError(f"cannot read {shown}: {reason}")
        # O_NONBLOCK: should the path be swapped for a FIFO after the stat, open() still returns at once and
        # the fstat below refuses it. O_NOCTTY: a terminal swapped in must not become ours.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            reason = _not_regular(os.fstat(handle.fileno()).st_mode)
            if reason is not None:
                raise InputError(f"cannot read {shown}: {reason}")
            data = handle.read(most)
    except OSError as exc:
        raise InputError(f"cannot read {shown}: {clean(exc.strerror or str(exc))}") from exc
    return data


# --- PEM ----------------------------------------------------------------------------------------------------------


def _from_pem(data: bytes, shown: str) -> list[bytes]:
    blocks, unterminated = pem_blocks(data)
    if any(label in CERTIFICATE_LABELS for label in unterminated):
        raise CertificateFileError(f"{shown} holds a PEM certificate block without its END line (cut short?)")
    certificates: list[bytes] = []
    for block in blocks:
        if block.label not in CERTIFICATE_LABELS:
            continue  # a key in a combined file, parameters, ...: skipped, and never shown
        number = len(certificates) + 1
        try:
            der = base64.b64decode(b"".join(block.body.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CertificateFileError(f"{shown} holds a PEM certificate block (#{number}) that is not valid "
                                       "base64") from exc
        if not der:
            raise CertificateFileError(f"{shown} holds an empty PEM certificate block (#{number})")
        if block.label == b"TRUSTED CERTIFICATE":
            der = _trusted_certificate(der, shown, number)
        certificates.append(der)
    if not certificates:
        found = [*blocks, *(Block(label, b"") for label in unterminated)]
        raise CertificateFileError(_holds(shown, [_pem_kind(block) for block in found], text=True))
    return certificates


def _trusted_certificate(der: bytes, shown: str, number: int) -> bytes:
    """The certificate of OpenSSL's "trusted certificate": cryptography refuses the trailing X509_CERT_AUX."""
    certificate = trusted_certificate(der)
    if certificate is None:
        raise CertificateFileError(f"{shown} holds a TRUSTED CERTIFICATE block (#{number}) that does not start "
                                   "with a DER certificate")
    return certificate


def _pem_kind(block: Block) -> tuple[str, str | None]:
    """What a non-certificate PEM block is, as (description, hint); never the block's content."""
    label = block.label
    if b"PRIVATE KEY" in label:  # PKCS#8, PKCS#1, SEC1, OpenSSH, PGP, ...: the label itself is never repeated
        # PKCS#8 says so in its label; the legacy OpenSSL format in a Proc-Type header inside the block.
        encrypted = b"ENCRYPTED" in label or b"Proc-Type: 4,ENCRYPTED" in block.body
        return ("an encrypted private key" if encrypted else "a private key"), None
    if label in (b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"):
        return "a certificate signing request (CSR)", None
    if label == b"X509 CRL":
        return "a certificate revocation list (CRL)", None
    if label.endswith(b"PUBLIC KEY"):
        return "a public key", None
    if label in (b"PKCS7", b"CMS"):
        return "a PKCS#7 bundle (.p7b)", _P7_HINT
    return f"a PEM {clean(label.decode('ascii'), 40)} block", None


def _holds(shown: str, kinds: list[tuple[str, str | None]], *, text: bool) -> str:
    """One sentence: what the file holds instead of a certificate."""
    unique = list(dict.fromkeys(kinds))
    if not unique:
        if text:
            return f"{shown} holds text but no PEM certificate block, not a certificate"
        return f"{shown} holds binary data that is neither a PEM nor a DER certificate"
    what = ", ".join(description for description, _ in unique[:-1])
    what = f"{what} and {unique[-1][0]}" if what else unique[-1][0]
    sentence = f"{shown} holds {what}, " + ("but no certificate" if len(unique) > 1 else "not a certificate")
    hints = [hint for _, hint in unique if hint is not None]
    return ": ".join([sentence, *hints])


# --- DER ----------------------------------------------------------------------------------------------------------


def _small_integer(data: bytes, tlv: Tlv) -> int | None:
    return data[tlv.start] if tlv.tag == _INTEGER and tlv.end == tlv.start + 1 else None


def _der_kind(data: bytes, outer: Tlv) -> tuple[str, str | None] | None:
    """What a DER SEQUENCE is when it is recognisably not a certificate; None when it may be one."""
    elements = children(data, outer, 3)
    tags = [element.tag for element in elements]
    version = _small_integer(data, elements[0]) if elements else None
    if version in (0, 1) and tags[1:3] == [_SEQUENCE, _OCTET_STRING]:  # PKCS#8 PrivateKeyInfo
        return "a private key (DER)", None
    if (version == 0 and tags[1:2] == [_INTEGER]) or (version == 1 and tags[1:2] == [_OCTET_STRING]):
        return "a private key (DER)", None  # PKCS#1 RSA or DSA; SEC1 EC
    if tags == [_SEQUENCE, _OCTET_STRING]:  # PKCS#8 EncryptedPrivateKeyInfo
        return "an encrypted private key (DER)", None
    if tags == [_SEQUENCE, _BIT_STRING]:  # SubjectPublicKeyInfo
        return "a public key (DER)", None
    if tags[:1] == [_OID]:  # a PKCS#7/CMS ContentInfo
        oid = data[elements[0].start : elements[0].end]
        if oid == _SIGNED_DATA_OID:
            return "a PKCS#7 bundle (.p7b, DER)", _P7_HINT
        return "a PKCS#7/CMS message (DER)", None
    if tags == [_SEQUENCE, _SEQUENCE, _BIT_STRING]:  # something signed: a certificate, a CSR or a CRL
        inner = [element.tag for element in children(data, elements[0], 4)]
        if inner == [_INTEGER, _SEQUENCE, _SEQUENCE, _CONTEXT_0]:  # version, subject, key, attributes
            return "a certificate signing request (CSR, DER)", None
        # A CRL: [version,] algorithm, issuer, thisUpdate. A v1 certificate has serial, algorithm, issuer, validity.
        listed = inner[1:] if inner[:1] == [_INTEGER] else inner
        if listed[:2] == [_SEQUENCE, _SEQUENCE] and listed[2:3] in ([_UTC_TIME], [_GENERALIZED_TIME]):
            return "a certificate revocation list (CRL, DER)", None
    return None


def _from_der(data: bytes, shown: str) -> bytes:
    if not _BINARY.search(data) and _is_utf8(data):
        raise CertificateFileError(_holds(shown, [], text=True))
    if data[:4] == b"\xfe\xed\xfe\xed":
        raise CertificateFileError(f"{shown} holds a Java keystore (JKS), not a certificate: export the "
                                   'certificate with "keytool -exportcert -rfc -keystore FILE"')
    unreadable = f"{shown} holds a DER object that is not a readable certificate"
    if data[0] != _SEQUENCE:
        raise CertificateFileError(_holds(shown, [], text=False))
    outer = header(data, 0, len(data))
    if outer is None:
        raise CertificateFileError(f"{unreadable} (it is cut short or its length is broken)")
    kind = _der_kind(data, outer)
    if kind is not None:
        raise CertificateFileError(_holds(shown, [kind], text=False))
    if outer.end is None:
        raise CertificateFileError(f"{unreadable} (it uses BER indefinite lengths)")
    if outer.end != len(data):
        raise CertificateFileError(f"{unreadable} ({len(data) - outer.end} bytes follow its end)")
    reason = _certificate_error(data)
    if reason is not None:
        raise CertificateFileError(f"{unreadable} ({reason})" if reason else unreadable)
    return data


def _certificate_error(der: bytes) -> str | None:
    """None if cryptography loads ``der`` as a certificate, else why not, in words fit for the status line.

    Its ValueError text is a Rust debug dump (``ParseError { kind: UnexpectedTag ...``), so it is not shown.
    """
    import warnings

    from cryptography import x509

    # cryptography warns on stderr about some oddities; a plugin's stderr is merged into the value by Zabbix.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            x509.load_der_x509_certificate(der)
        except x509.InvalidVersion as exc:
            return f"its version field, {clean(str(exc.parsed_version), 20)}, is not a valid X.509 version"
        except ValueError:
            return ""
    return None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
