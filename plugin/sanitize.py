"""Make untrusted text (certificate fields, file names, library messages) safe to print.

A certificate's subject, issuer or SAN is chosen by whoever made the certificate. Printed raw, a ``|`` would
start fake perfdata and a newline would start a fake status or perfdata line. Everything that did not come from
this program goes through :func:`clean` before it reaches any output mode.
"""

from __future__ import annotations

__all__ = ["clean"]

# Control, format (bidi overrides, zero-width), surrogate, private-use and unassigned code points, and the
# Unicode line/paragraph separators, which some consumers treat as newlines.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# ``|`` separates perfdata in the plugin API; ``\`` is escaped so that an escape we write cannot be faked.
_UNSAFE_CHARS = frozenset("|\\")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _unsafe(char: str, keep_backslash: bool = False) -> bool:
    if char in _UNSAFE_CHARS:
        return not (keep_backslash and char == "\\")
    if char.isascii():
        return not char.isprintable()
    import unicodedata  # a C extension only non-ASCII text needs (a healthy check's text is ASCII)

    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def clean(text: str, limit: int = 80, *, keep_escapes: bool = False) -> str:
    """Return ``text`` with every unsafe character escaped, cut to about ``limit`` characters.

    Printable non-ASCII letters stay (``Bücher``), so honest Unicode names remain readable. ``keep_escapes``:
    the text is already escaped, so a backslash is kept rather than escaped a second time: an RFC 4514 name
    (``O=GoDaddy.com\\, Inc.``, where a literal backslash reads ``\\\\``) or a sentence built from cleaned parts.
    """
    out = []
    length = 0
    for char in text:
        piece = _escape(char) if _unsafe(char, keep_escapes) else char
        if length + len(piece) > limit:
            out.append("...")
            break
        out.append(piece)
        length += len(piece)
    return "".join(out)
