"""Every labelled reply, one by one: intent, listing name, bounced recipient and transience."""

from __future__ import annotations

import pytest

from worker.core.classify import classify

from .conftest import OWN_REPLIES, Case, load_cases, require_shared, sent_texts, shared_cases

SENT = sent_texts()


def _check(case: Case) -> None:
    result = classify(case.path.read_bytes(), SENT)
    want = case.label
    got = (result.intent.value, result.name, result.bounced_recipient)
    assert got == (want["intent"], want["name"], want["bounced_recipient"]), result.reasons
    if want["intent"] == "bounce":
        assert result.transient is bool(want.get("transient", False))
    assert all(": " in reason for reason in result.reasons)


@pytest.mark.parametrize("case", load_cases(OWN_REPLIES), ids=lambda c: c.id)
def test_own_fixture_is_classified_as_labelled(case: Case) -> None:
    _check(case)


@pytest.mark.parametrize("case", shared_cases() or [None], ids=lambda c: c.id if c else "absent")
def test_shared_reply_is_classified_as_labelled(case: Case | None) -> None:
    require_shared()
    assert case is not None
    _check(case)


def test_own_fixtures_are_at_least_forty_and_uniquely_named() -> None:
    cases = load_cases(OWN_REPLIES)
    assert len(cases) >= 40
    assert len({c.id for c in cases}) == len(cases)
    assert all(c.path.exists() for c in cases)
