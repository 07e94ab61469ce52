"""Typed SQLAlchemy models: the database is the source of truth for every campaign."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from worker.core.states import (
    AddressState,
    CampaignState,
    InboundState,
    InvitationState,
    OutboxState,
    ReviewState,
    SignatureState,
    check_sql,
)

# The base, its naming convention and the UTC datetime type live in model_base.py; these
# names stay importable from here (migrations refer to worker.models.UTCDateTime).
from worker.model_base import NAMING as NAMING
from worker.model_base import Base as Base
from worker.model_base import UTCDateTime as UTCDateTime
from worker.model_base import utcnow as utcnow


class Campaign(Base):
    __tablename__ = "campaign"
    __table_args__ = (CheckConstraint(check_sql("state", CampaignState), name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32), default=CampaignState.DRAFT.value, index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    languages: Mapped[list[Any]] = mapped_column(default=list)
    invite_at: Mapped[datetime]
    deadline: Mapped[datetime] = mapped_column(index=True)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=True)
    # The validated definition file as loaded (coordinators, ministry, sender, schedule, ...).
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    definition_hash: Mapped[str] = mapped_column(String(64))
    # Hash of the letter texts NGOs are asked to sign; each signature records the one it answers.
    letter_hash: Mapped[str] = mapped_column(String(64))
    source_path: Mapped[str | None] = mapped_column(Text)
    frozen_at: Mapped[datetime | None]  # signatory list frozen at the deadline
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organisations: Mapped[list[Organisation]] = relationship(back_populates="campaign")


class Organisation(Base):
    __tablename__ = "organisation"
    __table_args__ = (UniqueConstraint("campaign_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))  # stable id from the CSV (`org_id`)
    name_en: Mapped[str | None] = mapped_column(Text)
    name_ja: Mapped[str | None] = mapped_column(Text)
    reading: Mapped[str | None] = mapped_column(Text)  # kana reading of name_ja, for gojūon order
    reading_source: Mapped[str | None] = mapped_column(String(20))  # "file" or "analyser"
    language: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: the campaign's
    domains: Mapped[list[Any]] = mapped_column(default=list)  # mail domains of the organisation
    aliases: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")  # other names
    reading_confirmed_by: Mapped[str | None] = mapped_column(Text)  # who confirmed `reading`
    is_coordinator: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="organisations")
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="organisation", order_by="Contact.position"
    )


class Contact(Base):
    """One address of an organisation; the lowest `position` is tried first."""

    __tablename__ = "contact"
    # ix_contact_email: intake finds a reply's sender among every campaign's contacts.
    __table_args__ = (
        UniqueConstraint("campaign_id", "email"),
        Index("ix_contact_email", "email"),
        CheckConstraint(check_sql("address_state", AddressState), name="address_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    person_name: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="en")
    position: Mapped[int] = mapped_column(Integer, default=0)
    address_state: Mapped[str] = mapped_column(String(20), default=AddressState.OK.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="contacts")


class Invitation(Base):
    """The invitation of one contact; its token routes every reply and bounce back here."""

    __tablename__ = "invitation"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        CheckConstraint(check_sql("state", InvitationState), name="state"),
        # The due-scan reads only pending rows, or invited rows short of a reminder number.
        Index("ix_invitation_due", "campaign_id", "state", "reminders_sent"),
        Index("ix_invitation_dispatch", "dispatch_until"),  # handed out and not yet taken
        Index("ix_invitation_contact", "contact_id"),  # a reply found by its sender's address
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(20), default=InvitationState.PENDING.value)
    language: Mapped[str] = mapped_column(String(8))
    invited_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None]
    remind_not_before: Mapped[datetime | None]  # auto-reply said "back on ..."
    # Handed to a "scan.invite"/"scan.remind" task: the due-scan skips it until then.
    dispatch_until: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact] = relationship()
    organisation: Mapped[Organisation] = relationship()


class OutboundMessage(Base):
    """The outbox: every email is a row, with its Message-ID, before any SMTP call."""

    __tablename__ = "outbound_message"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        CheckConstraint(check_sql("state", OutboxState), name="state"),
        Index("ix_outbound_due", "state", "next_attempt_at"),
        Index("ix_outbound_lease", "state", "lease_until"),
        Index("ix_outbound_invitation", "invitation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitation.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(32))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # "<campaign>:<contact or ->:<kind>:<sequence>" -- the unique key that prevents duplicates.
    dedupe_key: Mapped[str] = mapped_column(String(300))
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    language: Mapped[str | None] = mapped_column(String(8))
    envelope_from: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[Any]] = mapped_column(default=list)  # envelope recipients
    subject: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)  # the exact MIME bytes to send
    # The text/plain parts of `raw`, decoded, as reading `raw` gives them (reply_lookups.texts_of):
    # a reply's quote of our email is matched against them. SQL NULL (None is stored as NULL,
    # not as JSON null): read them from `raw`.
    texts: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))
    state: Mapped[str] = mapped_column(String(20), default=OutboxState.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Temporary failures are retried until this + the retry window, then the row fails.
    first_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    last_smtp_code: Mapped[int | None] = mapped_column(Integer)
    last_smtp_reply: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboundMessage(Base):
    """A received email, stored raw before anything else happens to it."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        UniqueConstraint("sha256"),
        # The messages waiting to be processed (a batch takes the oldest; the sweep finds lost
        # ones) are a few among everything ever received: a partial index holds only them.
        Index(
            "ix_inbound_stored",
            "id",
            postgresql_where=text("state = 'stored'"),
            sqlite_where=text("state = 'stored'"),
        ),
        CheckConstraint(check_sql("state", InboundState), name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(20))  # imap / lmtp / cli
    mailbox: Mapped[str | None] = mapped_column(String(300))
    uidvalidity: Mapped[int | None] = mapped_column(Integer)
    uid: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default=InboundState.STORED.value)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="SET NULL"))
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitation.id", ondelete="SET NULL")
    )
    match_method: Mapped[str | None] = mapped_column(String(40))
    from_addr: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    auth_results: Mapped[str | None] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(20))
    classification: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    is_late: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]


