"""`outreach demo`: the seed campaign end to end, in minutes, on one machine, with no server.

What runs is the real service: `outreach campaign load`, `contacts import` and `campaign start`,
a Celery worker and beat (`outreach worker`, `outreach beat`, as subprocesses on Kombu's
filesystem broker), the LMTP intake listener, and SQLite. Only the world outside is simulated:
an SMTP server that captures every email into a folder (aiosmtpd), and the NGOs, whose replies
are built from the invitations they actually received (quoting them, sent to the personal reply
address) and delivered over LMTP, as an MTA would.

Time is accelerated by the campaign's own schedule, not by a fake clock: the demo writes a copy
of the campaign file whose invitations go out now, whose single reminder round falls due a
minute later and whose deadline follows shortly after; quiet hours are switched off because the
demo may run at night in Tokyo.
"""

from worker.demo.run import Demo
from worker.demo.scenario import SLUG, DemoFailed, Options, Result

__all__ = ["SLUG", "Demo", "DemoFailed", "Options", "Result"]
