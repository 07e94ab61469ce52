"""Every kind of email the service writes, named once (outbox rows, templates, dedupe keys)."""

from __future__ import annotations

from enum import StrEnum


class EmailKind(StrEnum):
    """An outbox row's `kind`; also the folder of its templates (templates/email/<kind>/)."""

    INVITATION = "invitation"
    REMINDER = "reminder"
    ACKNOWLEDGEMENT = "acknowledgement"  # to a signatory: what they signed, under which name
    LATE_REPLY = "late_reply"  # to an answer after the deadline
    QUESTION_FORWARD = "question_forward"  # to the lead
    BOUNCE_REPORT = "bounce_report"  # to the lead
    FINAL_LETTER = "final_letter"  # to the ministry
    DELIVERED_NOTICE = "delivered_notice"  # to the signatories, once the letter went out


# Mail to an invited contact about the invitation itself: a permanent failure ends the address.
INVITING_KINDS = frozenset({EmailKind.INVITATION, EmailKind.REMINDER})
# Mail to a contact (rendered with the contact's context), and mail to the lead.
CONTACT_KINDS = (
    EmailKind.INVITATION,
    EmailKind.REMINDER,
    EmailKind.ACKNOWLEDGEMENT,
    EmailKind.LATE_REPLY,
)
LEAD_KINDS = (EmailKind.QUESTION_FORWARD, EmailKind.BOUNCE_REPORT)
