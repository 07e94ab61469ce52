"""The IMAP poller: read new messages once each, in UID order, and store them before moving on.

The use case that stores a message (`worker.actions.ingest.ingest`) is passed in as `store`:
the mail adapters never import actions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from imapclient import IMAPClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from worker.core.audit_actions import AuditAction
from worker.models import AuditLog, MailboxCursor
from worker.settings import ImapTarget

log = structlog.get_logger(__name__)

FETCH_BATCH = 25  # messages fetched per IMAP round trip, stored in one transaction


class Ingest(Protocol):
    """Store one raw message in the caller's transaction; its new id, or None if known."""

    def __call__(
        self,
        session: Session,
        raw: bytes,
        *,
        source: str,
        now: datetime,
        mailbox: str | None = ...,
        uidvalidity: int | None = ...,
        uid: int | None = ...,
    ) -> int | None: ...


class IngestChunk(Protocol):
    """Store several raw messages, each with its UID, in the caller's transaction; for each,
    its new id or None if known (`worker.actions.ingest.ingest_many`)."""

    def __call__(
        self,
        session: Session,
        raws: Sequence[bytes],
        *,
        source: str,
        now: datetime,
        mailbox: str | None = ...,
        uidvalidity: int | None = ...,
        uids: Sequence[int | None] | None = ...,
    ) -> list[int | None]: ...


@dataclass
class PollResult:
    """What one pass over the mailbox did."""

    mailbox: str
    uidvalidity: int
    seen: int = 0  # messages fetched
    stored: list[int] = field(default_factory=list)  # new InboundMessage ids
    duplicates: int = 0
    last_uid: int = 0
    uidvalidity_changed: bool = False


def mailbox_key(target: ImapTarget) -> str:
    """The cursor's key: one per account and folder."""
    return f"{target.username}@{target.host}:{target.port}/{target.folder}"


def connect(target: ImapTarget, timeout: float = 30.0) -> IMAPClient:
    client = IMAPClient(target.host, port=target.port, ssl=target.ssl, timeout=timeout)
    client.login(target.username, target.password)
    return client


