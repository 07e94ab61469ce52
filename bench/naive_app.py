"""The naive baseline for bench/send.py: one Celery task per email, a new SMTP connection each."""

from __future__ import annotations

import asyncio
import os

import aiosmtplib
from celery import Celery
from sqlalchemy.orm import selectinload

from worker.db import session_factory
from worker.mail.outgoing import prepare_contact_email
from worker.models import Invitation

app = Celery("naive", broker=os.environ["OUTREACH_BROKER_URL"])
app.conf.update(task_ignore_result=True, worker_prefetch_multiplier=4, task_acks_late=False)
SECRET = os.environ["OUTREACH_SECRET_KEY"].encode()


@app.task(name="naive.send")
def send(invitation_id: int) -> None:
    with session_factory()() as session:
        inv = session.get(
            Invitation,
            invitation_id,
            options=[selectinload(Invitation.contact), selectinload(Invitation.organisation)],
        )
        assert inv is not None
        from worker.models import Campaign, utcnow

        campaign = session.get(Campaign, inv.campaign_id)
        assert campaign is not None
        prepared = prepare_contact_email(
            campaign, inv, "invitation", 0, secret=SECRET, now=utcnow()
        )
    port = int(os.environ["BENCH_SINK_PORT"])
    asyncio.run(
        aiosmtplib.send(
            prepared.raw,
            sender=prepared.envelope_from,
            recipients=list(prepared.recipients),
            hostname="127.0.0.1",
            port=port,
            start_tls=False,
        )
    )
