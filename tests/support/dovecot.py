"""A real Dovecot IMAP server for tests: its own config in a temp dir, a loopback port, Maildir."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
LDA = "/usr/lib/dovecot/dovecot-lda"
USER = "signon"
PASSWORD = "test-password"

_CONFIG = """\
# Written by tests/support/dovecot.py; loopback only, plain auth, no SSL.
base_dir = {run}
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap{lmtp_protocol}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
mail_location = maildir:{mail}/%u/Maildir
mail_uid = {uid}
mail_gid = {gid}
default_internal_user = {internal}
default_login_user = {login}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{lmtp}service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
service auth {{
  user = {auth_user}
}}
service auth-worker {{
  user = {auth_user}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Dovecot:
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    mail: Path
    lmtp_port: int = 0  # 0: no LMTP listener (start_dovecot(..., lmtp=True) opens one)
    run: Path | None = None  # base_dir: sockets and pid file, a short temp dir of its own
    user: str = USER
    password: str = PASSWORD
    folder: str = "INBOX"

    @property
    def url(self) -> str:
        return f"imap://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.folder}"

    def append(self, *messages: bytes, folder: str | None = None) -> None:
        """Deliver messages into the mailbox as an MTA would (IMAP APPEND)."""
        from imapclient import IMAPClient

        with IMAPClient("127.0.0.1", port=self.port, ssl=False) as client:
            client.login(self.user, self.password)
            for raw in messages:
                client.append(folder or self.folder, raw)

    def deliver(self, raw: bytes, *, mail_from: str, rcpt_to: str) -> None:
        """Deliver as Postfix's `mailbox_command` does: Dovecot's LDA, envelope sender and the
        original recipient (a plus-address of this user) on its command line."""
        done = subprocess.run(
            [LDA, "-c", str(self.root / "dovecot.conf"), "-d", self.user, "-f", mail_from,
             "-a", rcpt_to],
            input=raw, capture_output=True, timeout=30, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"dovecot-lda exited {done.returncode}: {done.stderr!r}\n"
                               f"{self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        if not self.mail.is_relative_to(self.root):
            shutil.rmtree(self.mail, ignore_errors=True)
        if self.run is not None:
            shutil.rmtree(self.run, ignore_errors=True)


_LMTP = """\
# LMTP for an MTA in front (tests/support/postfix.py): signon+detail@any.domain is signon.
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
auth_username_format = %Ln
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
}}
"""


def start_dovecot(root: Path, timeout: float = 15.0, *, lmtp: bool = False) -> Dovecot:
    """Write a config under `root`, run `dovecot -F -c CONF`, wait until it answers IMAP
    (and, with `lmtp`, accepts LMTP on a loopback port of its own)."""
    if not Path(DOVECOT).exists():
        raise RuntimeError("dovecot is not installed; run scripts/install-system-deps.sh")
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "mail"):
        (root / sub).mkdir(exist_ok=True)
    # login/internal processes run as dovecot's own users and must reach the sockets in run/
    os.chmod(root, 0o755)  # noqa: S103 (a temp dir of the test; Dovecot users must enter it)
    uid, gid = os.getuid(), os.getgid()
    privileged = uid == 0
    mail = root / "mail"
    if privileged:
        # Dovecot never accesses mail as root: use `nobody`, in a folder it can reach.
        import pwd

        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        mail = Path(tempfile.mkdtemp(prefix="outreach-dovecot-mail-"))
        os.chmod(mail, 0o700)
        os.chown(mail, uid, gid)
    # Unix sockets live under base_dir, and a socket path may not exceed 107 bytes: pytest's
    # temp dirs (deeper under xdist) are too long for names like token-login/imap-urlauth.
    run = Path(tempfile.mkdtemp(prefix="dc-"))
    os.chmod(run, 0o755)  # noqa: S103 (sockets for dovecot's own users)
    port = free_port()
    lmtp_port = free_port() if lmtp else 0
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    conf = root / "dovecot.conf"
    conf.write_text(
        _CONFIG.format(
            root=root,
            run=run,
            mail=mail,
            port=port,
            uid=uid,
            gid=gid,
            internal="dovecot" if privileged else _user_name(),
            login="dovenull" if privileged else _user_name(),
            # the passwd file lies under a private temp dir only its owner can enter
            auth_user="root" if privileged else _user_name(),
            lmtp=_LMTP.format(port=lmtp_port) if lmtp else "",
            lmtp_protocol=" lmtp" if lmtp else "",
        )
    )
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    server = Dovecot(root=root, port=port, process=process, mail=mail, lmtp_port=lmtp_port,
                     run=run)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"dovecot exited ({process.returncode}): {output}\n{server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"dovecot did not answer on port {port} within {timeout}s\n{server.log()}")


def _user_name() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name
