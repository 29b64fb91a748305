"""Access policy state: Conditional Access policies (stored as Graph JSON) and the sign-in history
that makes a device or network "familiar" to security defaults."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from limen.store.models.base import Base
from limen.store.types import JSONType, UTCDateTime, guid_pk, tenant_fk, utc


class ConditionalAccessPolicy(Base):
    """A `conditionalAccessPolicy` as Graph JSON. `state` is kept in a column because security defaults
    and policy enablement exclude each other (SPEC.md §1.7) and that check must be cheap."""

    __tablename__ = "conditional_access_policies"

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    display_name: Mapped[str] = mapped_column(sa.String(256))
    #: "enabled", "disabled" or "enabledForReportingButNotEnforced".
    state: Mapped[str] = mapped_column(sa.String(40), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[utc]
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SignInFamiliarity(Base):
    """A device (keyed hash of the browser cookie) or a network (/24, /48) a user signed in from."""

    __tablename__ = "sign_in_familiarity"

    user_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8), primary_key=True)  # "device" | "network"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant_id: Mapped[tenant_fk]
    last_seen_at: Mapped[utc]


class NamedLocation(Base):
    """A `namedLocation` (ipNamedLocation, countryNamedLocation, ...) as Graph JSON. `is_trusted` is a
    column because `AllTrusted` in a policy reads every trusted location of the tenant."""

    __tablename__ = "named_locations"

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    display_name: Mapped[str] = mapped_column(sa.String(256))
    #: Graph's concrete type without the namespace, e.g. "ipNamedLocation".
    kind: Mapped[str] = mapped_column(sa.String(64))
    is_trusted: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[utc]
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthenticationStrengthPolicy(Base):
    """A custom `authenticationStrengthPolicy` as Graph JSON; the three built-in ones are not stored."""

    __tablename__ = "authentication_strength_policies"

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    display_name: Mapped[str] = mapped_column(sa.String(256))
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[utc]
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
