"""The letter's Markdown files checked like templates: stray template syntax, constructs the
letter does not support, and a translation that is missing a part, each with its line.

The letter goes verbatim to NGOs and the ministry, so `{{ name }}` left in a file is a bug a
reader would see; the check fails rather than letting it through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# (pattern, what it is, what to do)
_STRAY: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\{\{|\}\}"), "template syntax '{{ }}': the letter is not a template; "
                               "write the text itself"),
    (re.compile(r"\{%|%\}"), "template syntax '{% %}': the letter is not a template; "
                             "write the text itself"),
    (re.compile(r"\{#|#\}"), "template comment '{# #}': remove it"),
    (re.compile(r"<!--"), "HTML comment: it would be hidden in the PDF but sent in the text"),
    (re.compile(r"!\[[^\]]*\]\("), "image: the letter prints text only"),
    (re.compile(r"</?[A-Za-z][A-Za-z0-9]*(\s[^>]*)?>"), "raw HTML tag: write Markdown only"),
    (re.compile(r"^\s*\|.*\|\s*$"), "table: the letter supports paragraphs, headings and lists"),
    (re.compile(r"\[\^[^\]]+\]"), "footnote: write the note in the text"),
    (re.compile(r"^\s*(```|~~~)"), "code block: the letter supports paragraphs, headings and "
                                   "lists"),
    (re.compile(r"\b(TODO|TBD|FIXME|XXX)\b|要翻訳|未翻訳|翻訳中"), "an unfinished-text marker"),
)  # fmt: skip
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
PARAGRAPH_SLACK = 2
_LIST = re.compile(r"^\s{0,3}([-*+]|\d+[.)])\s")


@dataclass(frozen=True)
class TextProblem:
    language: str
    line: int  # 1-based line in the letter file
    message: str


def _blocks(text: str) -> list[tuple[str, int]]:
    """The letter's blocks (kind, first line): headings, list items, paragraphs."""
    blocks: list[tuple[str, int]] = []
    in_paragraph = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            in_paragraph = False
        elif _HEADING.match(line):
            blocks.append(("heading", number))
            in_paragraph = False
        elif _LIST.match(line):
            blocks.append(("list item", number))
            in_paragraph = False
        elif not in_paragraph:
            blocks.append(("paragraph", number))
            in_paragraph = True
    return blocks


def check_letter_text(language: str, text: str) -> list[TextProblem]:
    """Stray template syntax and unsupported Markdown in one letter file."""
    problems: list[TextProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, message in _STRAY:
            if pattern.search(line):
                problems.append(TextProblem(language, number, message))
    return problems


def check_letter_texts(texts: Mapping[str, str]) -> list[TextProblem]:
    """Every file on its own, then the translations against each other: each language must
    have the same headings and list items in the same order, and about as many paragraphs
    (a salutation such as 拝啓/敬具 may add up to PARAGRAPH_SLACK)."""
    problems = [p for lang, text in texts.items() for p in check_letter_text(lang, text)]
    shapes = {lang: _blocks(text) for lang, text in texts.items() if text.strip()}
    if len(shapes) < 2:
        return problems
    for kind in ("heading", "list item", "paragraph"):
        counted = {lang: [n for k, n in blocks if k == kind] for lang, blocks in shapes.items()}
        most_lang, most = max(counted.items(), key=lambda item: len(item[1]))
        slack = PARAGRAPH_SLACK if kind == "paragraph" else 0
        for lang, lines in counted.items():
            if len(most) - len(lines) > slack:
                index = len(lines)
                where = lines[-1] if lines else 1
                problems.append(TextProblem(
                    lang, where,
                    f"missing translation: {most_lang} has {len(most)} {kind}s, this file "
                    f"{len(lines)}; the {most_lang} {kind} at its line {most[index]} has no "
                    "counterpart after this line",
                ))  # fmt: skip
    return problems
