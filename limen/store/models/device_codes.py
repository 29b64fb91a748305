"""The OAuth 2.0 device authorization grant (RFC 8628): pending device authorizations and wrong user codes.

Both codes are bearer secrets, so only digests are stored: the device code's SHA-256 (it has 256 bits of
entropy), the user code's HMAC with the server secret (it has only ~35 bits, too few for a plain hash
to resist guessing from a stolen database).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from limen.store.models.base import Base
from limen.store.types import JSONType, UTCDateTime, guid, guid_pk, tenant_fk, utc


class DeviceCode(Base):
    """One device authorization: pending until the person approves or denies it, then redeemed once."""

    __tablename__ = "device_codes"

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    device_code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_code_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    client_id: Mapped[guid]
    scope: Mapped[str] = mapped_column(sa.String(1024))
    #: pending, approved or denied.
    status: Mapped[str] = mapped_column(sa.String(16))
    #: Seconds the device must wait between polls; raised by 5 at each `slow_down` (RFC 8628 §3.5).
    interval_seconds: Mapped[int] = mapped_column(sa.Integer)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[utc]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # Who approved, with the methods of their session: the tokens' sub, amr and acr come from these.
    user_id: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(sa.String(64))
    methods: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeviceCodeAttempt(Base):
    """A wrong user code entered on /device: counted per client address to stop guessing (RFC 8628 §5.1)."""

    __tablename__ = "device_code_attempts"
    __table_args__ = (sa.Index("ix_device_code_attempts_source_time", "tenant_id", "source", "created_at"),)

    id: Mapped[guid_pk]
    tenant_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    #: An HMAC of the client IP address: enough to count by, without keeping addresses here.
    source: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[utc]
