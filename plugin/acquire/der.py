"""The framing of certificate files, shared by file mode and the trust store: PEM blocks and DER headers.

Deliberately tiny: it finds blocks and reads tag/length headers, it decodes nothing. Single-byte tags, lengths
up to 4 bytes (files are at most a few MB), and BER's indefinite length for constructed encodings only (some
PKCS#12 writers use it). Everything is linear in the input, whatever the input holds.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["CERTIFICATE_LABELS", "SEQUENCE", "Block", "Tlv", "children", "element", "header", "oid_text",
           "pem_blocks", "trusted_certificate"]

SEQUENCE = 0x30
CERTIFICATE_LABELS = frozenset({b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"})

# Every PEM marker in one pass: a file with many unterminated BEGIN lines stays linear. RFC 7468 labels are
# printable ASCII; the lazy bounded repetition keeps a line without a closing "-----" cheap.
_MARKER = re.compile(rb"-----(BEGIN|END) ([ -~]{0,64}?)-----")


class Block(NamedTuple):
    label: bytes
    body: bytes  # between the BEGIN and END lines, still base64


def pem_blocks(data: bytes) -> tuple[list[Block], list[bytes]]:
    """The complete PEM blocks in file order, and the labels of blocks whose END line never came.

    A BEGIN inside an open block closes nothing: the open one is unterminated, as OpenSSL sees it too.
    """
    blocks: list[Block] = []
    unterminated: list[bytes] = []
    open_label: bytes | None = None
    body_start = 0
    for marker in _MARKER.finditer(data):
        kind, label = marker.group(1), marker.group(2)
        if kind == b"BEGIN":
            if open_label is not None:
                unterminated.append(open_label)
            open_label, body_start = label, marker.end()
        elif label == open_label:
            blocks.append(Block(label, data[body_start : marker.start()]))
            open_label = None
    if open_label is not None:
        unterminated.append(open_label)
    return blocks, unterminated


class Tlv(NamedTuple):
    tag: int
    start: int  # where the contents begin
    end: int | None  # where they end; None for BER's indefinite length


def header(data: bytes, offset: int, limit: int | None = None) -> Tlv | None:
    """One tag and length at ``offset``, contained in ``data[:limit]``; None if there is none.

    A ``limit`` beyond the data (pkcs12.is_pfx reads the header of a file that may be cut short) bounds only
    the declared length: the tag and length bytes themselves must be in ``data``."""
    limit = len(data) if limit is None else limit
    present = min(limit, len(data))
    if offset + 2 > present:
        return None
    tag, first = data[offset], data[offset + 1]
    position = offset + 2
    if tag & 0x1F == 0x1F:
        return None
    if first == 0x80:
        return Tlv(tag, position, None) if tag & 0x20 else None  # indefinite: constructed encodings only
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count > 4 or position + count > present:
            return None
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    if position + length > limit:
        return None
    return Tlv(tag, position, position + length)


def children(data: bytes, parent: Tlv, most: int | None = None) -> list[Tlv]:
    """The elements inside a constructed ``parent`` (the first ``most``), up to the first one that cannot be
    read, one whose end is unknown (BER's indefinite length: nothing after it can be located without decoding
    it), or BER's end-of-contents."""
    end = len(data) if parent.end is None else min(parent.end, len(data))
    found: list[Tlv] = []
    position = parent.start
    while position < end and (most is None or len(found) < most):
        child = header(data, position, end)
        if child is None or (child.tag == 0 and child.end == child.start):  # end-of-contents
            break
        found.append(child)
        if child.end is None:
            break
        position = child.end
    return found


def element(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``offset``; ValueError if there is none."""
    found = header(data, offset)
    if found is None or found.end is None:
        raise ValueError(f"no DER element at offset {offset}")
    return found.tag, found.start, found.end


def oid_text(raw: bytes) -> str:
    """An OBJECT IDENTIFIER's contents as dotted text."""
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise ValueError("empty OID")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))


def trusted_certificate(der: bytes) -> bytes | None:
    """The certificate of OpenSSL's "trusted certificate" (the DER certificate, then an X509_CERT_AUX), cut at
    its own length; None when it does not start with a DER SEQUENCE. The trust settings are OpenSSL-local."""
    outer = header(der, 0)
    if outer is None or outer.tag != SEQUENCE or outer.end is None:
        return None
    return der[: outer.end]
