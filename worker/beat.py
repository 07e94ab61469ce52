"""Celery beat's scheduler, made a singleton across hosts: only the holder of the leader lock
(`worker.actions.beat.LeaderLock`, a Redis key renewed every tick) sends scheduled tasks.

Start beat on every host for redundancy; one ticks, the others wait and take over within
one lock expiry when it dies or loses its network. Without Redis (the embedded, one-host
mode) there is no lock and beat ticks alone.

A leader cut off from Redis can be stuck in a publish (a dead TCP link answers nothing) past
the moment its key expires. So it stands down on a clock, not on an answer: a watch thread
marks it standing by STAND_DOWN_MARGIN seconds before the key may expire, and no entry is
sent unless the lock is still good by that margin. Publishes from beat are not retried and
the broker's sockets time out (worker.celery_app), so a stuck publish ends too.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from typing import Any

from celery.beat import PersistentScheduler

from worker.actions.beat import LeaderLock
from worker.settings import get_settings

log = logging.getLogger(__name__)
LOCK_TTL_SECONDS = 10.0
# Longer than one blocked Redis call (2 s socket timeouts) plus a watch period.
STAND_DOWN_MARGIN = 3.0
WATCH_SECONDS = 0.25


def make_lock() -> LeaderLock | None:
    url = get_settings().resolved_redis_url()
    if not url:
        return None
    import redis

    from worker.celery_app import BROKER_SOCKET_TIMEOUT_SECONDS as TIMEOUT

    # Short socket timeouts, as the broker's: a cut-off beat notices within STAND_DOWN_MARGIN.
    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    return LeaderLock(client, holder, LOCK_TTL_SECONDS)


class SingletonScheduler(PersistentScheduler):
    """PersistentScheduler that ticks only while it holds the leader lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.leader_lock = make_lock()
        self.leading = False
        self._transition = threading.Lock()
        self._closed = threading.Event()
        super().__init__(*args, **kwargs)
        if self.leader_lock is not None:
            threading.Thread(target=self._watch, name="beat-lock-watch", daemon=True).start()

    def _set_leading(self, leading: bool) -> None:
        with self._transition:
            if leading != self.leading:
                self.leading = leading
                holder = self.leader_lock.holder if self.leader_lock else "-"
                log.warning("beat %s: %s", holder, "leading" if leading else "standing by")

    def _may_send(self) -> bool:
        lock = self.leader_lock
        return lock is None or (self.leading and lock.still_valid(STAND_DOWN_MARGIN))

    def _watch(self) -> None:
        """Stand down on time even while the main thread is blocked on a dead link."""
        while not self._closed.wait(WATCH_SECONDS):
            if self.leading and not self._may_send():
                self._set_leading(False)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        lock = self.leader_lock
        if lock is None:
            return float(super().tick(*args, **kwargs))
        if self.leading and not self._may_send():
            self._set_leading(False)  # before a renewal that may block on a dead link
        self._set_leading(lock.holds() and lock.still_valid(STAND_DOWN_MARGIN))
        if not self.leading:
            return LOCK_TTL_SECONDS / 5
        return min(float(super().tick(*args, **kwargs)), LOCK_TTL_SECONDS / 5)

    def apply_async(
        self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        if not self._may_send():
            log.info("beat: not sending %s: the leader lock may have expired", entry.name)
            return None
        return super().apply_async(entry, producer=producer, advance=advance, **kwargs)

    def close(self) -> None:
        self._closed.set()
        if self.leader_lock is not None:
            self.leader_lock.release()
        super().close()
