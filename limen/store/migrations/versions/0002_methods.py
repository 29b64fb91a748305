"""authentication methods, challenges, user-reported risk

Revision ID: 0002_methods
Revises: 0001_foundation
Create Date: 2026-11-26 22:17:26.788179
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, plain JSON text elsewhere (as in 0001).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0002_methods"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_methods",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("lookup_key", sa.String(length=255), nullable=True),
        sa.Column("counter", sa.BigInteger(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_auth_methods_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_methods_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_methods")),
        sa.UniqueConstraint("tenant_id", "kind", "lookup_key", name="uq_auth_methods_lookup"),
    )
    with op.batch_alter_table("auth_methods", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_methods_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_auth_methods_user_id"), ["user_id"], unique=False)

    op.create_table(
        "risk_detections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("risk_event_type", sa.String(length=64), nullable=False),
        sa.Column("risk_level", sa.String(length=16), nullable=False),
        sa.Column("risk_state", sa.String(length=32), nullable=False),
        sa.Column("detection_timing_type", sa.String(length=16), nullable=False),
        sa.Column("activity", sa.String(length=16), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("additional_info", JSON, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_risk_detections_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_risk_detections_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_detections")),
    )
    with op.batch_alter_table("risk_detections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_detections_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_risk_detections_user_id"), ["user_id"], unique=False)
        batch_op.create_index("ix_risk_detections_user_time", ["tenant_id", "user_id", "detected_at"], unique=False)

    op.create_table(
        "method_challenges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("method_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("pending", sa.LargeBinary(), nullable=False),
        sa.Column("context", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answer", JSON, nullable=True),
        sa.Column("lookup_key", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=320), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["method_id"],
            ["auth_methods.id"],
            name=op.f("fk_method_challenges_method_id_auth_methods"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_method_challenges_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_method_challenges_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_method_challenges")),
    )
    with op.batch_alter_table("method_challenges", schema=None) as batch_op:
        batch_op.create_index("ix_method_challenges_destination_time", ["destination", "created_at"], unique=False)
        batch_op.create_index("ix_method_challenges_ip_time", ["ip_address", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_method_challenges_lookup_key"), ["lookup_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_method_challenges_method_id"), ["method_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_method_challenges_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_method_challenges_user_id"), ["user_id"], unique=False)
        batch_op.create_index("ix_method_challenges_user_kind_status", ["user_id", "kind", "status"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mfa_registration_required", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("mfa_registration_required")

    with op.batch_alter_table("method_challenges", schema=None) as batch_op:
        batch_op.drop_index("ix_method_challenges_user_kind_status")
        batch_op.drop_index(batch_op.f("ix_method_challenges_user_id"))
        batch_op.drop_index(batch_op.f("ix_method_challenges_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_method_challenges_method_id"))
        batch_op.drop_index(batch_op.f("ix_method_challenges_lookup_key"))
        batch_op.drop_index("ix_method_challenges_ip_time")
        batch_op.drop_index("ix_method_challenges_destination_time")

    op.drop_table("method_challenges")
    with op.batch_alter_table("risk_detections", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_detections_user_time")
        batch_op.drop_index(batch_op.f("ix_risk_detections_user_id"))
        batch_op.drop_index(batch_op.f("ix_risk_detections_tenant_id"))

    op.drop_table("risk_detections")
    with op.batch_alter_table("auth_methods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_methods_user_id"))
        batch_op.drop_index(batch_op.f("ix_auth_methods_tenant_id"))

    op.drop_table("auth_methods")
