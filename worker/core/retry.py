"""What one relay answer means for its row: sent, retry later (when) or failed, by time not count.

Mail servers keep retrying a temporary failure for days (Postfix's maximal_queue_lifetime is
5 days); a count of attempts turns a slow relay into lost mail. So a temporary answer is retried
with exponential backoff and jitter until `window` has passed since the first attempt, and the
row then fails with that last answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

DEFAULT_WINDOW = timedelta(days=3)
DEFAULT_BASE = timedelta(seconds=60)
BACKOFF_CAP = timedelta(hours=1)
JITTER = 0.2  # each delay is spread +-20% so retries of a storm do not arrive together


class Verdict(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often temporary failures are retried."""

    window: timedelta = DEFAULT_WINDOW
    base: timedelta = DEFAULT_BASE
    cap: timedelta = BACKOFF_CAP


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    next_attempt_at: datetime  # for RETRY; `now` otherwise
    reason: str


def is_temporary(code: int | None) -> bool:
    """4xx, no answer at all (timeout, dropped connection) and 552 (mailbox full, RFC 5321
    §4.5.3.1.10) are worth another try; every other 5xx is final."""
    return code is None or 400 <= code < 500 or code == 552


def backoff(attempts: int, policy: RetryPolicy, spread: float) -> timedelta:
    """Delay before attempt `attempts + 1`: base * 2^(attempts-1), capped, times a jitter factor.

    `spread` in [0, 1] picks the point in the +-JITTER band (the caller draws it at random).
    """
    if not 0.0 <= spread <= 1.0:
        raise ValueError("spread must be within [0, 1]")
    exponent = min(max(0, attempts - 1), 32)
    seconds = min(policy.base.total_seconds() * 2**exponent, policy.cap.total_seconds())
    return timedelta(seconds=seconds * (1 - JITTER + 2 * JITTER * spread))


def decide(
    code: int | None,
    *,
    attempts: int,
    first_attempt_at: datetime,
    now: datetime,
    policy: RetryPolicy,
    spread: float,
) -> Decision:
    """The row's next state after answer `code` to attempt number `attempts`.

    0. 2xx: sent.
    1. A permanent answer (5xx but 552): failed at once, never retried.
    2. A temporary answer: retried after the backoff, unless that retry would fall after the
       window (counted from the first attempt); then failed with this last answer.
    """
    if now.tzinfo is None or first_attempt_at.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    if code is not None and 200 <= code < 300:  # 0
        return Decision(Verdict.SENT, now, "accepted")
    if not is_temporary(code):  # 1
        return Decision(Verdict.FAILED, now, "permanent answer")
    later = now + backoff(attempts, policy, spread)  # 2
    if later > first_attempt_at + policy.window:
        return Decision(Verdict.FAILED, now, f"still failing after {policy.window}")
    return Decision(Verdict.RETRY, later, "temporary answer")
