"""A reply to the acknowledgement withdraws only when it asks to, in English or Japanese."""

from __future__ import annotations

import pytest

from worker.core.withdrawal import wants_withdrawal


@pytest.mark.parametrize(
    "text",
    ["WITHDRAW", "Please withdraw our signature.", "賛同を取り下げます。", "署名を撤回したいです"],
)
def test_a_request_to_withdraw_is_recognised(text: str) -> None:
    assert wants_withdrawal(text)


@pytest.mark.parametrize(
    "text",
    [
        "We do not want to withdraw.",
        "No need to withdraw anything, thanks!",
        "取り下げはしません。",
        "Thanks, the name looks right.",
    ],
)
def test_a_negated_or_unrelated_sentence_does_not_withdraw(text: str) -> None:
    assert not wants_withdrawal(text)


def test_an_apology_does_not_count_as_negation() -> None:
    assert wants_withdrawal("申し訳ありませんが、賛同を取り下げさせてください。")
