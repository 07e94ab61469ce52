"""The From header read without trusting it, and the verification policy as a table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.authentication import Authentication, DkimCheck, is_aligned, judge
from worker.core.decode import parse_headers, parse_sender
from worker.core.matching import Match, verify_sender

VICTIM = "info@ngo1.example"

# Every way the issue (and a few more) found to dress mallory@evil as the victim.
SPOOFED_FROM = [
    "=?utf-8?q?info=40ngo1=2Eexample?= <mallory@evil.example>",
    "info@ngo1.example <mallory@evil.example>",
    "<info@ngo1.example>@evil.example",
    '"info@ngo1.example" <mallory@evil.example>',
    "=?utf-8?q?info=40ngo1.example?=@evil.example",
    "=?utf-8?b?aW5mb0BuZ28xLmV4YW1wbGU=?= <mallory@evil.example>",
    "info@ngo1.example, mallory@evil.example",
    "victims: info@ngo1.example;",
    "info@ngo1.example\x00 <mallory@evil.example>",
    "info＠ngo1.example <mallory@evil.example>",
]


@pytest.mark.parametrize("value", SPOOFED_FROM)
def test_disguised_from_is_ambiguous_and_never_the_victim_verified(value: str) -> None:
    sender = parse_sender([value])
    assert sender.ambiguity, f"{value!r} read as plainly {sender.address!r}"
    verdict = verify_sender(
        match=Match(1, "token:to", None, ()),
        from_address=sender.address,
        invited_address=VICTIM,
        organisation_domains=["ngo1.example"],
        auth_results=(),
        authserv_id="",
        from_ambiguity=sender.ambiguity,
    )
    assert not verdict.ok and verdict.rule == "from-ambiguous"


@pytest.mark.parametrize(
    ("value", "address", "name"),
    [
        ("Maria <info@green.example>", "info@green.example", "Maria"),
        ("INFO@Green.Example", "info@green.example", ""),
        ("info@green.example (Maria)", "info@green.example", "Maria"),
        ("=?iso-2022-jp?b?GyRCOzNFRBsoQg==?= <yamada@kyoto-peace.example>",
         "yamada@kyoto-peace.example", "山田"),
        ('"Yamada, Taro" <t@kyoto-peace.example>', "t@kyoto-peace.example", "Yamada, Taro"),
    ],
)
def test_ordinary_from_headers_are_plain(value: str, address: str, name: str) -> None:
    sender = parse_sender([value])
    assert (sender.address, sender.name, sender.ambiguity) == (address, name, ())


def test_two_from_headers_are_ambiguous() -> None:
    raw = b"From: info@green.example\r\nFrom: mallory@evil.example\r\nSubject: x\r\n\r\nyes\r\n"
    assert parse_headers(raw).from_ambiguity


_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-+", min_size=1, max_size=12)
_domain = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1,
                           max_size=10), min_size=2, max_size=3).map(".".join)
_addr = st.builds(lambda a, b: f"{a}@{b}", _local, _domain)


@settings(max_examples=300, deadline=None)
@given(victim=_addr, attacker=_addr, noise=st.text(max_size=30))
def test_a_from_naming_the_victim_anywhere_but_the_address_is_never_read_as_the_victim(
    victim: str, attacker: str, noise: str
) -> None:
    """Whatever surrounds it, a From whose one real address is the attacker's never parses
    cleanly as the victim's address."""
    for value in (
        f"{victim} <{attacker}>",
        f'"{victim}" <{attacker}>',
        f"{noise} {victim} <{attacker}>",
        f"=?utf-8?q?{victim.replace('@', '=40')}?= <{attacker}>",
    ):
        sender = parse_sender([value])
        if victim.lower() != attacker.lower():
            assert sender.ambiguity or sender.address != victim.lower(), value


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parse_sender_never_raises_and_a_clean_result_is_one_plain_address(value: str) -> None:
    sender = parse_sender([value])
    if not sender.ambiguity:
        assert sender.address is not None
        assert sender.address.count("@") == 1 and "=?" not in sender.address
        assert not any(c in sender.address for c in " <>\"\x00\r\n")


# -- DKIM alignment and the policy table ----------------------------------------------------


def _check(domain: str, passed: bool) -> DkimCheck:
    return DkimCheck(domain, "sel", passed, "ok" if passed else "body hash mismatch")


@pytest.mark.parametrize(
    ("signing", "sender", "aligned"),
    [
        ("green.example", "green.example", True),
        ("green.example", "mail.green.example", True),
        ("mail.green.example", "green.example", False),
        ("evil.example", "green.example", False),
        ("example", "green.example", False),  # a bare TLD never aligns
        ("reen.example", "green.example", False),
    ],
)
def test_alignment(signing: str, sender: str, aligned: bool) -> None:
    assert is_aligned(signing, sender) is aligned


@pytest.mark.parametrize(
    ("checks", "status"),
    [
        ([], Authentication.UNAUTHENTICATED),
        ([_check("relay.example", True)], Authentication.UNAUTHENTICATED),
        ([_check("green.example", True)], Authentication.DKIM_PASS),
        ([_check("green.example", False)], Authentication.DKIM_FAIL),
        ([_check("list.example", False), _check("green.example", True)], Authentication.DKIM_PASS),
    ],
)
def test_dkim_judgement(checks: list[DkimCheck], status: Authentication) -> None:
    assert judge(checks, "green.example").status is status


TOKEN_MATCH = Match(1, "token:to", None, ())
SENDER_ONLY = Match(1, "sender", None, ())


# The security policy, one row per case: (match, From, DKIM, campaign setting) -> decision.
POLICY = [
    (TOKEN_MATCH, "info@green.example", [_check("green.example", True)], "accept",
     True, "from-invited-address", "dkim-pass"),
    (TOKEN_MATCH, "info@green.example", [], "accept", True, "from-invited-address",
     "unauthenticated"),
    (TOKEN_MATCH, "info@green.example", [], "review", False, "unauthenticated",
     "unauthenticated"),
    (TOKEN_MATCH, "info@green.example", [_check("green.example", False)], "accept", False,
     "dkim-fail", "dkim-fail"),
    (TOKEN_MATCH, "press@green.example", [_check("green.example", True)], "accept", True,
     "from-organisation-domain", "dkim-pass"),
    (TOKEN_MATCH, "mallory@evil.example", [_check("evil.example", True)], "accept", False,
     "from-unrelated-address", ""),
    (SENDER_ONLY, "info@green.example", [_check("green.example", True)], "accept", False,
     "no-token", ""),
]


@pytest.mark.parametrize(("match", "sender", "dkim", "setting", "ok", "rule", "auth"), POLICY)
def test_verification_policy(
    match: Match, sender: str, dkim: list[DkimCheck], setting: str, ok: bool, rule: str, auth: str
) -> None:
    verdict = verify_sender(
        match=match,
        from_address=sender,
        invited_address="info@green.example",
        organisation_domains=["green.example"],
        auth_results=(),
        authserv_id="",
        dkim=dkim,
        unauthenticated=setting,
    )
    assert (verdict.ok, verdict.rule, verdict.authentication) == (ok, rule, auth)
