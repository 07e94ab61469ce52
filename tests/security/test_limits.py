"""Work caps: a hostile message costs bounded work and is never acted on from a partial read."""

from __future__ import annotations

from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.classify import Intent, classify
from worker.core.decode import MAX_QUOTE_PREFIX, html_to_text, parse_message
from worker.core.limits import MAX_HTML_NESTING, html_nesting, over_limits


def _html_reply(html: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "info@green.example"
    msg["To"] = "signon+abcdefghijklmnopqrst@hrn.example"
    msg["Subject"] = "Re: invitation"
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


def test_five_megabytes_of_nested_blockquotes_go_to_review_unread() -> None:
    depth = 20_000
    html = "<blockquote>" * depth + "Yes, we sign. " * 300_000 + "</blockquote>" * depth
    result = classify(_html_reply(html))
    assert result.intent is Intent.UNCLEAR
    assert any(r.startswith("over-work-cap: html-nesting") for r in result.reasons)
    assert any(r.startswith("over-work-cap: text-size") for r in result.reasons)


def test_a_deep_mime_tree_goes_to_review() -> None:
    inner = b"Content-Type: text/plain\r\n\r\nYes, we sign.\r\n"
    for level in range(30):
        boundary = f"b{level}".encode()
        inner = (
            b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--" + boundary
            + b"\r\n" + inner + b"\r\n--" + boundary + b"--\r\n"
        )
    raw = b"From: info@green.example\r\nSubject: yes\r\nMIME-Version: 1.0\r\n" + inner
    assert any("mime-depth" in r for r in over_limits(parse_message(raw)))
    assert classify(raw).intent is Intent.UNCLEAR


def test_an_ordinary_html_reply_is_within_every_cap() -> None:
    html = "<div>Yes, we sign.</div><blockquote><div>On Monday you wrote:</div></blockquote>"
    assert over_limits(parse_message(_html_reply(html))) == ()
    assert classify(_html_reply(html)).intent is Intent.SIGN


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["<blockquote>", "</blockquote>", "<div>", "</div>", "x"]),
                max_size=300))
def test_nesting_count_matches_a_stack(tags: list[str]) -> None:
    depth = deepest = 0
    for tag in tags:
        if tag.startswith("</"):
            depth = max(0, depth - 1)
        elif tag.startswith("<"):
            depth += 1
        deepest = max(deepest, depth)
    assert html_nesting("".join(tags).encode()) == deepest


def test_quote_prefix_is_bounded_however_deep_the_quote() -> None:
    depth = MAX_HTML_NESTING * 10
    text = html_to_text("<blockquote>" * depth + "quoted" + "</blockquote>" * depth)
    assert "quoted" in text
    assert max(len(line) for line in text.splitlines()) <= 2 * MAX_QUOTE_PREFIX + len("quoted")
