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


def answer_text(reply: Reply) -> str:
    """The own words without our template's instructions, one sentence a line."""
    return "\n".join(_sentences(reply.own.text))


def _search(pattern: re.Pattern[str]) -> Check:
    def check(reply: Reply) -> str | None:
        for sentence in _sentences(reply.own.text):
            if pattern.search(sentence):
                return sentence
        return None

    return check


DECLINE = re.compile(
    r"\b(?:cannot|can ?not|can't|won't|will not|unable to|not able to|do not|don't|does not|"
    r"doesn't|shall not|must not|would rather not|not in a position to|decided not to|"
    r"prefer not to|have to decline to|will not be able to|won't be able to)\s+(?:\w+\s+){0,2}?"
    r"(?:sign(?:ing)?|join(?:ing)?|endors(?:e|ing)|co-?sign|participat(?:e|ing)|take part|be part|"
    r"add our name|support this)\b|"
    r"\b(?:not|never) (?:allow|permit)s? (?:us|our organi[sz]ation|me) to (?:sign|join|endorse)|"
    r"\bdecline\b|\bdeclining\b|\bpass on (?:this|it)\b|\bsit this one out\b|"
    r"\bnot (?:be )?(?:signing|joining|endorsing|participating)\b|\bno,? thank(?:s| you)\b|"
    r"\bnot for us\b|\bnot (?:this|at this) time\b|\bnot (?:on )?this one\b|"
    r"\b(?:we|i)(?:'ll| will| must| have to| need to| are going to)? pass\b"
    r"(?! (?:it|this|that|the|them|along|on to|on the|your))|\bcount us out\b|"
    r"\b(?:rather not|prefer not to) be (?:listed|named|included|mentioned)\b|"
    r"\bwould have (?:liked to )?(?:signed|joined|endorsed)\b.{0,60}\bbut\b|\bopt(?:ing)? not to\b|"
    r"\bunfortunately,? (?:we|i) (?:can|will|must)\b|"
    r"\b(?:do not|don't|rather not|never) (?:list|include|add|name|mention|print) (?:us|our "
    r"(?:name|organi[sz]ation))\b|"
    r"^\s*no\s*[.!]?\s*$|"
    r"今回は(?:参加し|賛同し|遠慮|ご遠慮)|見送|辞退|差し?控え|見合わせ|お断り|遠慮(?:させ|いたし|致し|します)|"
    r"(?:掲載|記載|名前を出す(?:こと)?)(?:は)?(?:しないで|不要|ご遠慮)|"
    r"賛同(?:は|を)?(?:いた|致)?しかね|賛同(?:は|を)?(?:いた|致)?し(?:ません|ない)|"
    r"賛同(?:することは|は)?でき(?:ません|ない|かね)|(?:参加|署名)(?:は)?(?:でき|いたし|致し|し)(?:ません|かね)",
    re.IGNORECASE,
)
SIGN = re.compile(
    r"\b(?:we|i)(?:'ll|'d| will| shall| hereby| do| would like to| would love to| want to| wish to|"
    r" are (?:happy|glad|pleased|delighted|proud) to| gladly| agree to| are signing|"
    r" could| would| might| can| may| (?:could|would|might) (?:possibly|probably|perhaps))?\s+"
    r"(?:sign|endorse|co-?sign)\b(?!\s+up)|"
    r"\b(?:we|i)(?:'ll| will| hereby| would like to| are happy to)?\s+join (?:the|this|your)\b|"
    r"\b(?:happy|glad|pleased|delighted|proud|honou?red) to (?:sign|endorse|join|co-?sign|"
    r"add our name|be (?:listed|included|a signatory|part of))|"
    r"\bcount us in\b|\bput (?:us|our name) down\b|"
    r"\b(?:our|the) (?:director|executive director|president|chair(?:person)?|secretary general|"
    r"organi[sz]ation|board) (?:will|would|can|shall) (?:sign|endorse)\b|"
    r"\bsign us (?:up|on)\b|\badd (?:us|our (?:name|organi[sz]ation|signature))\b|"
    r"\binclude us\b|\bwe(?:'re| are) in\b|\b(?:please |kindly )?list us\b|"
    r"\b(?:we|i) (?:hereby )?(?:endorse|support) (?:the|this|your) (?:joint )?(?:letter|statement)|"
    r"\bgave (?:you )?our signature\b|\bour (?:organi[sz]ation|group|network) (?:signs|endorses|"
    r"will sign|is signing)\b|"
    r"賛同(?:いた|致)?します|賛同(?:させて)?(?:いただき|頂き)ます|賛同(?:いた|致)しました|"
    r"賛同(?:いた|致)?したいと思います|賛同(?:団体|者)として.{0,20}(?:連ね|加え|加わ|参加|掲載)|"
    r"名前を連ね|名を連ね|署名(?:いた|致)?します|署名させて(?:いただき|頂き)ます|ぜひ賛同|喜んで賛同",
    re.IGNORECASE,
)
# Two negations that make a yes: "no reason not to sign", 「反対する理由はありません」.
DOUBLE_NEGATIVE_YES = re.compile(
    r"\b(?:see |have |there is |there's )?no reason (?:not to|why we (?:would|should|could) not|"
    r"why we wouldn't|why we shouldn't) (?:sign|join|endorse|support|be (?:listed|included))|"
    r"\b(?:we|i) (?:have|see|raise) no objections? (?:to (?:sign|join|endors|be(?:ing)? listed|"
    r"add|includ|this|the letter|it)|\.|$)|\bno objections? (?:from us|on our (?:side|part))|"
    r"(?:反対|賛同しない|署名しない|参加しない)(?:する)?理由(?:は|が|も)?(?:ありません|ない|ございません|"
    r"見当たりません|特にありません)|異存(?:は|も)?(?:ありません|ございません|ない)|"
    r"異論(?:は|も)?(?:ありません|ございません)|異議(?:は|も)?(?:ありません|ございません)",
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
    r"maybe|perhaps|possibly|probably|likely|consider|considering|whether|but|only)\b|"
    r"\b(?:i|we) (?:think|believe|guess|hope|assume|expect)\b(?! (?:this|that|it)(?: letter)? is)|"
    r"検討|理事会|場合|次第|かもしれ|相談|たら|れば|なら|予定",
    re.IGNORECASE,
)
QUESTION_MARK = re.compile(r"[?？]")
JA_QUESTION = re.compile(r"(?:ますか|ですか|でしょうか|ませんか|ますでしょうか|かね)\s*[。]?\s*$")
PENDING = re.compile(
    r"\b(?:board|committee|management|director|members|council|secretariat)\b.{0,30}\b(?:will|must|"
    r"needs? to|has to|have to|yet to|still|first|is going to|are going to|has not|hasn't|have not|"
    r"haven't|meets?|meeting)\b.{0,30}\b(?:decid|approv|discuss|meet|confirm|review|sign off|look)|"
    r"\b(?:once|after|when|until|before) (?:our |the |my )?(?:board|committee|management|director|"
    r"members|council)\b|\b(?:board|committee|management)(?:'s)? (?:approval|decision|meeting)\b|"
    r"\bnot yet decided\b|\bget back to you\b|\bneed (?:more )?time\b|\bconsult\b|"
    r"\banonymous(?:ly)?\b|\b(?:without|not) (?:publishing|listing|naming|printing) (?:us|our "
    r"name)|(?:団体名|名前|名称)(?:は|を)?(?:出さない|伏せ|非公開|匿名|載せないで)|"
    r"検討します|前向きに|"
    r"\b(?:let me|i(?:'ll| will| need to| must| have to)|we(?:'ll| will| need to| must| have to))"
    r" (?:first )?(?:check|confirm|ask|double-check)\b|\bcheck(?:ing)? with (?:our|my|the) "
    r"(?:director|board|chair|team|colleagues|management|members|secretariat)\b|"
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


def decline(reply: Reply) -> str | None:
    """A refusal; "no reason not to sign" / 「賛同しない理由はありません」 is not one."""
    for sentence in _sentences(reply.own.text):
        if DECLINE.search(sentence) and not DOUBLE_NEGATIVE_YES.search(sentence):
            return sentence
    return None


def explicit_commitment(reply: Reply) -> str | None:
    return deciding_sentence(reply) or _search(DOUBLE_NEGATIVE_YES)(reply)


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


# Where the deciding clause ends: "we sign and will share it once it is delivered".
CLAUSE_END = re.compile(
    r"\b(?:and|so|also|which|who)\b|[;:、]|\s[-–—]\s|,\s*(?=(?:and\s+)?(?:we|i|our|they|it)\b)",
    re.IGNORECASE,
)
# Where an earlier, separate clause ends: "Once it is delivered we will share it; we sign".
CLAUSE_START = re.compile(r"[;:]|\s[-–—]\s")


def _deciding_clause(sentence: str, pattern: re.Pattern[str]) -> str:
    """The sentence from the start of the commitment's clause to its end.

    A condition before it in the same clause ("If X, we sign") stays in; a separate clause
    after ", we will share it once ..." or before "...; we sign" does not.
    """
    m = pattern.search(sentence)
    if not m:
        return sentence
    end = CLAUSE_END.search(sentence, m.end())
    starts = [s.end() for s in CLAUSE_START.finditer(sentence, 0, m.start())]
    return sentence[starts[-1] if starts else 0 : end.start() if end else len(sentence)]


def hedged(sentence: str, *, negations: bool = True) -> str | None:
    """A negation, condition or question on the clause that commits to signing.

    What follows the commitment in a later clause ("... and we will share it once it is
    delivered") does not hedge it; anything before it in the sentence ("If X, we sign") does.
    """
    double = DOUBLE_NEGATIVE_YES.search(sentence)
    clause = _deciding_clause(sentence, DOUBLE_NEGATIVE_YES if double else SIGN)
    checks = [("condition", CONDITION), ("question-mark", QUESTION_MARK)]
    if negations and not double:
        checks.insert(0, ("negation", NEGATION))
    for name, pattern in checks:
        m = pattern.search(clause)
        if m:
            return f"{name} '{m.group(0)}'"
    if QUESTION_MARK.search(sentence):
        return "question-mark '?'"
    return None


def pending(reply: Reply) -> str | None:
    return _search(PENDING)(reply)


URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Words that show a message is about our letter, when it does not answer one of our emails.
TOPIC = re.compile(
    r"\b(?:sign|signing|signature|signatories|letter|statement|endorse|deadline|campaign|"
    r"invitation|joint)\w*|賛同|署名|書簡|締切|締め切り|要請|声明|キャンペーン|呼びかけ",
    re.IGNORECASE,
)


# Mail meant for someone else that landed here: minutes, agendas, invoices.
OFF_TOPIC = re.compile(r"\bminutes\b|\bagenda\b|\binvoice\b|\bnewsletter\b|議事録|請求書|会報",
                       re.IGNORECASE)


def is_about_us(reply: Reply) -> bool:
    """It speaks of the letter, or answers our mail and is not plainly about something else
    (minutes or an invoice sent to the wrong address)."""
    text = URL.sub(" ", reply.own.text)
    if TOPIC.search(text):
        return True
    return reply.is_reply and not OFF_TOPIC.search(text)


def question(reply: Reply) -> str | None:
    """A question to us: a question mark, a Japanese question ending, or a pending decision.

    A "?" inside a link is no question, and a message that neither answers our mail nor
    mentions the letter asks someone else.
    """
    if not is_about_us(reply):
        return None
    for sentence in _sentences(URL.sub(" ", reply.own.text)):
        if QUESTION_MARK.search(sentence) or JA_QUESTION.search(sentence):
            return sentence
    return pending(reply)


def tripwire(reply: Reply) -> str | None:
    """A run of our own invitation (two or more distinctive lines) still inside the own words.

    One line alone proves nothing: a greeting that repeats the organisation's long name, or a
    sentence the sender echoes, also occurs in the invitation.
    """
    if len(reply.own.survivors) >= 2:
        return " / ".join(sorted(reply.own.survivors)[:2])
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
