"""Accounts, sessions, CSRF and headers of the web console, through its HTTP interface."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from worker.actions.users import add_user
from worker.errors import UserError
from worker.models import WebUser
from worker.web.app import ROUTES
from worker.web.security import CSP

from .conftest import LEAD, VIEWER, csrf_of, login


def test_password_is_stored_only_as_an_argon2id_hash(session: Session, accounts: None) -> None:
    user = session.scalars(select(WebUser).where(WebUser.email == LEAD[0])).one()
    assert user.password_hash.startswith("$argon2id$")
    assert LEAD[1] not in user.password_hash


def test_short_password_and_unknown_role_are_refused(session: Session) -> None:
    now = datetime.now(UTC)
    with pytest.raises(UserError, match="at least 10"):
        add_user(session, "a@x.example", "lead", "short", now=now)
    with pytest.raises(UserError, match=r"lead .* or viewer"):
        add_user(session, "a@x.example", "admin", "long enough password", now=now)


def test_pages_need_a_login(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_wrong_password_is_refused_and_the_sixth_try_is_throttled(client: TestClient) -> None:
    for _ in range(5):
        token = csrf_of(client.get("/login").text)
        wrong = client.post("/login", data={"email": LEAD[0], "password": "guess guess guess",
                                            "csrf_token": token})  # fmt: skip
        assert wrong.status_code == 401
    token = csrf_of(client.get("/login").text)
    # Even the right password waits now: guessing on gains nothing.
    throttled = client.post("/login", data={"email": LEAD[0], "password": LEAD[1],
                                            "csrf_token": token})  # fmt: skip
    assert throttled.status_code == 429
    assert "wait 15 minutes" in throttled.text


def test_session_cookie_is_httponly_and_strict(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"email": LEAD[0], "password": LEAD[1],
                                           "csrf_token": token})  # fmt: skip
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_a_post_without_the_csrf_token_is_refused(client: TestClient) -> None:
    login(client, LEAD)
    response = client.post("/logout", data={})
    assert response.status_code == 403
    forged = client.post("/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert client.get("/").status_code == 200  # still logged in: nothing happened


def test_login_form_itself_needs_the_csrf_token(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"email": LEAD[0], "password": LEAD[1]})
    assert response.status_code == 403


def test_every_page_has_a_csp_without_inline_script(client: TestClient) -> None:
    login(client, LEAD)
    response = client.get("/")
    assert response.headers["content-security-policy"] == CSP
    assert "'unsafe-inline'" not in CSP.split("script-src")[1].split(";")[0]
    assert "<script>" not in response.text  # every script has a src on our own origin
    assert response.headers["x-content-type-options"] == "nosniff"


def test_after_login_only_local_paths_are_followed(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post("/login?next=//evil.example/x", data={
        "email": VIEWER[0], "password": VIEWER[1], "csrf_token": token})  # fmt: skip
    assert response.headers["location"] == "/"


def test_every_post_route_refuses_a_request_without_the_csrf_token(client: TestClient) -> None:
    """Every form target, as a logged-in lead; only the token-authenticated unsubscribe is open."""
    login(client, LEAD)
    checked = 0
    for route in ROUTES:
        if "POST" not in (getattr(route, "methods", None) or set()):
            continue
        if route.path == "/unsubscribe/{token}":
            continue
        path = (route.path.replace("{slug}", "icc-2024").replace("{item_id:int}", "1")
                .replace("{outbox_id:int}", "1").replace("{verb:str}", "start"))  # fmt: skip
        response = client.post(path, data={"outcome": "sign", "decision": "sent"})
        assert response.status_code == 403, (route.path, response.status_code)
        checked += 1
    assert checked >= 9
