"""5,000 hostile messages through the real LMTP listener and a real Dovecot mailbox on PostgreSQL.

    .venv/bin/python bench/hostile.py [--n 5000] [--seed 12]

Half go through LMTP, half are appended to Dovecot and read by one IMAP poll; every stored
message is then processed. The messages come from tests/support/hostile.py (truncated MIME,
lying charsets, NULs, header injection, long lines, deep nesting, spoofed From with a stolen
token, fake delivery reports, replies to another organisation's Message-ID, broken DKIM,
binary junk) with a genuine reply in every six (green.example's DKIM-signed with a key made
here). Prints the counts and exits 1 when any target is missed: 0 crashes, 0 lost, 0 forged
actions, 0 false signatures, 0 address changes without proof, the IMAP cursor at the end,
every genuine reply signed. Needs PostgreSQL (OUTREACH_TEST_PG_ADMIN_URL) and Dovecot.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "OUTREACH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NOW = datetime(2024, 5, 24, 1, 0, tzinfo=UTC)
_HEADER = "org_id,name_en,name_ja,reading,language,email,person_name,domains,timezone,coordinator"
_GREEN = "green,Green Action Japan,グリーン・アクション,ぐりーんあくしょん,en"
_KYOTO = "kyoto,Kyoto Peace Network,京都平和ネットワーク,きょうとへいわねっとわーく,ja"
CONTACTS = "\n".join([
    _HEADER,
    f"{_GREEN},info@green.example,,green.example,,no",
    f"{_GREEN},backup@green.example,,green.example,,no",
    "forest,Forest Watch,,,en,forestwatch@gmail.com,,,,no",
    f"{_KYOTO},office@kyoto-peace.example,,,,no",
    "",
])


def _world(folder: Path) -> int:
    """The seed campaign, open, one invitation queued per organisation; returns its id."""
    from worker.actions.import_contacts import import_contacts
    from worker.actions.load_campaign import load_campaign
    from worker.actions.outbox import queue_email
    from worker.core.states import CampaignState, InvitationState
    from worker.db import session_factory
    from worker.mail.outgoing import prepare_contact_email
    from worker.models import Campaign, Invitation
    from worker.settings import get_settings

    for path in (REPO / "config" / "campaigns").glob("icc-2024*"):
        shutil.copy(path, folder / path.name)
    (folder / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    secret = get_settings().secret()
    with session_factory()() as session:
        load_campaign(session, folder / "icc-2024.yaml")
        import_contacts(session, "icc-2024", folder / "contacts.csv", secret=secret)
        campaign = session.scalars(select(Campaign).where(Campaign.slug == "icc-2024")).one()
        campaign.state = CampaignState.OPEN.value
        for invitation in session.scalars(
            select(Invitation).where(Invitation.campaign_id == campaign.id)
        ):
            prepared = prepare_contact_email(campaign, invitation, "invitation", 0,
                                             secret=secret, now=NOW)
            queue_email(session, campaign_id=campaign.id, kind="invitation", sequence=0,
                        prepared=prepared, contact_id=invitation.contact_id,
                        invitation_id=invitation.id)
            invitation.state = InvitationState.INVITED.value
            invitation.invited_at = NOW - timedelta(days=2)
        session.commit()
        return campaign.id


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()

    from worker import migrate

    name = f"outreach_hostile_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    tmp = Path(tempfile.mkdtemp(prefix="outreach-hostile-"))
    server = None
    try:
        migrate.upgrade(url)
        os.environ.update(OUTREACH_DATABASE_URL=url, OUTREACH_DATA_DIR=str(tmp / "data"),
                          OUTREACH_SECRET_KEY="bench-hostile-key")  # noqa: S106 (a throwaway DB)
        from worker.settings import get_settings, reset_settings

        reset_settings()
        folder = tmp / "campaign"
        folder.mkdir()
        campaign_id = _world(folder)

        from support.dovecot import start_dovecot
        from support.hostile import Generator
        from support.hostile_run import (
            Counts,
            deliver_imap,
            deliver_lmtp,
            process_all,
            tally,
            targets_of,
        )

        from worker.db import session_factory
        from worker.mail import authenticate
        from worker.settings import ImapTarget

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        zone = {b"mail2024._domainkey.green.example.":
                b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)}
        authenticate.txt_lookup = lambda name, timeout=5: zone.get(name)

        sessions = session_factory(url)
        with sessions() as session:
            targets = targets_of(session, campaign_id)
        messages = list(Generator(targets, seed=args.seed,
                                  sign_key=(private, "mail2024", "green.example"))
                        .messages(args.n))
        half = len(messages) // 2
        counts = Counts()
        started = time.monotonic()
        deliver_lmtp(sessions, messages[:half], NOW, counts)
        server = start_dovecot(tmp / "dovecot")
        target = ImapTarget(host="127.0.0.1", port=server.port, username=server.user,
                            password=server.password, ssl=False)
        refused = deliver_imap(sessions, messages[half:], target, NOW, counts)
        stored_at = time.monotonic()
        actions = process_all(sessions, get_settings().secret(), NOW, counts)
        done_at = time.monotonic()
        tally(sessions, messages, actions, counts, refused)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        from worker.db import reset_engines

        reset_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    print(f"hostile mail: {counts.sent} messages ({half} LMTP, {counts.sent - half} IMAP), "
          f"stored in {stored_at - started:.0f} s, processed in {done_at - stored_at:.0f} s")
    by_kind: dict[str, int] = {}
    for message in messages:
        by_kind[message.kind] = by_kind.get(message.kind, 0) + 1
    print("kinds:", by_kind)
    print("row states:", dict(counts.states))
    print("outcomes (kind:action):", dict(sorted(counts.actions.items())))
    targets_met = {
        "crashes == 0": counts.crashes == 0,
        "lost == 0 (stored or quarantined)": counts.lost == 0 and counts.left_stored == 0,
        "LMTP answered 250 to all": counts.lmtp_not_250 == 0,
        "forged messages that acted == 0": counts.false_actions == 0,
        "false signatures == 0": counts.false_signatures == 0,
        "addresses bounced/suppressed without proof == 0": counts.unproven_address_changes == 0,
        "IMAP cursor passed every message": counts.imap_cursor_behind == 0,
        "genuine replies signed": counts.genuine_signed == counts.genuine > 0,
    }
    print(f"stored {counts.stored}, quarantined {counts.quarantined}, lost {counts.lost}, "
          f"crashes {counts.crashes}, forged-acted {counts.false_actions}, false signatures "
          f"{counts.false_signatures}, unproven address changes "
          f"{counts.unproven_address_changes}, genuine {counts.genuine_signed}/{counts.genuine} "
          f"signed, refused by Dovecot itself {counts.imap_refused_by_server}")
    for label, ok in targets_met.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    for line in counts.examples[:20]:
        print("   ", line)
    return 0 if all(targets_met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
