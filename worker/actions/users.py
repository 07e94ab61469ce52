"""Web console accounts: add a person, check a password, throttle repeated failed logins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.core.audit_actions import AuditAction
from worker.errors import UserError
from worker.models import LoginAttempt, WebUser

ROLES = ("lead", "viewer")
MIN_PASSWORD_CHARS = 10
# Five wrong passwords for one address, or twenty from one client, within the window: wait.
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_CLIENT = 20
KEEP_ATTEMPTS = timedelta(days=1)

_HASHER = PasswordHasher()  # argon2id with the library's current recommended cost
# Verified against when the address is unknown, so a wrong address costs the same time.
_DUMMY_HASH = _HASHER.hash("not a password anyone has")


@dataclass(frozen=True)
class Account:
    """Who is logged in, as the web console sees it (no password hash leaves this module)."""

    id: int
    email: str
    role: str

    @property
    def can_decide(self) -> bool:
        return self.role == "lead"


class LoginThrottled(UserError):
    """Too many failed logins: the person must wait before trying again."""


def _normalise(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise UserError(f"{email!r} is not an email address: {exc}") from None


_USER_ACTIONS = {"created": AuditAction.USER_CREATED, "updated": AuditAction.USER_UPDATED}


def add_user(session: Session, email: str, role: str, password: str, *, now: datetime) -> str:
    """Create the account, or set a new password and role for an existing one.

    Returns "created" or "updated". The password is stored only as an argon2id hash.
    """
    if role not in ROLES:
        raise UserError(f"--role {role!r}: choose lead (decides) or viewer (only looks)")
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    address = _normalise(email)
    user = session.scalars(select(WebUser).where(WebUser.email == address)).first()
    outcome = "updated"
    if user is None:
        user = WebUser(email=address, role=role, password_hash="", created_at=now)
        session.add(user)
        outcome = "created"
    user.role = role
    user.password_hash = _HASHER.hash(password)
    user.updated_at = now
    session.flush()
    audit.record(
        session, actor="cli", entity="web_user", entity_id=user.id, action=_USER_ACTIONS[outcome],
        detail={"email": address, "role": role},
    )  # fmt: skip
    return outcome


def get_account(session: Session, user_id: int) -> Account | None:
    user = session.get(WebUser, user_id)
    return Account(user.id, user.email, user.role) if user is not None else None


def _failures(session: Session, where: Any, since: datetime) -> int:
    query = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.ok.is_(False), LoginAttempt.at >= since, where)
    )
    return int(session.scalar(query) or 0)


def authenticate(
    session: Session, email: str, password: str, *, client: str, now: datetime
) -> Account | None:
    """The account if the password is right; None if not. Every attempt is recorded.

    1. Throttle first: too many recent failures for this address or client -> LoginThrottled
       (checked before the password, so guessing on gains nothing while throttled).
    2. Verify the argon2 hash (a dummy one for an unknown address: same cost, no hint).
    3. Record the attempt; a success forgets nothing (failures age out of the window).
    """
    address = email.strip().lower()[:320]
    since = now - THROTTLE_WINDOW
    # 1.
    if (
        _failures(session, LoginAttempt.email == address, since=since) >= MAX_FAILURES_PER_EMAIL
        or _failures(session, LoginAttempt.client == client, since=since) >= MAX_FAILURES_PER_CLIENT
    ):
        raise LoginThrottled(
            "too many failed logins; wait 15 minutes and try again, or ask an administrator "
            "to set a new password with `outreach user add`"
        )
    # 2.
    user = session.scalars(select(WebUser).where(WebUser.email == address)).first()
    ok = False
    try:
        ok = _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password) and bool(user)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    # 3.
    session.add(LoginAttempt(email=address, client=client[:100], ok=ok, at=now))
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - KEEP_ATTEMPTS))
    if not ok or user is None:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    return Account(user.id, user.email, user.role)


def list_users(session: Session) -> list[Account]:
    users = session.scalars(select(WebUser).order_by(WebUser.email))
    return [Account(u.id, u.email, u.role) for u in users]


__all__ = [
    "ROLES",
    "Account",
    "LoginThrottled",
    "add_user",
    "authenticate",
    "get_account",
    "list_users",
]
