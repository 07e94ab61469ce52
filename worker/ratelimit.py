"""A global per-relay send rate (GCRA), shared by every worker through Redis when there is one.

Celery's own `rate_limit` is per worker process; this one is per SMTP relay. A worker reserves
slots for a whole batch with one Redis round trip and then paces its messages to the slots.
Without Redis (the embedded default) the limit is kept per process.
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
return string.format('%.0f', tat - now)
"""


@dataclass(frozen=True)
class Reservation:
    """Slots for a batch: message `i` may go `delay(i)` seconds after `taken_at` (monotonic)."""

    taken_at: float
    start_offset: float  # seconds from taken_at to the first slot
    interval: float
    burst: float

    def delay(self, index: int) -> float:
        return max(0.0, self.start_offset + (index + 1) * self.interval - self.burst)

    def wait_for(self, index: int) -> None:
        remaining = self.taken_at + self.delay(index) - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)


class RateLimiter(Protocol):
    def reserve(self, n: int) -> Reservation: ...


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

    def reserve(self, n: int) -> Reservation:
        interval_us = max(1, round(self.interval * 1_000_000))
        offset_us = int(self._script(keys=[self.key], args=[interval_us, n]))
        return Reservation(time.monotonic(), offset_us / 1_000_000, self.interval, self.burst)


class LocalRateLimiter:
    """The same algorithm inside one process (embedded mode, no Redis)."""

    def __init__(self, per_minute: int) -> None:
        self.interval, self.burst = _interval_and_burst(per_minute)
        self._tat = 0.0
        self._lock = threading.Lock()

    def reserve(self, n: int) -> Reservation:
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat, now)
            self._tat = tat + self.interval * n
        return Reservation(now, tat - now, self.interval, self.burst)


def make_limiter(redis_url: str | None, relay: str, per_minute: int) -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis_url, relay, per_minute)
    return LocalRateLimiter(per_minute)
