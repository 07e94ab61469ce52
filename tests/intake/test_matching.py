"""Matching and sender verification: pure decisions, table-driven."""

from __future__ import annotations

import pytest

from worker.core.matching import Match, OurMessage, match_invitation, verify_sender

TOKEN = "abcdefghijklmnopqrst"[:24].ljust(24, "a")


def _match(**kw: object) -> Match:
    args: dict[str, object] = {
        "recipients": {},
        "in_reply_to": None,
        "references": (),
        "from_address": None,
        "by_token": {TOKEN: 1},
        "by_message_id": {
            "<invitation.0.x@hrn.example>": OurMessage(2, "invitation"),
            "<acknowledgement.7.x@hrn.example>": OurMessage(1, "acknowledgement"),
        },
        "by_sender": {"solo@ngo.example": [3], "twice@ngo.example": [4, 5]},
    }
    args.update(kw)
    return match_invitation(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "invitation", "method"),
    [
        ({"recipients": {"to": [f"signon+{TOKEN}@hrn.example"]}}, 1, "token:to"),
        (
            {"recipients": {"delivered-to": [f"signon-bounces+{TOKEN}@hrn.example"]}},
            1,
            "token:delivered-to",
        ),
        (
            {
                "recipients": {"to": ["signon+zzzzzzzzzzzzzzzzzzzzzzzz@hrn.example"]},
                "from_address": "solo@ngo.example",
            },
            3,
            "sender",
        ),
        ({"in_reply_to": "<invitation.0.x@hrn.example>"}, 2, "in-reply-to"),
        ({"references": ("<other@x>", "<invitation.0.x@hrn.example>")}, 2, "references"),
        ({"from_address": "solo@ngo.example"}, 3, "sender"),
        ({"from_address": "twice@ngo.example"}, None, None),
        ({"from_address": "nobody@ngo.example"}, None, None),
    ],
)
def test_match_order_token_then_message_id_then_sender(
    kwargs: dict[str, object], invitation: int | None, method: str | None
) -> None:
    found = _match(**kwargs)
    assert (found.invitation_id, found.method) == (invitation, method)


def test_token_match_knows_it_answers_the_acknowledgement() -> None:
    found = _match(
        recipients={"to": [f"signon+{TOKEN}@hrn.example"]},
        in_reply_to="<acknowledgement.7.x@hrn.example>",
    )
    assert found.answers_kind == "acknowledgement"


@pytest.mark.parametrize(
    ("sender", "domains", "auth", "ok", "rule"),
    [
        ("info@green.example", [], [], True, "from-invited-address"),
        ("boss@green.example", ["green.example"], [], True, "from-organisation-domain"),
        ("boss@tokyo.green.example", ["green.example"], [], True, "from-organisation-domain"),
        ("boss@green.example", [], [], True, "from-invited-domain"),
        ("x@evil.example", ["green.example"], [], False, "from-unrelated-address"),
        (
            "info@green.example",
            [],
            ["mx.hrn.example; dmarc=fail header.from=green.example"],
            False,
            "dmarc-fail",
        ),
        ("info@green.example", [], ["other.example; dmarc=fail"], True, "from-invited-address"),
    ],
)
def test_verification(
    sender: str, domains: list[str], auth: list[str], ok: bool, rule: str
) -> None:
    found = Match(1, "token:to", None, ())
    verdict = verify_sender(
        match=found,
        from_address=sender,
        invited_address="info@green.example",
        organisation_domains=domains,
        auth_results=auth,
        authserv_id="mx.hrn.example",
    )
    assert (verdict.ok, verdict.rule) == (ok, rule)


def test_public_webmail_domain_is_not_an_organisation() -> None:
    verdict = verify_sender(
        match=Match(1, "token:to", None, ()),
        from_address="other@gmail.com",
        invited_address="ngo@gmail.com",
        organisation_domains=[],
        auth_results=[],
        authserv_id="mx.hrn.example",
    )
    assert not verdict.ok


def test_sender_only_match_never_verifies() -> None:
    verdict = verify_sender(
        match=Match(3, "sender", None, ()),
        from_address="info@green.example",
        invited_address="info@green.example",
        organisation_domains=[],
        auth_results=[],
        authserv_id="",
    )
    assert (verdict.ok, verdict.rule) == (False, "no-token")
