"""Limits every reader of outside input shares, and strict UTF-8 (standard library only).

The strict JSON loader (``service.strict_json``) and YAML loader (``governance.strict_yaml``), the
CSV and X12 readers all refuse the same things the same way: nesting deeper than ``MAX_DEPTH``
(Python code walking such a document recurses until ``RecursionError``), a number written with
more than ``MAX_NUMBER_CHARS`` characters (``int()`` of 4,301 digits raises ``ValueError``; no
quantity, price or version needs 40), and bytes that are not UTF-8 (named by line and byte offset).
"""

from __future__ import annotations

from stockmesh.domain.errors import InvalidInput

MAX_DEPTH = 64
MAX_NUMBER_CHARS = 40
UTF8_BOM = b"\xef\xbb\xbf"


def decode_utf8(raw: bytes) -> str:
    """The text of a file, without a leading UTF-8 byte order mark. Bytes that are not UTF-8 are an
    ``InvalidInput`` naming the line and the byte offset (counted from the start of the file)."""
    skipped = len(UTF8_BOM) if raw.startswith(UTF8_BOM) else 0
    try:
        return raw[skipped:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skipped
        line = raw.count(b"\n", 0, offset) + 1
        raise InvalidInput(f"not valid UTF-8 at byte {offset} ({raw[offset:offset + 4]!r}...): {exc.reason}",
                           line=line) from None


def whole_number(text: str, field: str, *, line: int | None = None) -> int:
    """A whole number written in ASCII digits (an optional minus sign), at most ``MAX_NUMBER_CHARS``
    characters: ``"²"`` passes ``str.isdigit`` and a 5,000-digit string passes it too, but neither
    is a count."""
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidInput(f"must be a whole number, got {text!r}"[:120], field=field, line=line)
    if len(digits) > MAX_NUMBER_CHARS:
        raise InvalidInput(f"is a number of {len(digits)} digits (at most {MAX_NUMBER_CHARS} are read)",
                           field=field, line=line)
    return int(text)
