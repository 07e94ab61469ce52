"""The baseline a user would write: Python's standard library only, independent of our code.

    python bench/stdlib_send.py CONTACTS.csv HOST PORT [LETTERS]

Reads the contacts (email,name[,lang]) and the letter, then waits for a line on stdin ("go":
start-up is outside the measured window), builds one `EmailMessage` per contact and sends it
over one reused `smtplib.SMTP` connection. Prints "<sent> <cpu seconds> <wall seconds>" of
the sending alone (its own process's CPU, `time.process_time`).

The letter is the short plain text below, or, with LETTERS (a folder of <lang>.subject,
<lang>.txt and <lang>.html, "{name}" where the contact's name goes), the same email the
service sends: its subject, its text and its HTML as alternatives, in the contact's language.
"""

from __future__ import annotations

import csv
import smtplib
import sys
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

LETTER = """Dear {name},

We invite your organisation to sign our joint letter to the ministry. To sign, reply to this
email with "We sign" and the name of your organisation as it should appear on the letter.

The signing closes in ten days. Thank you for your support.

-- The coordinating team
"""


def read_letters(folder: Path) -> dict[str, tuple[str, str, str]]:
    """{lang: (subject, text, html)} from the LETTERS folder."""
    return {
        path.stem: (
            path.read_text(encoding="utf-8").strip(),
            path.with_suffix(".txt").read_text(encoding="utf-8"),
            path.with_suffix(".html").read_text(encoding="utf-8"),
        )
        for path in folder.glob("*.subject")
    }


def main() -> None:
    path, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    letters = read_letters(Path(sys.argv[4])) if len(sys.argv) > 4 else None
    with open(path, newline="", encoding="utf-8") as f:
        contacts = list(csv.reader(f))
    sys.stdin.readline()  # go
    cpu0, t0 = time.process_time(), time.perf_counter()
    sent = 0
    with smtplib.SMTP(host, port) as smtp:
        for email, name, *lang in contacts:
            msg = EmailMessage()
            msg["From"] = "Signon <signon@hrn.example>"
            msg["To"] = email
            msg["Date"] = formatdate(localtime=False)
            msg["Message-ID"] = make_msgid(domain="hrn.example")
            if letters is None:
                msg["Subject"] = "Invitation to sign the joint letter"
                msg.set_content(LETTER.format(name=name))
            else:
                subject, text, html = letters[lang[0]]
                msg["Subject"] = subject.replace("{name}", name)
                msg.set_content(text.replace("{name}", name))
                msg.add_alternative(html.replace("{name}", name), subtype="html")
            smtp.send_message(msg)
            sent += 1
    print(sent, time.process_time() - cpu0, time.perf_counter() - t0, flush=True)


if __name__ == "__main__":
    main()
