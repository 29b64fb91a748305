"""device registry: registered devices, their owners and browser bindings

Revision ID: 0006_devices
Revises: 0005_conditional_access
Create Date: 2026-11-26 23:46:00.718796
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, plain JSON text elsewhere (as in 0001).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0006_devices"
down_revision = "0005_conditional_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("operating_system", sa.String(length=256), nullable=True),
        sa.Column("operating_system_version", sa.String(length=256), nullable=True),
        sa.Column("trust_type", sa.String(length=16), nullable=False),
        sa.Column("is_compliant", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_managed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("account_enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("device_ownership", sa.String(length=16), nullable=True),
        sa.Column("enrollment_profile_name", sa.String(length=256), nullable=True),
        sa.Column("manufacturer", sa.String(length=256), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("mdm_app_id", sa.String(length=36), nullable=True),
        sa.Column("profile_type", sa.String(length=32), nullable=False),
        sa.Column("physical_ids", JSON, nullable=False),
        sa.Column("system_labels", JSON, nullable=False),
        sa.Column("extension_attributes", JSON, nullable=False),
        sa.Column("binding", sa.String(length=64), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enrolment_code_hash", sa.String(length=64), nullable=True),
        sa.Column("enrolment_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approximate_last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_devices_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("enrolment_code_hash", name=op.f("uq_devices_enrolment_code_hash")),
        sa.UniqueConstraint("tenant_id", "binding", name="uq_devices_tenant_binding"),
        sa.UniqueConstraint("tenant_id", "device_id", name="uq_devices_tenant_device_id"),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "device_owners",
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_owners_device_id_devices"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_device_owners_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_device_owners_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", "user_id", name=op.f("pk_device_owners")),
    )
    with op.batch_alter_table("device_owners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_owners_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_owners_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("device_owners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_owners_user_id"))
        batch_op.drop_index(batch_op.f("ix_device_owners_tenant_id"))
    op.drop_table("device_owners")

    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_tenant_id"))
    op.drop_table("devices")
