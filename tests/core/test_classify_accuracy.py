"""The issue's "must show" figures on all labelled replies, and a confusion matrix."""

from __future__ import annotations

from collections import Counter

import pytest

from worker.core.classify import Intent, classify

from .conftest import Case, all_cases, require_shared, sent_texts

INTENTS = [i.value for i in Intent]
MIN_ACCURACY = 0.95
MIN_NAME_RATE = 0.90


def _matrix(pairs: list[tuple[str, str]]) -> str:
    counts = Counter(pairs)
    width = max(len(i) for i in INTENTS) + 1
    head = "expected\\got".ljust(width + 2) + "".join(i[:8].rjust(9) for i in INTENTS)
    rows = [head]
    for want in INTENTS:
        rows.append(want.ljust(width + 2) + "".join(str(counts[(want, got)] or ".").rjust(9)
                                                   for got in INTENTS))
    return "\n".join(rows)


def _figures(cases: list[Case], sent: list[str]) -> dict[str, object]:
    pairs: list[tuple[str, str]] = []
    false_signs: list[str] = []
    names_right = names_asked = 0
    missing_recipients: list[str] = []
    wrong: list[str] = []
    for case in cases:
        result = classify(case.path.read_bytes(), sent)
        want = case.label
        pairs.append((want["intent"], result.intent.value))
        if result.intent == Intent.SIGN and want["intent"] != "sign":
            false_signs.append(case.id)
        if result.intent.value != want["intent"]:
            wrong.append(f"{case.id}: want {want['intent']}, got {result.intent} {result.reasons}")
        if want["intent"] == "sign" and want["name"]:
            names_asked += 1
            names_right += result.name == want["name"]
        permanent_bounce = want["intent"] == "bounce" and not want.get("transient")
        if permanent_bounce and result.bounced_recipient != want["bounced_recipient"]:
            missing_recipients.append(case.id)
    correct = sum(want == got for want, got in pairs)
    return {
        "accuracy": correct / len(pairs),
        "correct": correct,
        "total": len(pairs),
        "false_signs": false_signs,
        "name_rate": names_right / names_asked if names_asked else 1.0,
        "names": f"{names_right}/{names_asked}",
        "missing_recipients": missing_recipients,
        "matrix": _matrix(pairs),
        "wrong": wrong,
    }


@pytest.mark.parametrize("knows_sent_text", [True, False], ids=["with-sent-texts", "bare"])
def test_classifier_meets_must_show_figures(knows_sent_text: bool) -> None:
    require_shared()
    figures = _figures(all_cases(), sent_texts() if knows_sent_text else [])
    print(f"\nintent accuracy {figures['correct']}/{figures['total']} = {figures['accuracy']:.1%}; "
          f"exact names {figures['names']}; false signs {len(figures['false_signs'])}; "  # type: ignore[arg-type]
          f"permanent bounces without recipient {len(figures['missing_recipients'])}")  # type: ignore[arg-type]
    print(figures["matrix"])
    for line in figures["wrong"]:  # type: ignore[attr-defined]
        print("  wrong:", line)
    assert figures["false_signs"] == []
    assert figures["accuracy"] >= MIN_ACCURACY  # type: ignore[operator]
    assert figures["name_rate"] >= MIN_NAME_RATE  # type: ignore[operator]
    assert figures["missing_recipients"] == []
