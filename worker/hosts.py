"""Setups that only work on one host, refused when the database is a server several hosts share.

With PostgreSQL any number of hosts may run workers and beat. Each of these would silently
split them: a filesystem broker (tasks published on one host are never seen by another), no
Redis (the relay's rate limit and beat's leader lock would be per process, so N hosts send N
times too fast and all run beat). The secret key is checked by `Settings.secret`.
"""

from __future__ import annotations

from worker.settings import Settings


def per_host_problems(settings: Settings) -> list[str]:
    """What stops this setup from running beside other hosts (empty: nothing)."""
    if not settings.is_shared_database():
        return []
    problems = []
    if settings.resolved_broker_url().startswith("filesystem"):
        problems.append(
            "OUTREACH_BROKER_URL is empty (a folder on this host), but the database is a server "
            "other hosts may share: their tasks would never reach this host. Set "
            "OUTREACH_BROKER_URL=redis://HOST:6379/0 on every host."
        )
    if not settings.resolved_redis_url():
        problems.append(
            "No Redis (OUTREACH_REDIS_URL or a redis:// broker): the relay's rate limit and "
            "beat's single-leader lock would be kept per process, so several hosts would send "
            "too fast and each run its own beat. Set OUTREACH_REDIS_URL on every host."
        )
    return problems
