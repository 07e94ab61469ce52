"""Untrusted text made safe for where it goes: a database column, a spreadsheet, one line."""

from __future__ import annotations

import unicodedata

# A spreadsheet runs a cell starting with these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NAMES = {
    "\t": "tab",
    "\n": "line feed",
    "\r": "carriage return",
    "\x0b": "vertical tab",
    "\x0c": "form feed",
    "\x00": "NUL",
    "\x1b": "escape",
    "\x7f": "delete",
    "\u2028": "line separator",
    "\u2029": "paragraph separator",
}


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc" or char in "\u2028\u2029"


def control_problem(text: str) -> str | None:
    """A person-readable complaint about the first control character in `text`, else None.

    Used for CSV cells and campaign-file fields: a vertical tab or form feed passes a CSV
    reader, then breaks a mail header or the PDF much later, far from its cause.
    """
    for position, char in enumerate(text, start=1):
        if _is_control(char):
            name = _NAMES.get(char, "control character")
            return (
                f"contains a {name} (U+{ord(char):04X}) at character {position}; "
                "remove it (retype the value if it was pasted)"
            )
    return None


def db_text(text: str) -> str:
    """Text a database text column accepts: NUL and lone surrogates become U+FFFD.

    PostgreSQL refuses U+0000 in text and UTF-8 cannot carry a lone surrogate (our decoder
    keeps raw 8-bit header bytes as surrogates). The raw bytes are stored untouched elsewhere.
    """
    if "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return "".join(
        "\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text
    )


def spreadsheet_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a leading =, +, -, @ (or tab/CR) gets a '.

    Non-strings (numbers, None) pass unchanged so real numbers stay numbers.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
