"""Raw mail bytes to parsed headers and readable text, surviving real Japanese charsets."""

from __future__ import annotations

import email
import email.header
import email.headerregistry
import email.parser
import email.utils
import re
import unicodedata
from dataclasses import dataclass
from email.message import Message
from html.parser import HTMLParser

# Labels that in practice mean Microsoft's CP932 (NEC/IBM extensions, ①, ㈱, ～).
_CP932_ALIASES = frozenset(
    {"shift_jis", "shift-jis", "sjis", "x-sjis", "s-jis", "shift_jis-2004", "windows-31j",
     "cp932", "ms932", "ms_kanji", "csshiftjis", "x-ms-cp932", "cswindows31j"}
)
_EUC_ALIASES = frozenset({"euc-jp", "euc_jp", "eucjp", "x-euc-jp", "ujis", "cseucpkdfmtjapanese"})
_JIS_ALIASES = frozenset(
    {"iso-2022-jp", "iso2022jp", "iso-2022-jp-1", "iso-2022-jp-2", "iso-2022-jp-3",
     "iso-2022-jp-2004", "csiso2022jp", "iso-2022-jp-ms", "cp50220", "cp50221", "cp50222"}
)
_OTHER_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "ks_c_5601-1987": "cp949",
                  "us-ascii": "utf-8", "ascii": "utf-8", "iso-8859-1": "cp1252",
                  "latin1": "cp1252", "latin-1": "cp1252", "unknown-8bit": "utf-8",
                  "x-unknown": "utf-8", "utf8": "utf-8"}

