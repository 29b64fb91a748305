"""Registered authentication methods, their pending challenges, and risk reported by users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from limen.store.models.base import Base
from limen.store.types import JSONType, UTCDateTime, guid_pk, tenant_fk, utc


def _user_fk() -> Mapped[str]:
    return mapped_column(sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)


class AuthMethod(Base):
    """One registered method of one user (`kind` is the method's key, e.g. "softwareOath")."""

    __tablename__ = "auth_methods"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "kind", "lookup_key", name="uq_auth_methods_lookup"),)

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    user_id: Mapped[str] = _user_fk()
    kind: Mapped[str] = mapped_column(sa.String(32))
    display_name: Mapped[str] = mapped_column(sa.String(128))
    #: Public data: a phone number, a credential's public key, a device's key.
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: Secret material (a TOTP seed), encrypted with the vault (LIMEN_ENCRYPTION_KEYS); never in clear.
    secret: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    #: Unique per tenant and kind: a WebAuthn credential id, a push device id, a TAP's hash.
    lookup_key: Mapped[str | None] = mapped_column(sa.String(255))
    #: Only ever grows (TOTP step of the last accepted code, WebAuthn sign count): replay protection
    #: that holds across nodes because the update is conditional.
    counter: Mapped[int | None] = mapped_column(sa.BigInteger)
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    failed_attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[utc]
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MethodChallenge(Base):
    """A prompt waiting for its answer: a code sent, a WebAuthn challenge, a push request, a registration."""

    __tablename__ = "method_challenges"
    __table_args__ = (
        sa.Index("ix_method_challenges_user_kind_status", "user_id", "kind", "status"),
        sa.Index("ix_method_challenges_destination_time", "destination", "created_at"),
        sa.Index("ix_method_challenges_ip_time", "ip_address", "created_at"),
    )

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    user_id: Mapped[str] = _user_fk()
    method_id: Mapped[str | None] = mapped_column(
        sa.String(36), sa.ForeignKey("auth_methods.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    #: "signin", "register" or "verify" (a fresh MFA for changing security info).
    purpose: Mapped[str] = mapped_column(sa.String(16))
    #: The method's pending state (codes, challenges, numbers), encrypted with the vault.
    pending: Mapped[bytes] = mapped_column(sa.LargeBinary)
    #: What may be shown outside the page (to a push device): application, location, IP.
    context: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: "pending", "answered", "completed", "failed".
    status: Mapped[str] = mapped_column(sa.String(16))
    #: An answer that arrived from elsewhere (a push device), checked by the method on verify.
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: Hash of a bearer code that finds this row from outside the browser (a push enrolment code).
    lookup_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    destination: Mapped[str | None] = mapped_column(sa.String(320))
    ip_address: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[utc]
    expires_at: Mapped[utc]
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RiskDetection(Base):
    """Graph `riskDetection`, for now only what users report ("deny and report" on a push request);
    Identity Protection adds the automatic detections."""

    __tablename__ = "risk_detections"
    __table_args__ = (sa.Index("ix_risk_detections_user_time", "tenant_id", "user_id", "detected_at"),)

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    user_id: Mapped[str] = _user_fk()
    risk_event_type: Mapped[str] = mapped_column(sa.String(64))
    risk_level: Mapped[str] = mapped_column(sa.String(16))
    risk_state: Mapped[str] = mapped_column(sa.String(32))
    detection_timing_type: Mapped[str] = mapped_column(sa.String(16))
    activity: Mapped[str] = mapped_column(sa.String(16))
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    additional_info: Mapped[dict[str, Any]] = mapped_column(JSONType)
    detected_at: Mapped[utc]
