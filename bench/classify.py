"""Messages per second of classify() on one core over all reply fixtures, against a bare parse."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.core.classify import classify  # noqa: E402

FOLDERS = (ROOT / "tests" / "fixtures" / "replies", ROOT.parent / "shared" / "replies")
MIN_SECONDS = 2.0


def _messages() -> list[bytes]:
    raws: list[bytes] = []
    for folder in FOLDERS:
        if (folder / "manifest.json").exists():
            for entry in json.loads((folder / "manifest.json").read_text(encoding="utf-8")):
                raws.append((folder / entry["file"]).read_bytes())
    return raws


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
    raws = _messages()
    for raw in raws:  # warm caches (regex compilation, codec lookups) before timing
        classify(raw)
    ours = _rate(classify, raws)
    base = _rate(_baseline, raws)
    print(f"messages: {len(raws)} fixtures, single process, {MIN_SECONDS:.0f}s per measurement")
    print(f"classify():                                {ours:8.0f} msg/s")
    print(f"baseline (message_from_bytes+get_content): {base:8.0f} msg/s")
    print(f"ratio classify / baseline:                 {ours / base:8.2f}x")
    print("target >= 1000 msg/s:", "met" if ours >= 1000 else "NOT met")


if __name__ == "__main__":
    main()
