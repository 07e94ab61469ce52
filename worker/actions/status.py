"""Gather what `outreach status` shows: per-campaign funnel, the outbox, queues, workers, beat.

`gather_status` reads only the database (and takes `now`), so tests can check every figure;
`broker_queue_depths` and `ping_workers` ask the broker; `collect_status` puts them together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from worker.actions.approval_wait import count_awaiting_approval
from worker.actions.forecast import schedule_warning
from worker.actions.letter import list_summary
from worker.actions.publisher import get_publisher
from worker.core.kinds import EmailKind
from worker.core.states import (
    CampaignState,
    InvitationState,
    OutboxState,
    ReviewState,
    SignatureState,
)
from worker.errors import NotFound
from worker.models import (
    Campaign,
    Contact,
    Heartbeat,
    Invitation,
    Organisation,
    OutboundMessage,
    ReviewItem,
    Signature,
)
from worker.settings import Settings

# The outbox `kind` of an invitation email (the sending engineer's name for it).
# Celery queues (worker/celery_app.py declares them).
QUEUES = ("sending", "intake", "scheduling", "delivery")
BEAT_HEARTBEAT = "beat"


@dataclass
class Funnel:
    organisations: int = 0
    contacts: int = 0
    invited: int = 0  # an invitation email exists in the outbox (any state but suppressed)
    delivered: int = 0  # ... and the SMTP server accepted it
    bounced: int = 0
    signed: int = 0  # organisations with an active signature
    declined: int = 0
    withdrawn: int = 0
    unsubscribed: int = 0
    questions: int = 0  # invitations waiting for a lead's answer
    review_open: int = 0  # every open review item of the campaign
    no_answer: int = 0  # invited, no answer yet
    not_yet_invited: int = 0
    on_letter: int = 0  # the one signatory list's count: what both letters and the email print


@dataclass
class OutboxFigures:
    due: int = 0  # queued/retry whose time has come, not sent yet
    stuck_sending: int = 0  # `sending` past its lease
    failed: int = 0
    held: int = 0  # needs a person (`outreach outbox resolve`): not the approval wait
    awaiting_approval: int = 0  # the final letter waits for `outreach campaign approve`
    retry: int = 0
    sent: int = 0
    total: int = 0


@dataclass
class CampaignStatus:
    slug: str
    title: str
    state: str
    timezone: str
    deadline: str  # ISO, in the campaign's timezone
    deadline_local: str  # for people: "2024-07-31 23:59 JST"
    seconds_to_deadline: float  # negative once passed
    time_left: str  # "3d 4h 12m", or "passed 2h ago"
    funnel: Funnel
    outbox: OutboxFigures
    schedule_warning: str | None = None  # emails that cannot go before the deadline
    letter_list_hash: str = ""  # the signatory list's hash, as `approve` shows it


@dataclass
class BeatStatus:
    last_tick: str | None
    age_seconds: float | None
    stale: bool


@dataclass
class StatusReport:
    now: str
    campaigns: list[CampaignStatus]
    outbox: OutboxFigures  # every campaign together
    beat: BeatStatus
    queues: dict[str, int | None] = field(default_factory=dict)  # None: could not be read
    broker: str = ""
    broker_error: str | None = None
    workers: list[str] | None = None  # None: not asked / could not ask

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def format_duration(seconds: float) -> str:
    """'3d 4h 12m' for the future, 'passed 2h 5m ago' for the past (minute precision)."""
    past = seconds < 0
    total_minutes = int(abs(seconds) // 60)
    days, rem = divmod(total_minutes, 60 * 24)
    hours, minutes = divmod(rem, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    text = f"{int(abs(seconds))}s" if total_minutes == 0 else " ".join(parts)
    return f"passed {text} ago" if past else text


def _count_by(session: Session, column: Any, *where: Any) -> dict[Any, int]:
    rows = session.execute(select(column, func.count()).where(*where).group_by(column)).all()
    return {key: int(n) for key, n in rows}


def _outbox_figures(session: Session, now: datetime, *where: Any) -> OutboxFigures:
    by_state = _count_by(session, OutboundMessage.state, *where)
    claimable = [s.value for s in (OutboxState.QUEUED, OutboxState.RETRY)]
    due = session.scalar(
        select(func.count()).where(
            *where,
            OutboundMessage.state.in_(claimable),
            OutboundMessage.next_attempt_at <= now,
        )
    )
    stuck = session.scalar(
        select(func.count()).where(
            *where,
            OutboundMessage.state == OutboxState.SENDING.value,
            or_(OutboundMessage.lease_until.is_(None), OutboundMessage.lease_until < now),
        )
    )
    waiting = count_awaiting_approval(session, *where)
    return OutboxFigures(
        awaiting_approval=waiting,
        due=int(due or 0),
        stuck_sending=int(stuck or 0),
        failed=by_state.get(OutboxState.FAILED.value, 0),
        held=by_state.get(OutboxState.HELD.value, 0) - waiting,
        retry=by_state.get(OutboxState.RETRY.value, 0),
        sent=by_state.get(OutboxState.SENT.value, 0),
        total=sum(by_state.values()),
    )


def _funnel(session: Session, campaign_id: int) -> Funnel:
    inv_states = _count_by(session, Invitation.state, Invitation.campaign_id == campaign_id)
    invitation_rows = (
        OutboundMessage.campaign_id == campaign_id,
        OutboundMessage.kind == EmailKind.INVITATION,
    )
    invited = session.scalar(
        select(func.count(func.distinct(OutboundMessage.contact_id))).where(
            *invitation_rows, OutboundMessage.state != OutboxState.SUPPRESSED.value
        )
    )
    delivered = session.scalar(
        select(func.count(func.distinct(OutboundMessage.contact_id))).where(
            *invitation_rows, OutboundMessage.state == OutboxState.SENT.value
        )
    )
    signed = session.scalar(
        select(func.count(func.distinct(Signature.organisation_id))).where(
            Signature.campaign_id == campaign_id, Signature.state == SignatureState.ACTIVE.value
        )
    )
    review_open = session.scalar(
        select(func.count()).where(
            ReviewItem.campaign_id == campaign_id, ReviewItem.state == ReviewState.OPEN.value
        )
    )
    organisations = session.scalar(
        select(func.count()).where(Organisation.campaign_id == campaign_id)
    )
    contacts = session.scalar(select(func.count()).where(Contact.campaign_id == campaign_id))

    def n(state: InvitationState) -> int:
        return inv_states.get(state.value, 0)

    return Funnel(
        organisations=int(organisations or 0),
        contacts=int(contacts or 0),
        invited=int(invited or 0),
        delivered=int(delivered or 0),
        bounced=n(InvitationState.BOUNCED) + n(InvitationState.REPLACED),
        signed=int(signed or 0),
        declined=n(InvitationState.DECLINED),
        withdrawn=n(InvitationState.WITHDRAWN),
        unsubscribed=n(InvitationState.UNSUBSCRIBED),
        questions=n(InvitationState.QUESTION),
        review_open=int(review_open or 0),
        no_answer=n(InvitationState.INVITED),
        not_yet_invited=n(InvitationState.PENDING),
    )


def _campaign_status(session: Session, campaign: Campaign, now: datetime) -> CampaignStatus:
    try:
        tz = ZoneInfo(campaign.timezone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    local_deadline = campaign.deadline.astimezone(tz)
    seconds = (campaign.deadline - now).total_seconds()
    funnel = _funnel(session, campaign.id)
    funnel.on_letter, list_hash = list_summary(session, campaign)  # what every output prints
    return CampaignStatus(
        slug=campaign.slug,
        title=campaign.title,
        state=campaign.state,
        timezone=campaign.timezone,
        deadline=local_deadline.isoformat(),
        deadline_local=local_deadline.strftime("%Y-%m-%d %H:%M %Z"),
        seconds_to_deadline=seconds,
        time_left=format_duration(seconds),
        funnel=funnel,
        outbox=_outbox_figures(session, now, OutboundMessage.campaign_id == campaign.id),
        schedule_warning=schedule_warning(session, campaign, now),
        letter_list_hash=list_hash,
    )


def beat_status(session: Session, now: datetime, stale_after: timedelta) -> BeatStatus:
    beat = session.get(Heartbeat, BEAT_HEARTBEAT)
    if beat is None:
        return BeatStatus(last_tick=None, age_seconds=None, stale=True)
    age = (now - beat.at).total_seconds()
    return BeatStatus(
        last_tick=beat.at.isoformat(), age_seconds=age, stale=age > stale_after.total_seconds()
    )


def gather_status(
    session: Session,
    now: datetime,
    campaign_slug: str | None = None,
    *,
    beat_stale_after: timedelta = timedelta(seconds=120),
    include_closed: bool = True,
) -> StatusReport:
    """Every figure `outreach status` shows that comes from the database, as of `now`."""
    query = select(Campaign).order_by(Campaign.deadline, Campaign.slug)
    if campaign_slug is not None:
        query = query.where(Campaign.slug == campaign_slug)
    elif not include_closed:
        query = query.where(
            Campaign.state.not_in([CampaignState.DELIVERED.value, CampaignState.CANCELLED.value])
        )
    campaigns = list(session.scalars(query))
    if campaign_slug is not None and not campaigns:
        known = ", ".join(session.scalars(select(Campaign.slug).order_by(Campaign.slug))) or "none"
        raise NotFound(
            f"no campaign {campaign_slug!r} (known: {known}); "
            "load one with `outreach campaign load FILE`"
        )
    outbox_where: tuple[Any, ...] = ()
    if campaign_slug is not None:
        outbox_where = (OutboundMessage.campaign_id == campaigns[0].id,)
    return StatusReport(
        now=now.isoformat(),
        campaigns=[_campaign_status(session, c, now) for c in campaigns],
        outbox=_outbox_figures(session, now, *outbox_where),
        beat=beat_status(session, now, beat_stale_after),
    )


# --- the broker -----------------------------------------------------------------------------


def redact_url(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


def filesystem_queue_depths(folder: Path, queues: Iterable[str] = QUEUES) -> dict[str, int]:
    """Messages waiting in Kombu's filesystem transport (one file per message)."""
    depths = dict.fromkeys(queues, 0)
    if not folder.is_dir():
        return depths
    for entry in folder.iterdir():
        # "<stamp>_<uuid>.<queue>.msg"; a queue name may itself contain dots
        if not entry.name.endswith(".msg"):
            continue
        stem = entry.name[: -len(".msg")]
        for queue in depths:
            if stem.endswith("." + queue):
                depths[queue] += 1
                break
    return depths


