"""The issue's "must show" figures on the labelled corpora, with a confusion matrix.

The project's own corpus always runs; the shared one (beside the checkout) when present.
`python bench/classify.py` prints the same report.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from support.corpus import Figures, figures, own_corpus, sent_texts, shared_corpus

from worker.core.withdrawal import Removal, RemovalRequest, plan_removal

from .conftest import GENERATED_REPLIES, OWN_REPLIES, require_shared

OWN_MIN_ACCURACY = 0.98
OWN_MIN_NAME_RATE = 0.95
SHARED_MIN_ACCURACY = 0.95
SHARED_MIN_NAME_RATE = 0.90


def _show(result: Figures, title: str) -> None:
    print()
    print(result.report(title))


@pytest.mark.parametrize("knows_sent_text", [True, False], ids=["with-sent-texts", "bare"])
def test_own_corpus_meets_the_must_show_figures(knows_sent_text: bool) -> None:
    result = figures(own_corpus(), sent_texts() if knows_sent_text else [])
    _show(result, "project corpus")
    assert result.total >= 150
    assert result.false_signs == []
    assert result.left_on_letter == []
    assert result.withdrawals >= 15
    assert result.accuracy >= OWN_MIN_ACCURACY
    assert result.name_rate >= OWN_MIN_NAME_RATE
    assert result.missing_recipients == []


@pytest.mark.parametrize("knows_sent_text", [True, False], ids=["with-sent-texts", "bare"])
def test_shared_corpus_meets_the_must_show_figures(knows_sent_text: bool) -> None:
    require_shared()
    result = figures(shared_corpus(), sent_texts() if knows_sent_text else [])
    _show(result, "shared corpus")
    assert result.false_signs == []
    assert result.accuracy >= SHARED_MIN_ACCURACY
    assert result.name_rate >= SHARED_MIN_NAME_RATE
    assert result.missing_recipients == []


@pytest.mark.parametrize("scope", list(Removal))
def test_no_removal_request_leaves_a_signature_on_the_letter_unless_it_says_so(
    scope: Removal,
) -> None:
    plan = plan_removal(RemovalRequest(scope, "evidence", keeps_signature=False),
                        has_signature=True)
    assert plan.withdraw
    kept = plan_removal(RemovalRequest(scope, "evidence", keeps_signature=True),
                        has_signature=True)
    assert kept.withdraw is (scope is not Removal.EMAILS)


def test_generated_corpus_is_what_the_script_writes() -> None:
    """The committed .eml files and labels are exactly build_corpus.py's output."""
    spec = importlib.util.spec_from_file_location("build_corpus", OWN_REPLIES / "build_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_corpus"] = module
    spec.loader.exec_module(module)
    built: dict[str, bytes] = module.build()
    on_disk = {p.name: p.read_bytes() for p in Path(GENERATED_REPLIES).iterdir() if p.is_file()}
    assert sorted(on_disk) == sorted(built), "run: python tests/fixtures/replies/build_corpus.py"
    stale = [name for name, data in built.items() if on_disk[name] != data]
    assert stale == [], "run: python tests/fixtures/replies/build_corpus.py"
