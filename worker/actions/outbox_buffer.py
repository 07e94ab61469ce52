"""The outbox rows an intake batch queues, written as one INSERT before anything reads them.

Acknowledging each reply with its own INSERT was the last per-reply statement of a batch. A
batch opens an `OutboxBuffer`; `queue_row` then holds the row until the next statement the
session executes (so any query sees it, as if it had been written at once), until a lookup
asks about it (`touches`), or until the batch ends. Without a buffer, `queue_row` inserts at
once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from worker.actions.outbox import QueueItem, queue_email_rows
from worker.core.states import OutboxState

_KEY = "outreach.outbox_buffer"


@dataclass(frozen=True)
class _Held:
    item: QueueItem
    not_suppressed: frozenset[str]
    ids: list[int]  # the caller's list of rows to publish; gets the new id once written


class OutboxBuffer:
    """Open with `with OutboxBuffer(session):`; leaving it writes what it holds."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._held: list[_Held] = []
        self._writing = False

    def __enter__(self) -> OutboxBuffer:
        self.session.info[_KEY] = self
        event.listen(self.session, "do_orm_execute", self._before_statement)
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        event.remove(self.session, "do_orm_execute", self._before_statement)
        self.session.info.pop(_KEY, None)
        if exc_type is None:
            self.write()
        else:
            self._held.clear()  # the transaction rolls back: nothing was queued

    def hold(self, item: QueueItem, not_suppressed: Collection[str], ids: list[int]) -> None:
        self._held.append(_Held(item, frozenset(not_suppressed), ids))

    def touches(self, *, message_ids: Iterable[str] = (), invitation_id: int | None = None) -> bool:
        """Whether a held row has one of these Message-IDs or is for this invitation."""
        wanted = set(message_ids)
        return any(
            h.item.prepared.message_id in wanted
            or (invitation_id is not None and h.item.invitation_id == invitation_id)
            for h in self._held
        )

    def write(self) -> None:
        """Insert every held row (one statement); each queued id goes to its caller's list."""
        if not self._held or self._writing:
            return
        held, self._held = self._held, []
        self._writing = True
        try:
            clear = frozenset().union(*(h.not_suppressed for h in held))
            rows = queue_email_rows(self.session, [h.item for h in held], not_suppressed=clear)
        finally:
            self._writing = False
        for h, row in zip(held, rows, strict=True):
            _note_queued(h.ids, row)

    def _before_statement(self, _: ORMExecuteState) -> None:
        self.write()


def current_buffer(session: Session) -> OutboxBuffer | None:
    found: OutboxBuffer | None = session.info.get(_KEY)
    return found


def queue_row(
    session: Session, item: QueueItem, *, not_suppressed: Collection[str], ids: list[int]
) -> None:
    """Queue one outbox row: held by the session's buffer if it has one, else written now.
    Its id is appended to `ids` when the row is new and queued (not suppressed)."""
    buffer = current_buffer(session)
    if buffer is not None:
        buffer.hold(item, not_suppressed, ids)
        return
    (row,) = queue_email_rows(session, [item], not_suppressed=not_suppressed)
    _note_queued(ids, row)


def _note_queued(ids: list[int], row: tuple[int | None, str]) -> None:
    """A new row that will be sent (not a duplicate key, not suppressed) is to be published."""
    new_id, state = row
    if new_id is not None and state == OutboxState.QUEUED.value:
        ids.append(new_id)
