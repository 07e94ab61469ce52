"""The evidence folder of a campaign: per organisation every message to and from it, its state
history and who decided each step, the letter versions it agreed to, the final PDFs, and a
manifest with the SHA-256 of every file, signed with the campaign's Ed25519 key.

Layout (all paths relative to DIR):
  manifest.json                  files -> sha256, the signatory list, the key, the signature
  signatory-list.json            the one list every output rendered (count, hash, both orders)
  signatories.csv                one consent record a line (spreadsheet-safe cells)
  campaign/audit.json            campaign-level steps: prepared, approved (by whom), delivered
  letter/letter_text.json        the letter texts NGOs agreed to; letter/HASH-RECIPE.txt
  final/*.pdf, final/final-letter.eml   exactly what the ministry got (when prepared)
  organisations/<key>/organisation.json, history.json, messages/{in,out}-<id>.eml
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from worker.actions.deliver import attached_pdfs, final_row
from worker.actions.evidence_check import MANIFEST, canonical
from worker.actions.letter import build_signatories
from worker.core.untrusted import spreadsheet_cell
from worker.errors import UserError
from worker.models import (
    AuditLog,
    Campaign,
    Contact,
    InboundMessage,
    Invitation,
    Organisation,
    OutboundMessage,
    Signature,
)

HASH_RECIPE = (
    "letter_hash = SHA-256 (hex) of the UTF-8 bytes of the canonical JSON of letter_text.json:\n"
    "  json.dumps(letter_text, sort_keys=True, ensure_ascii=False, separators=(',', ':'))\n"
    "Every signature records the letter_hash of the text the organisation was invited to sign.\n"
)
CSV_COLUMNS = (
    "organisation_key",
    "organisation_name_en",
    "organisation_name_ja",
    "listed_name_en",
    "listed_name_ja",
    "signature_state",
    "on_letter_en",
    "on_letter_ja",
    "from",
    "reply_message_id",
    "received_at_utc",
    "received_by_our_server_utc",
    "authentication_results",
    "decided_by",
    "letter_hash",
    "letter_hash_matches_campaign",
    "is_late",
    "signed_at_utc",
    "withdrawn_at_utc",
    "inbound_message_id",
    "raw_reply_file",
)


@dataclass(frozen=True)
class EvidenceExport:
    folder: Path
    files: int
    organisations: int
    signatures: int
    public_key: str  # base64 of the raw Ed25519 public key


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else ""


def _audit_entry(r: AuditLog) -> dict[str, Any]:
    """One audit row as the evidence files show it (`decided_by` is the row's actor)."""
    return {
        "at": _iso(r.at),
        "decided_by": r.actor,
        "entity": r.entity,
        "entity_id": r.entity_id,
        "action": r.action,
        "from_state": r.from_state,
        "to_state": r.to_state,
        "detail": r.detail,
    }


def received_by_our_server(raw: bytes) -> datetime | None:
    """The date of the top Received: header: when our own MTA accepted the message (not when
    the poller fetched it)."""
    message = message_from_bytes(raw, policy=policy.compat32)
    for header in message.get_all("Received") or []:
        _, _, when = str(header).rpartition(";")
        try:
            return parsedate_to_datetime(when.strip())
        except (TypeError, ValueError):
            return None
    return None


def campaign_key(slug: str, keys_dir: Path) -> Ed25519PrivateKey:
    """The campaign's signing key, created once and kept (mode 0600) under keys_dir."""
    path = keys_dir / f"{slug}.ed25519.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise UserError(f"{path}: not an Ed25519 private key")
        return key
    keys_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def _public(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "_"


def _history(session: Session, campaign: Campaign, org: Organisation) -> list[dict[str, Any]]:
    """Audit entries about the organisation, its contacts, invitations and signature."""
    ids = {
        "organisation": [org.id],
        "contact": list(
            session.scalars(select(Contact.id).where(Contact.organisation_id == org.id))
        ),
        "invitation": list(
            session.scalars(select(Invitation.id).where(Invitation.organisation_id == org.id))
        ),
        "signature": list(
            session.scalars(select(Signature.id).where(Signature.organisation_id == org.id))
        ),
    }
    clauses = [(AuditLog.entity == entity) & AuditLog.entity_id.in_(v) for entity, v in ids.items()]
    rows = session.scalars(
        select(AuditLog)
        .where(AuditLog.campaign_id == campaign.id, or_(*clauses))
        .order_by(AuditLog.at, AuditLog.id)
    )
    return [_audit_entry(r) for r in rows]


def export_evidence(
    session: Session, campaign: Campaign, out_dir: Path, *, keys_dir: Path, now: datetime
) -> EvidenceExport:
    """Write the evidence folder of `campaign` into `out_dir` (created; must be empty)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out}: the folder is not empty; give a new folder for the evidence")
    files: dict[str, bytes] = {}
    signatories = build_signatories(session, campaign)
    en, ja = set(signatories.organisation_ids), set(signatories.organisation_ids)
    files["signatory-list.json"] = canonical(
        {
            "count": signatories.count,
            "hash": signatories.digest(),
            "en": [[o.organisation_id, o.name_en] for o in signatories.ordered("en")],
            "ja": [[o.organisation_id, o.name_ja] for o in signatories.ordered("ja")],
        }
    )
    letter_text = (campaign.definition or {}).get("letter_text") or {}
    files["letter/letter_text.json"] = canonical(letter_text)
    files["letter/HASH-RECIPE.txt"] = HASH_RECIPE.encode()
    for lang, text in sorted(letter_text.items()):
        files[f"letter/letter.{_safe(lang)}.md"] = str(text).encode()
    final = final_row(session, campaign.id)
    if final is not None and final.raw is not None:
        files["final/final-letter.eml"] = final.raw
        for name, pdf in attached_pdfs(final.raw).items():
            files[f"final/{_safe(name)}"] = pdf
    campaign_audit = session.scalars(
        select(AuditLog)
        .where(
            AuditLog.campaign_id == campaign.id,
            AuditLog.entity.in_(["campaign", "outbound_message"]),
        )
        .order_by(AuditLog.at, AuditLog.id)
    )
    files["campaign/audit.json"] = canonical([_audit_entry(r) for r in campaign_audit])

    rows: list[list[object]] = []
    organisations = session.scalars(
        select(Organisation)
        .where(Organisation.campaign_id == campaign.id)
        .order_by(Organisation.key)
    ).all()
    for org in organisations:
        base = f"organisations/{_safe(org.key)}"
        signature = session.scalars(
            select(Signature).where(Signature.organisation_id == org.id)
        ).first()
        files[f"{base}/organisation.json"] = canonical(
            {
                "key": org.key,
                "name_en": org.name_en,
                "name_ja": org.name_ja,
                "aliases": org.aliases or [],
                "domains": org.domains or [],
                "reading": org.reading,
                "reading_source": org.reading_source,
                "reading_confirmed_by": org.reading_confirmed_by,
                "coordinator": org.is_coordinator,
                "on_letter": {"en": org.id in en, "ja": org.id in ja},
                "agreed_letter_hash": signature.letter_hash if signature else None,
                "agreed_to_the_letter_text_here": bool(
                    signature and signature.letter_hash == campaign.letter_hash
                ),
            }
        )
        files[f"{base}/history.json"] = canonical(_history(session, campaign, org))
        invitation_ids = list(
            session.scalars(select(Invitation.id).where(Invitation.organisation_id == org.id))
        )
        contact_ids = list(
            session.scalars(select(Contact.id).where(Contact.organisation_id == org.id))
        )
        for message in session.scalars(
            select(OutboundMessage)
            .where(
                or_(
                    OutboundMessage.invitation_id.in_(invitation_ids),
                    OutboundMessage.contact_id.in_(contact_ids),
                )
            )
            .order_by(OutboundMessage.id)
        ):
            if message.raw is not None:
                files[f"{base}/messages/out-{message.id}-{_safe(message.kind)}.eml"] = message.raw
        received: dict[int, datetime | None] = {}
        for inbound in session.scalars(
            select(InboundMessage)
            .where(
                or_(
                    InboundMessage.invitation_id.in_(invitation_ids),
                    InboundMessage.id == (signature.inbound_message_id if signature else None),
                )
            )
            .order_by(InboundMessage.id)
        ):
            files[f"{base}/messages/in-{inbound.id}.eml"] = inbound.raw
            received[inbound.id] = received_by_our_server(inbound.raw)
            files[f"{base}/messages/in-{inbound.id}.json"] = canonical(
                {
                    "fetched_at": _iso(inbound.received_at),
                    "received_by_our_server": _iso(received[inbound.id]),
                    "from": inbound.from_addr,
                    "authentication_results": inbound.auth_results,
                    "our_verification": {  # our own checks (DKIM by dkimpy, the policy)
                        key: (inbound.classification or {}).get(key)
                        for key in ("verification", "authentication", "dkim", "match")
                    },
                    "classification": inbound.classification,
                    "intent": inbound.intent,
                    "match_method": inbound.match_method,
                    "is_late": inbound.is_late,
                }
            )
        if signature is not None:
            rows.append(
                [
                    org.key,
                    org.name_en or "",
                    org.name_ja or "",
                    signature.listed_name_en or "",
                    signature.listed_name_ja or "",
                    signature.state,
                    "yes" if org.id in en else "no",
                    "yes" if org.id in ja else "no",
                    signature.from_addr or "",
                    signature.reply_message_id or "",
                    _iso(signature.received_at),
                    _iso(received.get(signature.inbound_message_id or -1)),
                    signature.auth_results or "",
                    signature.decided_by,
                    signature.letter_hash,
                    "yes" if signature.letter_hash == campaign.letter_hash else "no",
                    "yes" if signature.is_late else "no",
                    _iso(signature.signed_at),
                    _iso(signature.withdrawn_at),
                    signature.inbound_message_id or "",
                    f"{base}/messages/in-{signature.inbound_message_id}.eml"
                    if signature.inbound_message_id in received
                    else "",
                ]
            )
    table = _csv([list(CSV_COLUMNS), *rows])
    files["signatories.csv"] = table

    key = campaign_key(campaign.slug, keys_dir)
    manifest: dict[str, Any] = {
        "campaign": campaign.slug,
        "created_at": _iso(now),
        "letter_hash": campaign.letter_hash,
        "signatory_count": signatories.count,
        "signatory_list_hash": signatories.digest(),
        "algorithm": "sha256 of each file; Ed25519 over the canonical JSON of this manifest "
        "without its 'signature' field",
        "public_key": _public(key),
        "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
    }
    manifest["signature"] = base64.b64encode(key.sign(canonical(manifest))).decode()
    for path, data in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (out / MANIFEST).write_bytes(json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    return EvidenceExport(
        out, len(files) + 1, len(organisations), len(rows), manifest["public_key"]
    )


def _csv(rows: list[list[object]]) -> bytes:
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([spreadsheet_cell(cell) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")  # BOM: Excel reads it as UTF-8
