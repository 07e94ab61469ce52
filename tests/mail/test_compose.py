"""MIME building: headers cannot be injected, Japanese survives, the parts parse back."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest

from worker.mail.compose import Attachment, HeaderInjection, compose

NOW = datetime(2024, 5, 21, 1, 0, tzinfo=UTC)


def _build(**overrides: object) -> bytes:
    args: dict[str, object] = {
        "sender": ("ヒューマン・ライツ・ナウ", "signon@hrn.example"),
        "to": [("山田 花子 様", "hanako@ngo.example")],
        "reply_to": "signon+abc@hrn.example",
        "subject": "【賛同のお願い】共同書簡",
        "text": "日本語の本文です。\n",
        "html": "<p>日本語の本文です。</p>\n",
        "message_id": "<invitation.0.abc@hrn.example>",
        "date": NOW,
    }
    args.update(overrides)
    return compose(**args)  # type: ignore[arg-type]


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hello\r\nBcc: victim@evil.example"),
        ("subject", "Hello\nBcc: victim@evil.example"),
        ("to", [("Evil\r\nBcc: victim@evil.example", "a@ngo.example")]),
        ("sender", ("Evil\nX-Injected: yes", "signon@hrn.example")),
        ("reply_to", "a@b.example\r\nBcc: victim@evil.example"),
        ("headers", {"List-Unsubscribe": "<mailto:a@b.example>\r\nBcc: victim@evil.example"}),
    ],
)
def test_line_break_in_any_header_value_is_refused(field: str, value: object) -> None:
    with pytest.raises(HeaderInjection, match="contains a line break") as caught:
        _build(**{field: value})
    assert "header" in str(caught.value)


def test_japanese_display_name_round_trips_through_the_default_policy() -> None:
    raw = _build(to=[("山田 花子 様", "hanako@ngo.example")])
    assert b"=?utf-8?b?" in raw  # RFC 2047, never raw 8-bit in a header
    raw.decode("ascii")  # the whole message is 7-bit clean
    to = _parse(raw)["To"].addresses[0]
    assert (to.display_name, to.addr_spec) == ("山田 花子 様", "hanako@ngo.example")
    assert str(_parse(raw)["From"].addresses[0].display_name) == "ヒューマン・ライツ・ナウ"


def test_long_japanese_name_is_split_into_legal_encoded_words_and_decodes_exactly() -> None:
    name = "特定非営利活動法人ヒューマン・ライツ・ナウ 御中"
    raw = _build(to=[(name, "info@hrn.example")])
    header = email.message_from_bytes(raw, policy=policy.compat32)["To"]
    words = [w for w in str(header).split() if w.startswith("=?")]
    assert len(words) > 1 and all(len(w) <= 75 for w in words)  # RFC 2047 length limit
    assert str(make_header(decode_header(str(header).replace("\r\n", "")))).startswith(name)


def test_composed_message_parses_back_with_ids_and_identical_japanese_parts() -> None:
    text = "団体名（掲載名）：\n「賛同します」とご返信ください。\n"
    raw = _build(
        text=text,
        html="<p>団体名（掲載名）：<br>「賛同します」とご返信ください。</p>\n",
        headers={"List-Unsubscribe": "<mailto:signon+abc@hrn.example?subject=unsubscribe>"},
    )
    msg = _parse(raw)
    assert msg["Message-ID"] == "<invitation.0.abc@hrn.example>"
    assert msg["Reply-To"] == "signon+abc@hrn.example"
    assert msg["List-Unsubscribe"] == "<mailto:signon+abc@hrn.example?subject=unsubscribe>"
    assert msg["Subject"] == "【賛同のお願い】共同書簡"
    assert msg["Date"].datetime == NOW
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content() == text
    assert "団体名（掲載名）：<br>「賛同します」とご返信ください。" in html.get_content()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_attachment_wraps_the_alternatives_in_multipart_mixed() -> None:
    pdf = b"%PDF-1.7 test"
    msg = _parse(_build(attachments=[Attachment("共同書簡.pdf", pdf)]))
    assert msg.get_content_type() == "multipart/mixed"
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "共同書簡.pdf"
    assert attachment.get_content() == pdf
    assert msg.get_body(("plain",)).get_content() == "日本語の本文です。\n"  # type: ignore[union-attr]


def test_one_click_unsubscribe_needs_an_https_uri() -> None:
    with pytest.raises(Exception, match="https"):
        _build(
            headers={
                "List-Unsubscribe": "<mailto:a@hrn.example>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        )


def test_reserved_header_cannot_be_overridden_through_extra_headers() -> None:
    with pytest.raises(HeaderInjection):
        _build(headers={"Bcc": "victim@evil.example"})


def test_every_encoded_word_of_a_long_japanese_subject_is_at_most_75_chars() -> None:
    subject = (
        "【賛同のお願い】ICCの独立性を守るための行動を日本政府に求める共同書簡（2024年5月29日締切）"
    )
    raw = _build(subject=subject)
    header = email.message_from_bytes(raw, policy=policy.compat32)["Subject"]
    words = str(header).split()
    assert words and all(len(w) <= 75 for w in words)
    assert _parse(raw)["Subject"] == subject
