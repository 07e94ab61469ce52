"""Every audit log action, named once: the strings stored in `audit_log.action`.

The values are evidence: rows are never rewritten and signed evidence manifests already quote
them, so a value never changes, whatever its spelling (dotted, snake, kebab or `resolved:`).
A new action is a new member; a member is never renamed or reused for another meaning.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class AuditAction(StrEnum):
    """An `audit_log.action`; the comment says when each is written (entity: moment)."""

    # campaign
    CAMPAIGN_CREATED = "campaign.created"  # campaign: its file loaded for the first time
    CAMPAIGN_UPDATED = "campaign.updated"  # campaign: its file loaded again over it
    START = "start"  # campaign: `campaign start`, draft -> open
    PAUSE = "pause"  # campaign: `campaign pause`, open -> paused
    RESUME = "resume"  # campaign: `campaign resume`, paused -> open
    DEADLINE_PASSED = "deadline_passed"  # campaign: the scan closes it at its deadline
    LETTER_PREVIEWED = "letter.previewed"  # campaign: a lead was shown the signatory list
    FINAL_LETTER_AWAITING_APPROVAL = "final_letter.awaiting_approval"  # campaign: letter held
    FINAL_LETTER_QUEUED = "final_letter.queued"  # campaign: -> delivering, no approval needed
    FINAL_LETTER_APPROVED = "final_letter.approved"  # campaign: a lead approved the letter
    FINAL_LETTER_DELIVERED = "final_letter.delivered"  # campaign: the letter was sent
    # outbound message
    FINAL_LETTER_PREPARED = "final_letter.prepared"  # outbox: the final letter built, queued
    FINAL_LETTER_REBUILT = "final_letter.rebuilt"  # outbox: held letter rebuilt, list changed
    AWAITING_APPROVAL = "awaiting_approval"  # outbox: final letter queued -> held for approval
    APPROVED = "approved"  # outbox: held final letter -> queued on approval
    RESOLVED_SENT = "resolved_sent"  # outbox: `outbox resolve --sent`, held -> sent
    RESOLVED_RESEND = "resolved_resend"  # outbox: `outbox resolve --resend`, held -> queued
    MANUAL_RETRY = "manual_retry"  # outbox: `outbox retry`, failed -> queued
    SUPPRESSED = "suppressed"  # outbox: a recipient is on the suppression list
    SEND_FAILED = "send_failed"  # outbox: the relay's answer ended the row (-> failed)
    LEASE_EXPIRED_HELD = "lease_expired_held"  # outbox: sender died; final letter -> held
    RETRY_WINDOW_PASSED = "retry_window_passed"  # outbox: sender died, too late -> failed
    # invitation
    INVITATION_CREATED = "invitation.created"  # invitation: made by a contacts import
    CREATED_AFTER_BOUNCE = "created-after-bounce"  # invitation: to the next address
    INVITED = "invited"  # invitation: pending -> invited, its invitation queued
    REMINDED = "reminded"  # invitation: a reminder queued
    REMIND_NOT_BEFORE = "remind-not-before"  # invitation: an auto-reply's return date
    SIGNED = "signed"  # invitation -> signed; signature: first made
    DECLINED = "declined"  # invitation -> declined
    DECLINED_LATE = "declined-late"  # invitation -> declined by a reply after the deadline
    WITHDRAWN = "withdrawn"  # invitation -> withdrawn; signature: active -> withdrawn
    UNSUBSCRIBED = "unsubscribed"  # invitation -> unsubscribed; suppression: for that reason
    QUESTION = "question"  # invitation -> question (forwarded to the lead)
    BOUNCED = "bounced"  # invitation -> bounced; contact: address bounced; suppression: reason
    SMTP_REJECTED = "smtp_rejected"  # invitation -> bounced: the relay refused (5xx)
    REPLACED = "replaced"  # invitation -> replaced by one to the organisation's next address
    # signature
    SIGNED_AGAIN = "signed-again"  # signature: withdrawn -> active
    CONFIRMED = "confirmed"  # signature: another contact of a signed organisation agreed
    RENAMED = "renamed"  # signature: its listed name changed
    # contact, organisation (contacts import, readings)
    BOUNCE_DEFERRED = "bounce-deferred"  # contact: a transient bounce
    CONTACT_CREATED = "contact.created"  # contact: made by a contacts import
    CONTACT_UPDATED = "contact.updated"  # contact: changed by a contacts import
    ORGANISATION_CREATED = "organisation.created"  # organisation: made by a contacts import
    ORGANISATION_UPDATED = "organisation.updated"  # organisation: changed by a contacts import
    READING_CONFIRMED = "reading.confirmed"  # organisation: a lead set its name's reading
    # review item
    OPENED = "opened"  # review item: opened for a person
    RESOLVED_SIGN = "resolved:sign"  # review item: resolved as a signature
    RESOLVED_DECLINE = "resolved:decline"  # review item: resolved as declining
    RESOLVED_QUESTION = "resolved:question"  # review item: kept as a question
    RESOLVED_UNSUBSCRIBE = "resolved:unsubscribe"  # review item: resolved as unsubscribing
    RESOLVED_IGNORE = "resolved:ignore"  # review item: nothing to do
    # inbound message, mailbox
    STORED = "stored"  # inbound: a received message stored
    STORED_DUPLICATE = "stored-duplicate"  # inbound: stored, a Message-ID seen before
    UIDVALIDITY_CHANGED = "uidvalidity-changed"  # mailbox cursor: IMAP UIDs restarted
    # web user
    USER_CREATED = "user.created"  # web user: `user add` made the account
    USER_UPDATED = "user.updated"  # web user: `user add` set a new password and role


def resolved(outcome: str) -> AuditAction:
    """The action of a review item resolved as `outcome` (a review `Resolution`: sign, decline,
    question, unsubscribe, ignore): `resolved:<outcome>`. Any other outcome is a ValueError."""
    return AuditAction(f"resolved:{outcome}")
