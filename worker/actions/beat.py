"""Beat's liveness row, and the lock that keeps one beat ticking among several hosts.

The lock is a Redis key with a short expiry that its holder renews on every tick: when the
holder dies or loses its network, the key expires and another host's beat takes over within
one expiry. A holder that could not renew in time stops scheduling by itself, so two beats
never tick at once (short of a clock that jumps by more than the expiry).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.models import Heartbeat

BEAT_LOCK_KEY = "outreach:beat:leader"

# Take the key if free, or renew it if we hold it: 1 when we hold it afterwards.
_ACQUIRE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


def beat_heartbeat(session: Session, now: datetime, detail: dict[str, Any] | None = None) -> None:
    """Record that beat ticked (`outreach status` and /health read it)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Heartbeat).values(name="beat", at=now, detail=detail)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["name"], set_={"at": now, "detail": detail})
    )


class LeaderLock:
    """`holds()` is True while this process is the one beat allowed to schedule."""

    def __init__(self, client: Any, holder: str, ttl_seconds: float) -> None:
        self.client, self.holder, self.ttl = client, holder, ttl_seconds
        self._script = client.register_script(_ACQUIRE_LUA)
        self._valid_until = 0.0  # monotonic: beyond it we may have lost the key

    def holds(self) -> bool:
        started = time.monotonic()
        try:
            won = bool(self._script(keys=[BEAT_LOCK_KEY], args=[self.holder, int(self.ttl * 1000)]))
        except Exception:  # Redis unreachable: we can neither renew nor publish
            won = False
        if won:
            # Counted from before the call: the key may have been set at any point within it.
            self._valid_until = started + self.ttl
            return True
        self._valid_until = 0.0
        return False

    def still_valid(self, margin: float = 0.0) -> bool:
        """True while the key is surely still ours, `margin` seconds before it may expire."""
        return time.monotonic() < self._valid_until - margin

    def release(self) -> None:
        try:
            if self.client.get(BEAT_LOCK_KEY) == self.holder.encode():
                self.client.delete(BEAT_LOCK_KEY)
        except Exception:  # it expires by itself
            return
