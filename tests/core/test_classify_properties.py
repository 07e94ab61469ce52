"""Properties: a quoted invitation alone never signs; our words survive every Japanese charset."""

from __future__ import annotations

import base64
import email.message

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.core.classify import Intent, classify
from worker.core.decode import decode_bytes, normalise, parse_headers

from .conftest import sent_texts

INVITATIONS = sent_texts()
EMPTYISH = st.one_of(
    st.just(""),
    st.text(alphabet=" \t\n\u3000\u00a0", max_size=20),
    st.sampled_from(["-- \nJohn Smith\nDirector", "Sent from my iPhone", "iPhoneから送信",
                     "Best regards,\nAnna", "よろしくお願いいたします。\n森", "Thanks,\nK."]),
)
QUOTE_STYLES = st.sampled_from(["> ", ">", "＞ ", "| "])
CHARSETS = st.sampled_from(["utf-8", "iso-2022-jp", "shift_jis", "euc-jp", "windows-31j", "cp932"])
ENCODER = {"utf-8": "utf-8", "iso-2022-jp": "iso2022_jp", "shift_jis": "cp932",
           "euc-jp": "euc_jp", "windows-31j": "cp932", "cp932": "cp932"}


def _reply(top: str, invitation: str, mark: str, attachment: bool) -> bytes:
    msg = email.message.EmailMessage()
    msg["From"] = "Someone <someone@ngo.example>"
    msg["To"] = "signon@hrn-campaign.example"
    msg["Subject"] = "Re: Invitation to sign"
    msg["In-Reply-To"] = "<icc2-0@hrn-campaign.example>"
    quoted = "\n".join(mark + line for line in invitation.splitlines())
    msg.set_content(f"{top}\n\nOn Wed, May 22, 2024 at 3:30 AM HRN <signon@x.example> wrote:\n"
                    f"{quoted}\n")
    if attachment:
        msg.add_attachment(b"\x89PNG\r\n", maintype="image", subtype="png", filename="scan.png")
    return msg.as_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(top=EMPTYISH, invitation=st.sampled_from(INVITATIONS), mark=QUOTE_STYLES,
       attachment=st.booleans(), knows_sent=st.booleans())
def test_quoted_invitation_under_empty_reply_never_counts_as_signature(
    top: str, invitation: str, mark: str, attachment: bool, knows_sent: bool
) -> None:
    raw = _reply(top, invitation, mark, attachment)
    result = classify(raw, INVITATIONS if knows_sent else ())
    assert result.intent != Intent.SIGN, result.reasons


@settings(max_examples=150, deadline=None)
@given(invitation=st.sampled_from(INVITATIONS), junk=st.binary(max_size=200))
def test_unquoted_invitation_with_junk_never_counts_as_signature(
    invitation: str, junk: bytes
) -> None:
    raw = (b"From: a@b.example\r\nSubject: Re: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           + junk + b"\r\n" + invitation.encode("utf-8"))
    assert classify(raw, INVITATIONS).intent != Intent.SIGN


OUR_WORDS = [*INVITATIONS, "賛同します。団体名：㈱ﾋﾛｼﾏ①ネット～みやぎ", "Yes, we sign – “R & R”"]


@settings(max_examples=200, deadline=None)
@given(text=st.sampled_from(OUR_WORDS), charset=CHARSETS)
def test_our_text_reencoded_in_any_charset_decodes_to_same_words(text: str, charset: str) -> None:
    codec = ENCODER[charset]
    try:
        data = text.encode(codec)
    except UnicodeEncodeError:  # stdlib iso2022_jp lacks vendor characters: use CP932 -> JIS
        data = text.encode("iso2022_jp_ext", "ignore") if codec == "iso2022_jp" else b""
        if not data:
            return
        text = data.decode("iso2022_jp_ext")
    assert normalise(decode_bytes(data, charset)) == normalise(text)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=2000))
def test_garbage_bytes_never_raise_and_never_sign(raw: bytes) -> None:
    result = classify(raw)
    assert result.intent != Intent.SIGN
    assert result.reasons
    assert not any(r.startswith("internal-error") for r in result.reasons)


def test_encoded_word_of_our_subject_round_trips_in_japanese_charsets() -> None:
    subject = "【賛同のお願い】ICCの独立性を守るための外務大臣宛て共同書簡"
    labels = (("iso2022_jp", "ISO-2022-JP"), ("cp932", "Shift_JIS"), ("euc_jp", "EUC-JP"))
    for codec, label in labels:
        word = f"=?{label}?B?{base64.b64encode(subject.encode(codec)).decode()}?="
        raw = f"From: a@b.example\r\nSubject: Re: {word}\r\n\r\nhi\r\n".encode()
        assert parse_headers(raw).subject == f"Re: {subject}"
