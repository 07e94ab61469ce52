"""Fixtures for the ops tests: a small campaign built row by row, and a CLI runner."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from worker.core.states import InvitationState, OutboxState
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

# Same variables as tests/conftest.py (each engineer's tests use their own Redis DB).
REDIS_URL = os.environ.get(
    "OUTREACH_TEST_REDIS_URL",
    f"redis://127.0.0.1:6379/{int(os.environ.get('OUTREACH_TEST_REDIS_DB', '15'))}",
)


@dataclass
class Built:
    campaign: Campaign
    invitations: list[Invitation] = field(default_factory=list)


class CampaignBuilder:
    """Creates a campaign's rows the way the real actions leave them, one step at a time."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.now = datetime.now(UTC)  # the CLI reads the real clock, so the rows do too
        self._seq = 0

    def campaign(
        self, slug: str, n_orgs: int, *, deadline: datetime, tz: str = "Asia/Tokyo"
    ) -> Built:
        campaign = Campaign(
            slug=slug,
            title=f"Campaign {slug}",
            state="open",
            timezone=tz,
            languages=["en", "ja"],
            invite_at=deadline - timedelta(days=14),
            deadline=deadline,
            requires_approval=False,
            definition={},
            definition_hash="d" * 64,
            letter_hash="l" * 64,
        )
        self.session.add(campaign)
        self.session.flush()
        built = Built(campaign)
        for i in range(n_orgs):
            org = Organisation(campaign_id=campaign.id, key=f"{slug}-org{i}", name_en=f"Org {i}")
            self.session.add(org)
            self.session.flush()
            contact = Contact(
                campaign_id=campaign.id, organisation_id=org.id, email=f"c{i}@{slug}.example"
            )
            self.session.add(contact)
            self.session.flush()
            invitation = Invitation(
                campaign_id=campaign.id,
                organisation_id=org.id,
                contact_id=contact.id,
                token=f"{slug}-tok{i}",
                language="en",
            )
            self.session.add(invitation)
            built.invitations.append(invitation)
        self.session.commit()
        return built

    def outbox(
        self,
        invitation: Invitation,
        kind: str,
        state: OutboxState,
        *,
        next_attempt_at: datetime | None = None,
        lease_until: datetime | None = None,
    ) -> OutboundMessage:
        self._seq += 1
        row = OutboundMessage(
            campaign_id=invitation.campaign_id,
            contact_id=invitation.contact_id,
            invitation_id=invitation.id,
            kind=kind,
            sequence=self._seq,
            dedupe_key=f"{invitation.campaign_id}:{invitation.contact_id}:{kind}:{self._seq}",
            message_id=f"<{kind}.{self._seq}.{invitation.token}@test.example>",
            envelope_from="bounce@test.example",
            recipients=["x@test.example"],
            state=state.value,
            next_attempt_at=next_attempt_at or self.now - timedelta(minutes=1),
            lease_until=lease_until,
        )
        self.session.add(row)
        self.session.commit()
        return row

    def answer(self, invitation: Invitation, state: InvitationState) -> None:
        invitation.state = state.value
        if state == InvitationState.SIGNED:
            self.session.add(
                Signature(
                    campaign_id=invitation.campaign_id,
                    organisation_id=invitation.organisation_id,
                    invitation_id=invitation.id,
                    decided_by="test",
                    letter_hash="l" * 64,
                )
            )
        if state == InvitationState.QUESTION:
            self.session.add(
                ReviewItem(
                    campaign_id=invitation.campaign_id,
                    invitation_id=invitation.id,
                    reason="question",
                )
            )
        self.session.commit()

    def beat(self, at: datetime) -> None:
        row = self.session.get(Heartbeat, "beat")
        if row is None:
            self.session.add(Heartbeat(name="beat", at=at))
        else:
            row.at = at
        self.session.commit()


@pytest.fixture
def builder(session: Session) -> CampaignBuilder:
    return CampaignBuilder(session)


@pytest.fixture
def cli() -> Callable[..., tuple[int, str]]:
    """Run `outreach ARGS...` in-process; returns (exit code, stdout)."""
    import worker.cli.ops  # noqa: F401  (registers status/health/metrics)
    from worker.cli.apps import app

    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return run
