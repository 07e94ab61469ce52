"""The base class of every task: the shared defaults, written once.

Our tasks are idempotent (the database decides what is left to do), so a message is
acknowledged only after the task ran, put back when its worker dies, and no result is kept.
A task body is a few lines: ids in, one session, one action, a retry mapping out.
"""

from __future__ import annotations

from typing import Any

from celery import Task


class OutreachTask(Task[Any, Any]):
    """Shared defaults; a task overrides only what differs (a shorter time limit)."""

    acks_late = True  # a redelivery finds the work done
    reject_on_worker_lost = True  # a killed worker's message goes back to the queue
    ignore_result = True  # nobody reads results: the database holds the outcome
    time_limit = 300
    soft_time_limit = 240
