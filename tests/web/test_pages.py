"""The console's pages on the seed campaign: what a lead sees and may do, a viewer may not."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from worker.actions.import_contacts import import_contacts
from worker.actions.ingest import ingest
from worker.actions.load_campaign import load_campaign
from worker.core.audit_actions import AuditAction
from worker.models import (
    AuditLog,
    Campaign,
    Contact,
    Invitation,
    Organisation,
    ReviewItem,
    Signature,
    Suppression,
)
from worker.settings import PROJECT_ROOT

from .conftest import LEAD, VIEWER, login

SEED = PROJECT_ROOT / "config" / "campaigns"
SECRET = b"test-secret-key-not-for-production"
HOSTILE = "<script>alert('pwned')</script>"


@pytest.fixture
def seed(session: Session) -> Campaign:
    load_campaign(session, SEED / "icc-2024.yaml", actor="test")
    import_contacts(session, "icc-2024", SEED / "icc-2024.contacts.csv", secret=SECRET,
                    actor="test")  # fmt: skip
    campaign = session.scalars(select(Campaign).where(Campaign.slug == "icc-2024")).one()
    campaign.state = "open"
    for invitation in session.scalars(select(Invitation)):
        invitation.state, invitation.invited_at = "invited", datetime.now(UTC) - timedelta(days=1)
    session.commit()
    return campaign


def _reply(invitation: Invitation, body: str) -> bytes:
    """A reply as a mail client writes it: to the invitation's Reply-To, quoting nothing."""
    msg = EmailMessage()
    msg["From"] = f"Office <{invitation.contact.email}>"
    msg["To"] = f"signon+{invitation.token}@hrn.example"
    msg["Subject"] = "Re: Joint letter " + HOSTILE
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="ngo.example")
    msg.set_content(body)
    return msg.as_bytes()


@pytest.fixture
def hostile_review(session: Session, seed: Campaign) -> ReviewItem:
    """A conditional answer (so: review) whose text and subject carry a script tag."""
    from worker.tasks.intake import process_now

    invitation = session.scalars(select(Invitation).order_by(Invitation.id)).first()
    assert invitation is not None
    raw = _reply(invitation, f"We would sign if our board agrees. {HOSTILE}")
    inbound_id = ingest(session, raw, source="lmtp", now=datetime.now(UTC))
    session.commit()
    assert inbound_id is not None
    process_now(inbound_id)
    item = session.scalars(select(ReviewItem).where(ReviewItem.state == "open")).first()
    assert item is not None, "a conditional answer must wait for a person"
    return item


def test_dashboard_shows_the_funnel_and_polls_its_live_part(client: TestClient, seed: Campaign
                                                            ) -> None:  # fmt: skip
    login(client, VIEWER)
    page = client.get("/c/icc-2024")
    assert page.status_code == 200
    assert re.search(r'data-figure="invited"><span class="n">0<', page.text)
    assert 'hx-get="/c/icc-2024/live"' in page.text
    live = client.get("/c/icc-2024/live")
    assert 'data-figure="silent"' in live.text and "<html" not in live.text


def test_a_script_in_a_reply_is_shown_as_text(client: TestClient, hostile_review: ReviewItem
                                              ) -> None:  # fmt: skip
    login(client, LEAD)
    page = client.get(f"/c/icc-2024/review/{hostile_review.id}")
    assert page.status_code == 200
    assert HOSTILE not in page.text
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page.text


def test_a_lead_decides_a_review_item_audited_as_themselves(
    client: TestClient, hostile_review: ReviewItem, session: Session
) -> None:
    token = login(client, LEAD)
    response = client.post(f"/c/icc-2024/review/{hostile_review.id}", data={
        "csrf_token": token, "outcome": "sign", "name": "Listed As Asked"})  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == f"/c/icc-2024/review?after={hostile_review.id}"
    session.expire_all()
    signature = session.scalars(select(Signature)).one()
    assert signature.decided_by == f"review:web:{LEAD[0]}"
    assert signature.listed_name_en == "Listed As Asked"
    audit = session.scalars(
        select(AuditLog).where(
            AuditLog.entity == "review_item", AuditLog.action == AuditAction.RESOLVED_SIGN
        )
    ).one()
    assert audit.actor == f"review:web:{LEAD[0]}"
    assert "Nothing waits" in client.get(response.headers["location"], follow_redirects=True).text


