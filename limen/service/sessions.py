"""Browser sessions: an opaque random id in the cookie, its hash and the completed methods in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.crypto.tokens import new_secret, secret_hash
from limen.domain.session import CompletedMethod, auth_time
from limen.store.models import BrowserSession, RefreshToken, User


@dataclass(frozen=True)
class ActiveSession:
    row: BrowserSession
    user: User

    @property
    def methods(self) -> tuple[CompletedMethod, ...]:
        return tuple(CompletedMethod.from_json(m) for m in self.row.methods)

    @property
    def sid(self) -> str:
        """The OIDC `sid`: derived from the stored hash, so it reveals nothing about the cookie."""
        return self.row.id[:32]


_INSERT = sa.insert(BrowserSession.metadata.tables["browser_sessions"])


def create(
    db: Session | sa.Connection,
    *,
    tenant_id: str,
    user_id: str,
    methods: tuple[CompletedMethod, ...],
    now: datetime,
    lifetime: timedelta,
) -> str:
    """Start a session and return the cookie value. A fresh id each time: ids rotate on sign-in."""
    token = new_secret(32)
    db.execute(
        _INSERT,
        dict(
            id=secret_hash(token),
            tenant_id=tenant_id,
            user_id=user_id,
            methods=[m.to_json() for m in methods],
            auth_time=auth_time(methods) or now,
            created_at=now,
            expires_at=now + lifetime,
            revoked_at=None,
        ),
    )
    return token


def lookup(db: Session, tenant_id: str, cookie_value: str | None, now: datetime) -> ActiveSession | None:
    """The live session behind a cookie, or None if absent, expired, revoked or its user cannot sign in."""
    if not cookie_value or len(cookie_value) > 128:
        return None
    row = db.get(BrowserSession, secret_hash(cookie_value))
    if row is None or row.tenant_id != tenant_id or row.revoked_at is not None or row.expires_at <= now:
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.account_enabled:
        return None
    return ActiveSession(row=row, user=user)


def revoke_user(db: Session | sa.Connection, user_id: str, now: datetime) -> int:
    """End every session of a user and every refresh token issued to them; return how many sessions ended.

    A security event does this (SPEC.md §3, sign-in frequency: "sessions are revoked by security
    events"): a password change or reset, the account disabled, an admin's revokeSignInSessions. Access
    tokens already issued stay valid until they expire (`LIMEN_ACCESS_TOKEN_SECONDS`), as in Entra. Sessions and
    tokens created afterwards in the same transaction (the sign-in that changed the password) are not
    touched.
    """
    ended = db.execute(
        sa.update(BrowserSession)
        .where(BrowserSession.user_id == user_id, BrowserSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    db.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(ended, "rowcount", 0) or 0)


def revoke(db: Session, session_id: str, now: datetime) -> None:
    """End a session and the refresh tokens issued under it."""
    db.execute(
        sa.update(BrowserSession)
        .where(BrowserSession.id == session_id, BrowserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    db.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.session_id == session_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
