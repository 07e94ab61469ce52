"""The final letter as HTML, text and PDF (WeasyPrint), from templates/letter/."""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
