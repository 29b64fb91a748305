"""Registered applications (OIDC clients) in Graph's `application` shape, and their client secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from limen.store.models.base import Base
from limen.store.types import JSONType, UTCDateTime, guid_pk, tenant_fk, utc


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[guid_pk]  # Graph object id
    tenant_id: Mapped[tenant_fk]
    app_id: Mapped[str] = mapped_column(sa.String(36), unique=True)  # the client id Conditional Access targets
    display_name: Mapped[str] = mapped_column(sa.String(256))
    web_redirect_uris: Mapped[list[str]] = mapped_column(JSONType, default=list)
    public_client_redirect_uris: Mapped[list[str]] = mapped_column(JSONType, default=list)
    logout_url: Mapped[str | None] = mapped_column(sa.String(2048))
    # Graph's isFallbackPublicClient: a public client has no secret and must use PKCE S256.
    is_public_client: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[utc]
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ApplicationPassword(Base):
    """`passwordCredential`: the secret is shown once at creation and stored only as a hash."""

    __tablename__ = "application_passwords"

    id: Mapped[guid_pk]  # keyId
    tenant_id: Mapped[tenant_fk]
    application_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    display_name: Mapped[str | None] = mapped_column(sa.String(256))
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    hint: Mapped[str] = mapped_column(sa.String(3))
    start_at: Mapped[utc]
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
