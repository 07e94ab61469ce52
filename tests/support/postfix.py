"""A real Postfix relay for tests: its own config and queue in a temp dir, a loopback port.

The service sends through it as through any smarthost; it relays everything to `relayhost`
(the test's SMTP sink standing in for the recipients' servers) and delivers mail for the
`local` domains over LMTP (Dovecot's, as a normal deployment does). When the next hop refuses
a recipient after Postfix accepted the message, Postfix's own bounce daemon writes the DSN and
sends it to the envelope sender: the bounce path is exercised by the MTA, not by our fixture.

Needs root (Postfix's master drops to the `postfix` user) and Debian's `postfix` package,
which scripts/install-system-deps.sh installs with "No configuration" and without starting it.
The instance is stopped with `postfix -c CONF stop`; nothing of the machine's mail system
(there is none by default) is read or touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

_MAIN = """\
# Written by tests/support/postfix.py: loopback only, no DNS, no local delivery.
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.relay.example
mydomain = relay.example
myorigin = relay.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{relay_port}
transport_maps = texthash:{root}/conf/transport
# signon+anything@ looks up signon@ in transport_maps, as in a deployment's own domain
recipient_delimiter = +
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_host_lookup = native
alias_maps =
alias_database =
local_recipient_maps =
biff = no
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
"""

# chroot off everywhere: the queue lives in a temp dir, not under /var/spool/postfix.
_MASTER = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
lmtp      unix  - - n -    - lmtp
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postfix_available() -> str:
    """Why Postfix cannot run here, or "" when it can."""
    if not Path(POSTFIX).exists():
        return "postfix is not installed; run scripts/install-system-deps.sh"
    if os.geteuid() != 0:
        return "a Postfix instance needs root (its master drops to the postfix user)"
    return ""


@dataclass
class Postfix:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            subprocess.run([POSTFIX, "-c", str(self.conf), "stop"], capture_output=True,
                           timeout=30, check=False)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postfix(*, relay_port: int, lmtp: dict[str, int], timeout: float = 20.0) -> Postfix:
    """Run `postfix start-fg` on a free loopback port; `lmtp` maps an address (its plus
    variants included) or a domain to the LMTP port that mail for it is delivered to."""
    why = postfix_available()
    if why:
        raise RuntimeError(why)
    # Postfix's processes run as `postfix` and must reach every folder on the way to the
    # queue, which pytest's private temp dirs don't allow: a temp dir of its own, removed by
    # stop().
    root = Path(tempfile.mkdtemp(prefix="outreach-postfix-"))
    os.chmod(root, 0o755)  # noqa: S103 (holds only this test's queue and config)
    conf = root / "conf"
    conf.mkdir()
    (root / "queue").mkdir()
    (root / "data").mkdir()
    shutil.chown(root / "data", "postfix")
    port = _free_port()
    (conf / "main.cf").write_text(_MAIN.format(root=root, relay_port=relay_port))
    (conf / "master.cf").write_text(_MASTER.format(port=port))
    (conf / "transport").write_text(
        "".join(f"{key} lmtp:inet:127.0.0.1:{lmtp_port}\n" for key, lmtp_port in lmtp.items())
    )
    # `postfix check` creates the queue's subdirectories with their owners and modes.
    subprocess.run([POSTFIX, "-c", str(conf), "check"], capture_output=True, timeout=30,
                   check=True)
    process = subprocess.Popen([POSTFIX, "-c", str(conf), "start-fg"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Postfix(root=root, port=port, process=process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postfix exited ({process.returncode}):\n{server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(100).startswith(b"220"):
                    return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"postfix did not answer on port {port} within {timeout}s\n{server.log()}")
