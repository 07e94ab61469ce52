"""Reply tokens route every reply and bounce to exactly one invitation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from worker.core.tokens import (
    TOKEN_BITS,
    bounce_address,
    find_tokens,
    is_bounce_address,
    make_token,
    message_id,
    reply_address,
    sender_bounce_address,
)

SECRET = b"k" * 32


def test_token_is_deterministic_and_case_insensitive_in_email() -> None:
    assert make_token(SECRET, "icc", "A@X.example") == make_token(SECRET, "icc", "a@x.example")


def test_token_depends_on_secret_campaign_and_address() -> None:
    base = make_token(SECRET, "icc", "a@x.example")
    assert make_token(b"other", "icc", "a@x.example") != base
    assert make_token(SECRET, "icc2", "a@x.example") != base
    assert make_token(SECRET, "icc", "b@x.example") != base


def test_token_carries_at_least_96_bits() -> None:
    assert TOKEN_BITS >= 96
    assert len(make_token(SECRET, "icc", "a@x.example")) * 5 >= 96


def test_reply_and_bounce_addresses_give_back_their_token() -> None:
    token = make_token(SECRET, "icc", "a@x.example")
    headers = [
        f"Someone <{reply_address('signon', 'hrn.example', token)}>",
        bounce_address("signon", "hrn.example", token),
    ]
    assert find_tokens(headers) == [token]


def test_addresses_without_token_find_nothing() -> None:
    assert find_tokens(["signon@hrn.example", "x+short@y.example", ""]) == []


def test_message_id_is_stable_per_kind_and_sequence() -> None:
    assert message_id("t", "reminder", 1, "d") == message_id("t", "reminder", 1, "d")
    assert message_id("t", "reminder", 1, "d") != message_id("t", "reminder", 2, "d")


@given(st.emails())
def test_every_address_gets_a_findable_token(email: str) -> None:
    token = make_token(SECRET, "icc", email)
    assert find_tokens([reply_address("signon", "hrn.example", token).upper()]) == [token]


def test_default_bounce_address_is_a_plus_address_of_the_reply_mailbox() -> None:
    """DSNs must arrive where replies arrive: same mailbox, "+bounce-TOKEN" tag."""
    token = make_token(SECRET, "icc", "a@x.example")
    address = bounce_address("signon", "hrn.example", token)
    assert address == f"signon+bounce-{token}@hrn.example"
    assert address.split("+", 1)[0] == reply_address("signon", "hrn.example", token).split("+")[0]
    assert is_bounce_address(address)
    assert not is_bounce_address(reply_address("signon", "hrn.example", token))
    assert is_bounce_address(f"signon-bounces+{token}@hrn.example")  # mail sent before


def test_a_separate_bounce_mailbox_keeps_the_token() -> None:
    token = make_token(SECRET, "icc", "a@x.example")
    sender = {"reply_local_part": "signon", "reply_domain": "hrn.example",
              "bounce_local_part": "dsn"}
    address = sender_bounce_address(sender, token)
    assert address == f"dsn+bounce-{token}@hrn.example"
    assert find_tokens([address]) == [token]
    assert sender_bounce_address({**sender, "bounce_local_part": None}) == \
        "signon+bounce@hrn.example"
