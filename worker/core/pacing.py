"""How much one task may send itself under the relay's rate limit (pure: no clock, no I/O).

A task must finish well inside its time limit even when the rate limit paces it; what does
not fit is published again at once as its own task (never as a countdown).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

# A batch should finish well inside the task's time limit even when the rate limit paces it.
MAX_PACED_SECONDS = 120.0

T = TypeVar("T")


def per_task_limit(rate_per_minute: float, max_paced_seconds: float = MAX_PACED_SECONDS) -> int:
    """How many messages one task may send at `rate_per_minute` (never fewer than one)."""
    return max(1, int(rate_per_minute * max_paced_seconds / 60))


def split_for_pacing(
    ids: Sequence[T], rate_per_minute: float, max_paced_seconds: float = MAX_PACED_SECONDS
) -> tuple[list[T], list[T]]:
    """(what this task sends, what it publishes again for another task)."""
    limit = per_task_limit(rate_per_minute, max_paced_seconds)
    return list(ids[:limit]), list(ids[limit:])


def sends_inline(
    count: int, rate_per_minute: float, max_paced_seconds: float = MAX_PACED_SECONDS
) -> bool:
    """Whether a fan-out task sends the `count` rows it queued itself (sparing a broker round
    trip, a claiming UPDATE and reading the bytes back) rather than publishing them."""
    return count <= per_task_limit(rate_per_minute, max_paced_seconds)
