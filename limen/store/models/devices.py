"""The device registry: devices an admin registered, the properties Conditional Access reads from them
(Graph's `device` resource), their registered owners, and how a browser proves it is one of them.

A browser becomes a registered device by opening a one-time enrolment link; it then carries a random
secret in the `limen_device` cookie. Only digests are stored: `binding` is the SHA-256 of that secret
and `enrolment_code_hash` the SHA-256 of the link's code (both have 256 bits of entropy, so a plain
hash resists guessing from a stolen database as well as a keyed one would).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from limen.store.models.base import Base
from limen.store.types import JSONType, UTCDateTime, guid, guid_pk, tenant_fk, utc


class Device(Base):
    """A registered device (Graph `device`). Column names are Graph's properties in snake_case."""

    __tablename__ = "devices"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "device_id", name="uq_devices_tenant_device_id"),
        # The sign-in looks a device up by its browser's cookie: one indexed probe per sign-in.
        sa.UniqueConstraint("tenant_id", "binding", name="uq_devices_tenant_binding"),
    )

    #: The object id (Graph `id`), used in URLs.
    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    #: Graph `deviceId`: the device's own identity, the GUID device filter rules compare.
    device_id: Mapped[guid]
    display_name: Mapped[str] = mapped_column(sa.String(256))
    operating_system: Mapped[str | None] = mapped_column(sa.String(256))
    operating_system_version: Mapped[str | None] = mapped_column(sa.String(256))
    #: `AzureAd` (joined), `ServerAd` (hybrid joined) or `Workplace` (registered).
    trust_type: Mapped[str] = mapped_column(sa.String(16))
    is_compliant: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    is_managed: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    #: A disabled device is treated as unregistered at sign-in.
    account_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    #: `Company` or `Personal`.
    device_ownership: Mapped[str | None] = mapped_column(sa.String(16))
    enrollment_profile_name: Mapped[str | None] = mapped_column(sa.String(256))
    manufacturer: Mapped[str | None] = mapped_column(sa.String(256))
    model: Mapped[str | None] = mapped_column(sa.String(256))
    mdm_app_id: Mapped[str | None] = mapped_column(sa.String(36))
    #: `RegisteredDevice`, `SecureVM`, `Printer`, `Shared` or `IoT`.
    profile_type: Mapped[str] = mapped_column(sa.String(32), default="RegisteredDevice")
    physical_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    system_labels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    #: `extensionAttribute1`..`extensionAttribute15` that have a value.
    extension_attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: SHA-256 of the secret in the enrolled browser's `limen_device` cookie; None until enrolled.
    binding: Mapped[str | None] = mapped_column(sa.String(64))
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: SHA-256 of the code of the one outstanding enrolment link, cleared when it is used.
    enrolment_code_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    enrolment_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approximate_last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[utc]


class DeviceOwner(Base):
    """Graph `registeredOwners` of a device: users. Goes with the device or the user (ON DELETE CASCADE)."""

    __tablename__ = "device_owners"

    device_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    tenant_id: Mapped[tenant_fk]
