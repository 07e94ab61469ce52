"""Hostile mail, as attackers and broken MTAs write it, plus genuine replies mixed in (tests and
bench/hostile.py). Each message is tagged with what it is and may at most do.

Kinds:
- "genuine": the invited address answers through its own reply address -> must sign;
- "forged": a stolen token, a spoofed From, a fake delivery report, a reply to another
  organisation's Message-ID, a broken DKIM signature -> must never act (sign, decline,
  unsubscribe, mark an address);
- "malformed": truncated MIME, lying charsets, NULs, header injection, long lines, deep
  nesting, binary junk -> anything but a crash or a lost message (half of them come from the
  invited address with its token, so they may legitimately act).
Every message starts with `X-Fuzz-Id: <n>` so its stored row can be found again.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

from hypothesis import strategies as st

# Outcomes (process_reply Outcome.action prefixes) that change consent or an address.
ACTING = ("signed", "confirmed", "renamed", "withdrawn", "declined", "unsubscribed", "bounced",
          "deferred", "removed")


@dataclass(frozen=True)
class Target:
    """One invitation as the generator needs it."""

    org: str
    email: str
    token: str
    reply_address: str  # signon+TOKEN@hrn.example
    message_id: str  # our invitation's Message-ID
    domain: str


def sample_targets(count: int) -> list[Target]:
    """`count` made-up invitations (NGO n at ngoN.example), for tests without a campaign."""
    return [
        Target(f"NGO {n}", f"info@ngo{n}.example", f"tok{n}", f"signon+tok{n}@hrn.example",
               f"<inv{n}@hrn.example>", f"ngo{n}.example")
        for n in range(count)
    ]  # fmt: skip


@dataclass(frozen=True)
class Hostile:
    fuzz_id: int
    kind: str  # genuine / forged / malformed
    category: str
    org: str | None  # the organisation a genuine (or genuine-sender malformed) message is from
    raw: bytes


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "surrogateescape")


def _headers(fuzz_id: int, lines: list[str]) -> str:
    return "\n".join([f"X-Fuzz-Id: {fuzz_id}", *lines]) + "\n"


class Generator:
    """Deterministic for a seed: the same run can be repeated."""

    def __init__(self, targets: list[Target], seed: int = 12, sign_key: Any = None) -> None:
        self.targets = targets
        self.rng = random.Random(seed)
        self.next_id = 0
        self.sign_key = sign_key  # (private PEM, selector, domain) for genuine DKIM replies
        self.writers: list[tuple[str, str, Callable[[Target, int], bytes]]] = [
            ("forged", "stolen-token-spoofed-from", self.spoofed_from),
            ("forged", "stolen-token-attacker-address", self.attacker_address),
            ("forged", "fake-dsn", self.fake_dsn),
            ("forged", "other-organisations-message-id", self.other_message_id),
            ("forged", "broken-dkim", self.broken_dkim),
            ("forged", "two-from-headers", self.two_froms),
            ("malformed", "truncated-mime", self.truncated_mime),
            ("malformed", "wrong-charset", self.wrong_charset),
            ("malformed", "nul-bytes", self.nul_bytes),
            ("malformed", "header-injection", self.header_injection),
            ("malformed", "long-lines", self.long_lines),
            ("malformed", "deep-nesting", self.deep_nesting),
            ("malformed", "binary-junk", self.junk),
        ]

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _date(self) -> str:
        from datetime import UTC, datetime

        return format_datetime(datetime(2024, 5, 23, 3, self.rng.randrange(60), tzinfo=UTC))

    def _other(self, target: Target) -> Target:
        return self.rng.choice([t for t in self.targets if t.org != target.org] or self.targets)

    def messages(self, count: int, genuine_every: int = 6) -> Iterator[Hostile]:
        """`count` messages: one genuine reply in every `genuine_every`, the rest hostile."""
        for index in range(count):
            target = self.rng.choice(self.targets)
            fuzz_id = self._id()
            if index % genuine_every == 0:
                yield Hostile(fuzz_id, "genuine", "genuine-reply", target.org,
                              self.genuine(target, fuzz_id))
                continue
            kind, category, write = self.writers[index % len(self.writers)]
            from_victim = kind == "malformed" and self.rng.random() < 0.5
            raw = write(target, fuzz_id) if not from_victim else self._as_victim(
                write(target, fuzz_id), target
            )
            yield Hostile(fuzz_id, kind, category, target.org if from_victim else None, raw)

    def _as_victim(self, raw: bytes, target: Target) -> bytes:
        """The same malformed message, but from the invited address through its token."""
        return raw.replace(b"mallory@evil.example", target.email.encode()).replace(
            b"signon@hrn.example", target.reply_address.encode()
        )

    # -- genuine -------------------------------------------------------------------------

    def genuine(self, target: Target, fuzz_id: int) -> bytes:
        body = self.rng.choice(["Yes, we sign!", "We are happy to sign the letter.",
                                "はい、賛同します。", "Count us in - yes, we sign."])
        raw = _crlf(_headers(fuzz_id, [
            f"From: {target.email}",
            f"To: {target.reply_address}",
            "Subject: Re: Invitation",
            f"Date: {self._date()}",
            f"Message-ID: <genuine.{fuzz_id}@{target.domain}>",
            f"In-Reply-To: {target.message_id}",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]) + "\n" + body + "\n")
        if self.sign_key is not None and target.domain == self.sign_key[2]:
            import dkim

            private, selector, domain = self.sign_key
            raw = dkim.sign(raw, selector.encode(), domain.encode(), private,
                            include_headers=[b"from", b"to", b"subject", b"message-id"]) + raw
        return raw

    # -- forged --------------------------------------------------------------------------

    def spoofed_from(self, target: Target, fuzz_id: int) -> bytes:
        victim = target.email
        encoded = victim.replace("@", "=40").replace(".", "=2E")
        b64 = base64.b64encode(victim.encode()).decode()
        variants = [
            f"=?utf-8?q?{encoded}?= <mallory@evil.example>",
            f"{victim} <mallory@evil.example>",
            f"<{victim}>@evil.example",
            f'"{victim}" <mallory@evil.example>',
            f"=?utf-8?b?{b64}?= <mallory@evil.example>",
            f"{victim}, mallory@evil.example",
            f"them: {victim};",
            f"=?utf-8?q?{encoded}?=@evil.example",
            f"{victim}\x00 <mallory@evil.example>",
            f"{victim.upper()} <mallory@evil.example>",
        ]
        return _crlf(_headers(fuzz_id, [
            f"From: {self.rng.choice(variants)}",
            f"To: {target.reply_address}",
            "Subject: Re: Invitation",
            f"Date: {self._date()}",
            f"Message-ID: <spoof.{fuzz_id}@evil.example>",
            f"In-Reply-To: {target.message_id}",
            "Content-Type: text/plain; charset=utf-8",
        ]) + "\nYes, we sign!\n")

    def attacker_address(self, target: Target, fuzz_id: int) -> bytes:
        sender = self.rng.choice(["mallory@evil.example", "info@" + target.domain + ".evil.example",
                                  f"{target.email.split('@')[0]}.sign@gmail.com"])
        return _crlf(_headers(fuzz_id, [
            f"From: {sender}", f"To: {target.reply_address}", "Subject: Re: Invitation",
            f"Message-ID: <attacker.{fuzz_id}@evil.example>", f"In-Reply-To: {target.message_id}",
        ]) + "\nYes, we sign! Please list us.\n")

    def fake_dsn(self, target: Target, fuzz_id: int) -> bytes:
        to = self.rng.choice(["signon@hrn.example", target.reply_address,
                              f"signon+bounce-{'a' * 24}@hrn.example"])
        status = self.rng.choice(["5.1.1", "5.0.0", "4.4.1"])
        return _crlf(_headers(fuzz_id, [
            "From: Mail Delivery System <MAILER-DAEMON@mx.evil.example>",
            f"To: {to}",
            "Subject: Undelivered Mail Returned to Sender",
            f"Message-ID: <dsn.{fuzz_id}@mx.evil.example>",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
        ]) + f"""