def test_a_viewer_cannot_decide_or_approve(
    client: TestClient, hostile_review: ReviewItem, session: Session
) -> None:
    token = login(client, VIEWER)
    page = client.get(f"/c/icc-2024/review/{hostile_review.id}")
    assert 'name="outcome"' not in page.text
    decided = client.post(f"/c/icc-2024/review/{hostile_review.id}",
                          data={"csrf_token": token, "outcome": "sign"})  # fmt: skip
    assert decided.status_code == 403
    approved = client.post("/c/icc-2024/approve", data={"csrf_token": token,
                                                        "message_sha256": "x"})  # fmt: skip
    assert approved.status_code == 403
    session.expire_all()
    assert session.get(ReviewItem, hostile_review.id).state == "open"  # type: ignore[union-attr]


def test_organisations_search_and_thread(client: TestClient, hostile_review: ReviewItem) -> None:
    login(client, VIEWER)
    table = client.get("/c/icc-2024/organisations", params={"q": "wam"})
    assert table.status_code == 200
    links = re.findall(r'href="/c/icc-2024/organisations/(\d+)"', table.text)
    assert len(links) == 1
    thread = client.get(f"/c/icc-2024/organisations/{links[0]}")
    assert "We would sign if our board agrees." in thread.text
    assert HOSTILE not in thread.text
    assert len(client.get("/c/icc-2024/organisations", params={"language": "en"}).text) > 0


def test_new_campaign_form_lists_the_bad_csv_row(client: TestClient, env: dict[str, str],
                                                 tmp_path: object) -> None:  # fmt: skip
    token = login(client, LEAD)
    csv = (b"org_id,name_en,name_ja,reading,language,email,person_name,domains,timezone,"
           b"coordinator\n"
           b"good,Good NGO,,,en,info@good.example,,good.example,,no\n"
           b"bad,Bad NGO,,,en,not-an-address,,,,no\n")  # fmt: skip
    form = {
        "csrf_token": token, "slug": "web-made", "lang_en": "1", "title_en": "A letter",
        "timezone": "Asia/Tokyo", "letter_en": "# A letter\n\nWe ask you to act.\n",
        "coordinators": "coordinator@hrn.example | Human Rights Now",
        "minister_en": "Minister", "minister_email": "minister@mofa.example",
        "sender_en": "Human Rights Now", "sender_address": "signon@hrn.example",
        "reply_domain": "hrn.example", "lead_email": "coordinator@hrn.example",
        "invite_at": "2030-01-10T10:00", "deadline": "2030-01-20T17:00",
        "reminders": "3 days", "quiet_start": "21:00", "quiet_end": "08:00",
        "requires_approval": "1",
    }
    response = client.post("/new", data=form, files={"contacts": ("c.csv", csv, "text/csv")})
    assert response.status_code == 200, response.text
    assert 'id="row-problems"' in response.text
    assert "row 3" in response.text and "not-an-address" in response.text
    assert "invitations +1" in response.text
    again = client.post("/new", data=form, files={"contacts": ("c.csv", csv, "text/csv")})
    assert again.status_code == 400 and "already exists" in again.text


