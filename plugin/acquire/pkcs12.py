"""PKCS#12 (.p12/.pfx) in file mode: the certificates of a keystore, never its key.

The certificates come out as a PEM bundle's would: the key's certificate first, then the others in the order the
keystore holds them, so that the leaf rule, the chain and the perfdata are those of the same chain as PEM.

cryptography (OpenSSL's PKCS12_parse) decrypts the whole keystore, the private key included: there is no way to
read only the certificates. The key object is dropped at once, never looked at, and nothing of it or of the
password reaches a message. cryptography's ValueError says the same for a wrong password and a damaged file, so
the sentences cannot tell those two apart either.

Key derivation is the one costly step, and OpenSSL runs it in C, where the run's SIGALRM safety net cannot
interrupt it: a keystore whose visible iteration counts add up to more than :data:`MAX_ITERATIONS` is refused
before it is decrypted, so that -t holds (1,000,000 PBKDF2 iterations take about 0.5 s here).
"""

from __future__ import annotations

import sys

from ..errors import CertificateFileError, InputError
from .der import SEQUENCE, Tlv, children, header

__all__ = ["MAX_ITERATIONS", "certificates", "is_pfx"]

# The sum of the salt/iteration parameters visible before decryption. Writers use 2,048 (OpenSSL), 2,000
# (Windows) or 10,000 (Java) per key derivation, three or four derivations a keystore.
MAX_ITERATIONS = 2_000_000

_INTEGER, _OCTET_STRING, _OID, _CONTEXT_0 = 0x02, 0x04, 0x06, 0xA0
_CONSTRUCTED = 0x20
# id-data (1.2.840.113549.1.7.1): a ContentInfo whose OCTET STRING holds DER (the AuthenticatedSafe, SafeContents).
_ID_DATA = bytes.fromhex("2a864886f70d010701")
_EXPORT_HINT = 'export its certificates with "openssl pkcs12 -in FILE -nokeys"'


def is_pfx(data: bytes) -> bool:
    """Whether ``data`` starts like a PKCS#12 PFX: a SEQUENCE holding version 3, then the authSafe ContentInfo.

    Only the first bytes are looked at, so a keystore that was cut short is still recognised as one. BER's
    indefinite length (some Java and Windows writers) is accepted.
    """
    outer = header(data, 0, sys.maxsize)  # unbounded: the declared length may run past a cut-short file
    return outer is not None and outer.tag == SEQUENCE and data[outer.start : outer.start + 4] == b"\x02\x01\x03\x30"


def certificates(data: bytes, password: bytes | None, *, can_ask: bool = True) -> list[bytes]:
    """The DER certificates of the PFX ``data``, the key's certificate first. ``password``: from --password-file,
    None when none was given. ``can_ask``: whether the operator can give one (not for --expect-file).

    CertificateFileError (CRITICAL) when the file is broken or holds no certificate; InputError (UNKNOWN) when it
    cannot be opened with what the check was given.
    """
    outer = header(data, 0, sys.maxsize)
    if outer is not None and outer.end is not None and outer.end > len(data):
        raise CertificateFileError(f"the file holds a PKCS#12 keystore that is cut short ({len(data)} of its "
                                   f"{outer.end} bytes)")
    if outer is not None:
        iterations = _iterations(data, outer)
        if iterations > MAX_ITERATIONS:
            raise InputError(f"the file is a PKCS#12 keystore that asks for {iterations} key derivation iterations, "
                             f"more than this check spends within its timeout ({MAX_ITERATIONS})")
    found = _open(data, password)
    if found is None:
        if password is not None:
            raise InputError("the PKCS#12 password is wrong (or the file is damaged)")
        if can_ask:
            raise InputError("the file is an encrypted PKCS#12 keystore: give its password with --password-file")
        raise InputError(f"the file is an encrypted PKCS#12 keystore (no password can be given for it here): "
                         f"{_EXPORT_HINT}")
    if not found:
        raise CertificateFileError("the file holds a PKCS#12 keystore without a certificate")
    return found


def _open(data: bytes, password: bytes | None) -> list[bytes] | None:
    """The DER certificates, or None if no password tried opens the keystore.

    Without --password-file both conventions for "no password" are tried: the empty password and none at all
    (OpenSSL writes the former for ``-passout pass:``, some writers the latter). With one, a keystore that opens
    without a password opens too: cryptography 38 refuses the password for an unencrypted, MAC-less keystore that
    later releases open with any password, and the check should not depend on which is installed.
    """
    import warnings

    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

    attempts: list[bytes | None] = [None, b""] if password is None else list(dict.fromkeys([password, None, b""]))
    for attempt in attempts:
        # cryptography warns on stderr about some oddities; a plugin's stderr is merged into the value by Zabbix.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                # The key is decrypted with the rest (PKCS12_parse does both); "_" drops it here, unused.
                _, cert, additional = pkcs12.load_key_and_certificates(data, attempt)
            except UnsupportedAlgorithm as exc:
                raise InputError("the file is a PKCS#12 keystore that this system's cryptography library cannot "
                                 "decrypt (an unsupported algorithm)") from exc
            except ValueError:
                continue  # the library's text is the same for a wrong password and a damaged file
        ordered = ([] if cert is None else [cert]) + list(additional)
        return [certificate.public_bytes(Encoding.DER) for certificate in ordered]
    return None


def _iterations(data: bytes, outer: Tlv) -> int:
    """The key derivation iterations the PFX asks for where they can be read before decrypting: the MacData and
    every PBE parameter in the clear (PKCS#12 PBE, PKCS#5 v1, PBKDF2: all start salt OCTET STRING, count INTEGER).

    Parameters inside an encrypted SafeContents stay unseen (OpenSSL's writers put none there). Linear in the
    input: every element is visited once.
    """
    total = 0
    pending = [outer]
    while pending:
        elements = children(data, pending.pop())
        tags = [child.tag for child in elements]
        if tags[:2] == [_OCTET_STRING, _INTEGER]:  # a PBE parameter: salt, iteration count
            total += _count(data, elements[1])
        elif tags[:3] == [SEQUENCE, _OCTET_STRING, _INTEGER]:  # MacData: mac, salt, iterations (default 1)
            total += _count(data, elements[2])
        if tags[:2] == [_OID, _CONTEXT_0] and data[elements[0].start : elements[0].end] == _ID_DATA:
            inner = children(data, elements[1])  # ContentInfo{data}: [0] EXPLICIT OCTET STRING holding DER
            if inner and inner[0].tag == _OCTET_STRING and inner[0].end is not None:
                nested = header(data, inner[0].start, inner[0].end)
                if nested is not None and nested.tag == SEQUENCE:
                    pending.append(nested)
            continue  # its [0] is handled here; nothing else in it
        pending.extend(child for child in elements if child.tag & _CONSTRUCTED)
    return total


def _count(data: bytes, tlv: Tlv) -> int:
    """An iteration count INTEGER; one longer than 4 bytes counts as too many."""
    if tlv.end is None or tlv.end - tlv.start > 4:
        return MAX_ITERATIONS + 1
    return max(0, int.from_bytes(data[tlv.start : tlv.end], "big", signed=True))
