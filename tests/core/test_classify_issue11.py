"""Each rule issue 11 added or changed, on one short reply written as a person writes it."""

from __future__ import annotations

from email.header import Header

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.classify import Intent, classify
from worker.core.names import extract_name
from worker.core.withdrawal import Removal, removal_request, wants_withdrawal

INVITATION = "Dear Open Government Coalition,\nWe invite you to sign the joint letter on the ICC.\n"


def _mail(body: str, *, subject: str = "Re: Invitation to sign", reply: bool = True) -> bytes:
    thread = "In-Reply-To: <invitation.0.tok@hrn.example>\r\n" if reply else ""
    subject = subject if subject.isascii() else Header(subject, "utf-8").encode()
    return (f"From: A <a@ngo.example>\r\nTo: signon+tok@hrn.example\r\nSubject: {subject}\r\n"
            f"{thread}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


@pytest.mark.parametrize(("body", "intent", "removal"), [
    # off the letter (withdraw), off the mail (unsubscribe), both, unsure
    ("Please remove us from the list of signatories.", Intent.DECLINE, Removal.LETTER),
    ("賛同団体リストから削除してください。", Intent.DECLINE, Removal.LETTER),
    ("申し訳ありませんが、名前を外していただけますか。", Intent.DECLINE, Removal.LETTER),
    ("We would like to withdraw our signature.", Intent.DECLINE, Removal.LETTER),
    ("We no longer wish to be listed.", Intent.DECLINE, Removal.LETTER),
    ("賛同を取り下げます。", Intent.DECLINE, Removal.LETTER),
    ("Please stop sending us emails.", Intent.UNSUBSCRIBE, Removal.EMAILS),
    ("今後の配信も停止してください。", Intent.UNSUBSCRIBE, Removal.EMAILS),
    ("Remove our name from the letter and stop emailing us.", Intent.UNSUBSCRIBE, Removal.BOTH),
    ("yes, please remove us", Intent.UNSUBSCRIBE, Removal.UNSURE),
    ("Please remove us from the list.", Intent.UNSUBSCRIBE, Removal.UNSURE),
    ("削除してください。", Intent.UNSUBSCRIBE, Removal.UNSURE),
    ("Please don't remove us from the signatories.", Intent.UNCLEAR, None),
    ("We do not want to withdraw.", Intent.UNCLEAR, None),
])
def test_removal_requests_say_what_comes_off(body: str, intent: Intent,
                                             removal: Removal | None) -> None:
    result = classify(_mail(body))
    assert (result.intent, result.removal) == (intent, removal), result.reasons


def test_an_unsubscribe_that_keeps_the_signature_says_so() -> None:
    result = classify(_mail("We still sign, but please stop emailing us."))
    assert result.removal is Removal.EMAILS and result.keeps_signature


@pytest.mark.parametrize(("body", "intent"), [
    # double negatives are a yes
    ("反対する理由はありません。", Intent.SIGN),
    ("賛同しない理由はありません。", Intent.SIGN),
    ("We see no reason not to sign.", Intent.SIGN),
    ("異存ありません。", Intent.SIGN),
    # a later clause does not hedge the commitment; the clause holding it does
    ("Yes, we sign and will share it with our members once it is delivered.", Intent.SIGN),
    ("Happy to sign, we will share it with our members once it is delivered.", Intent.SIGN),
    ("We sign. We will share it with our members once it is delivered.", Intent.SIGN),
    ("My director asked me to confirm: yes, we sign.", Intent.SIGN),
    ("If the paragraph on sanctions stays, then we sign.", Intent.QUESTION),
    ("We will sign, if the board agrees.", Intent.QUESTION),
    ("We'd sign if it were shorter.", Intent.QUESTION),
    ("理事会で承認されれば賛同します。", Intent.QUESTION),
    ("I think we can sign, let me check with our director.", Intent.QUESTION),
    ("Our director will sign once she is back next week.", Intent.QUESTION),
    ("賛同します。ただし、団体名は出さないでください。", Intent.QUESTION),
    ("前向きに検討します。", Intent.QUESTION),
    # declines without "sign"
    ("Not this time, but keep us informed.", Intent.DECLINE),
    ("Count us out.", Intent.DECLINE),
    ("Sorry, we have to pass.", Intent.DECLINE),
    ("We'd rather not be listed, thanks.", Intent.DECLINE),
    ("Our policy does not allow us to sign joint letters.", Intent.DECLINE),
    ("We would have signed, but the deadline is too short.", Intent.DECLINE),
    ("Sure, put us down as 'Tokyo Peace Forum'.", Intent.SIGN),
    # a link alone is not a question
    ("https://drive.example.com/file/d/1AbC?usp=sharing", Intent.UNCLEAR),
])
def test_hedges_double_negatives_and_declines(body: str, intent: Intent) -> None:
    result = classify(_mail(body), [INVITATION])
    assert result.intent is intent, result.reasons


def test_minutes_sent_to_the_wrong_address_are_unclear_not_a_question() -> None:
    body = "Please find the minutes of Tuesday's meeting attached. Could everyone check them?"
    assert classify(_mail(body, subject="Minutes", reply=False)).intent is Intent.UNCLEAR
    assert classify(_mail("Please find attached the minutes. Any comments?")).intent \
        is Intent.UNCLEAR


def test_a_greeting_that_repeats_a_line_of_ours_does_not_block_a_yes() -> None:
    body = "Dear Open Government Coalition team,\n\nWe sign."
    assert classify(_mail(body), [INVITATION]).intent is Intent.SIGN


def test_a_pasted_run_of_our_invitation_still_blocks_a_yes() -> None:
    sent = ("To endorse, reply YES to this message before 28 May 2024 please\n"
            "and confirm your organisation's name exactly as it should be printed\n")
    pasted = "We sign.\n" + sent.replace("\n", " ") + "\n"
    result = classify(_mail(pasted), [sent])
    assert result.intent is Intent.UNCLEAR
    assert any(r.startswith("tripwire") for r in result.reasons)


@pytest.mark.parametrize(("line", "name"), [
    ('Please use the name "Open Data Japan" for us.', "Open Data Japan"),
    ("Our name should appear as Forest Watch Kenya.", "Forest Watch Kenya"),
    ("Name for the letter: Friends of the Earth Japan", "Friends of the Earth Japan"),
    ("掲載名は「NPO法人 まちづくり」でお願いします。", "NPO法人 まちづくり"),
    ("団体名（表記）：特定非営利活動法人 ABC", "特定非営利活動法人 ABC"),
    ("「ピースボート」として掲載してください。", "ピースボート"),
    ("「ABCネット」の名前で賛同します", "ABCネット"),
    ("We would like to be listed as Rights Watch Asia, thanks!", "Rights Watch Asia"),
    ("We sign, under the name Civil Rights Defenders.", "Civil Rights Defenders"),
    ("Listing: Kenya Human Rights Commission (KHRC)", "Kenya Human Rights Commission (KHRC)"),
    ("Please list us as Mekong Watch; our partner will answer separately.", "Mekong Watch"),
    ("We are happy to be listed as a signatory.", None),
    ("Please list us as a supporting organisation.", None),
])
def test_requested_names_in_the_ways_people_ask(line: str, name: str | None) -> None:
    assert extract_name([line])[0] == name


def test_a_name_typed_only_into_the_quoted_form_is_kept_but_unsure() -> None:
    body = ("Yes, we sign. See the form below.\n\n> Organisation name (as it should appear): "
            "Centro de Derechos Humanos\n> City / country:\n")
    sent = "Organisation name (as it should appear):\nCity / country:\n"
    result = classify(_mail(body), [sent])
    assert (result.intent, result.name, result.name_sure) == (
        Intent.SIGN, "Centro de Derechos Humanos", False)


@pytest.mark.parametrize("subject", ["unsubscribe", "Unsubscribe", "UNSUBSCRIBE", "配信停止"])
@pytest.mark.parametrize("body", ["", "This message was automatically generated by Gmail.",
                                  "Sent from my iPhone", "unsubscribe"])
def test_list_unsubscribe_messages_unsubscribe(subject: str, body: str) -> None:
    result = classify(_mail(body, subject=subject, reply=False))
    assert (result.intent, result.removal) == (Intent.UNSUBSCRIBE, Removal.EMAILS), result.reasons


def test_a_letter_under_an_unsubscribe_subject_is_read_by_the_rules() -> None:
    body = "We sign, and we would like to keep receiving your campaign mail about this letter."
    result = classify(_mail(body, subject="unsubscribe"))
    assert not any(r.startswith("list-unsubscribe") for r in result.reasons)


POLITE = st.sampled_from(["", "Hello, ", "Dear team, ", "Thanks. ", "お世話になっております。"])


AFTER = st.sampled_from(["", " Thanks.", " Best, Ana", "よろしくお願いします。"])


@given(before=POLITE, after=AFTER)
def test_a_request_off_the_letter_survives_politeness(before: str, after: str) -> None:
    for request in ("Please remove us from the list of signatories.", "賛同を取り下げます。"):
        assert wants_withdrawal(before + request + after)


@given(st.text(max_size=200))
def test_removal_reading_never_fails_on_any_text(text: str) -> None:
    found = removal_request(text)
    assert found is None or found.scope in set(Removal)


@pytest.mark.parametrize("body", [
    "賛同します。\n掲載名：きょうと平和ネット\nEnglish name: Kyoto Peace Net",
    "賛同します。\n団体名（日本語）：きょうと平和ネット\n"
    "団体名（英語）：Kyoto Peace Net",
    "We sign.\nName for the letter: Kyoto Peace Net\n"
    "「きょうと平和ネット」として掲載してください。",
])
def test_a_name_for_each_letter_version_is_read_as_two_names(body: str) -> None:
    result = classify(_mail(body))
    assert result.intent is Intent.SIGN
    assert {result.name, result.other_name} == {"きょうと平和ネット", "Kyoto Peace Net"}