_JIS_ESCAPE = re.compile(rb"\x1b(\$B|\$@|\$\(B|\$\(Q|\$\(O|\$\(D|\$A|\(B|\(J|\(I|\(H)")
_PLUS_80 = bytes((b | 0x80) for b in range(256))
_TRANSLATE_DASHES = str.maketrans(
    {
        "\u301c": "～", "\uff5e": "～", "\u223c": "～",  # wave dash variants
        "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-",  # minus, hyphens
        "\u2013": "-", "\u2014": "-", "\u2015": "-", "\uff0d": "-",  # en/em/bar dashes
        "\u00a0": " ", "\u200b": "", "\ufeff": "",
        "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    }
)


def decode_iso2022jp(data: bytes) -> str:
    """Decode ISO-2022-JP including NEC row 13 (①, ㈱), JIS X 0212/0213 and half-width kana.

    Python's iso2022_jp codecs reject the vendor characters Japanese mailers send every day,
    so 1. split at escape sequences, 2. turn each JIS X 0208 run into EUC bytes and decode it
    as EUC-JIS-2004 (whose row 13 matches NEC's), 3. map ESC ( I kana to cp932 half-width kana.
    """
    out: list[str] = []
    mode = b"(B"
    pos = 0
    for match in _JIS_ESCAPE.finditer(data):
        out.append(_decode_jis_run(data[pos : match.start()], mode))
        mode = match.group(1)
        pos = match.end()
    out.append(_decode_jis_run(data[pos:], mode))
    return "".join(out)


def _decode_jis_run(run: bytes, mode: bytes) -> str:
    if not run:
        return ""
    if mode in (b"$B", b"$@", b"$(B", b"$(Q", b"$(O"):
        # line breaks can sit inside a double-byte run in broken mail; keep them
        parts = run.split(b"\n")
        return "\n".join(
            p.rstrip(b"\r").translate(_PLUS_80).decode("euc_jis_2004", "replace") for p in parts
        )
    if mode == b"$(D":
        pairs = (run[i : i + 2].translate(_PLUS_80) for i in range(0, len(run) - 1, 2))
        return b"".join(b"\x8f" + pair for pair in pairs).decode("euc_jp", "replace")
    if mode == b"(I":
        return run.translate(_PLUS_80).decode("cp932", "replace")
    if b"\x0e" in run:  # SO/SI shifted half-width kana inside ASCII mode
        return re.sub(
            rb"\x0e([^\x0f]*)\x0f?", lambda m: m.group(1).translate(_PLUS_80), run
        ).decode("cp932", "replace")
    return run.decode("utf-8", "replace")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode `data` declared as `charset`; never raises, unknown bytes become U+FFFD."""
    name = (charset or "").strip().strip('"').lower()
    if name in _JIS_ALIASES or (not name and b"\x1b$" in data):
        return decode_iso2022jp(data)
    if name in _CP932_ALIASES:
        return data.decode("cp932", "replace")
    if name in _EUC_ALIASES:
        try:
            return data.decode("euc_jp")
        except UnicodeDecodeError:
            return data.decode("euc_jis_2004", "replace")
    name = _OTHER_ALIASES.get(name, name)
    if not name or name == "utf-8":
        return _decode_undeclared(data)
    try:
        return data.decode(name, "replace")
    except LookupError:
        return _decode_undeclared(data)


def _decode_undeclared(data: bytes) -> str:
    """UTF-8 if it is valid, else the Japanese charset that decodes cleanly, else UTF-8 lossy."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x1b$" in data:
        return decode_iso2022jp(data)
    for codec in ("cp932", "euc_jp"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "replace")


# The characters the table maps: `str.translate` looks up every character of the text, so a
# line with none of them (most) is not translated at all.
_DASH_CHARS = re.compile("[" + "".join(re.escape(chr(c)) for c in _TRANSLATE_DASHES) + "]")


def normalise(text: str) -> str:
    """NFKC plus one form for wave dashes, dashes, quotes and invisible spaces."""
    if text.isascii():  # neither NFKC nor the table changes an ASCII character
        return text
    if _DASH_CHARS.search(text):
        text = text.translate(_TRANSLATE_DASHES)
    text = unicodedata.normalize("NFKC", text)
    return text.translate(_TRANSLATE_DASHES) if _DASH_CHARS.search(text) else text


def decode_header_value(value: object) -> str:
    """A header value with RFC 2047 encoded-words decoded by our charset rules; never raises."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    text = str(value)
    if any("\udc80" <= c <= "\udcff" for c in text):  # raw 8-bit bytes kept by the parser
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if "=?" not in text:
        return re.sub(r"\r?\n[ \t]+", " ", text).strip()
    try:
        chunks = email.header.decode_header(text)
    except Exception:  # malformed encoded-words: keep the raw text
        return text.strip()
    parts: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            parts.append(decode_bytes(chunk, charset))
        else:
            parts.append(chunk)
    return re.sub(r"\r?\n[ \t]+", " ", "".join(parts)).strip()


@dataclass(frozen=True)
class MessageHeaders:
    """The headers intake and classification need, decoded; addresses lower-cased."""

    from_address: str | None
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    delivered_to: tuple[str, ...]
    x_original_to: tuple[str, ...]
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    authentication_results: tuple[str, ...]
    return_path: str | None  # "" for the null path <>
    from_ambiguity: tuple[str, ...] = ()  # why From may not name one sender (never verified)


_MSGID = re.compile(r"<[^<>\s]+>")
_FOLD = re.compile(r"\r?\n[ \t]*")
_ADDRESS_LIKE = re.compile(r"@|＠|\bat\s*[\w-]+\.[a-z]{2,}\b", re.IGNORECASE)
_ADDR_SPEC = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
_REGISTRY = email.headerregistry.HeaderRegistry()
_HEADERS_ONLY = email.parser.BytesHeaderParser()


def _raw_values(msg: Message, name: str) -> list[str]:
    """Header values exactly as received (still encoded), unfolded."""
    values = msg.get_all(name) or []
    return [_FOLD.sub(" ", v if isinstance(v, str) else str(v)) for v in values]


def _addresses(msg: Message, name: str) -> tuple[str, ...]:
    """Addresses parsed from the undecoded value: an encoded-word is never an address."""
    pairs = email.utils.getaddresses(_raw_values(msg, name))
    return tuple(a.strip().lower() for _, a in pairs if "@" in a)


@dataclass(frozen=True)
class Sender:
    """The From header read without trusting it: the address, and why it may not be one."""

    address: str | None
    name: str
    ambiguity: tuple[str, ...]  # empty: exactly one plain address, nothing disguised


def parse_sender(values: list[str]) -> Sender:
    """Parse From from its raw (undecoded) values; never raises.

    The address comes from the raw text, so `=?utf-8?q?info=40ngo.example?= <x@evil>` is
    x@evil. Two parsers (getaddresses and the header registry) must agree on exactly one
    address; a group, several addresses, an encoded or odd local part, or a display name that
    looks like an address makes the From ambiguous, and an ambiguous From never verifies.
    """
    reasons: list[str] = []
    if len(values) != 1:
        reasons.append(f"from-headers: {len(values)} From headers")
    raw = values[0] if values else ""
    pairs = [(n, a) for n, a in email.utils.getaddresses([raw]) if n or a]
    name_raw, address = pairs[0] if pairs else ("", "")
    address = address.strip()
    if len(pairs) != 1:
        reasons.append(f"from-addresses: {len(pairs)} addresses in From")
    try:
        parsed = _REGISTRY("From", raw)
        groups = list(parsed.groups)  # type: ignore[attr-defined]
        registry = [a.addr_spec for a in parsed.addresses]  # type: ignore[attr-defined]
        if any(g.display_name is not None for g in groups):
            reasons.append("from-group: From is a group")
        if len(registry) != 1 or registry[0].lower() != address.lower():
            reasons.append(f"from-parsers-disagree: {registry!r} vs {address!r}")
    except Exception as exc:  # the registry parser can trip on broken 8-bit input
        reasons.append(f"from-unparseable: {type(exc).__name__}")
    if address and not _ADDR_SPEC.match(address):
        reasons.append(f"from-odd-address: {address!r}")
    elif not address:
        reasons.append("from-missing: no address")
    if "=?" in address:
        reasons.append("from-encoded-address: encoded-word in the address")
    name = decode_header_value(name_raw) if name_raw else ""
    if _ADDRESS_LIKE.search(name):
        reasons.append(f"from-name-looks-like-address: {name!r}")
    printable = address.isprintable() and not any(c.isspace() for c in address)
    clean = address.lower() if address and "@" in address and printable else None
    return Sender(clean, name, tuple(dict.fromkeys(reasons)))


def headers_of(msg: Message) -> MessageHeaders:
    """Decode the headers of an already parsed message."""
    sender = parse_sender(_raw_values(msg, "From"))
    rp_raw = msg.get("Return-Path")
    return_path: str | None = None
    if rp_raw is not None:
        rp = decode_header_value(rp_raw).strip()
        return_path = rp.strip("<>").strip().lower()
    in_reply = _MSGID.findall(decode_header_value(msg.get("In-Reply-To")))
    mid = _MSGID.findall(decode_header_value(msg.get("Message-ID")))
    return MessageHeaders(
        from_address=sender.address,
        from_name=sender.name,
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        delivered_to=_addresses(msg, "Delivered-To"),
        x_original_to=_addresses(msg, "X-Original-To"),
        message_id=mid[0] if mid else None,
        in_reply_to=in_reply[0] if in_reply else None,
        references=tuple(_MSGID.findall(decode_header_value(msg.get("References")))),
        subject=decode_header_value(msg.get("Subject")),
        authentication_results=tuple(
            decode_header_value(v) for v in (msg.get_all("Authentication-Results") or [])
        ),
        return_path=return_path,
        from_ambiguity=sender.ambiguity,
    )


def parse_message(raw: bytes) -> Message:
    """Parse raw bytes leniently (compat32 keeps 8-bit header bytes for our own decoding)."""
    return email.message_from_bytes(raw)


def parse_headers(raw: bytes) -> MessageHeaders:
    """Raw bytes to decoded headers; never raises on malformed input. The body is not parsed
    (storing reads only headers, and a reply quoting our letter is mostly body); the headers
    are read by the same compat32 parser as `parse_message`'s, so they decode the same."""
    return headers_of(_HEADERS_ONLY.parsebytes(_header_block(raw)))


# Two line ends in a row, whichever ends a line (the parser's universal newlines: CRLF, LF or a
# lone CR): the empty line that ends the header block is at or before the first of these.
_EMPTY_LINE = re.compile(rb"\n\n|\n\r\n|\r\r")


def _header_block(raw: bytes) -> bytes:
    """`raw` cut after its first certain empty line. The parser reads header fields only up
    to the first empty line and then splits the whole rest into lines as the body; cutting
    there (or later) leaves the headers as they were, and a reply quoting our letter is mostly
    body. No empty line found: all of it."""
    found = _EMPTY_LINE.search(raw)
    return raw[: found.end()] if found is not None else raw


def part_text(part: Message) -> str:
    """The decoded text of a non-multipart part, HTML turned into text; never raises."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text = decode_bytes(payload, charset)
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return lf_line_ends(text)


def lf_line_ends(text: str) -> str:
    """Every line ending (CRLF or a lone CR) as LF: how a part's text is read, and so how an
    outgoing email keeps the texts a reply's quote is compared with."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


# Work caps: a reply is a few kilobytes; anything far beyond is cut here and sent to review
# by worker.core.limits before it is ever acted on.
MAX_HTML_CHARS = 1_000_000
MAX_QUOTE_PREFIX = 16  # "> " levels written; deeper quotes are still quotes


class _TextExtractor(HTMLParser):
    """Block tags become line breaks, <blockquote> becomes "> " quoting, scripts vanish."""

    _BLOCK = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "hr"})
    _SKIP = frozenset({"style", "script", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.depth = 0
        self.skip = 0

    def _flush(self) -> None:
        text = "".join(self.current)
        self.current = []
        for line in text.split("\n"):
            depth = min(self.depth, MAX_QUOTE_PREFIX)
            self.lines.append("> " * depth + line.strip() if depth else line.strip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skip += 1
        elif tag == "blockquote":
            self._flush()
            self.depth += 1
        elif tag in self._BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self._flush()
            self.depth = max(0, self.depth - 1)
        elif tag in self._BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of an HTML body; quotes keep a "> " prefix so they can be removed."""
    parser = _TextExtractor()
    try:
        parser.feed(html[:MAX_HTML_CHARS])
        parser.close()
    except Exception:  # html.parser is lenient; this is belt and braces
        return re.sub(r"<[^>]*>", " ", html)
    parser._flush()
    text = "\n".join(parser.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
