"""Did the sender's own domain vouch for this message? DKIM results judged against From."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Authentication(StrEnum):
    """What the evidence records about who vouched for a reply's sender."""

    DKIM_PASS = "dkim-pass"  # noqa: S105 (not a password) a valid signature by From's domain
    DKIM_FAIL = "dkim-fail"  # a signature for the From domain that does not verify
    UNAUTHENTICATED = "unauthenticated"  # nobody aligned with From signed it


class UnauthenticatedReplies(StrEnum):
    """Campaign setting `unauthenticated_replies`: an unsigned reply from the right address."""

    ACCEPT = "accept"  # act on it; the evidence says "unauthenticated"
    REVIEW = "review"  # a person decides


@dataclass(frozen=True)
class DkimCheck:
    """One DKIM-Signature header and what verifying it gave (from worker.mail.authenticate)."""

    domain: str  # d=
    selector: str  # s=
    passed: bool
    detail: str  # why it failed, or "ok"

    def describe(self) -> str:
        return f"dkim={'pass' if self.passed else 'fail'} d={self.domain} s={self.selector}" + (
            "" if self.passed else f" ({self.detail})"
        )


def is_aligned(signing_domain: str, from_domain: str) -> bool:
    """Relaxed alignment: d= is the From domain or a parent of it (never a bare TLD)."""
    d = signing_domain.lower().strip(".")
    f = from_domain.lower().strip(".")
    if not d or not f or "." not in d:
        return False
    return f == d or f.endswith("." + d)


@dataclass(frozen=True)
class Judgement:
    status: Authentication
    reasons: tuple[str, ...]


def judge(checks: Sequence[DkimCheck], from_domain: str) -> Judgement:
    """The DKIM verdict for From's domain.

    1. An aligned signature that verifies -> pass (other failing signatures, e.g. added by a
       mailing list, do not undo it).
    2. An aligned signature that fails -> fail: someone altered the message or forged it.
    3. No aligned signature (none, or only a relay's own) -> unauthenticated.
    """
    aligned = [c for c in checks if is_aligned(c.domain, from_domain)]
    others = tuple(f"not-aligned: {c.describe()}" for c in checks if c not in aligned)
    # 1.
    passed = [c for c in aligned if c.passed]
    if passed:
        return Judgement(Authentication.DKIM_PASS, (passed[0].describe(), *others))
    # 2.
    if aligned:
        return Judgement(Authentication.DKIM_FAIL, (*(c.describe() for c in aligned), *others))
    # 3.
    return Judgement(
        Authentication.UNAUTHENTICATED,
        (f"unauthenticated: no DKIM signature by {from_domain or '(no domain)'}", *others),
    )
