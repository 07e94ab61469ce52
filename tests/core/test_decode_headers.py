"""Storing reads headers without parsing the body: it must read exactly what processing reads
from the whole message, whatever the message (real clients' replies, forged and malformed
mail, attacker-chosen bytes)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
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


_ENDS = st.sampled_from([b"\r\n", b"\n", b"\r"])
_FIELD = st.tuples(
    st.sampled_from([b"From", b"To", b"Subject", b"Message-ID", b"Delivered-To", b"X-Junk"]),
    st.binary(max_size=40).map(lambda v: v.replace(b"\r", b"").replace(b"\n", b"")),
    st.lists(st.sampled_from([b" folded", b"\tfolded", b"no colon here", b""]), max_size=2),
)


@settings(max_examples=500, deadline=None)
@given(
    fields=st.lists(st.tuples(_FIELD, _ENDS), max_size=8),
    blank=st.one_of(st.none(), _ENDS),
    body=st.lists(st.tuples(st.binary(max_size=30), _ENDS), max_size=6),
)
def test_headers_read_the_same_whatever_ends_the_lines(
    fields: list[tuple[tuple[bytes, bytes, list[bytes]], bytes]],
    blank: bytes | None,
    body: list[tuple[bytes, bytes]],
) -> None:
    """CRLF, LF and lone CR mixed, folded and broken header lines, an empty line or none:
    reading only the header block must give what the whole message gives."""
    raw = b"".join(
        name + b": " + value + end + b"".join(extra + end for extra in extras)
        for (name, value, extras), end in fields
    )
    raw += (blank or b"") + b"".join(line + end for line, end in body)
    assert parse_headers(raw) == headers_of(parse_message(raw))
