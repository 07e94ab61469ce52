"""The classifier's text shortcuts (ASCII lines skip normalising, HTML is read only when there is
no plain text) must give exactly what the full work gives, on real replies and on any text."""

from __future__ import annotations

import unicodedata
from email.message import Message
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from support.hostile import Generator, sample_targets

from worker.core import classify
from worker.core.decode import _TRANSLATE_DASHES, normalise, parse_message, part_text


def normalise_in_full(text: str) -> str:
    return unicodedata.normalize("NFKC", text.translate(_TRANSLATE_DASHES)).translate(
        _TRANSLATE_DASHES
    )


def body_text_in_full(msg: Message) -> tuple[str, bool]:
    """`_body_text` as it was: the HTML read always, used only when the plain text is blank."""
    plain_part, html_part, attachments = classify.body_parts(msg)
    plain = part_text(plain_part) if plain_part is not None else None
    html = part_text(html_part) if html_part is not None else None
    if plain is not None and plain.strip():
        return plain, attachments
    return (html or plain or ""), attachments


# Text that reaches the shortcuts' edges: ASCII, the characters the table maps, characters NFKC
# folds into them (fullwidth forms, compatibility dashes), combining marks, Japanese.
_MAPPED = "".join(chr(c) for c in _TRANSLATE_DASHES)
_EDGES = (
    _MAPPED
    + "\u207b\u208b\ufe31\ufe32\ufe58～ｰ－―‐﹣﹘ ＡＢ１２ｶﾞﾊﾟ"
    + "゙゚\u0301\u3000①㈱日本語の賛同します"
)
texts = st.text(alphabet=st.sampled_from(_EDGES) | st.characters(), max_size=60)


@settings(max_examples=1000, deadline=None)
@given(text=texts)
def test_normalise_is_nfkc_with_the_dash_table_on_any_text(text: str) -> None:
    assert normalise(text) == normalise_in_full(text)


def test_normalise_is_nfkc_with_the_dash_table_on_every_character() -> None:
    """Some characters become a mapped one only through NFKC (superscript minus, small em
    dash): each code point alone, so none of them is left to chance."""
    differ = [
        hex(cp)
        for cp in range(0x110000)
        if not 0xD800 <= cp < 0xE000 and normalise(chr(cp)) != normalise_in_full(chr(cp))
    ]
    assert differ == []


def test_normalise_is_the_full_form_on_every_line_of_real_replies(shared_replies: Path) -> None:
    lines = [
        line
        for path in sorted(shared_replies.glob("*.eml"))
        for line in classify._body_text(parse_message(path.read_bytes()))[0].splitlines()
    ]
    assert any(not line.isascii() for line in lines) and any(line.isascii() for line in lines)
    for line in lines:
        assert normalise(line) == normalise_in_full(line)


def test_the_body_of_real_and_hostile_replies_reads_the_same_without_reading_spare_html(
    shared_replies: Path,
) -> None:
    raws = [path.read_bytes() for path in sorted(shared_replies.glob("*.eml"))]
    targets = sample_targets(5)
    raws += [m.raw for m in Generator(targets, seed=11).messages(300)]
    html_only = 0
    for raw in raws:
        msg = parse_message(raw)
        assert classify._body_text(msg) == body_text_in_full(msg)
        html_only += not any(p.get_content_type() == "text/plain" for p in msg.walk())
    assert html_only > 0  # the HTML path itself was compared, not only the shortcut
