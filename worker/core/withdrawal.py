"""Removal requests: off the letter (withdraw), off the mailing (unsubscribe), or unsure which.

"Remove us from the signatories" and 「賛同団体リストから削除して」 take the signature back;
"stop emailing us" and 「配信停止」 stop mail; "please remove us" could mean either, so the
organisation comes off the letter until a person decides, and is never left on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Removal(StrEnum):
    """What a removal request asks to be removed from."""

    LETTER = "letter"  # the signatory list / the letter: withdraw
    EMAILS = "emails"  # our mail: unsubscribe
    BOTH = "both"  # both, explicitly
    UNSURE = "unsure"  # "remove us", "the list": withdraw until a person decides


_OBJECT_LETTER = (
    r"(?:(?:the |your |our )?(?:list of |)(?:co-?)?signator(?:y|ies)(?: list)?|(?:the |your )?"
    r"signers?(?: list)?|(?:the |your |this )?(?:joint |sign-on )?(?:letter|statement|petition)|"
    r"(?:the |your )?list of (?:signers|endorsers|supporters|signing organi[sz]ations|"
    r"organi[sz]ations)|(?:the |your )?endorsers?(?: list)?|(?:the |your )?supporters list)"
)
LETTER = re.compile(
    # 1. remove/take/delete us|our name ... from/off the signatories / the letter
    r"\b(?:remove|delete|drop|take|strike|withdraw)\s+(?:us|me|our (?:name|organi[sz]ation|"
    r"group|signature|endorsement)|[A-Z][\w&.' -]{2,60}?)\s+(?:from|off)\s+" + _OBJECT_LETTER + "|"
    # 2. withdraw / retract / revoke our signature / endorsement / support
    r"\b(?:withdraw(?:ing|n)?|retract(?:ing)?|revok(?:e|ing)|take back|pull(?:ing)?)\s+"
    r"(?:(?:our|my|the) )?(?:organi[sz]ation'?s? )?(?:signature|endorsement|support|name|"
    r"sign-on|consent)\b|"
    r"\b(?:we|i) (?:would like|wish|want|need|have decided|must|hereby|have to) (?:to )?"
    r"withdraw\b|^\s*withdraw\s*[.!]?\s*$|\bunsign\b|"
    # 3. no longer want to be on it
    r"\bno longer (?:wish|want|able|willing) to (?:sign|endorse|be (?:listed|named|included|a "
    r"signatory|part of|on))|\bdo not (?:want|wish) (?:to be|our name) (?:listed|on|named|"
    r"included)\b|"
    # Japanese: 賛同(団体)リストから削除 / 名前を外して / 取り下げ / 撤回 / 掲載を取り消し
    r"(?:賛同|署名|連名|呼びかけ)(?:団体|者)?(?:の)?(?:リスト|一覧|名簿|欄)?から(?:の)?"
    r"(?:削除|外|抜|取り?下げ|消)|(?:書簡|声明|レター|要請書)から(?:の)?(?:削除|外|抜)|"
    r"(?:名前|団体名|名称|名)を(?:外|削除|取り?下げ|消|抜)|"
    r"(?:賛同|署名|同意|掲載|記載)(?:を|は)?(?:取り?下げ|撤回|取り?消|取消|削除|とりさげ)|"
    r"取り?下げ(?:たい|させ|ます|て|を)|撤回(?:したい|させ|します|いたし|致し|を)",
    re.IGNORECASE,
)
EMAILS = re.compile(
    r"\bunsubscribe\b|\bremove (?:us|me|our (?:address|e-?mail|organi[sz]ation)|this (?:address|"
    r"e-?mail)|my (?:address|e-?mail))\b.{0,40}\b(?:mailing|database|contacts|distribution|"
    r"e-?mail list|mail list|your (?:list|lists))|\btake (?:us|me) off (?:your |the )?(?:mailing|"
    r"e-?mail|distribution)|"
    r"\bstop (?:sending|e-?mailing|contacting|writing)\b|\bopt(?:ing)? (?:us |me )?out\b|"
    r"\bdo not (?:contact|e-?mail|write to|send (?:us|me)) (?:us|me|any)\b|"
    r"\b(?:don't|do not) (?:send|e-?mail) (?:us|me)\b|"
    r"\bno (?:more|further) (?:e-?mails|mail|messages)\b|"
    r"\b(?:e-?mails|mail) (?:are|is) not wanted\b|"
    r"配信(?:を|も|は)?(?:停止|不要|止め|中止)|(?:メーリングリスト|配信リスト|送信リスト|宛先|アドレス)から(?:の)?"
    r"(?:削除|外)|今後.{0,20}(?:不要|送らない|送付しないで|ご遠慮|送信しないで|お送りいただかなくて)|"
    r"送らないで|購読(?:を)?(?:解除|停止)|(?:メール|ご案内)(?:は|を)?(?:今後)?(?:不要|お断り)",
    re.IGNORECASE,
)
# "please remove us", "remove us from the list", 「リストから削除して」, 「削除してください」
UNSURE = re.compile(
    r"\b(?:remove|delete|drop|take)\s+(?:us|me|our (?:name|organi[sz]ation|details))"
    r"(?:\s+(?:from|off)\s+(?:the |your |this |that )?(?:list|it|there|everything))?\b|"
    r"\btake (?:us|me) off\b|"
    r"(?:リスト|一覧|名簿)から(?:の)?(?:削除|外)|削除(?:して|を)(?:ください|下さい|お願い|いただ|頂)|"
    r"外して(?:ください|下さい|いただ|頂)",
    re.IGNORECASE,
)
# The message says the signature stays although mail stops.
KEEPS_SIGNATURE = re.compile(
    r"\b(?:keep|leave) (?:us|our (?:name|signature|organi[sz]ation)) on (?:the )?(?:letter|list "
    r"of signatories|signatories|statement)|\bour (?:signature|endorsement|support) (?:stands|"
    r"remains)|\b(?:we )?still (?:sign|support the letter|endorse)|\bremain (?:a )?signator|"
    r"\b(?:we|i)(?:'ll| will| do| hereby)? sign\b|"
    r"(?:賛同|署名)(?:は|を)?(?:そのまま|維持|継続|引き続き)|賛同(?:いた|致)?します|署名(?:いた|致)?します",
    re.IGNORECASE,
)
_WITHDRAW_WORD = re.compile(r"\bwithdraw|\bretract|取り?下げ|撤回|取消|取り消", re.IGNORECASE)
_NEGATION = re.compile(
    r"\b(?:not|don't|do not|won't|no need|never|nothing)\b|ない|ません|不要", re.IGNORECASE
)
_APOLOGY = re.compile(r"申し訳(?:ござい|あり)ません|すみません|すいません")
_SENTENCE = re.compile(r"[^。．.!?！？\n]+[.!?。！？]*")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _negated(sentence: str) -> bool:
    return bool(_NEGATION.search(_APOLOGY.sub("", sentence)))


def _first(pattern: re.Pattern[str], sentences: list[str], *, unnegated: bool) -> str | None:
    for sentence in sentences:
        m = pattern.search(sentence)
        if not m:
            continue
        # "we do not want to be listed" is the request itself; "please don't remove us" and
        # 「取り下げはしません」 are not requests
        if unnegated and _negated(sentence[: m.start()]):
            continue
        if unnegated and _WITHDRAW_WORD.search(m.group(0)) and _negated(sentence[m.end() :]):
            continue
        return sentence
    return None


def _vague(sentence: str) -> bool:
    """A removal without a clear object, not the same words as a request to stop mail."""
    taken = [range(m.start(), m.end()) for m in EMAILS.finditer(sentence)]
    for m in UNSURE.finditer(sentence):
        if any(m.start() in span for span in taken) or _negated(sentence[: m.start()]):
            continue
        return True
    return False


@dataclass(frozen=True)
class RemovalRequest:
    """A removal request found in the sender's own words, and the sentence that made it."""

    scope: Removal
    evidence: str
    keeps_signature: bool


