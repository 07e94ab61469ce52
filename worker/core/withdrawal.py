"""Does a reply to our acknowledgement ask to take the signature back?"""

from __future__ import annotations

import re

_WITHDRAW = re.compile(r"\bwithdraw|\bretract|取り?下げ|撤回|取消|取り消", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|don't|do not|won't|no need)\b|ない|ません|不要", re.IGNORECASE)
_APOLOGY = re.compile(r"申し訳(?:ござい|あり)ません|すみません|すいません")
_SENTENCE = re.compile(r"[^。．.!?！？\n]+")


def wants_withdrawal(text: str) -> bool:
    """A sentence asks to withdraw (withdraw, 取り下げ, 撤回) and does not negate it."""
    for sentence in _SENTENCE.findall(text):
        if _WITHDRAW.search(sentence) and not _NEGATION.search(_APOLOGY.sub("", sentence)):
            return True
    return False
