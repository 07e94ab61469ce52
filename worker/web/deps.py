"""How a request reaches the use cases: one transaction per call, run off the event loop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from worker.db import session_scope

T = TypeVar("T")


async def in_session(work: Callable[[Session], T]) -> T:
    """Run `work` in one committed transaction (rolled back if it raises), in a worker thread."""

    def run() -> T:
        with session_scope() as session:
            return work(session)

    return await run_in_threadpool(run)


async def read_only(work: Callable[[Session], T]) -> T:
    """Like in_session, but nothing `work` changes is kept (page renders store nothing)."""

    def run() -> T:
        with session_scope() as session:
            try:
                return work(session)
            finally:
                session.rollback()

    return await run_in_threadpool(run)


def now() -> datetime:
    return datetime.now(UTC)
