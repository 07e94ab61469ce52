"""Labelled reply corpora and the figures the issue asks for: accuracy per intent, exact names,
false signatures, removal requests left on the letter, and a confusion matrix.

Used by tests/core/test_classify_accuracy.py (the gate) and bench/classify.py (the report).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.core.classify import Intent, classify
from worker.core.withdrawal import Removal, RemovalRequest, plan_removal

ROOT = Path(__file__).resolve().parents[2]

OWN = ROOT / "tests" / "fixtures" / "replies"
OWN_FOLDERS = (OWN, OWN / "generated")
SHARED = ROOT.parent / "shared" / "replies"
SENT_DIR = OWN / "sent"
INTENTS = [i.value for i in Intent]


@dataclass(frozen=True)
class Labelled:
    """One .eml file and its manifest entry."""

    path: Path
    label: dict[str, Any]

    @property
    def id(self) -> str:
        return self.path.name


def load(folder: Path) -> list[Labelled]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return [Labelled(folder / entry["file"], entry) for entry in manifest]


def own_corpus() -> list[Labelled]:
    return [case for folder in OWN_FOLDERS for case in load(folder)]


def shared_corpus() -> list[Labelled]:
    return load(SHARED) if (SHARED / "manifest.json").exists() else []


def sent_texts() -> list[str]:
    """The invitation texts we sent (what intake passes as `sent_texts`)."""
    return [p.read_text(encoding="utf-8") for p in sorted(SENT_DIR.glob("*.txt"))]


@dataclass
class Figures:
    """What the report prints and the tests assert."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    false_signs: list[str] = field(default_factory=list)
    names_asked: int = 0
    names_right: int = 0
    removals: int = 0
    withdrawals: int = 0  # removal requests that must take a signature off the letter
    left_on_letter: list[str] = field(default_factory=list)
    missing_recipients: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.pairs)

    @property
    def correct(self) -> int:
        return sum(want == got for want, got in self.pairs)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 1.0

    @property
    def name_rate(self) -> float:
        return self.names_right / self.names_asked if self.names_asked else 1.0

    def per_intent(self) -> dict[str, tuple[int, int]]:
        """intent -> (right, labelled)."""
        out: dict[str, tuple[int, int]] = {}
        for intent in INTENTS:
            labelled = [got for want, got in self.pairs if want == intent]
            out[intent] = (sum(got == intent for got in labelled), len(labelled))
        return out

    def matrix(self) -> str:
        counts = Counter(self.pairs)
        width = max(len(i) for i in INTENTS) + 1
        rows = ["expected\\got".ljust(width + 2) + "".join(i[:8].rjust(9) for i in INTENTS)]
        for want in INTENTS:
            rows.append(want.ljust(width + 2) + "".join(
                str(counts[(want, got)] or ".").rjust(9) for got in INTENTS))
        return "\n".join(rows)

    def report(self, title: str) -> str:
        lines = [f"== {title}: {self.total} messages",
                 f"intent accuracy {self.correct}/{self.total} = {self.accuracy:.1%}; exact names "
                 f"{self.names_right}/{self.names_asked} = {self.name_rate:.1%}; false signatures "
                 f"{len(self.false_signs)}; removal requests {self.removals} ({self.withdrawals} "
                 f"off the letter or unsure), left on the letter {len(self.left_on_letter)}; "
                 f"permanent bounces without recipient {len(self.missing_recipients)}"]
        lines += [f"  {intent:<12} {right:>3}/{n:<3}" + (f" {right / n:.0%}" if n else "")
                  for intent, (right, n) in self.per_intent().items()]
        lines.append(self.matrix())
        lines += [f"  wrong: {w}" for w in self.wrong]
        return "\n".join(lines)


def figures(cases: Sequence[Labelled], sent: Sequence[str]) -> Figures:
    """Classify every case and compare with its label."""
    out = Figures()
    for case in cases:
        result = classify(case.path.read_bytes(), sent)
        want = case.label
        out.pairs.append((want["intent"], result.intent.value))
        if result.intent is Intent.SIGN and want["intent"] != "sign":
            out.false_signs.append(case.id)
        if result.intent.value != want["intent"]:
            out.wrong.append(f"{case.id}: want {want['intent']}, got {result.intent.value} "
                             f"{list(result.reasons)}")
        if want["intent"] == "sign" and want["name"]:
            out.names_asked += 1
            if result.name == want["name"]:
                out.names_right += 1
            else:
                out.wrong.append(f"{case.id}: name {want['name']!r}, got {result.name!r}")
        if want["intent"] == "sign" and want.get("other_name"):
            out.names_asked += 1
            if result.other_name == want["other_name"]:
                out.names_right += 1
            else:
                out.wrong.append(f"{case.id}: other-language name {want['other_name']!r}, got "
                                 f"{result.other_name!r}")
        removal = want.get("removal")
        if removal is not None:
            out.removals += 1
            scope = Removal(removal)
            keeps = result.keeps_signature
            if removal != "emails":
                out.withdrawals += 1
            if removal != "emails" and not _takes_off_letter(result.removal, keeps):
                out.left_on_letter.append(case.id)
            if result.removal is not scope:
                out.wrong.append(f"{case.id}: removal {removal}, got {result.removal}")
        if want["intent"] == "bounce" and not want.get("transient") and \
                result.bounced_recipient != want["bounced_recipient"]:
            out.missing_recipients.append(case.id)
    return out


def _takes_off_letter(scope: Removal | None, keeps: bool) -> bool:
    """Would intake take an active signature off the letter for this classification?"""
    if scope is None:
        return False
    plan = plan_removal(RemovalRequest(scope, "", keeps), has_signature=True)
    return plan.withdraw
