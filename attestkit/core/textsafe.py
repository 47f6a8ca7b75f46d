"""Text that is safe to show on a terminal or in a CI log.

Receipts, artifact names and server answers are untrusted, and a terminal obeys what it is
sent: ``\\r`` and ANSI escapes can erase an ``INVALID`` line and paint a green ``VALID``, a
bidirectional override can make ``exe.txt`` read as ``txt.exe``. Every human-readable line
attestkit writes passes its untrusted parts through :func:`escape_text`, which replaces each
such character by a visible escape (``\\r``, ``\\x1b``, ``\\u202e``); everything else, including
non-ASCII letters, is left as it is.

Escaped: the C0 controls (U+0000-U+001F, tab and newline included unless kept), DEL, the C1
controls (U+0080-U+009F), and every format character (Unicode category Cf: the bidi embeddings,
overrides and isolates U+202A-U+202E and U+2066-U+2069, the marks U+200E/U+200F/U+061C,
zero-width characters, U+FEFF...), the line and paragraph separators U+2028/U+2029, and lone
surrogates (from undecodable file names).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ALL_PRINTABLE_ASCII = re.compile(r"[ -~]*")


def is_unsafe_char(char: str) -> bool:
    """True for a character a terminal or log viewer may act on instead of showing."""
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"


def escape_text(text: str, *, keep: str = "") -> str:
    """*text* with every unsafe character replaced by a visible escape (characters in *keep* stay)."""
    if _ALL_PRINTABLE_ASCII.fullmatch(text):
        return text
    return "".join(_escape(c) if c not in keep and is_unsafe_char(c) else c for c in text)


def escape_lines(text: str) -> str:
    """:func:`escape_text` keeping newlines: for multi-line text whose lines the caller built."""
    return escape_text(text, keep="\n")


def has_unsafe_chars(text: str) -> bool:
    """True when :func:`escape_text` would change *text*."""
    return escape_text(text) != text


def json_text(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` whose output carries no unsafe character (they become ``\\uXXXX``).

    The escapes are exact JSON, so the document means the same; only its bytes differ from
    ``ensure_ascii=False`` output, and only where a terminal would have been told to act.
    (A raw newline can only be indentation: ``json.dumps`` escapes those inside strings.)
    """
    text = json.dumps(value, ensure_ascii=False, **kwargs)
    if _ALL_PRINTABLE_ASCII.fullmatch(text):
        return text
    return "".join(
        "".join(f"\\u{unit:04x}" for unit in _utf16_units(c)) if c != "\n" and is_unsafe_char(c) else c for c in text
    )


def _utf16_units(char: str) -> tuple[int, ...]:
    point = ord(char)
    if point < 0x10000:
        return (point,)
    point -= 0x10000
    return (0xD800 + (point >> 10), 0xDC00 + (point & 0x3FF))


def ascii_digits(value: str) -> bool:
    """Whether *value* is ASCII digits only (``str.isdigit`` also takes ``²`` and other scripts' digits)."""
    return value.isascii() and value.isdigit()


MAX_KEY_SHOWN = 80  # characters of an untrusted name an error quotes (a JSON key may be megabytes long)


def shown_key(key: str) -> str:
    """*key* quoted for an error message (``repr``), cut to :data:`MAX_KEY_SHOWN` characters."""
    if len(key) <= MAX_KEY_SHOWN:
        return repr(key)
    return f"{key[:MAX_KEY_SHOWN]!r}... ({len(key)} characters)"


MAX_ARGUMENT_SHOWN = 256  # characters of a command-line value an error may repeat (longer: described)
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_SECRET_MARKS = (
    "PRIVATE KEY",
    "PRIVATE+KEY",
    "-----BEGIN",  # PEM, OpenSSH, a signed-note key, any PEM
    "LS0TLS1CRUDJTI",  # base64 of "-----BEGIN" (a PEM file stored base64-encoded, as CI secrets often are)
    "MC4CAQAWBQYDK2VWBCIEI",  # base64 of an Ed25519 PKCS#8 key's DER prefix (a PEM's body line)
    "B3BLBNNZAC1RZXKTDJE",  # base64 of "openssh-key-v1" (an OpenSSH private key's body)
    "CSQGSIB3DQEFDT",  # base64 of PBES2's OID as an encrypted PKCS#8 key's body line holds it
)  # compared upper-cased
_BARE_HEX_KEY = re.compile(r"\s*(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{128})\s*")  # a seed, or libsodium's seed + public key
# A 32- or 64-byte seed in base64 (padded) or base64url (unpadded, mixed case and digits).
_BASE64_KEY = re.compile(r"\s*(?:[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{86}==)\s*")
TOKEN_PREFIXES = ("whsec_", "ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_", "glpat-")  # webhook secrets, tokens
_JWT = re.compile(r"\s*eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\s*")  # a JSON web token (ATTEST_TOKEN)
_BASE64URL_KEY = re.compile(
    r"\s*(?=[^\s]*[0-9])(?=[^\s]*[a-z])(?=[^\s]*[A-Z])(?:[A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{86})\s*"
)


def holds_key_text(text: str) -> bool:
    """Whether *text* holds a private key's or PEM block's marker (so it is never shown)."""
    upper = text.upper()
    return any(mark in upper for mark in _SECRET_MARKS)


def shown_argument(value: str, what: str) -> str:
    """*value* (a path or key given as an argument) as an error may show it.

    Itself when it can be a file's path: one line of at most :data:`MAX_ARGUMENT_SHOWN`
    characters with no key marker. Anything else (key text pasted where a path goes:
    ``--key "$(cat a.key)"``) is described, never repeated: ``the WHAT value (N characters,
    not shown)``. Nor is a bare 64- or 128-hex value (an Ed25519 seed, or seed and public key),
    nor the same bytes in base64 or base64url, nor a token (a JSON web token, a known token prefix).
    """
    if (
        len(value) <= MAX_ARGUMENT_SHOWN
        and not _LINE_BREAKS.intersection(value)
        and not holds_key_text(value)
        and not _BARE_HEX_KEY.fullmatch(value)
        and not _BASE64_KEY.fullmatch(value)
        and not _BASE64URL_KEY.fullmatch(value)
        and not _JWT.fullmatch(value)
        and not any(prefix in value for prefix in TOKEN_PREFIXES)
    ):
        return value
    return f"the {what} value ({len(value)} characters, not shown)"


__all__ = [
    "MAX_ARGUMENT_SHOWN",
    "MAX_KEY_SHOWN",
    "TOKEN_PREFIXES",
    "ascii_digits",
    "escape_lines",
    "escape_text",
    "has_unsafe_chars",
    "holds_key_text",
    "is_unsafe_char",
    "json_text",
    "shown_argument",
    "shown_key",
]
