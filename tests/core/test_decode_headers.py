"""Storing reads headers without parsing the body: it must read exactly what processing reads
from the whole message, whatever the message (real clients' replies, forged and malformed
mail, attacker-chosen bytes)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from support.hostile import Generator, hostile_raw, sample_targets

from worker.core.decode import headers_of, parse_headers, parse_message


def test_the_headers_of_real_clients_replies_read_the_same_without_the_body(
    shared_replies: Path,
) -> None:
    raws = [path.read_bytes() for path in sorted(shared_replies.glob("*.eml"))]
    assert len(raws) >= 30
    for raw in raws:
        assert parse_headers(raw) == headers_of(parse_message(raw))


def test_the_headers_of_forged_and_malformed_mail_read_the_same_without_the_body() -> None:
    targets = sample_targets(5)
    messages = list(Generator(targets, seed=7).messages(300))
    assert {m.kind for m in messages} >= {"forged", "malformed"}
    for message in messages:
        assert parse_headers(message.raw) == headers_of(parse_message(message.raw))


@settings(max_examples=300, deadline=None)
@given(raw=hostile_raw())
def test_attacker_chosen_headers_read_the_same_without_the_body(raw: bytes) -> None:
    assert parse_headers(raw) == headers_of(parse_message(raw))
