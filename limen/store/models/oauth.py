"""Protocol state: sign-in flows, browser sessions, authorization codes, refresh tokens, signing keys.

Everything lives in the database so that any worker on any host can continue any flow (DESIGN.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from limen.store.models.base import Base
from limen.store.types import JSONType, UTCDateTime, guid, guid_pk, tenant_fk, token_hash_pk, utc


class SignInFlow(Base):
    __tablename__ = "signin_flows"

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    # Hash of the browser-binding cookie: a flow id leaked in a URL is useless in another browser.
    browser_binding: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    authorize_request: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[utc]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class BrowserSession(Base):
    __tablename__ = "browser_sessions"

    id: Mapped[token_hash_pk]
    tenant_id: Mapped[tenant_fk]
    user_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    methods: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    auth_time: Mapped[utc]
    created_at: Mapped[utc]
    expires_at: Mapped[utc]
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"

    id: Mapped[token_hash_pk]
    tenant_id: Mapped[tenant_fk]
    client_id: Mapped[guid]
    user_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(sa.String(64))
    redirect_uri: Mapped[str] = mapped_column(sa.String(2048))
    scope: Mapped[str] = mapped_column(sa.String(1024))
    nonce: Mapped[str | None] = mapped_column(sa.String(512))
    code_challenge: Mapped[str | None] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(sa.String(8))
    methods: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    created_at: Mapped[utc]
    expires_at: Mapped[utc]
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RefreshToken(Base):
    """One link of a rotation chain. Presenting a used link again revokes its whole family (RFC 9700 §4.14)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[token_hash_pk]
    tenant_id: Mapped[tenant_fk]
    family_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    client_id: Mapped[guid]
    user_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(sa.String(64))
    scope: Mapped[str] = mapped_column(sa.String(1024))
    methods: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    created_at: Mapped[utc]
    expires_at: Mapped[utc]
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The Conditional Access client app type of the grant that started the family, so its refreshes are
    #: logged as the same `clientAppUsed` (a device-code grant of a web app is not a browser sign-in).
    client_app_type: Mapped[str | None] = mapped_column(sa.String(32))


class SigningKey(Base):
    """A token-signing key. Published in JWKS from creation until `retire_at`; signs from `active_from`."""

    __tablename__ = "signing_keys"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # kid
    tenant_id: Mapped[tenant_fk]
    algorithm: Mapped[str] = mapped_column(sa.String(16))
    private_jwk_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[utc]
    active_from: Mapped[utc]
    retire_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
