"""The append-only sign-in log (Graph `signIn`). Indexed for the console's queries: by time, user, result."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from limen.store.models.base import Base
from limen.store.types import JSONType, guid_pk, tenant_fk, utc


class SignInRow(Base):
    __tablename__ = "sign_ins"
    __table_args__ = (
        sa.Index("ix_sign_ins_tenant_time", "tenant_id", "created_at"),
        sa.Index("ix_sign_ins_user_time", "tenant_id", "user_id", "created_at"),
        sa.Index("ix_sign_ins_error_time", "tenant_id", "error_code", "created_at"),
    )

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    created_at: Mapped[utc]
    correlation_id: Mapped[str] = mapped_column(sa.String(36))
    user_id: Mapped[str | None] = mapped_column(sa.String(36))
    user_principal_name: Mapped[str] = mapped_column(sa.String(384))
    user_display_name: Mapped[str] = mapped_column(sa.String(256))
    app_id: Mapped[str] = mapped_column(sa.String(36))
    app_display_name: Mapped[str] = mapped_column(sa.String(256))
    ip_address: Mapped[str] = mapped_column(sa.String(64))
    client_app_used: Mapped[str] = mapped_column(sa.String(64))
    is_interactive: Mapped[bool] = mapped_column(sa.Boolean)
    error_code: Mapped[int] = mapped_column(sa.Integer)
    failure_reason: Mapped[str] = mapped_column(sa.String(512))
    additional_details: Mapped[str] = mapped_column(sa.String(1024))
    authentication_requirement: Mapped[str] = mapped_column(sa.String(64))
    authentication_details: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    conditional_access_status: Mapped[str] = mapped_column(sa.String(32))
    applied_conditional_access_policies: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    #: Graph (beta) `authenticationRequirementPolicies`: which rule asked for what (security defaults...).
    authentication_requirement_policies: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONType, default=list, server_default="[]"
    )
    risk_level_during_sign_in: Mapped[str] = mapped_column(sa.String(16))
    risk_level_aggregated: Mapped[str] = mapped_column(sa.String(16))
    risk_state: Mapped[str] = mapped_column(sa.String(32))
    risk_detail: Mapped[str] = mapped_column(sa.String(64))
    risk_event_types: Mapped[list[str]] = mapped_column(JSONType)
    location: Mapped[dict[str, Any]] = mapped_column(JSONType)
    device_detail: Mapped[dict[str, Any]] = mapped_column(JSONType)
