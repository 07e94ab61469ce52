"""Delivery status notifications as Postfix writes them (RFC 3464 multipart/report).

Postfix's bounce daemon sends this to the envelope sender of the failed message: a
human-readable notice, a message/delivery-status part (per-message and per-recipient
fields) and the returned message's headers (text/rfc822-headers). Postfix's local
delivery adds Return-Path: <> and Delivered-To: <the address it was delivered to>.
"""

from __future__ import annotations

from datetime import datetime
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime


def postfix_dsn(
    *,
    recipient: str,
    bounce_to: str,
    returned_headers: str,
    when: datetime,
    queue_id: str,
    status: str = "5.1.1",
    diagnostic: str = "550 5.1.1 Recipient address rejected: User unknown",
    action: str = "failed",
    host: str = "mx1.hrn-campaign.example",
) -> bytes:
    """The bounce of one message that failed for `recipient`, delivered to `bounce_to`."""
    date = format_datetime(when)
    remote = recipient.split("@", 1)[1]
    msg = MIMEMultipart("report", report_type="delivery-status",
                        boundary=f"{queue_id}.{int(when.timestamp())}/{host}")
    msg["Return-Path"] = "<>"
    msg["Delivered-To"] = bounce_to
    msg["Received"] = f"by {host} (Postfix) id {queue_id}; {date}"
    msg["Date"] = date
    msg["From"] = f"MAILER-DAEMON@{host} (Mail Delivery System)"
    msg["Subject"] = ("Undelivered Mail Returned to Sender" if action == "failed"
                      else "Delayed Mail (still being retried)")
    msg["To"] = bounce_to
    msg["Auto-Submitted"] = "auto-replied"
    msg["Message-Id"] = f"<{when:%Y%m%d%H%M%S}.{queue_id}@{host}>"
    msg.preamble = "This is a MIME-encapsulated message."
    notice = (
        f"This is the mail system at host {host}.\n\n"
        "I'm sorry to have to inform you that your message could not\nbe delivered to one or "
        "more recipients. It's attached below.\n\nFor further assistance, please send mail to "
        "postmaster.\n\nIf you do so, please include this problem report. You can\ndelete your "
        "own text from the attached returned message.\n\n                   The mail system\n\n"
        f"<{recipient}>: host mx.{remote}[198.51.100.7] said: {diagnostic}\n"
    )
    notification = MIMEText(notice, "plain", "us-ascii")
    notification["Content-Description"] = "Notification"
    msg.attach(notification)
    status_part = MIMENonMultipart("message", "delivery-status")
    status_part["Content-Description"] = "Delivery report"
    per_message, per_recipient = Message(), Message()
    for key, value in (("Reporting-MTA", f"dns; {host}"), ("X-Postfix-Queue-ID", queue_id),
                       ("X-Postfix-Sender", f"rfc822; {bounce_to}"), ("Arrival-Date", date)):
        per_message[key] = value
    for key, value in (("Final-Recipient", f"rfc822; {recipient}"),
                       ("Original-Recipient", f"rfc822;{recipient}"), ("Action", action),
                       ("Status", status), ("Remote-MTA", f"dns; mx.{remote}"),
                       ("Diagnostic-Code", f"smtp; {diagnostic}")):
        per_recipient[key] = value
    status_part.set_payload([per_message, per_recipient])
    msg.attach(status_part)
    headers_part = MIMENonMultipart("text", "rfc822-headers")
    headers_part["Content-Description"] = "Undelivered Message Headers"
    headers_part.set_payload(returned_headers)
    msg.attach(headers_part)
    return msg.as_bytes()
