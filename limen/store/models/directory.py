"""Tenants, users, groups (nested membership) and directory role assignments."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from limen.store.models.base import Base
from limen.store.types import UTCDateTime, guid, guid_pk, tenant_fk, utc


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[guid_pk]
    display_name: Mapped[str] = mapped_column(sa.String(256))
    default_domain: Mapped[str] = mapped_column(sa.String(256))
    plan: Mapped[str] = mapped_column(sa.String(8))
    # The tenant served at the root URL. Others can later get issuers of their own without a schema change.
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[utc]
    #: `identitySecurityDefaultsEnforcementPolicy.isEnabled`; on for new tenants (SPEC.md §1.1).
    security_defaults_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    #: Days a user has to register for MFA under security defaults (SPEC.md §10; 0 = no skipping).
    registration_grace_days: Mapped[int] = mapped_column(sa.Integer, default=14, server_default="14")
    #: Grows with every change to the tenant's Conditional Access policies, named locations or
    #: authentication strengths, so compiled policy sets cached per process know when they are stale.
    policy_version: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "upn_key", name="uq_users_tenant_upn"),)

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    user_principal_name: Mapped[str] = mapped_column(sa.String(384))
    upn_key: Mapped[str] = mapped_column(sa.String(384))
    display_name: Mapped[str] = mapped_column(sa.String(256))
    given_name: Mapped[str | None] = mapped_column(sa.String(64))
    surname: Mapped[str | None] = mapped_column(sa.String(64))
    mail: Mapped[str | None] = mapped_column(sa.String(320))
    mobile_phone: Mapped[str | None] = mapped_column(sa.String(64))
    account_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    user_type: Mapped[str] = mapped_column(sa.String(16), default="Member")
    password_hash: Mapped[str | None] = mapped_column(sa.String(256))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[utc]
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: An admin asked this user to register a method at their next sign-in (`limen user
    #: require-mfa-registration`); cleared once they have one.
    mfa_registration_required: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    #: When this user's MFA registration window (security defaults) started: their first interactive
    #: sign-in after the defaults applied to them.
    mfa_registration_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    display_name: Mapped[str] = mapped_column(sa.String(256))
    description: Mapped[str | None] = mapped_column(sa.String(1024))
    mail_nickname: Mapped[str] = mapped_column(sa.String(64))
    security_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    mail_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[utc]


class GroupMember(Base):
    """A direct membership edge. Members are users or groups; transitive membership is a recursive query."""

    __tablename__ = "group_members"
    __table_args__ = (sa.Index("ix_group_members_member", "member_id"),)

    group_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    member_type: Mapped[str] = mapped_column(sa.String(8))  # "user" | "group"
    tenant_id: Mapped[tenant_fk]


class RoleAssignment(Base):
    """`unifiedRoleAssignment`: a principal holds a role (Entra role template id) at a scope."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        sa.UniqueConstraint(
            "tenant_id", "principal_id", "role_definition_id", "directory_scope_id", name="uq_role_assignments_key"
        ),
        sa.Index("ix_role_assignments_principal", "principal_id"),
    )

    id: Mapped[guid_pk]
    tenant_id: Mapped[tenant_fk]
    principal_id: Mapped[guid]
    role_definition_id: Mapped[guid]
    directory_scope_id: Mapped[str] = mapped_column(sa.String(256), default="/")
    created_at: Mapped[utc]
