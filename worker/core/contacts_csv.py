"""The contacts CSV as validated values: decoding, row checks, and organisations grouped by org_id.

Pure: bytes or text in, values and problems out. Row numbers are spreadsheet rows (the header
is row 1, the first contact row 2), so a person can find them in Excel.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from worker.core.identity import Identity, first_match
from worker.core.readings import is_kana, katakana_to_hiragana
from worker.core.untrusted import control_problem

COLUMNS = (
    "org_id",
    "name_en",
    "name_ja",
    "reading",
    "language",
    "email",
    "person_name",
    "domains",
    "timezone",
    "coordinator",
    "aliases",
)
REQUIRED_COLUMNS = ("org_id", "language", "email")
LANGUAGES = ("en", "ja")
# Fields that describe the organisation (taken from its first row) rather than one address.
ORG_FIELDS = ("org_id", "name_en", "name_ja", "reading", "language", "domains", "timezone",
              "coordinator", "aliases")  # fmt: skip
_YES = {"yes", "y", "true", "1", "はい"}
_NO = {"no", "n", "false", "0", "いいえ", ""}
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_ORG_ID_MAX = 200


class EncodingProblem(ValueError):
    """The file is neither UTF-8 nor Shift_JIS/CP932."""


@dataclass(frozen=True)
class RowProblem:
    row: int  # spreadsheet row; 1 is the header
    field: str | None
    message: str


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # as told to the user: "UTF-8", "UTF-8 with BOM", "Shift_JIS (CP932)"


@dataclass(frozen=True)
class ContactRow:
    row: int
    email: str  # normalised, lower case
    person_name: str | None
    language: str


@dataclass
class OrgRecord:
    org_id: str
    first_row: int
    name_en: str | None
    name_ja: str | None
    reading: str | None  # hiragana, from the file; None: let the analyser read name_ja
    language: str
    domains: list[str]
    timezone: str | None
    is_coordinator: bool
    contacts: list[ContactRow] = field(default_factory=list)  # file order; [0] is the primary
    aliases: list[str] = field(default_factory=list)  # other names it is known by ("HRW")


@dataclass
class ParsedContacts:
    organisations: list[OrgRecord]
    problems: list[RowProblem]
    header_problems: list[RowProblem]
    total_rows: int
    bad_rows: set[int]


def _plausible(text: str) -> bool:
    # NUL bytes mean UTF-16/32; private-use characters are how CP932 "decodes" bytes it
    # does not know (0xFD-0xFF), never a real name.
    return "\x00" not in text and not any("\ue000" <= c <= "\uf8ff" for c in text)


def decode_csv(data: bytes) -> Decoded:
    """UTF-8 (with or without BOM), else Shift_JIS as Excel writes it (CP932)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        pass  # UTF-16 ("Unicode text"): refused below with what to do instead
    elif data.startswith(b"\xef\xbb\xbf"):
        try:
            text = data[3:].decode("utf-8")
            if _plausible(text):
                return Decoded(text, "UTF-8 with BOM")
        except UnicodeDecodeError:
            pass
    else:
        for codec, label in (("utf-8", "UTF-8"), ("cp932", "Shift_JIS (CP932)")):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                continue
            if _plausible(text):
                return Decoded(text, label)
    raise EncodingProblem(
        "the file is neither UTF-8 nor Shift_JIS, so its characters cannot be read; "
        'in Excel use File > Save As > "CSV UTF-8 (Comma delimited) (*.csv)" and import that file'
    )