--B
Content-Type: text/plain

Your message to {target.email} could not be delivered: {status} User unknown

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.evil.example

Final-Recipient: rfc822; {target.email}
Action: failed
Status: {status}

--B
Content-Type: text/rfc822-headers

From: signon@hrn.example
To: {target.email}
Message-ID: <invitation.0.forged{fuzz_id}@hrn.example>

--B--
""")

    def other_message_id(self, target: Target, fuzz_id: int) -> bytes:
        other = self._other(target)
        return _crlf(_headers(fuzz_id, [
            f"From: {other.email}", "To: signon@hrn.example", "Subject: Re: Invitation",
            f"Message-ID: <cross.{fuzz_id}@{other.domain}>",
            f"In-Reply-To: {target.message_id}", f"References: {target.message_id}",
        ]) + "\nYes, we sign!\n")

    def broken_dkim(self, target: Target, fuzz_id: int) -> bytes:
        fake_b = base64.b64encode(self.rng.randbytes(128)).decode()
        return _crlf(_headers(fuzz_id, [
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={target.domain}; "
            f"s=mail2024; h=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; "
            f"b={fake_b}",
            f"From: {target.email}", f"To: {target.reply_address}", "Subject: Re: Invitation",
            f"Message-ID: <dkim.{fuzz_id}@{target.domain}>",
        ]) + "\nYes, we sign!\n")

    def two_froms(self, target: Target, fuzz_id: int) -> bytes:
        return _crlf(_headers(fuzz_id, [
            "From: mallory@evil.example", f"From: {target.email}", f"To: {target.reply_address}",
            "Subject: Re: Invitation", f"Message-ID: <twofrom.{fuzz_id}@evil.example>",
        ]) + "\nYes, we sign!\n")

    # -- malformed -----------------------------------------------------------------------

    def _plain(self, fuzz_id: int, extra: list[str], body: str) -> bytes:
        return _crlf(_headers(fuzz_id, [
            "From: mallory@evil.example", "To: signon@hrn.example",
            f"Message-ID: <malformed.{fuzz_id}@evil.example>", *extra,
        ]) + "\n" + body)

    def truncated_mime(self, target: Target, fuzz_id: int) -> bytes:
        cut = self.rng.randrange(20, 200)
        body = ("--X\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64"
                "\n\n" + base64.b64encode(b"Yes, we sign! " * 20).decode()[:cut])
        return self._plain(fuzz_id, ["Subject: Re: Invitation", "MIME-Version: 1.0",
                                     'Content-Type: multipart/mixed; boundary="X"'], body)

    def wrong_charset(self, target: Target, fuzz_id: int) -> bytes:
        charset = self.rng.choice(["iso-2022-jp", "shift_jis", "x-klingon", "utf-7", "euc-jp",
                                   "utf-16", '"; evil=1'])
        body = self.rng.choice(["はい、賛同します。", "Yes, we sign \xe9\xe8", "\udcff\udcfe"])
        return self._plain(fuzz_id, [f"Subject: =?{charset}?b?gqCCooKk?=",
                                     f"Content-Type: text/plain; charset={charset}",
                                     "Content-Transfer-Encoding: 8bit"], body + "\n")

    def nul_bytes(self, target: Target, fuzz_id: int) -> bytes:
        subject = self.rng.choice(["a\x00b", "=?utf-8?q?a=00b?=", "=?utf-8?b?AAAA?=", "\x00"])
        return self._plain(fuzz_id, [f"Subject: {subject}", "X-Note: nul\x00here"],
                           "Yes\x00, we sign\x00\n")

    def header_injection(self, target: Target, fuzz_id: int) -> bytes:
        subject = self.rng.choice(["=?utf-8?q?x=0D=0ABcc:_victim@example.org?=",
                                   "x\rBcc: victim@example.org", "=?utf-8?q?=0A=0A?="])
        return self._plain(fuzz_id, [f"Subject: {subject}"], "Hello\n")

    def long_lines(self, target: Target, fuzz_id: int) -> bytes:
        n = self.rng.choice([10_000, 100_000, 400_000])
        return self._plain(fuzz_id, ["Subject: " + "S" * n, "X-Long: " + "x" * n],
                           "y" * n + "\n")

    def deep_nesting(self, target: Target, fuzz_id: int) -> bytes:
        if self.rng.random() < 0.5:
            depth = self.rng.choice([100, 2_000, 20_000])
            html = "<blockquote>" * depth + "Yes, we sign" + "</blockquote>" * depth
            return self._plain(fuzz_id, ["Subject: Re: x",
                                         "Content-Type: text/html; charset=utf-8"], html + "\n")
        inner = "Content-Type: text/plain\n\nYes, we sign.\n"
        for level in range(self.rng.choice([20, 60])):
            inner = (f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n'
                     f"{inner}\n--b{level}--\n")
        head, _, body = inner.partition("\n\n")
        return self._plain(fuzz_id, ["Subject: Re: x", "MIME-Version: 1.0", head], body)

    def junk(self, target: Target, fuzz_id: int) -> bytes:
        size = self.rng.randrange(1, 3000)
        return f"X-Fuzz-Id: {fuzz_id}\r\n".encode() + self.rng.randbytes(size)


# Hypothesis: header values and bodies an attacker controls, for the property tests.
header_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200
).map(lambda s: s.replace("\n", " ").replace("\r", " "))
raw_header_bytes = st.binary(max_size=300).filter(lambda b: b"\n" not in b and b"\r" not in b)


@st.composite
def hostile_raw(draw: st.DrawFn) -> bytes:
    """A message with attacker-chosen header values (some raw 8-bit) and body."""
    headers = draw(st.lists(
        st.tuples(st.sampled_from(["From", "To", "Subject", "Message-ID", "In-Reply-To",
                                   "Content-Type", "Content-Transfer-Encoding", "Return-Path",
                                   "Authentication-Results", "DKIM-Signature", "References"]),
                  st.one_of(header_text.map(lambda s: s.encode("utf-8")), raw_header_bytes)),
        max_size=12,
    ))
    body = draw(st.binary(max_size=2000))
    return b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers) + (
        b"\r\n" + body
    )
