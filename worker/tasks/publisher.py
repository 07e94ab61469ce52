"""The Celery implementation of the actions' publisher port (`worker.actions.publisher`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from worker.actions.publisher import Publisher, install_publisher


class CeleryPublisher:
    """Sends tasks by name through the Celery app, imported on first use (a CLI command that
    publishes nothing never loads Celery)."""

    def send(self, task: str, args: Sequence[Any], *, queue: str | None = None) -> None:
        from worker.celery_app import app

        options: dict[str, Any] = {"queue": queue} if queue else {}
        app.send_task(task, args=list(args), **options)

    def ping(self, timeout: float) -> list[str]:
        from worker.celery_app import app

        names: list[str] = []
        for reply in app.control.ping(timeout=timeout) or []:
            names.extend(reply.keys())
        return sorted(names)


def install_celery_publisher() -> Publisher | None:
    """Install the Celery publisher (idempotent); returns the one it replaced."""
    return install_publisher(CeleryPublisher())