class Signature(Base):
    """One organisation's consent, with the evidence that proves it."""

    __tablename__ = "signature"
    __table_args__ = (
        UniqueConstraint("campaign_id", "organisation_id"),
        CheckConstraint(check_sql("state", SignatureState), name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"))
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitation.id", ondelete="SET NULL")
    )
    inbound_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_message.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(20), default=SignatureState.ACTIVE.value)
    listed_name_en: Mapped[str | None] = mapped_column(Text)  # as the NGO asked to be listed
    listed_name_ja: Mapped[str | None] = mapped_column(Text)
    listed_reading: Mapped[str | None] = mapped_column(Text)  # reading of listed_name_ja (lead)
    from_addr: Mapped[str | None] = mapped_column(String(320))
    reply_message_id: Mapped[str | None] = mapped_column(String(998))
    received_at: Mapped[datetime | None]
    auth_results: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(Text)  # the classifier rule, or "review:<who>"
    letter_hash: Mapped[str] = mapped_column(String(64))
    is_late: Mapped[bool] = mapped_column(Boolean, default=False)
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship()


class ReviewItem(Base):
    """Something a campaign lead must look at: unclear replies, questions, failed checks."""

    __tablename__ = "review_item"
    __table_args__ = (CheckConstraint(check_sql("state", ReviewState), name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    inbound_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_message.id", ondelete="CASCADE")
    )
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitation.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default=ReviewState.OPEN.value, index=True)
    resolution: Mapped[str | None] = mapped_column(String(40))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suppression(Base):
    """Addresses that must get no further mail (unsubscribed, permanently bounced)."""

    __tablename__ = "suppression"
    __table_args__ = (UniqueConstraint("email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailboxCursor(Base):
    """How far the IMAP poller has read a mailbox (UIDVALIDITY + last UID)."""

    __tablename__ = "mailbox_cursor"

    mailbox: Mapped[str] = mapped_column(String(300), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(Integer)
    last_uid: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Heartbeat(Base):
    """Beat and other loops write here; `outreach status` and `health` read the age."""

    __tablename__ = "heartbeat"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AuditLog(Base):
    """Every state change, who or what made it, and why."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The new row an entry is about, while it has no id yet: the flush inserts that row first
    # and fills entity_id from it, so recording an event never costs a flush of its own (an
    # intake batch writes its signatures and their audit in one INSERT each).
    signature_row: Mapped[Signature | None] = relationship(
        primaryjoin="and_(foreign(AuditLog.entity_id) == Signature.id, "
        "AuditLog.entity == 'signature')",
    )


class WebUser(Base):
    """A person who may log in to the web console; `lead` decides, `viewer` only looks."""

    __tablename__ = "web_user"
    __table_args__ = (
        UniqueConstraint("email"),
        CheckConstraint("role IN ('lead', 'viewer')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, with its own salt and cost
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LoginAttempt(Base):
    """One login try, kept a while so repeated failures slow an attacker in every process."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    client: Mapped[str] = mapped_column(String(100))  # the remote address
    ok: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(index=True)
