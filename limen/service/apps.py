"""Application registrations (OIDC clients) and their client secrets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.crypto.tokens import constant_time_equals, new_secret, secret_hash
from limen.domain.errors import ValidationFailed
from limen.domain.ids import new_id, parse_guid
from limen.domain.redirects import validate_redirect_uris
from limen.service.rows import get_in_tenant
from limen.store.models import Application, ApplicationPassword

DEFAULT_SECRET_LIFETIME = timedelta(days=730)
MAX_SECRET_LIFETIME = timedelta(days=3650)


@dataclass(frozen=True)
class NewSecret:
    credential: ApplicationPassword
    secret_text: str  # shown once, never stored


def create_application(
    db: Session,
    *,
    tenant_id: str,
    display_name: str,
    now: datetime,
    web_redirect_uris: list[str] | None = None,
    public_client_redirect_uris: list[str] | None = None,
    is_public_client: bool = False,
    logout_url: str | None = None,
    app_id: str | None = None,
) -> Application:
    name = (display_name or "").strip()
    if not name or len(name) > 256:
        raise ValidationFailed("displayName is required (1-256 characters).")
    web = validate_redirect_uris(web_redirect_uris or [], public_client=False, field="web.redirectUris")
    public = validate_redirect_uris(
        public_client_redirect_uris or [], public_client=True, field="publicClient.redirectUris"
    )
    if logout_url is not None:
        validate_redirect_uris([logout_url], public_client=is_public_client, field="web.logoutUrl")
    if app_id is not None:
        parsed = parse_guid(app_id)
        if parsed is None:
            raise ValidationFailed(f"appId {app_id!r} is not a GUID.")
        if db.scalar(sa.select(Application.id).where(Application.app_id == parsed)):
            raise ValidationFailed(f"An application with appId {parsed} already exists.")
        app_id = parsed
    app = Application(
        id=new_id(),
        tenant_id=tenant_id,
        app_id=app_id or new_id(),
        display_name=name,
        web_redirect_uris=web,
        public_client_redirect_uris=public,
        logout_url=logout_url,
        is_public_client=is_public_client,
        created_at=now,
        extra={},
    )
    db.add(app)
    db.flush()
    return app


def add_password(
    db: Session,
    app: Application,
    *,
    now: datetime,
    display_name: str | None = None,
    end_at: datetime | None = None,
) -> NewSecret:
    """Graph `addPassword`: a generated secret, returned once; only its hash is kept."""
    end = end_at or now + DEFAULT_SECRET_LIFETIME
    if end <= now:
        raise ValidationFailed("endDateTime must be in the future.")
    if end - now > MAX_SECRET_LIFETIME:
        raise ValidationFailed("endDateTime may be at most 10 years ahead.")
    text = new_secret(30)
    credential = ApplicationPassword(
        id=new_id(),
        tenant_id=app.tenant_id,
        application_id=app.id,
        display_name=(display_name or "").strip()[:256] or None,
        secret_hash=secret_hash(text),
        hint=text[:3],
        start_at=now,
        end_at=end,
    )
    db.add(credential)
    db.flush()
    return NewSecret(credential=credential, secret_text=text)


def find_by_app_id(db: Session, tenant_id: str, app_id: str) -> Application | None:
    parsed = parse_guid(app_id)
    if parsed is None:
        return None
    return db.scalar(sa.select(Application).where(Application.tenant_id == tenant_id, Application.app_id == parsed))


def get_application(db: Session, tenant_id: str, object_id: str) -> Application:
    return get_in_tenant(db, Application, tenant_id, object_id)


def passwords_of(db: Session, app: Application) -> list[ApplicationPassword]:
    return list(
        db.scalars(
            sa.select(ApplicationPassword)
            .where(ApplicationPassword.application_id == app.id)
            .order_by(ApplicationPassword.start_at)
        )
    )


def verify_client_secret(db: Session, app: Application, presented: str, now: datetime) -> bool:
    """True when `presented` matches an unexpired secret of `app`. Every candidate is compared."""
    digest = secret_hash(presented)
    matched = False
    for credential in passwords_of(db, app):
        if constant_time_equals(credential.secret_hash, digest) and credential.start_at <= now < credential.end_at:
            matched = True
    return matched


def all_redirect_uris(app: Application) -> list[str]:
    return [*app.web_redirect_uris, *app.public_client_redirect_uris]