def test_one_click_unsubscribe_is_verified_idempotent_and_needs_no_login(
    client: TestClient, seed: Campaign, session: Session
) -> None:
    invitation = session.scalars(select(Invitation).order_by(Invitation.id)).first()
    assert invitation is not None
    bad = client.post("/unsubscribe/" + "a" * 24, data={"List-Unsubscribe": "One-Click"})
    assert bad.status_code == 404
    for _ in range(2):
        done = client.post(f"/unsubscribe/{invitation.token}",
                           data={"List-Unsubscribe": "One-Click"})  # fmt: skip
        assert done.status_code == 200
    session.expire_all()
    rows = session.scalars(select(Suppression).where(Suppression.email == invitation.contact.email))
    assert len(list(rows)) == 1
    assert session.get(Invitation, invitation.id).state == "unsubscribed"  # type: ignore[union-attr]


def test_invitations_carry_the_rfc8058_header_when_a_public_url_is_set(
    seed: Campaign, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.mail.outgoing import prepare_contact_email
    from worker.settings import reset_settings

    monkeypatch.setenv("OUTREACH_PUBLIC_URL", "https://console.hrn.example")
    reset_settings()
    invitation = session.scalars(select(Invitation).order_by(Invitation.id)).first()
    assert invitation is not None
    mail = prepare_contact_email(seed, invitation, "invitation", 0, secret=SECRET,
                                 now=datetime.now(UTC))  # fmt: skip
    head = mail.raw.split(b"\r\n\r\n")[0].decode().replace("\r\n ", " ")
    assert f"<https://console.hrn.example/unsubscribe/{invitation.token}>, <mailto:" in head
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head


def test_preview_shows_each_contacts_email_before_anything_is_sent(
    client: TestClient, seed: Campaign, session: Session
) -> None:
    login(client, VIEWER)
    page = client.get("/c/icc-2024/preview")
    assert page.status_code == 200
    invitation = session.scalars(select(Invitation).order_by(Invitation.id)).first()
    assert invitation is not None
    assert invitation.contact.email in page.text
    # The text a contact reads names where to answer: their own reply address with its token.
    assert f"signon+{invitation.token}@hrn.example" in page.text
    # One per address (a second address of an organisation is shown too: it may be used).
    contacts = session.scalars(select(Contact).join(Organisation).where(
        Organisation.is_coordinator.is_(False))).all()  # fmt: skip
    assert page.text.count('class="msg msg-out"') == len(contacts) > 20
    assert client.get("/c/icc-2024/preview", params={"kind": "bogus"}).status_code == 400


def test_a_lead_retries_failed_mail_and_downloads_the_evidence(
    client: TestClient, seed: Campaign, session: Session
) -> None:
    import io
    import zipfile

    from worker.models import OutboundMessage

    invitation = session.scalars(select(Invitation).order_by(Invitation.id)).first()
    assert invitation is not None
    failed = OutboundMessage(
        campaign_id=seed.id, contact_id=invitation.contact_id, invitation_id=invitation.id,
        kind="invitation", dedupe_key="t:failed", message_id="<failed@hrn.example>",
        envelope_from="signon@hrn.example", recipients=[invitation.contact.email],
        subject="Invitation", raw=b"Subject: x\r\n\r\nx\r\n", state="failed", attempts=8,
        last_smtp_reply="550 5.1.1 mailbox unavailable",
    )  # fmt: skip
    session.add(failed)
    session.commit()
    token = login(client, LEAD)
    page = client.get("/c/icc-2024/outbox")
    assert "550 5.1.1 mailbox unavailable" in page.text
    retried = client.post(f"/c/icc-2024/outbox/{failed.id}/retry", data={"csrf_token": token})
    assert retried.status_code == 303
    session.expire_all()
    assert session.get(OutboundMessage, failed.id).state == "queued"  # type: ignore[union-attr]
    audit = session.scalars(
        select(AuditLog).where(AuditLog.action == AuditAction.MANUAL_RETRY)
    ).one()
    assert audit.actor == f"web:{LEAD[0]}"
    evidence = client.get("/c/icc-2024/evidence.zip")
    assert evidence.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(evidence.content)).namelist()
    assert any(name.endswith("signatories.csv") for name in names)
