"""Small named rules over the sender's own words; each answers with its evidence or None."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from worker.core.quotes import OwnText


@dataclass(frozen=True)
class Reply:
    """What the intent rules look at: own words (normalised), and facts about the message."""

    own: OwnText
    subject: str
    is_reply: bool  # In-Reply-To/References/Re:/a quote: it answers something of ours
    is_forward: bool  # FW:/Fwd:/転送: written to a colleague, not to us
    form_name: str | None  # a filled-in name field or listing request


Check = Callable[[Reply], str | None]


@dataclass(frozen=True)
class Rule:
    """A named yes/no question; `check` returns the evidence text when the answer is yes."""

    name: str
    check: Check


# Our own template's instructions ('reply "unsubscribe"', 「不要」とお知らせください) are never
# the sender's answer, even when a client pasted them without quote marks.
INSTRUCTION = re.compile(
    r"\breply\s+[\"'][^\"']{1,40}[\"']|[「『][^」』]{1,20}[」』]と(?:ご)?(?:返信|お知らせ|ご連絡)",
    re.IGNORECASE,
)


def _sentences(text: str) -> list[str]:
    found = re.findall(r"[^.!?。！？\n]+[.!?。！？]*", text)
    return [s.strip() for s in found if s.strip() and not INSTRUCTION.search(s)]


def _search(pattern: re.Pattern[str]) -> Check:
    def check(reply: Reply) -> str | None:
        for sentence in _sentences(reply.own.text):
            if pattern.search(sentence):
                return sentence
        return None

    return check


UNSUBSCRIBE = re.compile(
    r"\bunsubscribe\b|\bremove (?:us|me|our (?:address|e-?mail|organi[sz]ation)|this (?:address|"
    r"e-?mail))\b.{0,40}\b(?:list|mailing|database|contacts)|\btake (?:us|me) off\b|"
    r"\bstop (?:sending|e-?mailing|contacting)\b|\bopt(?:ing)? (?:us |me )?out\b|"
    r"\bdo not (?:contact|e-?mail|write to) (?:us|me)\b|\bno (?:more|further) (?:e-?mails|mail)\b|"
    r"配信(?:を)?停止|配信(?:は)?不要|(?:リスト|名簿|メーリングリスト|宛先)から(?:の)?(?:削除|外)|"
    r"削除(?:して|を)(?:ください|下さい|お願い)|今後.{0,20}(?:不要|送らない|送付しないで|ご遠慮)|"
    r"送らないで|購読(?:を)?(?:解除|停止)",
    re.IGNORECASE,
)
DECLINE = re.compile(
    r"\b(?:cannot|can ?not|can't|won't|will not|unable to|not able to|do not|don't|does not|"
    r"doesn't|shall not|must not|would rather not|not in a position to|decided not to|"
    r"prefer not to|have to decline to|will not be able to|won't be able to)\s+(?:\w+\s+){0,2}?"
    r"(?:sign(?:ing)?|join(?:ing)?|endors(?:e|ing)|co-?sign|participat(?:e|ing)|take part|be part|"
    r"add our name|support this)\b|"
    r"\bdecline\b|\bdeclining\b|\bpass on (?:this|it)\b|\bsit this one out\b|"
    r"\bnot (?:be )?(?:signing|joining|endorsing|participating)\b|\bno,? thank(?:s| you)\b|"
    r"\bnot for us\b|\bopt(?:ing)? not to\b|\bunfortunately,? (?:we|i) (?:can|will|must)\b|"
    r"\b(?:do not|don't|rather not|never) (?:list|include|add|name|mention|print) (?:us|our "
    r"(?:name|organi[sz]ation))\b|"
    r"^\s*no\s*[.!]?\s*$|"
    r"見送|辞退|差し?控え|見合わせ|お断り|遠慮(?:させ|いたし|致し|します)|"
    r"(?:掲載|記載|名前を出す(?:こと)?)(?:は)?(?:しないで|不要|ご遠慮)|"
    r"賛同(?:は|を)?(?:いた|致)?しかね|賛同(?:は|を)?(?:いた|致)?し(?:ません|ない)|"
    r"賛同(?:することは|は)?でき(?:ません|ない|かね)|(?:参加|署名)(?:は)?(?:でき|いたし|致し|し)(?:ません|かね)",
    re.IGNORECASE,
)
SIGN = re.compile(
    r"\b(?:we|i)(?:'ll| will| shall| hereby| do| would like to| would love to| want to| wish to|"
    r" are (?:happy|glad|pleased|delighted|proud) to| gladly| agree to| are signing|"
    r" could| would| might| can| may| (?:could|would|might) (?:possibly|probably|perhaps))?\s+"
    r"(?:sign|endorse|co-?sign)\b(?!\s+up)|"
    r"\b(?:we|i)(?:'ll| will| hereby| would like to| are happy to)?\s+join (?:the|this|your)\b|"
    r"\b(?:happy|glad|pleased|delighted|proud|honou?red) to (?:sign|endorse|join|co-?sign|"
    r"add our name|be (?:listed|included|a signatory|part of))|"
    r"\bcount us in\b|\bsign us (?:up|on)\b|\badd (?:us|our (?:name|organi[sz]ation|signature))\b|"
    r"\binclude us\b|\bwe(?:'re| are) in\b|\b(?:please |kindly )?list us\b|"
    r"\b(?:we|i) (?:hereby )?(?:endorse|support) (?:the|this|your) (?:joint )?(?:letter|statement)|"
    r"\bgave (?:you )?our signature\b|\bour (?:organi[sz]ation|group|network) (?:signs|endorses|"
    r"will sign|is signing)\b|"
    r"賛同(?:いた|致)?します|賛同(?:させて)?(?:いただき|頂き)ます|賛同(?:いた|致)しました|"
    r"賛同(?:いた|致)?したいと思います|賛同(?:団体|者)として.{0,20}(?:連ね|加え|加わ|参加|掲載)|"
    r"名前を連ね|名を連ね|署名(?:いた|致)?します|署名させて(?:いただき|頂き)ます|ぜひ賛同|喜んで賛同",
    re.IGNORECASE,
)
BARE_YES = re.compile(
    r"^(?:yes|yes please|yes,? of course|yep|yeah|sure|absolutely|definitely|はい|"
    r"はい、?(?:お願いします|喜んで))\s*[.!,、。！]*\s*$",
    re.IGNORECASE,
)
NEGATION = re.compile(
    r"\b(?:not|never|cannot|no longer|neither|nor)\b|n't\b|"
    r"ない|ません|かね|見送|辞退|差し?控え|難しい",
    re.IGNORECASE,
)
CONDITION = re.compile(
    r"\b(?:if|unless|provided|providing|once|assuming|depending|subject to|could|might|(?-i:may)|"
    r"maybe|perhaps|possibly|probably|consider|considering|whether|but|only)\b|"
    r"検討|理事会|場合|次第|かもしれ|相談|たら|れば|なら|予定",
    re.IGNORECASE,
)
QUESTION_MARK = re.compile(r"[?？]")
JA_QUESTION = re.compile(r"(?:ますか|ですか|でしょうか|ませんか|ますでしょうか|かね)\s*[。]?\s*$")
PENDING = re.compile(
    r"\b(?:board|committee|management|director)\b.{0,40}\b(?:decid|approv|discuss|meet|confirm)|"
    r"\bnot yet decided\b|\bget back to you\b|\bneed (?:more )?time\b|\bconsult\b|"
    r"理事会|検討中|検討(?:して|させて|いたし)|確認中|追って|改めて(?:ご)?(?:連絡|返答|回答|返信)|"
    r"時間がかかり|お待ちいただ",
    re.IGNORECASE,
)
TRIPWIRE = re.compile(
    r"reply\s+\"?yes,? we sign\"?\s+to this message|「賛同します」と(?:ご)?返信|"
    r"organisation's name exactly as it should be printed|掲載する団体名も併せて",
    re.IGNORECASE,
)
GREETING = re.compile(
    r"^(?:dear|hi|hello|hey|good (?:morning|afternoon|evening)|to whom)\b.{0,60}$|"
    r"^.{0,40}(?:様|御中|各位|さん|殿)[、,。]?$|^.{0,30}です[。]?$",
    re.IGNORECASE,
)


def deciding_sentence(reply: Reply) -> str | None:
    """The first sentence of the own words that commits to signing, if any."""
    return _search(SIGN)(reply)


def unsubscribe(reply: Reply) -> str | None:
    return _search(UNSUBSCRIBE)(reply)


def decline(reply: Reply) -> str | None:
    return _search(DECLINE)(reply)


def explicit_commitment(reply: Reply) -> str | None:
    return deciding_sentence(reply)


def filled_form(reply: Reply) -> str | None:
    return f"listing given: {reply.form_name}" if reply.form_name else None


def _meaningful_lines(reply: Reply) -> list[str]:
    return [
        line.strip()
        for line in reply.own.lines
        if line.strip() and not GREETING.match(line.strip())
    ]


def bare_yes(reply: Reply) -> str | None:
    """A bare "Yes" / 「はい」 answering our invitation, with nothing hedging it."""
    if not reply.is_reply:
        return None
    lines = _meaningful_lines(reply)
    if not lines or not BARE_YES.match(lines[0]):
        return None
    rest = " ".join(lines)
    if len(rest) > 400 or CONDITION.search(rest) or QUESTION_MARK.search(rest):
        return None
    return lines[0]


def hedged(sentence: str) -> str | None:
    """A negation, condition or question on the deciding sentence."""
    for name, pattern in (("negation", NEGATION), ("condition", CONDITION),
                          ("question-mark", QUESTION_MARK)):
        m = pattern.search(sentence)
        if m:
            return f"{name} '{m.group(0)}'"
    return None


def pending(reply: Reply) -> str | None:
    return _search(PENDING)(reply)


def question(reply: Reply) -> str | None:
    """A question to us: a question mark, a Japanese question ending, or a pending decision."""
    for sentence in _sentences(reply.own.text):
        if QUESTION_MARK.search(sentence) or JA_QUESTION.search(sentence):
            return sentence
    return pending(reply)


def tripwire(reply: Reply) -> str | None:
    """A distinctive line of our own invitation still inside the own words."""
    if reply.own.survivors:
        return reply.own.survivors[0]
    m = TRIPWIRE.search(reply.own.text)
    return m.group(0) if m else None


def replacement_character(reply: Reply) -> str | None:
    return "U+FFFD in own text" if "\ufffd" in reply.own.text else None


SIGN_RULES = (
    Rule("explicit-commitment", explicit_commitment),
    Rule("filled-form", filled_form),
    Rule("bare-yes", bare_yes),
)
SIGN_BLOCKERS = (
    Rule("tripwire-own-invitation", tripwire),
    Rule("replacement-character", replacement_character),
)