def parse_contacts(text: str) -> ParsedContacts:
    """Check every row and group good rows into organisations; report every problem found."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return ParsedContacts([], [], [RowProblem(1, None, "the file is empty")], 0, set())
    header = [h.strip().lower() for h in header]
    header_problems = [
        RowProblem(1, h or None, f"unknown column {h!r}; the columns are {', '.join(COLUMNS)}")
        for h in header
        if h not in COLUMNS
    ]
    header_problems += [
        RowProblem(1, c, f"column {c!r} is missing; add it to the header row")
        for c in REQUIRED_COLUMNS
        if c not in header
    ]
    if "name_en" not in header and "name_ja" not in header:
        header_problems.append(RowProblem(1, "name_en", "give a name_en or a name_ja column"))
    if header_problems:
        return ParsedContacts([], [], header_problems, 0, set())

    problems: list[RowProblem] = []
    orgs: dict[str, OrgRecord] = {}
    bad_orgs: set[str] = set()
    first_rows: dict[str, int] = {}
    first_values: dict[str, dict[str, str]] = {}
    emails: dict[str, int] = {}
    identities: list[Identity] = []
    bad_rows: set[int] = set()
    total = 0

    for index, cells in enumerate(reader):
        row = index + 2
        if not any(c.strip() for c in cells):
            continue  # blank line
        total += 1
        values = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}
        found: list[RowProblem] = []

        def problem(name: str | None, message: str, found: list[RowProblem] = found,
                    row: int = row) -> None:
            found.append(RowProblem(row, name, message))

        if len(cells) > len(header):
            problem(None, f"{len(cells)} cells but {len(header)} columns; quote cells that "
                          "contain commas")
        # 1. Header injection: every field ends up in mail headers or the letter.
        broken: set[str] = set()
        for name in header:
            raw = cells[header.index(name)] if header.index(name) < len(cells) else ""
            if "\r" in raw or "\n" in raw:
                problem(name, "contains a line break (CR/LF); put the value on one line")
                values[name] = ""
                broken.add(name)
            elif (why := control_problem(raw.strip(" \t"))) is not None:
                problem(name, why)  # a vertical tab or form feed breaks headers and the PDF
                values[name] = ""
                broken.add(name)
        org_id = values["org_id"]
        if not org_id:
            problem("org_id", "missing; give every organisation a short stable id, e.g. jvc")
        elif len(org_id) > _ORG_ID_MAX:
            problem("org_id", f"longer than {_ORG_ID_MAX} characters")
        is_first = bool(org_id) and org_id not in first_rows

        # 2. The address.
        email = ""
        if not values["email"]:
            problem("email", "missing; give the organisation's address")
        else:
            try:
                checked = validate_email(values["email"], check_deliverability=False)
                email = checked.normalized.lower()
            except EmailNotValidError as exc:
                problem("email", f"{values['email']!r} is not a valid address: {exc}")
                email = ""
        if email:
            if email in emails:
                problem("email", f"duplicate address {email}: already on row {emails[email]}")
            else:
                emails[email] = row

        # 3. Language: a later row of the same organisation may leave it empty.
        language = values["language"].lower()
        if not language and not is_first and org_id in first_values:
            language = first_values[org_id]["language"]
        if not language:
            problem("language", "missing; write en or ja")
        elif language not in LANGUAGES:
            problem("language", f"unknown language {values['language']!r}; write en or ja")

        # 4. The organisation: checked on its first row, repeated values must agree.
        if org_id and is_first:
            first_rows[org_id] = row
            first_values[org_id] = {k: values.get(k, "") for k in ORG_FIELDS}
            first_values[org_id]["language"] = language
            name_en, name_ja = values.get("name_en", ""), values.get("name_ja", "")
            if not (name_en or name_ja or broken & {"name_en", "name_ja"}):
                problem("name_en", "no name: give name_en or name_ja (or both)")
            if language == "ja" and not name_ja and "name_ja" not in broken:
                problem("name_ja", "a Japanese-language organisation needs its Japanese name")
            reading = values.get("reading", "")
            if reading and not is_kana(reading):
                problem("reading", f"{reading!r} is not kana; write the reading in hiragana")
            if reading and not name_ja:
                problem("reading", "a reading without name_ja; add the Japanese name")
            tz = values.get("timezone", "")
            if tz:
                try:
                    ZoneInfo(tz)
                except (ZoneInfoNotFoundError, ValueError):
                    problem("timezone", f"unknown timezone {tz!r}; use an IANA name such as "
                                        "Asia/Tokyo, or leave it empty for the campaign's")
            coordinator = values.get("coordinator", "").lower()
            if coordinator not in _YES | _NO:
                problem("coordinator", f"{values['coordinator']!r}: write yes or no")
            domains = [d.strip().lower() for d in values.get("domains", "").split(";")]
            for domain in filter(None, domains):
                if not _DOMAIN.match(domain):
                    problem("domains", f"{domain!r} is not a mail domain (e.g. ngo-jvc.org); "
                                       "separate several with ';'")
            aliases = [a.strip() for a in values.get("aliases", "").split(";") if a.strip()]
            # One organisation, one org_id: a name variant, alias or own domain in common
            # with an earlier organisation is the same organisation imported twice.
            identity = Identity(org_id, (name_en, name_ja, *aliases),
                                tuple(d for d in domains if d), f"row {row}")
            match = first_match(identity, identities)
            if match:
                other, why = match
                problem("domains" if "domain" in why else "name_en",
                        f"the same organisation as org_id {other.key!r} on {other.where} "
                        f"({why}): give one org_id to all its addresses (rows with the same "
                        "org_id), or, if they are different organisations, tell them apart")
            identities.append(identity)
            org_fields_bad = any(p.field in ORG_FIELDS for p in found)
            if org_fields_bad:
                bad_orgs.add(org_id)
            else:
                orgs[org_id] = OrgRecord(
                    org_id=org_id,
                    first_row=row,
                    name_en=name_en or None,
                    name_ja=name_ja or None,
                    reading=katakana_to_hiragana(reading).replace(" ", "").replace("・", "")
                    or None,
                    language=language,
                    domains=sorted({d for d in domains if d}),
                    timezone=tz or None,
                    is_coordinator=coordinator in _YES,
                    aliases=aliases,
                )
        elif org_id:
            first = first_values[org_id]
            for column in ORG_FIELDS:
                if column in ("org_id", "language") or column not in header:
                    continue
                value = values.get(column, "")
                if value and value != first.get(column, ""):
                    problem(column, f"differs from row {first_rows[org_id]} (the first row of "
                                    f"{org_id!r}); leave it empty or make it the same")
            if org_id in bad_orgs:
                problem("org_id", f"organisation {org_id!r} is bad on its first row "
                                  f"{first_rows[org_id]}")

        if found:
            problems.extend(found)
            bad_rows.add(row)
        elif org_id in orgs:
            orgs[org_id].contacts.append(
                ContactRow(row, email, values.get("person_name") or None, language)
            )

    good = [org for org in orgs.values() if org.contacts]
    return ParsedContacts(good, problems, [], total, bad_rows)
