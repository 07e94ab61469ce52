"""Celery beat's scheduler, made a singleton across hosts: only the holder of the leader lock
(`worker.actions.beat.LeaderLock`, a Redis key renewed every tick) sends scheduled tasks.

Start beat on every host for redundancy; one ticks, the others wait and take over within
one lock expiry when it dies or loses its network. Without Redis (the embedded, one-host
mode) there is no lock and beat ticks alone.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from typing import Any

from celery.beat import PersistentScheduler

from worker.actions.beat import LeaderLock
from worker.settings import get_settings

log = logging.getLogger(__name__)
LOCK_TTL_SECONDS = 10.0


def make_lock() -> LeaderLock | None:
    url = get_settings().resolved_redis_url()
    if not url:
        return None
    import redis

    # Short socket timeouts: a beat cut off from Redis must notice within the lock's expiry.
    client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    return LeaderLock(client, holder, LOCK_TTL_SECONDS)


class SingletonScheduler(PersistentScheduler):
    """PersistentScheduler that ticks only while it holds the leader lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.leader_lock = make_lock()
        self.leading = False
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        lock = self.leader_lock
        if lock is None:
            return float(super().tick(*args, **kwargs))
        holds = lock.holds()
        if holds != self.leading:
            self.leading = holds
            log.warning("beat %s: %s", lock.holder, "leading" if holds else "standing by")
        if not holds:
            return LOCK_TTL_SECONDS / 5
        return min(float(super().tick(*args, **kwargs)), LOCK_TTL_SECONDS / 5)

    def close(self) -> None:
        if self.leader_lock is not None:
            self.leader_lock.release()
        super().close()
