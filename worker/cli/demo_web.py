"""The end of `outreach demo`: the web console on the demo campaign, with a login to use."""

from __future__ import annotations

import http.cookiejar
import re
import secrets
import socket
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from worker.actions.users import add_user
from worker.db import reset_engines, session_scope
from worker.settings import get_settings, reset_settings

DEMO_LEAD = "lead@demo.example"


def _port(preferred: int) -> int:
    """The configured port if it is free, else any free one (a console may already run)."""
    for candidate in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise OSError("no free port for the web console")


def _check(base: str, slug: str, password: str) -> str:
    """Log in as a browser would and open the campaign's dashboard; returns its title."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = opener.open(base + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "the login page has no CSRF field"
    form = urllib.parse.urlencode(
        {"email": DEMO_LEAD, "password": password, "csrf_token": token.group(1)}
    ).encode()
    opener.open(base + "/login", data=form, timeout=10).read()
    dashboard = opener.open(f"{base}/c/{slug}", timeout=10).read().decode()
    title = re.search(r"<h1>(.*?)</h1>", dashboard, re.S)
    if title is None:
        raise RuntimeError("the web console did not show the campaign after logging in")
    return title.group(1).strip()


def open_console(console: Console, data_dir: Path, slug: str, *, keep_running: bool) -> None:
    """Add a lead account, start `outreach web` on the demo's database and print how to log
    in. On a terminal it keeps serving until Ctrl-C; otherwise (CI, --quiet) it proves the
    console serves the campaign after a login, then stops."""
    import uvicorn

    from worker.web.app import create_app

    reset_settings()
    reset_engines()
    settings = get_settings()
    assert settings.data_dir.resolve() == data_dir.resolve(), "the demo's data folder is not set"
    password = secrets.token_urlsafe(12)
    with session_scope() as session:
        add_user(session, DEMO_LEAD, "lead", password, now=datetime.now(UTC))
    port = _port(settings.web_port)
    base = f"http://127.0.0.1:{port}"
    console.print(
        f"\n[bold]Web console[/bold]: {base}/c/{slug}\n"
        f"  login: {DEMO_LEAD}   password: {password}\n"
        f"  (more accounts: OUTREACH_DATA_DIR={data_dir} outreach user add EMAIL --role lead)",
        highlight=False, soft_wrap=True,  # a command to copy: never folded mid-path
    )
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", server_header=False))  # fmt: skip
    if keep_running:
        console.print("Serving until Ctrl-C.")
        server.run()
        return
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        limit = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > limit or not thread.is_alive():
                raise RuntimeError("the web console did not start")
            time.sleep(0.1)
        title = _check(base, slug, password)
        console.print(
            f"  checked: logged in and opened the dashboard of {title!r}. Not a terminal, so "
            f"it stops here; run it again with `OUTREACH_DATA_DIR={data_dir} outreach web`.",
            highlight=False, soft_wrap=True,
        )
    finally:
        server.should_exit = True
        thread.join(10)