def removal_request(text: str) -> RemovalRequest | None:
    """What the sender asks to be removed from, if anything.

    1. off the letter (signatories, 賛同団体, withdraw, 取り下げ) and 2. off our mail
    (unsubscribe, 配信停止) are looked for separately; both -> BOTH.
    3. A removal without an object ("please remove us", 「削除してください」) is UNSURE, as is
    "the list" next to a request to stop mail: the signature comes off until a person decides.
    """
    sentences = _sentences(text)
    letter = _first(LETTER, sentences, unnegated=True)
    emails = _first(EMAILS, sentences, unnegated=True)
    vague = next((s for s in sentences if s != letter and _vague(s)), None)
    keeps = any(KEEPS_SIGNATURE.search(s) and not _negated(s) for s in sentences)
    if letter and emails:
        return RemovalRequest(Removal.BOTH, f"{letter} | {emails}", keeps_signature=False)
    if letter:
        return RemovalRequest(Removal.LETTER, letter, keeps_signature=False)
    if vague and not keeps:
        evidence = f"{emails} | {vague}" if emails else vague
        return RemovalRequest(Removal.UNSURE, evidence, keeps_signature=False)
    if emails or vague:
        return RemovalRequest(Removal.EMAILS, emails or vague or "", keeps_signature=keeps)
    return None


def wants_withdrawal(text: str) -> bool:
    """A sentence asks to withdraw or to be taken off the letter, and does not negate it."""
    found = removal_request(text)
    return found is not None and found.scope in (Removal.LETTER, Removal.BOTH)


@dataclass(frozen=True)
class RemovalPlan:
    """What intake does about a removal request, decided here so actions only carry it out."""

    withdraw: bool  # take the active signature off the letter
    unsubscribe: bool  # stop mail to this address
    review: str | None  # why a person must confirm, or None


def plan_removal(request: RemovalRequest, *, has_signature: bool) -> RemovalPlan:
    """Never leave an organisation on the letter when it may have asked to come off.

    1. LETTER withdraws; BOTH withdraws and unsubscribes.
    2. EMAILS unsubscribes; an active signature stays only when the message says so,
       otherwise it comes off and a person confirms.
    3. UNSURE unsubscribes and takes the signature off until a person decides.
    """
    scope = request.scope
    if scope is Removal.LETTER:
        return RemovalPlan(withdraw=has_signature, unsubscribe=False, review=None)
    if scope is Removal.BOTH:
        return RemovalPlan(withdraw=has_signature, unsubscribe=True, review=None)
    if scope is Removal.EMAILS:
        if not has_signature or request.keeps_signature:
            return RemovalPlan(withdraw=False, unsubscribe=True, review=None)
        return RemovalPlan(
            withdraw=True,
            unsubscribe=True,
            review="unsubscribed after signing without saying the signature stays: taken off "
            f"the letter until a person confirms ({request.evidence})",
        )
    return RemovalPlan(
        withdraw=has_signature,
        unsubscribe=True,
        review=(
            "ambiguous removal request: taken off the letter and the mailing until a person "
            f"decides ({request.evidence})"
        )
        if has_signature
        else None,
    )
