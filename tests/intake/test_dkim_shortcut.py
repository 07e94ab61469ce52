"""A message with no line dkimpy could read as a DKIM-Signature is not handed to dkimpy at all:
the verdicts must be exactly those of the full check, on signed, broken, hidden and misplaced
signatures, real clients' replies and attacker-chosen bytes."""

from __future__ import annotations

from pathlib import Path

import dkim
from hypothesis import given, settings
from hypothesis import strategies as st
from support.dkim_keys import dkim_key
from support.hostile import Generator, hostile_raw, sample_targets

from worker.mail.authenticate import check_dkim, verify_signatures

PRIVATE, ZONE = dkim_key("ngo0.example")


def lookup(name: bytes, timeout: int = 5) -> bytes | None:
    return ZONE.get(name)


def signed(raw: bytes) -> bytes:
    return dkim.sign(raw, b"mail2024", b"ngo0.example", PRIVATE, include_headers=[b"from"]) + raw


def test_signed_broken_and_forged_mail_gets_the_full_checks_verdicts() -> None:
    targets = sample_targets(3)
    generator = Generator(targets, seed=5, sign_key=(PRIVATE, "mail2024", "ngo0.example"))
    verdicts = []
    for message in generator.messages(300):
        full = verify_signatures(message.raw, lookup)
        assert check_dkim(message.raw, lookup) == full
        verdicts += [check.passed for check in full]
    assert True in verdicts and False in verdicts  # good and bad signatures were compared


def test_real_clients_replies_get_the_full_checks_verdicts(shared_replies: Path) -> None:
    for path in sorted(shared_replies.glob("*.eml")):
        raw = path.read_bytes()
        assert check_dkim(raw, lookup) == verify_signatures(raw, lookup)


BODY = b"From: NGO <info@ngo0.example>\r\nSubject: Re: Invitation\r\n\r\nYes, we sign!\r\n"


def test_a_signature_in_any_case_on_lf_or_crlf_lines_is_still_checked() -> None:
    good = signed(BODY)
    first, rest = BODY.split(b"\r\n", 1)
    for raw in (
        good,
        first + b"\r\n" + good.split(b"From:", 1)[0] + rest,  # below another field
        good.lower().replace(b"from:", b"From:", 1),  # a field name in lower case
        good.replace(b"DKIM-Signature", b"DKIM-SIGNATURE", 1),
        good.replace(b"\r\n", b"\n"),  # LF lines, as some mailers store them
    ):
        full = verify_signatures(raw, lookup)
        assert full, raw[:60]
        assert check_dkim(raw, lookup) == full


@settings(max_examples=300, deadline=None)
@given(
    raw=hostile_raw(),
    where=st.sampled_from(
        [
            b"",
            b"DKIM-Signature:",
            b"dkim-signature :",
            b" DKIM-Signature:",
            b"X: a\rDKIM-Signature:",
        ]
    ),
)
def test_attacker_chosen_bytes_get_the_full_checks_verdicts(raw: bytes, where: bytes) -> None:
    raw = where + b" v=1; d=ngo0.example; s=mail2024; b=AAAA\r\n" + raw if where else raw
    assert check_dkim(raw, lookup) == verify_signatures(raw, lookup)


def test_a_signature_line_below_the_headers_is_not_one() -> None:
    """dkimpy reads fields up to the first empty line: a signature quoted in the body (a
    forwarded message, an attacker's paste) is checked by neither path."""
    signature = signed(BODY).split(b"From:", 1)[0]
    for blank in (b"\r\n\r\n", b"\n\n", b"\n\r\n"):
        head, body = BODY.split(b"\r\n\r\n", 1)
        raw = head + blank + signature + body
        assert verify_signatures(raw, lookup) == []
        assert check_dkim(raw, lookup) == []
    moved = BODY.replace(b"\r\n\r\n", b"\r\n\r\n" + signature)
    assert check_dkim(signature + BODY, lookup) != []  # the same lines above it are read
    assert check_dkim(moved, lookup) == verify_signatures(moved, lookup) == []
