"""Every labelled reply, one by one: intent, listing name, bounced recipient and transience."""

from __future__ import annotations

import pytest

from worker.core.classify import classify

from .conftest import Case, own_cases, require_shared, sent_texts, shared_cases

SENT = sent_texts()


def _check(case: Case) -> None:
    result = classify(case.path.read_bytes(), SENT)
    want = case.label
    got = (result.intent.value, result.name, result.bounced_recipient)
    assert got == (want["intent"], want["name"], want["bounced_recipient"]), result.reasons
    if want["intent"] == "bounce":
        assert result.transient is bool(want.get("transient", False))
    if want.get("removal"):
        assert result.removal == want["removal"], result.reasons
    if "other_name" in want:
        assert result.other_name == want["other_name"], result.reasons
    if want.get("name_sure") is not None:
        assert result.name_sure is want["name_sure"], result.reasons
    assert all(": " in reason for reason in result.reasons)


@pytest.mark.parametrize("case", own_cases(), ids=lambda c: c.id)
def test_own_fixture_is_classified_as_labelled(case: Case) -> None:
    _check(case)


@pytest.mark.parametrize("case", shared_cases() or [None], ids=lambda c: c.id if c else "absent")
def test_shared_reply_is_classified_as_labelled(case: Case | None) -> None:
    require_shared()
    assert case is not None
    _check(case)


def test_own_corpus_has_the_size_and_kinds_the_issue_asks_for() -> None:
    cases = own_cases()
    assert len(cases) >= 150
    assert len({c.id for c in cases}) == len(cases)
    assert all(c.path.exists() for c in cases)
    named = [c for c in cases if c.label["intent"] == "sign" and c.label["name"]]
    removals = [c for c in cases if c.label.get("removal") in ("letter", "both", "unsure")]
    list_unsubscribe = [c for c in cases if c.id.startswith("g") and "list-unsubscribe" in c.id]
    assert len(named) >= 40
    assert len(removals) >= 15
    assert len(list_unsubscribe) >= 10
