"""The baseline a user would write: Python's standard library only, independent of our code.

    python bench/stdlib_send.py CONTACTS.csv HOST PORT

Reads the contacts (email,name) and a plain-text letter, then waits for a line on stdin
("go": start-up is outside the measured window), builds one `EmailMessage` per contact and
sends it over one reused `smtplib.SMTP` connection. Prints "<sent> <cpu seconds> <wall
seconds>" of the sending alone (its own process's CPU, `time.process_time`).
"""

from __future__ import annotations

import csv
import smtplib
import sys
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

LETTER = """Dear {name},

We invite your organisation to sign our joint letter to the ministry. To sign, reply to this
email with "We sign" and the name of your organisation as it should appear on the letter.

The signing closes in ten days. Thank you for your support.

-- The coordinating team
"""


def main() -> None:
    path, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(path, newline="", encoding="utf-8") as f:
        contacts = list(csv.reader(f))
    sys.stdin.readline()  # go
    cpu0, t0 = time.process_time(), time.perf_counter()
    sent = 0
    with smtplib.SMTP(host, port) as smtp:
        for email, name in contacts:
            msg = EmailMessage()
            msg["From"] = "Signon <signon@hrn.example>"
            msg["To"] = email
            msg["Subject"] = "Invitation to sign the joint letter"
            msg["Date"] = formatdate(localtime=False)
            msg["Message-ID"] = make_msgid(domain="hrn.example")
            msg.set_content(LETTER.format(name=name))
            smtp.send_message(msg)
            sent += 1
    print(sent, time.process_time() - cpu0, time.perf_counter() - t0, flush=True)


if __name__ == "__main__":
    main()
