"""device authorization grant (RFC 8628); client app type of refresh-token families

Revision ID: 0004_device_codes
Revises: 0003_security_defaults
Create Date: 2026-11-26 23:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, plain JSON text elsewhere (as in 0001).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0004_device_codes"
down_revision = "0003_security_defaults"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_codes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("device_code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("methods", JSON, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_device_codes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_device_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_codes")),
        sa.UniqueConstraint("device_code_hash", name=op.f("uq_device_codes_device_code_hash")),
    )
    with op.batch_alter_table("device_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_codes_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_codes_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_codes_user_code_hash"), ["user_code_hash"], unique=False)

    op.create_table(
        "device_code_attempts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_device_code_attempts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_code_attempts")),
    )
    with op.batch_alter_table("device_code_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_code_attempts_source_time", ["tenant_id", "source", "created_at"], unique=False
        )

    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_app_type", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_column("client_app_type")

    with op.batch_alter_table("device_code_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_device_code_attempts_source_time")
    op.drop_table("device_code_attempts")

    with op.batch_alter_table("device_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_codes_user_code_hash"))
        batch_op.drop_index(batch_op.f("ix_device_codes_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_device_codes_expires_at"))
    op.drop_table("device_codes")
