"""A global per-relay send rate (GCRA), shared by every worker through Redis when there is one.

Celery's own `rate_limit` is per worker process; this one is per SMTP relay. A worker reserves
about a second of slots at a time with one Redis round trip, paces its messages to them and
gives back what it did not use. Without Redis (the embedded default) the limit is kept per
process, which is refused when several hosts share the database (see `worker.hosts`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

# Reserves `n` slots: returns how far (in microseconds) after the server's now the batch's
# theoretical arrival time starts. Redis TIME is used so all workers share one clock.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval * n
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {string.format('%.0f', tat - now), string.format('%.0f', new_tat)}
"""

# Gives back the last `n` slots of a reservation that ended at ARGV[2] (microseconds), if no
# one reserved after it: a worker that stops early leaves no hole in the relay's timeline.
_RELEASE_LUA = """
local tat = redis.call('GET', KEYS[1])
if tat ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local new_tat = tonumber(tat) - tonumber(ARGV[1]) * tonumber(ARGV[3])
if new_tat < now then new_tat = now end
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return 1
"""


@dataclass(frozen=True)
class Reservation:
    """Slots for a batch: message `i` may go `delay(i)` seconds after `taken_at` (monotonic)."""

    taken_at: float
    start_offset: float  # seconds from taken_at to the first slot
    interval: float
    burst: float
    slots: int = 0
    token: str = ""  # the limiter's end-of-reservation mark, for `release`

    def delay(self, index: int) -> float:
        return max(0.0, self.start_offset + (index + 1) * self.interval - self.burst)

    def wait_for(self, index: int) -> None:
        remaining = self.taken_at + self.delay(index) - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)


class RateLimiter(Protocol):
    @property
    def per_second(self) -> float: ...
    def reserve(self, n: int) -> Reservation: ...
    def release(self, reservation: Reservation, unused: int) -> None: ...


class Pacer:
    """Waits for one slot per message, reserving at most about one second of slots at a time.

    A worker killed mid-batch thus holds at most a second of the relay's timeline, and `close`
    gives back what a batch reserved but did not use.
    """

    def __init__(self, limiter: RateLimiter | None, total: int) -> None:
        self.limiter, self.remaining = limiter, total
        self.chunk = max(1, int(limiter.per_second)) if limiter is not None else 0
        self._current: Reservation | None = None
        self._next = 0

    def wait(self) -> None:
        if self.limiter is None:
            return
        if self._current is None or self._next >= self._current.slots:
            self._current = self.limiter.reserve(min(self.chunk, max(1, self.remaining)))
            self._next = 0
        self._current.wait_for(self._next)
        self._next += 1
        self.remaining -= 1

    def close(self) -> None:
        current, self._current = self._current, None
        if self.limiter is not None and current is not None and self._next < current.slots:
            self.limiter.release(current, current.slots - self._next)


def _interval_and_burst(per_minute: int) -> tuple[float, float]:
    if per_minute <= 0:
        raise ValueError("OUTREACH_SMTP_RATE_PER_MINUTE must be a positive number")
    interval = 60.0 / per_minute
    burst = interval * max(1.0, per_minute / 60.0)  # about one second's worth of messages
    return interval, burst


class RedisRateLimiter:
    """One limit for every worker on every host that shares the Redis server."""

    def __init__(self, redis_url: str, relay: str, per_minute: int) -> None:
        import redis

        self.interval, self.burst = _interval_and_burst(per_minute)
        self.key = f"outreach:ratelimit:{relay}"
        self._client: Any = redis.Redis.from_url(redis_url)
        self._script: Any = self._client.register_script(_RESERVE_LUA)

        self._release: Any = self._client.register_script(_RELEASE_LUA)

    @property
    def per_second(self) -> float:
        return 1.0 / self.interval

    def reserve(self, n: int) -> Reservation:
        interval_us = max(1, round(self.interval * 1_000_000))
        offset_us, end = self._script(keys=[self.key], args=[interval_us, n])
        return Reservation(
            time.monotonic(), int(offset_us) / 1_000_000, self.interval, self.burst, n, end.decode()
        )

    def release(self, reservation: Reservation, unused: int) -> None:
        interval_us = max(1, round(self.interval * 1_000_000))
        self._release(keys=[self.key], args=[unused, reservation.token, interval_us])


class LocalRateLimiter:
    """The same algorithm inside one process (embedded mode, no Redis)."""

    def __init__(self, per_minute: int) -> None:
        self.interval, self.burst = _interval_and_burst(per_minute)
        self._tat = 0.0
        self._lock = threading.Lock()

    @property
    def per_second(self) -> float:
        return 1.0 / self.interval

    def reserve(self, n: int) -> Reservation:
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat, now)
            self._tat = tat + self.interval * n
            return Reservation(now, tat - now, self.interval, self.burst, n, repr(self._tat))

    def release(self, reservation: Reservation, unused: int) -> None:
        with self._lock:
            if repr(self._tat) == reservation.token:
                self._tat = max(time.monotonic(), self._tat - unused * self.interval)


def make_limiter(redis_url: str | None, relay: str, per_minute: int) -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url, relay, per_minute)
    return LocalRateLimiter(per_minute)
