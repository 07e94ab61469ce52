"""Single behaviours of the classifier and its helpers, each on a tiny hand-written message."""

from __future__ import annotations

import datetime

from worker.core.autoreply import return_date
from worker.core.classify import Intent, classify
from worker.core.decode import decode_bytes, decode_iso2022jp, parse_headers
from worker.core.names import extract_name
from worker.core.quotes import own_text


def _mail(body: str, *, subject: str = "Re: Invitation to sign", extra: str = "") -> bytes:
    return (f"From: A <a@ngo.example>\r\nTo: signon@x.example\r\nSubject: {subject}\r\n"
            f"In-Reply-To: <icc2-1@hrn-campaign.example>\r\n{extra}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


def test_garbage_bytes_are_unclear_with_a_reason() -> None:
    result = classify(b"\x00\xff\xfe garbage \x1b$B\x1b")
    assert result.intent == Intent.UNCLEAR
    assert result.reasons


def test_auto_response_suppress_alone_is_not_an_auto_reply() -> None:
    result = classify(_mail("Yes, we sign.", extra="X-Auto-Response-Suppress: All\r\n"))
    assert result.intent == Intent.SIGN


def test_auto_submitted_no_is_not_an_auto_reply() -> None:
    assert classify(_mail("We will sign.", extra="Auto-Submitted: no\r\n")).intent == Intent.SIGN


def test_bare_noun_sando_never_signs() -> None:
    assert classify(_mail("賛同について承知しました。")).intent != Intent.SIGN


def test_question_mark_on_deciding_sentence_turns_sign_into_question() -> None:
    assert classify(_mail("Can we sign after the deadline?")).intent == Intent.QUESTION


def test_decline_wins_over_sign_in_the_same_reply() -> None:
    result = classify(_mail("We sign many letters, but we cannot sign this one."))
    assert result.intent == Intent.DECLINE


def test_known_sent_text_is_removed_wherever_it_appears() -> None:
    sent = "To endorse, reply \"YES, we sign\" to this message before 28 May 2024"
    own = own_text(f"Noted with interest.\n{sent}\n", [sent])
    assert own.text == "Noted with interest."


def test_shift_jis_labels_decode_as_cp932() -> None:
    data = "①㈱～".encode("cp932")
    for label in ("shift_jis", "sjis", "windows-31j", "Shift_JIS", "x-sjis"):
        assert decode_bytes(data, label) == "①㈱～"


def test_iso2022jp_vendor_characters_and_half_width_kana_decode() -> None:
    # ① (NEC row 13, 0x2D21), ㈱ (0x2D6A) and ESC ( I half-width katakana ｶﾅ
    data = b"\x1b$B-!-j\x1b(I6E\x1b(B ok"
    assert decode_iso2022jp(data) == "①㈱ｶﾅ ok"


def test_parse_headers_decodes_addresses_and_ids() -> None:
    raw = (b"Return-Path: <>\r\nFrom: =?UTF-8?B?5bKp5bSOIOW+uQ==?= <Iwasaki@Y.example>\r\n"
           b"To: a@x.example, B <b@x.example>\r\nDelivered-To: signon@x.example\r\n"
           b"Message-ID: <m1@y>\r\nIn-Reply-To: <icc2-1@x>\r\n"
           b"References: <r0@x> <icc2-1@x>\r\n\r\n")
    headers = parse_headers(raw)
    assert headers.from_address == "iwasaki@y.example"
    assert headers.from_name == "岩崎 徹"
    assert headers.to == ("a@x.example", "b@x.example")
    assert headers.return_path == ""
    assert headers.references == ("<r0@x>", "<icc2-1@x>")


def test_return_date_needs_a_reference_year() -> None:
    assert return_date("I will be back on 3 June.", None) is None
    may_22 = datetime.date(2024, 5, 22)
    assert return_date("I will be back on 3 June.", may_22) == datetime.date(2024, 6, 3)
    assert return_date("5月26日まで休業します", may_22) == datetime.date(2024, 5, 27)


def test_name_keeps_exact_characters_and_drops_quotes() -> None:
    assert extract_name(["Please list us as “Asia–Pacific Forum”."])[0] == "Asia–Pacific Forum"
    assert extract_name(["表記：『ながさき平和の会』"])[0] == "ながさき平和の会"
    assert extract_name(["Organisation name (as it should appear):"])[0] is None
