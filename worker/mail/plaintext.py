"""The letter's Markdown as a person reads it in a text/plain part: no `##`, no trailing spaces.

The text part is what many mail clients show and what NGOs quote back. It is rendered from the
same HTML as the HTML part (python-markdown), so both say the same thing: headings become a
line underlined with `=` or `-`, hard line breaks (two trailing spaces) become plain line
breaks, emphasis keeps its words (`*x*` shows as x), links show their address in angle brackets,
lists keep their bullets or numbers, quotes keep `> `.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from html.parser import HTMLParser

import markdown

_BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "table", "tr", "hr"}
_UNDERLINE = {"h1": "=", "h2": "-"}


def _width(text: str) -> int:
    """Columns a line takes in a monospace mail client (Japanese characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class _TextWriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, bool]] = []  # (text, is a list item)
        self.item = False  # the text being collected is a list item
        self.line: list[str] = []
        self.lists: list[list[int]] = []  # per open list: [next number] (ol) or [] (ul)
        self.quote = 0
        self.href: list[str | None] = []
        self.heading: str | None = None
        self.pre = False

    def _flush(self) -> None:
        text = "".join(self.line)
        self.line = []
        lines = [ln.rstrip() for ln in text.split("\n")]
        if not self.pre:
            lines = [" ".join(ln.split()) for ln in lines]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        if not lines:
            return
        if self.heading in _UNDERLINE:
            lines.append(_UNDERLINE[self.heading] * max(_width(ln) for ln in lines))
        prefix = "> " * self.quote
        text = "\n".join(prefix + ln if ln else prefix.rstrip() for ln in lines)
        self.blocks.append((text, self.item))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self._flush()
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.heading = tag
        elif tag == "br":
            self.line.append("\n")
        elif tag == "ul":
            self._flush()
            self.lists.append([])
        elif tag == "ol":
            self._flush()
            self.lists.append([1])
        elif tag == "li" and self.lists:
            self.item = True
            current = self.lists[-1]
            indent = "   " * (len(self.lists) - 1)
            if current:
                self.line.append(f"{indent}{current[0]}. ")
                current[0] += 1
            else:
                self.line.append(f"{indent}- ")
        elif tag == "blockquote":
            self.quote += 1
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
        elif tag == "pre":
            self.pre = True
        elif tag == "hr":
            self.blocks.append(("* * *", False))
        elif tag in ("td", "th") and self.line:
            self.line.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self._flush()
        if tag == "li":
            self.item = False
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.heading = None
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            self.blocks.append(("", False))  # the list ends: a blank line before what follows
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        elif tag == "a" and self.href:
            href = self.href.pop()
            text = "".join(self.line)
            if href and not href.startswith("#") and href.removeprefix("mailto:") not in text:
                self.line.append(f" <{href}>")
        elif tag == "pre":
            self.pre = False

    def handle_data(self, data: str) -> None:
        # As in a browser: a line break in the HTML source is a space; only <br> breaks lines.
        self.line.append(data if self.pre else data.replace("\n", " "))

    def text(self) -> str:
        self._flush()
        out = ""
        previous_item = False
        for text, item in self.blocks:
            if not text:
                previous_item = False
                continue
            if out:
                out += "\n" if (item and previous_item) else "\n\n"
            out += text
            previous_item = item
        return out + "\n"


@lru_cache(maxsize=32)
def markdown_to_text(markdown_text: str) -> str:
    """Readable plain text of a Markdown letter (same structure as its HTML rendering)."""
    html = markdown.markdown(markdown_text, extensions=["extra", "sane_lists"])
    writer = _TextWriter()
    writer.feed(html)
    writer.close()
    return writer.text()

