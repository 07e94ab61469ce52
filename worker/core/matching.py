"""Which invitation a received message answers, and whether its sender may speak for it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from worker.core.authentication import (
    Authentication,
    DkimCheck,
    UnauthenticatedReplies,
    judge,
)
from worker.core.tokens import find_tokens

# Shared mail services: an address there says nothing about which organisation sent it.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.jp",
        "ymail.com",
        "rocketmail.com",
        "outlook.com",
        "outlook.jp",
        "hotmail.com",
        "hotmail.co.jp",
        "hotmail.co.uk",
        "live.com",
        "live.jp",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "126.com",
        "naver.com",
        "fastmail.com",
        "tutanota.com",
        "posteo.de",
        "docomo.ne.jp",
        "ezweb.ne.jp",
        "au.com",
        "softbank.ne.jp",
        "i.softbank.jp",
        "nifty.com",
        "biglobe.ne.jp",
        "ocn.ne.jp",
        "so-net.ne.jp",
        "plala.or.jp",
        "dion.ne.jp",
        "excite.co.jp",
        "infoseek.jp",
        "livedoor.com",
    }
)

# The recipient headers searched for a token, in the order they are trusted.
RECIPIENT_HEADERS = ("delivered-to", "x-original-to", "to", "cc")


@dataclass(frozen=True)
class OurMessage:
    """One of our sent messages, found by its Message-ID."""

    invitation_id: int
    kind: str


@dataclass(frozen=True)
class Match:
    """The invitation a message answers (None: unmatched) and how it was found."""

    invitation_id: int | None
    method: str | None  # "token:<header>", "in-reply-to", "references", "sender", ...
    answers_kind: str | None  # kind of our message it replies to, when found by Message-ID
    reasons: tuple[str, ...]

    @property
    def has_secret(self) -> bool:
        """Found by something only the invited party received: a token or our Message-ID."""
        return self.method is not None and self.method != "sender"


def match_invitation(
    *,
    recipients: Mapping[str, Sequence[str]],
    in_reply_to: str | None,
    references: Sequence[str],
    from_address: str | None,
    by_token: Mapping[str, int],
    by_message_id: Mapping[str, OurMessage],
    by_sender: Mapping[str, Sequence[int]],
    from_ambiguous: bool = False,
) -> Match:
    """Find the invitation, in the order of the issue.

    1. A known token in a recipient address (Delivered-To, X-Original-To, To, Cc).
    2. In-Reply-To, then References (newest first), against our Message-IDs.
    3. The From address against contacts, only when exactly one invitation has it and the
       From header is not ambiguous.
    Unknown tokens are noted as reasons and never match.
    """
    reasons: list[str] = []
    # 1.
    for header in RECIPIENT_HEADERS:
        for token in find_tokens(list(recipients.get(header, ()))):
            invitation_id = by_token.get(token)
            if invitation_id is None:
                reasons.append(f"unknown-token: {token} in {header}")
                continue
            replied = _replied(in_reply_to, references, by_message_id)
            kind = replied.kind if replied and replied.invitation_id == invitation_id else None
            reasons.append(f"matched: token in {header}")
            return Match(invitation_id, f"token:{header}", kind, tuple(reasons))
    # 2.
    if in_reply_to and in_reply_to in by_message_id:
        ours = by_message_id[in_reply_to]
        reasons.append(f"matched: In-Reply-To {in_reply_to}")
        return Match(ours.invitation_id, "in-reply-to", ours.kind, tuple(reasons))
    for ref in reversed(references):
        if ref in by_message_id:
            ours = by_message_id[ref]
            reasons.append(f"matched: References {ref}")
            return Match(ours.invitation_id, "references", ours.kind, tuple(reasons))
    # 3.
    if from_address and not from_ambiguous:
        candidates = list(dict.fromkeys(by_sender.get(from_address.lower(), ())))
        if len(candidates) == 1:
            reasons.append(f"matched: sender {from_address}")
            return Match(candidates[0], "sender", None, tuple(reasons))
        if len(candidates) > 1:
            reasons.append(f"ambiguous-sender: {from_address} has {len(candidates)} invitations")
    reasons.append("unmatched: no token, no known Message-ID, no single contact")
    return Match(None, None, None, tuple(reasons))


def _replied(
    in_reply_to: str | None, references: Sequence[str], by_message_id: Mapping[str, OurMessage]
) -> OurMessage | None:
    for mid in (in_reply_to, *reversed(references)):
        if mid and mid in by_message_id:
            return by_message_id[mid]
    return None


@dataclass(frozen=True)
class Verification:
    """May this message change the invitation's state on its own? If not, why."""

    ok: bool
    rule: str
    reasons: tuple[str, ...]
    authentication: str = ""  # Authentication value for the evidence; "" when not reached