def redis_queue_depths(url: str, queues: Iterable[str] = QUEUES) -> dict[str, int]:
    """LLEN of each Celery queue on Redis, priority sub-queues included."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        depths: dict[str, int] = {}
        sep = "\x06\x16"  # kombu's priority separator
        for q in queues:
            keys = [q, *(f"{q}{sep}{p}" for p in range(1, 10))]
            pipe = client.pipeline()
            for key in keys:
                pipe.llen(key)
            depths[q] = int(sum(int(v) for v in pipe.execute()))
        return depths
    finally:
        client.close()


def broker_queue_depths(settings: Settings, folder: Path | None = None) -> dict[str, int | None]:
    """Depth of every queue on the configured broker; None where this broker cannot tell."""
    url = settings.resolved_broker_url()
    if url.startswith(("redis://", "rediss://")):
        return dict(redis_queue_depths(url))
    if url.startswith("filesystem"):
        return dict(filesystem_queue_depths(folder or settings.filesystem_broker_dir()))
    return dict.fromkeys(QUEUES)


def ping_workers(timeout: float = 1.0) -> list[str]:
    """Names of the Celery workers that answer a control ping within `timeout` seconds."""
    return get_publisher().ping(timeout)


def collect_status(
    session: Session,
    settings: Settings,
    now: datetime | None = None,
    campaign_slug: str | None = None,
    *,
    ask_broker: bool = True,
    ping_timeout: float = 1.0,
) -> StatusReport:
    """`gather_status` plus what only the broker knows (queue depths, workers that answer)."""
    now = now or datetime.now(UTC)
    report = gather_status(
        session,
        now,
        campaign_slug,
        beat_stale_after=timedelta(seconds=settings.beat_stale_seconds),
    )
    report.broker = redact_url(settings.resolved_broker_url())
    if not ask_broker:
        return report
    try:
        report.queues = broker_queue_depths(settings)
    except Exception as exc:  # the broker being down is a status, not a crash
        report.queues = dict.fromkeys(QUEUES)
        report.broker_error = f"{type(exc).__name__}: {exc}"
    if ping_timeout > 0:
        try:
            report.workers = ping_workers(ping_timeout)
        except Exception as exc:
            report.workers = None
            report.broker_error = report.broker_error or f"{type(exc).__name__}: {exc}"
    return report


__all__ = [
    "BEAT_HEARTBEAT",
    "QUEUES",
    "BeatStatus",
    "CampaignStatus",
    "Funnel",
    "OutboxFigures",
    "StatusReport",
    "beat_status",
    "broker_queue_depths",
    "collect_status",
    "filesystem_queue_depths",
    "format_duration",
    "gather_status",
    "ping_workers",
    "redis_queue_depths",
]
