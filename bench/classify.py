"""The classifier on labelled replies: per-intent accuracy, names, confusion matrix, and speed.

`python bench/classify.py` prints, for the project's own corpus (tests/fixtures/replies and its
generated/ folder) and for ../shared/replies when present: accuracy per intent, exact listing
names, false signatures, removal requests that would leave a signature on the letter, the
confusion matrix, every miss with its reasons; then messages per second against a bare parse.
The tests call `figures()` on the same corpora, so the report and the gate agree.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.corpus import SHARED, figures, own_corpus, sent_texts, shared_corpus  # noqa: E402

from worker.core.classify import classify  # noqa: E402

MIN_SECONDS = 2.0


def _baseline(raw: bytes) -> None:
    """What any reader must do at least: parse, and read every text part."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            with contextlib.suppress(LookupError, ValueError):
                part.get_content()  # type: ignore[attr-defined]


def _rate(work: Callable[[bytes], object], raws: list[bytes]) -> float:
    """Messages per second, repeating the whole set until MIN_SECONDS have passed."""
    done = 0
    start = time.perf_counter()
    while True:
        for raw in raws:
            work(raw)
        done += len(raws)
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_SECONDS:
            return done / elapsed


def main() -> None:
    sent = sent_texts()
    print(figures(own_corpus(), sent).report("project corpus (tests/fixtures/replies)"))
    shared = shared_corpus()
    if shared:
        print(figures(shared, sent).report(f"shared corpus ({SHARED})"))
    else:
        print(f"== shared corpus: not found at {SHARED}")
    raws = [case.path.read_bytes() for case in own_corpus() + shared]
    for raw in raws:  # warm caches (regex compilation, codec lookups) before timing
        classify(raw)
    ours = _rate(classify, raws)
    base = _rate(_baseline, raws)
    print(f"\nspeed: {len(raws)} messages, single process, {MIN_SECONDS:.0f}s per measurement")
    print(f"classify():                                {ours:8.0f} msg/s")
    print(f"baseline (message_from_bytes+get_content): {base:8.0f} msg/s")
    print(f"ratio classify / baseline:                 {ours / base:8.2f}x")
    print("target >= 1000 msg/s:", "met" if ours >= 1000 else "NOT met")


if __name__ == "__main__":
    main()