def poll_mailbox(
    target: ImapTarget,
    sessions: sessionmaker[Session],
    *,
    store: Ingest,
    store_many: IngestChunk | None = None,
    on_stored: Callable[[list[int]], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    limit: int | None = None,
) -> PollResult:
    """One pass: every message with a UID above the cursor, oldest first.

    1. SELECT the folder read-only (nothing is flagged or moved in the user's mailbox).
    2. Load the cursor; a new UIDVALIDITY means the server renumbered the folder: start from
       UID 1 again (stored messages are recognised by their hash and Message-ID).
    3. Store the raw bytes and advance the cursor past them in ONE transaction, so a crash
       neither loses nor repeats a message: with `store_many`, one transaction per fetched
       chunk (a burst of replies costs a few commits, not one each); if the chunk's
       transaction fails (a row the database refuses), or without `store_many`, one per
       message, which quarantines the refused one and moves on. Then hand the chunk's new ids
       to `on_stored` together (which enqueues their processing as one batch; a lost enqueue
       is recovered by `intake.poll`'s sweep).
    A message that cannot be parsed is still stored (processing sends it to review).
    """
    key = mailbox_key(target)
    client = connect(target)
    try:
        # 1.
        selected = client.select_folder(target.folder, readonly=True)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        # 2.
        result = PollResult(mailbox=key, uidvalidity=uidvalidity)
        last_uid = _cursor(sessions, key, uidvalidity, clock(), result)
        result.last_uid = last_uid
        uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        if limit is not None:
            uids = uids[:limit]
        # 3.
        for chunk in _chunks(uids, FETCH_BATCH):
            fetched: dict[int, dict[bytes, Any]] = client.fetch(chunk, [b"BODY.PEEK[]"])
            raws = [(uid, fetched.get(uid, {}).get(b"BODY[]")) for uid in chunk]
            stored = (
                _store_chunk(sessions, store_many, key, uidvalidity, raws, clock(), result)
                if store_many is not None
                else None
            )
            if stored is None:
                stored = [
                    _store_one(sessions, store, key, uidvalidity, uid, raw, clock(), result)
                    for uid, raw in raws
                ]
            new_ids = [new_id for new_id in stored if new_id is not None]
            if new_ids and on_stored is not None:
                on_stored(new_ids)
        return result
    finally:
        try:
            client.logout()
        except Exception:  # the server may already have gone; nothing is lost
            log.debug("imap.logout_failed", mailbox=key)


def _cursor(
    sessions: sessionmaker[Session], key: str, uidvalidity: int, now: datetime, result: PollResult
) -> int:
    try:
        return _load_cursor(sessions, key, uidvalidity, now, result)
    except IntegrityError:
        # Another poll created the first cursor at the same moment: use theirs.
        return _load_cursor(sessions, key, uidvalidity, now, result)


def _load_cursor(
    sessions: sessionmaker[Session], key: str, uidvalidity: int, now: datetime, result: PollResult
) -> int:
    with sessions.begin() as session:
        cursor = session.get(MailboxCursor, key, with_for_update=True)
        if cursor is None:
            session.add(
                MailboxCursor(mailbox=key, uidvalidity=uidvalidity, last_uid=0, updated_at=now)
            )
            return 0
        if cursor.uidvalidity != uidvalidity:
            session.add(
                AuditLog(
                    actor="intake:imap",
                    entity="mailbox_cursor",
                    entity_id=None,
                    action=AuditAction.UIDVALIDITY_CHANGED,
                    detail={
                        "mailbox": key,
                        "old": cursor.uidvalidity,
                        "new": uidvalidity,
                        "old_last_uid": cursor.last_uid,
                    },
                )
            )
            log.warning(
                "imap.uidvalidity_changed", mailbox=key, old=cursor.uidvalidity, new=uidvalidity
            )
            cursor.uidvalidity = uidvalidity
            cursor.last_uid = 0
            cursor.updated_at = now
            result.uidvalidity_changed = True
            return 0
        return cursor.last_uid


def _store_one(
    sessions: sessionmaker[Session],
    store: Ingest,
    key: str,
    uidvalidity: int,
    uid: int,
    raw: bytes | None,
    now: datetime,
    result: PollResult,
) -> int | None:
    """Store one message and move the cursor past it, in the same transaction."""
    with sessions.begin() as session:
        cursor = _locked_cursor(session, key, uidvalidity)
        if cursor.last_uid >= uid:
            log.info("imap.already_read", mailbox=key, uid=uid)
            return None
        new_id: int | None = None
        if raw is None:  # expunged between SEARCH and FETCH: nothing to store
            log.info("imap.message_gone", mailbox=key, uid=uid)
        else:
            result.seen += 1
            new_id = store(
                session,
                bytes(raw),
                source="imap",
                now=now,
                mailbox=key,
                uidvalidity=uidvalidity,
                uid=uid,
            )
        cursor.last_uid = max(cursor.last_uid, uid)
        cursor.updated_at = now
    result.last_uid = max(result.last_uid, uid)
    if new_id is None:
        result.duplicates += raw is not None
    else:
        result.stored.append(new_id)
    return new_id


def _store_chunk(
    sessions: sessionmaker[Session],
    store_many: IngestChunk,
    key: str,
    uidvalidity: int,
    raws: list[tuple[int, bytes | None]],
    now: datetime,
    result: PollResult,
) -> list[int | None] | None:
    """`_store_one` for a fetched chunk, in one transaction: each UID's new id or None; None
    for all when that transaction failed (nothing of it kept: the caller stores the chunk one
    message at a time)."""
    try:
        with sessions.begin() as session:
            cursor = _locked_cursor(session, key, uidvalidity)
            todo = [(uid, raw) for uid, raw in raws if uid > cursor.last_uid]
            present = [(uid, bytes(raw)) for uid, raw in todo if raw is not None]
            ids = store_many(
                session,
                [raw for _, raw in present],
                source="imap",
                now=now,
                mailbox=key,
                uidvalidity=uidvalidity,
                uids=[uid for uid, _ in present],
            ) if present else []  # fmt: skip
            by_uid = dict(zip((uid for uid, _ in present), ids, strict=True))
            if todo:
                cursor.last_uid = max(cursor.last_uid, *(uid for uid, _ in todo))
                cursor.updated_at = now
    except CursorMoved:
        raise
    except Exception:
        log.warning("imap.chunk_store_failed", mailbox=key, uids=[u for u, _ in raws],
                    exc_info=True)  # fmt: skip
        return None
    # Counted once committed (a failed chunk is counted by the one-at-a-time path).
    taken = {uid for uid, _ in todo}
    for uid, raw in raws:
        if uid not in taken:
            log.info("imap.already_read", mailbox=key, uid=uid)
        elif raw is None:  # expunged between SEARCH and FETCH: nothing to store
            log.info("imap.message_gone", mailbox=key, uid=uid)
    result.seen += len(present)
    if taken:
        result.last_uid = max(result.last_uid, *taken)
    for new_id in ids:
        if new_id is None:
            result.duplicates += 1
        else:
            result.stored.append(new_id)
    return [by_uid.get(uid) for uid, _ in raws]


class CursorMoved(RuntimeError):
    """The mailbox's cursor is gone or renumbered under the poller; the next pass resumes."""


def _locked_cursor(session: Session, key: str, uidvalidity: int) -> MailboxCursor:
    """The cursor, locked until the transaction ends: a second poll running at the same time
    waits here, then sees the UIDs already passed and skips them instead of failing on them."""
    cursor = session.get(MailboxCursor, key, with_for_update=True)
    if cursor is None or cursor.uidvalidity != uidvalidity:
        raise CursorMoved(f"mailbox cursor {key} changed under the poller; the next pass resumes")
    return cursor


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
