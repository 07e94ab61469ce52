"""The final letter as HTML, text and PDF (WeasyPrint), from templates/letter/."""

from __future__ import annotations

import bisect
import logging
import subprocess
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from worker.mail.render import render_template
from worker.settings import get_settings

LETTER_HTML = "letter/letter.html"
LETTER_TEXT = "letter/letter.txt"


def render_letter_html(context: Mapping[str, Any], *, templates_dir: Path | None = None) -> str:
    """A self-contained HTML page (the stylesheet is inlined)."""
    return render_template(LETTER_HTML, context, templates_dir=templates_dir)


def render_letter_text(context: Mapping[str, Any], *, templates_dir: Path | None = None) -> str:
    return render_template(LETTER_TEXT, context, templates_dir=templates_dir)


def html_to_pdf(html: str, *, base_url: Path | None = None) -> bytes:
    """Lay out `html` on A4 pages and return the PDF bytes (fonts embedded, subset)."""
    from weasyprint import HTML  # imported here: loading pango takes a moment

    # WeasyPrint reports unsupported CSS through logging; those are layout notes, not errors.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    folder = base_url or (get_settings().templates_dir / "letter")
    pdf: bytes = HTML(string=html, base_url=str(folder)).write_pdf()
    return pdf


def render_letter_pdf(context: Mapping[str, Any], *, templates_dir: Path | None = None) -> bytes:
    folder = templates_dir or get_settings().templates_dir
    return html_to_pdf(
        render_letter_html(context, templates_dir=folder), base_url=folder / "letter"
    )


@lru_cache(maxsize=1)
def _installed_coverage() -> tuple[tuple[int, int], ...]:
    """Code point ranges some installed font has a glyph for (what Pango can fall back to),
    from fontconfig's own charset of each font."""
    listing = subprocess.run(
        ["fc-list", "--format", "%{charset}\\n"], capture_output=True, text=True, check=True
    ).stdout
    ranges: set[tuple[int, int]] = set()
    for token in listing.split():
        first, _, last = token.partition("-")
        ranges.add((int(first, 16), int(last or first, 16)))
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):  # one disjoint union, so a lookup is one bisect
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def _covered(code: int) -> bool:
    ranges = _installed_coverage()
    index = bisect.bisect_right(ranges, (code, 0x10FFFF)) - 1
    return index >= 0 and ranges[index][0] <= code <= ranges[index][1]


def missing_glyphs(text: str) -> list[str]:
    """Characters of `text` that no installed font can draw (they would print as an empty
    box in the PDF while `pdftotext` still finds them). Spaces and format characters such
    as the variation selector or zero-width joiner are not drawn, so they do not count."""
    missing: list[str] = []
    for char in dict.fromkeys(text):
        if unicodedata.category(char) in ("Zs", "Cc", "Cf", "Mn") or _covered(ord(char)):
            continue
        missing.append(char)
    return missing
