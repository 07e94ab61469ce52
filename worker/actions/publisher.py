"""The port through which actions hand work to the task queue: actions never import Celery.

An entry point installs the implementation once (the Celery app on import, the `outreach`
command in `main`, the web app at start-up, tests in their conftest); an action asks for it
with `get_publisher()`. A test can install a hand-written fake to see what would be enqueued.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Publisher(Protocol):
    """Send a task by its stable name; ask which workers are alive."""

    def send(self, task: str, args: Sequence[Any], *, queue: str | None = None) -> None:
        """Enqueue `task` with `args` (ids only); raises when the broker is unreachable."""

    def ping(self, timeout: float) -> list[str]:
        """Names of the workers that answer within `timeout` seconds."""


_installed: list[Publisher] = []


def install_publisher(publisher: Publisher) -> Publisher | None:
    """Make `publisher` the one actions use; returns the one it replaces (for tests)."""
    previous = _installed[0] if _installed else None
    _installed[:] = [publisher]
    return previous


def get_publisher() -> Publisher:
    """The installed publisher; a clear error when an entry point forgot to install one."""
    if not _installed:
        raise RuntimeError(
            "no task publisher installed: the entry point must call "
            "worker.tasks.publisher.install_celery_publisher() (or install a fake in tests)"
        )
    return _installed[0]