_AUTH_ID = re.compile(r"^\s*([^\s;]+)")
_DMARC = re.compile(r"\bdmarc\s*=\s*([a-z]+)", re.IGNORECASE)


def dmarc_results(auth_results: Sequence[str], authserv_id: str) -> list[str]:
    """DMARC results stated by OUR receiving server; headers from anyone else are ignored."""
    if not authserv_id:
        return []
    found: list[str] = []
    for header in auth_results:
        m = _AUTH_ID.match(header)
        if not m or m.group(1).lower() != authserv_id.lower():
            continue
        found.extend(r.lower() for r in _DMARC.findall(header.split(";", 1)[-1]))
    return found


def domain_of(address: str | None) -> str:
    return address.rsplit("@", 1)[-1].lower() if address and "@" in address else ""


def _within(domain: str, parent: str) -> bool:
    parent = parent.lower().lstrip("@").strip(".")
    return bool(parent) and (domain == parent or domain.endswith("." + parent))


def verify_sender(
    *,
    match: Match,
    from_address: str | None,
    invited_address: str,
    organisation_domains: Sequence[str],
    auth_results: Sequence[str],
    authserv_id: str,
    from_ambiguity: Sequence[str] = (),
    dkim: Sequence[DkimCheck] = (),
    unauthenticated: str = UnauthenticatedReplies.ACCEPT.value,
) -> Verification:
    """The decision before a reply may sign, decline, rename or withdraw.

    1. The From header is ambiguous (several addresses, a group, an address-like display
       name, an encoded local part) -> no.
    2. DMARC failed according to our own authserv-id -> no.
    3. The invitation was found without a secret (only by sender address) -> no.
    4. From must be the invited address, or in one of the organisation's domains, or share
       the invited address's domain when that is not a public mail service; else -> no.
    5. DKIM, judged for From's domain: an aligned pass -> yes ("dkim-pass"); an aligned
       signature that fails -> no; unsigned -> the campaign's `unauthenticated_replies`
       ("accept": yes, marked "unauthenticated"; "review": no).
    """
    # 1.
    if from_ambiguity:
        return Verification(False, "from-ambiguous", tuple(from_ambiguity))
    # 2.
    failed = [r for r in dmarc_results(auth_results, authserv_id) if r == "fail"]
    if failed:
        return Verification(False, "dmarc-fail", (f"dmarc-fail: reported by {authserv_id}",))
    # 3.
    if match.invitation_id is None:
        return Verification(False, "unmatched", ("unmatched: no invitation",))
    if not match.has_secret:
        return Verification(
            False, "no-token", ("no-token: matched by sender address only, which can be forged",)
        )
    # 4.
    sender = (from_address or "").lower()
    rule, why = _sender_rule(sender, invited_address.lower(), organisation_domains)
    if rule is None:
        return Verification(False, "from-unrelated-address", (why,))
    # 5.
    verdict = judge(dkim, domain_of(sender))
    reasons = (why, *verdict.reasons)
    if verdict.status is Authentication.DKIM_FAIL:
        return Verification(False, "dkim-fail", reasons, verdict.status.value)
    if (
        verdict.status is Authentication.UNAUTHENTICATED
        and unauthenticated != UnauthenticatedReplies.ACCEPT.value
    ):
        return Verification(False, "unauthenticated", reasons, verdict.status.value)
    return Verification(True, rule, reasons, verdict.status.value)


def _sender_rule(
    sender: str, invited: str, organisation_domains: Sequence[str]
) -> tuple[str | None, str]:
    """Which rule ties From to the invitation: the address, the organisation's or the invited
    address's own (non-public) domain; None and the reason when nothing does."""
    if sender and sender == invited:
        return "from-invited-address", f"from-invited-address: {sender}"
    domain = domain_of(sender)
    for parent in organisation_domains:
        if domain and _within(domain, parent):
            return "from-organisation-domain", f"from-organisation-domain: {domain}"
    invited_domain = domain_of(invited)
    if domain and domain == invited_domain and invited_domain not in PUBLIC_MAIL_DOMAINS:
        return "from-invited-domain", f"from-invited-domain: {domain} (as {invited})"
    return None, (
        f"from-unrelated-address: {sender or '(no From)'} is not {invited} nor its organisation"
    )
