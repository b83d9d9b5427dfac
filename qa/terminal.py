"""Where text meets a terminal. Article text, titles, sources, ids and file names are
untrusted: everything the CLI and the TUI show of them goes through ``visible``, which
turns control characters into visible ones, so no escape sequence, bell or bidi override
from an article ever reaches the terminal. ``--json`` output stays exact (``json_line``)."""

from __future__ import annotations

import json
import re

# C0 and C1 controls, DEL, lone surrogates (undecodable bytes of a file name), the bidi
# embeddings, overrides, isolates and marks (they reorder what is shown), and the line and
# paragraph separators (some terminals break lines on them).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
_UNSAFE_KEEP_NEWLINES = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def _shown(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures: ␛ ␇ ␈ ␀ ...
    if code == 0x7F:
        return "\u2421"  # ␡
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # a byte of a file name that is not UTF-8
    if code <= 0xFF:
        return f"\\x{code:02x}"  # C1 controls (0x9b is CSI on some terminals)
    return f"\\u{code:04x}"


def visible(text: object, newlines: bool = False) -> str:
    """``text`` with every control character shown as a visible one: ESC as ␛, BEL as ␇,
    C1 controls as ``\\x9b``, bidi controls as ``\\u202e``, undecodable bytes of a file
    name as ``\\xe9``. ``newlines=True`` keeps line breaks (multi-line answers)."""
    text = "" if text is None else str(text)
    pattern = _UNSAFE_KEEP_NEWLINES if newlines else _UNSAFE
    return pattern.sub(_shown, text)


# JSON escapes control characters below 0x20 by itself; these it leaves raw.
_JSON_RAW = re.compile("[\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def json_line(data) -> str:
    """``data`` as one line of JSON: non-ASCII text kept as is, but every character a
    terminal could act on written as a ``\\uXXXX`` escape. Parsed, it gives back exactly
    ``data`` (lone surrogates included)."""
    text = json.dumps(data, ensure_ascii=False)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
