"""conditional access: named locations, custom authentication strengths, the tenant's policy version

Revision ID: 0005_conditional_access
Revises: 0004_device_codes
Create Date: 2026-11-26 23:24:39.839611
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, plain JSON text elsewhere (as in 0001).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0005_conditional_access"
down_revision = "0004_device_codes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "authentication_strength_policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_authentication_strength_policies_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authentication_strength_policies")),
    )
    with op.batch_alter_table("authentication_strength_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authentication_strength_policies_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "named_locations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("is_trusted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_named_locations_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_named_locations")),
    )
    with op.batch_alter_table("named_locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_named_locations_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("policy_version")

    with op.batch_alter_table("named_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_named_locations_tenant_id"))
    op.drop_table("named_locations")

    with op.batch_alter_table("authentication_strength_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authentication_strength_policies_tenant_id"))
    op.drop_table("authentication_strength_policies")
