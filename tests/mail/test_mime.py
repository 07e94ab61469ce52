"""The direct MIME writer gives byte for byte what the standard library's generator gives."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime

import pytest

from worker.mail import mime
from worker.mail.compose import compose, direct_bytes, stdlib_bytes

NOW = datetime(2024, 5, 21, 1, 0, tzinfo=UTC)
TEXTS = [
    "Dear NGO 12,\n\nPlease sign.\n\n-- The team\n",
    "日本語の本文です。\n「賛同します」とご返信ください。\n",
    "no final newline",
    "",
    "windows\r\nline ends\r\nand a lone \r in it\n",
    "x" * 950 + "\nlong ascii line goes base64\n",
    "From the start\n.\n..dots\n--=_ not a boundary\n",
    "mixed é ascii\n" * 40,
]
NAMES = [
    ("NGO 12", "ngo12@ngo12.example"),
    ("Amnesty, Japan (Tokyo)", "info@amnesty.example"),
    ("山田 花子 様", "hanako@ngo.example"),
    ("特定非営利活動法人ヒューマン・ライツ・ナウ 御中 長い名前の団体の事務局", "info@hrn.example"),
    ("", "bare@ngo.example"),
    ("A very long organisation name that will not fit on one header line at all", "a@b.example"),
]
SUBJECTS = [
    "Invitation to sign the joint letter",
    "【賛同のお願い】共同書簡",
    "A subject that is rather long and will certainly need folding at seventy-six columns",
]


def _fields(name: tuple[str, str], subject: str, extra: dict[str, str]) -> list[object]:
    """compose()'s header list, captured by running compose with a spy writer."""
    captured: list[object] = []

    def spy(text: str, html: str | None, fields: list[object], boundary: str) -> bytes:
        captured.extend(fields)
        return b""

    import worker.mail.compose as module

    original = module.direct_bytes
    module.direct_bytes = spy  # type: ignore[assignment]
    try:
        compose(
            sender=("ヒューマン・ライツ・ナウ", "signon@hrn.example"),
            to=[name],
            reply_to="signon+abc@hrn.example",
            subject=subject,
            text="t",
            html=None,
            message_id="<invitation.0.abc@hrn.example>",
            date=NOW,
            headers=extra,
        )
    finally:
        module.direct_bytes = original  # type: ignore[assignment]
    return captured


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("html", [None, "<p>Dear NGO,</p>\n", "<p>日本語</p>\n", *TEXTS[4:6]])
def test_direct_writer_equals_the_generator_for_every_body(text: str, html: str | None) -> None:
    fields = _fields(NAMES[0], SUBJECTS[0], {"Content-Language": "en"})
    boundary = mime.boundary_for("<x@y>", [text, html or ""])
    assert direct_bytes(text, html, fields, boundary) == stdlib_bytes(  # type: ignore[arg-type]
        text,
        html,
        fields,
        boundary,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("subject", SUBJECTS)
def test_direct_writer_equals_the_generator_for_every_header(
    name: tuple[str, str], subject: str
) -> None:
    extra = {
        "List-Unsubscribe": "<https://signon.example/unsubscribe/abcdefghijklmnopqrstuvwxyz0123456789>,"
        " <mailto:signon+unsubscribe-abcdefghijklmnop@hrn.example?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-Note": "短い注記",
    }
    fields = _fields(name, subject, extra)
    for html in (None, "<p>x</p>\n"):
        boundary = mime.boundary_for("<x@y>", ["a", html or ""])
        assert direct_bytes("a\n", html, fields, boundary) == stdlib_bytes(  # type: ignore[arg-type]
            "a\n",
            html,
            fields,
            boundary,  # type: ignore[arg-type]
        )


def test_short_header_fast_path_matches_the_fold_on_random_values() -> None:
    rng = random.Random(15)
    alphabet = string.printable[:95] + "   ,;"
    words = string.ascii_letters + "<>@.:?=+-_/;,"
    for _ in range(5000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 90)))
        if rng.random() < 0.3:  # one long word, as a List-Unsubscribe address
            value = "".join(rng.choice(words) for _ in range(rng.randrange(40, 160)))
        name = rng.choice(["To", "Subject", "List-Unsubscribe", "X"])
        assert mime.header_line(name, value) == mime.POLICY.fold(name, value), (name, value)


def test_boundary_is_stable_and_avoids_the_text() -> None:
    first = mime.boundary_for("<m@x>", ["hello"])
    assert first == mime.boundary_for("<m@x>", ["hello"])
    assert mime.boundary_for("<m@x>", [f"--{first}\n"]) != first


def test_text_with_a_lone_surrogate_is_refused_as_the_standard_library_refuses_it() -> None:
    with pytest.raises(UnicodeEncodeError):
        compose(
            sender=("", "signon@hrn.example"),
            to=[("", "a@b.example")],
            reply_to=None,
            subject="s",
            text="bad \udcff byte\n",
            html=None,
            message_id="<m@x>",
            date=NOW,
        )
