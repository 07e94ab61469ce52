"""Stored messages handed on in groups: the LMTP listener stores one delivery at a time, and a
task per delivery made most tasks find their message already taken along by another batch.

`Gathered` collects the ids of the deliveries stored in the last `wait` seconds (at most
`size`) and hands them on as one call, from a thread of its own. A message whose ids were
gathered but not yet handed on when the process dies is stored all the same; the poll sweep
enqueues it after `intake.STALE_STORED`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


class Gathered:
    """A thread-safe `on_stored` that calls `hand_on` with up to `size` ids at a time, at most
    `wait` seconds after the first of them arrived. `close()` hands on what is left."""

    def __init__(self, hand_on: Callable[[list[int]], None], *, size: int, wait: float) -> None:
        self.hand_on = hand_on
        self.size = size
        self.wait = wait
        self._ids: list[int] = []
        self._since = 0.0
        self._closed = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="intake-gathered", daemon=True)
        self._thread.start()

    def __call__(self, ids: list[int]) -> None:
        with self._ready:
            if not self._ids:
                self._since = time.monotonic()
            self._ids.extend(ids)
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=10)

    def _take(self) -> list[int] | None:
        """The next group, once it is full, old enough, or the end came; None: ended, empty."""
        with self._ready:
            while True:
                if self._ids:
                    due = self._since + self.wait - time.monotonic()
                    if len(self._ids) >= self.size or due <= 0 or self._closed:
                        taken, self._ids = self._ids[: self.size], self._ids[self.size :]
                        self._since = time.monotonic()
                        return taken
                    self._ready.wait(due)
                elif self._closed:
                    return None
                else:
                    self._ready.wait()

    def _run(self) -> None:
        while (ids := self._take()) is not None:
            try:
                self.hand_on(ids)
            except Exception:  # stored is what counts; the poll sweep enqueues them later
                log.exception("intake.hand_on_failed", inbound_ids=ids)
