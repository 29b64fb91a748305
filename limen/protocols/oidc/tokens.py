"""Authorization codes, the token endpoint's grants, and the tokens they issue.

Codes and refresh tokens are opaque and stored hashed. Refresh tokens rotate on every use; a used
one presented again means it leaked, so its whole family is revoked (OAuth 2.0 Security BCP §4.14).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from limen.crypto.tokens import constant_time_equals, new_secret, secret_hash
from limen.domain.session import CompletedMethod, acr_value, amr_values, auth_time
from limen.protocols.oidc import jwt
from limen.protocols.oidc.authorize import AuthorizeRequest, client_app_type_for
from limen.protocols.oidc.errors import OAuthError
from limen.protocols.oidc.scopes import profile_claims
from limen.service.context import Services
from limen.store.models import Application, AuthorizationCode, BrowserSession, RefreshToken, User

_FAMILY_NAMESPACE = uuid.UUID("4f1c8a52-5d0e-4b8e-9f1a-0c6d2e7b9a31")


def family_of_code(code_id: str) -> str:
    """Refresh-token family born from a code; lets a replayed code revoke what it produced."""
    return str(uuid.uuid5(_FAMILY_NAMESPACE, code_id))


def issue_code(
    db: Session,
    services: Services,
    *,
    tenant_id: str,
    request: AuthorizeRequest,
    user_id: str,
    session_id: str,
    methods: tuple[CompletedMethod, ...],
) -> str:
    now = services.clock.now()
    code = new_secret(32)
    db.add(
        AuthorizationCode(
            id=secret_hash(code),
            tenant_id=tenant_id,
            client_id=request.client_id,
            user_id=user_id,
            session_id=session_id,
            redirect_uri=request.redirect_uri,
            scope=request.scope,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            methods=[m.to_json() for m in methods],
            created_at=now,
            expires_at=now + timedelta(seconds=services.settings.authorization_code_seconds),
            used_at=None,
        )
    )
    return code


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class TokenReuse(OAuthError):
    """A used code or refresh token came back: it leaked. The caller revokes `family_id` and refuses."""

    def __init__(self, family_id: str, description: str, *, user_id: str) -> None:
        super().__init__("invalid_grant", description)
        self.family_id = family_id
        self.user_id = user_id


@dataclass(frozen=True)
class Grant:
    """What a token response is made from."""

    user: User | None
    scope: str
    methods: tuple[CompletedMethod, ...]
    nonce: str | None
    session_id: str | None
    family_id: str | None
    #: What the next refresh token carries when `scope` was narrowed on refresh: RFC 6749 §6 keeps a
    #: rotated refresh token's scope identical to the presented one's. None means `scope`.
    refresh_scope: str | None = None
    #: The ClientAppType value of the sign-in behind the grant; the refresh tokens keep it so that
    #: their redemptions are logged with the same `clientAppUsed`. None: classify by the client.
    client_app_type: str | None = None


def redeem_code(db: Session, services: Services, app: Application, form: dict[str, str]) -> Grant:
    now = services.clock.now()
    code = form.get("code") or ""
    if not code:
        raise OAuthError("invalid_request", "The 'code' parameter is missing.")
    row = db.get(AuthorizationCode, secret_hash(code))
    if row is None or row.client_id != app.app_id:
        raise OAuthError("invalid_grant", "The authorization code is invalid or was issued to another client.")
    if row.used_at is not None:
        # A code used twice was intercepted: revoke everything the first use produced (RFC 6749 §4.1.2).
        raise TokenReuse(family_of_code(row.id), "The authorization code has already been used.", user_id=row.user_id)
    if row.expires_at <= now:
        raise OAuthError("invalid_grant", "The authorization code has expired.")
    if row.session_id is not None:
        # Signing out revokes the session's refresh tokens; a code still in flight must not mint new ones.
        session = db.get(BrowserSession, row.session_id)
        if session is None or session.revoked_at is not None:
            raise OAuthError("invalid_grant", "The sign-in session of this authorization code has ended.")
    if form.get("redirect_uri") != row.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri does not match the one in the authorization request.")
    verifier = form.get("code_verifier")
    if row.code_challenge is not None:
        if not verifier:
            raise OAuthError("invalid_grant", "code_verifier is required: the authorization request used PKCE.")
        if not constant_time_equals(s256(verifier), row.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge.")
    elif verifier:
        raise OAuthError("invalid_grant", "code_verifier given but the authorization request had no code_challenge.")
    # Compare-and-set: of two concurrent redemptions exactly one wins.
    won = _rows_changed(
        db,
        sa.update(AuthorizationCode)
        .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
        .values(used_at=now),
    )
    if won != 1:
        raise TokenReuse(family_of_code(row.id), "The authorization code has already been used.", user_id=row.user_id)
    user = _enabled_user(db, row.user_id)
    return Grant(
        user=user,
        scope=row.scope,
        methods=tuple(CompletedMethod.from_json(m) for m in row.methods),
        nonce=row.nonce,
        session_id=row.session_id,
        family_id=family_of_code(row.id),
        client_app_type=client_app_type_for(app, row.redirect_uri).value,
    )


def check_refresh_token(db: Session, services: Services, app: Application, form: dict[str, str]) -> Grant:
    """The grant a presented refresh token carries, if it may be redeemed; nothing is written (the caller
    decides Conditional Access first, then `spend_refresh_token`)."""
    now = services.clock.now()
    presented = form.get("refresh_token") or ""
    if not presented:
        raise OAuthError("invalid_request", "The 'refresh_token' parameter is missing.")
    row = db.get(RefreshToken, secret_hash(presented))
    if row is None or row.client_id != app.app_id:
        raise OAuthError("invalid_grant", "The refresh token is invalid or was issued to another client.")
    if row.revoked_at is not None:
        raise OAuthError("invalid_grant", "The refresh token has been revoked.")
    if row.used_at is not None:
        raise TokenReuse(
            row.family_id, "The refresh token was already used; its token family has been revoked.", user_id=row.user_id
        )
    if row.expires_at <= now:
        raise OAuthError("invalid_grant", "The refresh token has expired.")
    granted = set(row.scope.split())
    requested = form.get("scope")
    scope = row.scope
    if requested is not None:
        asked = set(requested.split())
        if not asked <= granted:
            raise OAuthError("invalid_scope", "The requested scope exceeds the scope originally granted.")
        scope = " ".join(s for s in row.scope.split() if s in asked)
    user = _enabled_user(db, row.user_id)
    return Grant(
        user=user,
        scope=scope,
        methods=tuple(CompletedMethod.from_json(m) for m in row.methods),
        nonce=None,
        session_id=row.session_id,
        family_id=row.family_id,
        refresh_scope=row.scope,
        client_app_type=row.client_app_type,
    )


def spend_refresh_token(db: Session, services: Services, form: dict[str, str], grant: Grant) -> None:
    """Mark a checked refresh token used. Compare-and-set: of two concurrent redemptions exactly one
    wins; the other is reuse, and its family is revoked (a refused sign-in spends nothing, so the
    client may present the token again once the condition passes)."""
    won = _rows_changed(
        db,
        sa.update(RefreshToken)
        .where(RefreshToken.id == secret_hash(form.get("refresh_token") or ""), RefreshToken.used_at.is_(None))
        .values(used_at=services.clock.now()),
    )
    if won != 1:
        assert grant.family_id is not None and grant.user is not None  # check_refresh_token's grants have both
        raise TokenReuse(
            grant.family_id,
            "The refresh token was already used; its token family has been revoked.",
            user_id=grant.user.id,
        )


def _rows_changed(db: Session, statement: sa.Update) -> int:
    # An UPDATE yields a CursorResult; Session.execute is typed as the generic Result, without rowcount.
    return cast("CursorResult[Any]", db.execute(statement)).rowcount


def _enabled_user(db: Session, user_id: str) -> User:
    user = db.get(User, user_id)
    if user is None or not user.account_enabled:
        raise OAuthError("invalid_grant", "The user can no longer sign in.")
    return user


def revoke_family(db: Session, family_id: str, now: datetime) -> None:
    """Revoke every refresh token of a family (in its own transaction: the request itself fails)."""
    db.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def token_response(db: Session, services: Services, tenant_id: str, app: Application, grant: Grant) -> dict[str, Any]:
    """Access token always; ID token with `openid`; a rotated refresh token with `offline_access`."""
    now = services.clock.now()
    settings = services.settings
    scopes = set(grant.scope.split())
    iat = int(now.timestamp())
    access_claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.issuer,
        "client_id": app.app_id,
        "azp": app.app_id,
        "scope": grant.scope,
        "iat": iat,
        "nbf": iat,
        "exp": iat + settings.access_token_seconds,
        "jti": str(uuid.uuid4()),
        "tid": tenant_id,
    }
    if grant.user is not None:
        access_claims["sub"] = grant.user.id
        access_claims["amr"] = amr_values(grant.methods)
        if grant.session_id:
            access_claims["sid"] = grant.session_id[:32]
    else:
        access_claims["sub"] = app.app_id  # client credentials: the application is the subject
    response: dict[str, Any] = {
        "access_token": jwt.sign(services, tenant_id, access_claims, typ="at+jwt"),
        "token_type": "Bearer",
        "expires_in": settings.access_token_seconds,
        "scope": grant.scope,
    }
    if grant.user is not None and "openid" in scopes:
        response["id_token"] = id_token(services, tenant_id, app, grant, now)
    refresh_scope = grant.refresh_scope or grant.scope
    if grant.user is not None and "offline_access" in refresh_scope.split() and grant.family_id is not None:
        refresh = new_secret(32)
        db.add(
            RefreshToken(
                id=secret_hash(refresh),
                tenant_id=tenant_id,
                family_id=grant.family_id,
                client_id=app.app_id,
                user_id=grant.user.id,
                session_id=grant.session_id,
                scope=refresh_scope,
                methods=[m.to_json() for m in grant.methods],
                created_at=now,
                expires_at=now + timedelta(days=settings.refresh_token_days),
                used_at=None,
                revoked_at=None,
                client_app_type=grant.client_app_type,
            )
        )
        response["refresh_token"] = refresh
    return response


def id_token(services: Services, tenant_id: str, app: Application, grant: Grant, now: datetime) -> str:
    assert grant.user is not None
    iat = int(now.timestamp())
    authenticated_at = auth_time(grant.methods) or now
    claims: dict[str, Any] = {
        "iss": services.settings.issuer,
        "aud": app.app_id,
        "azp": app.app_id,
        "iat": iat,
        "nbf": iat,
        "exp": iat + services.settings.id_token_seconds,
        "auth_time": int(authenticated_at.timestamp()),
        "amr": amr_values(grant.methods),
        "acr": acr_value(grant.methods),
        **profile_claims(grant.user, set(grant.scope.split()), tenant_id),
    }
    if grant.nonce:
        claims["nonce"] = grant.nonce
    if grant.session_id:
        claims["sid"] = grant.session_id[:32]
    return jwt.sign(services, tenant_id, claims)
