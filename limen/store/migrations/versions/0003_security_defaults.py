"""security defaults

Revision ID: 0003_security_defaults
Revises: 0002_methods
Create Date: 2026-11-26 22:46:06.347319
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, plain JSON text elsewhere (as in 0001).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0003_security_defaults"
down_revision = "0002_methods"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conditional_access_policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_conditional_access_policies_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conditional_access_policies")),
    )
    with op.batch_alter_table("conditional_access_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conditional_access_policies_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_conditional_access_policies_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sign_in_familiarity",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sign_in_familiarity_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sign_in_familiarity_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", "key", name=op.f("pk_sign_in_familiarity")),
    )
    with op.batch_alter_table("sign_in_familiarity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_familiarity_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("sign_ins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("authentication_requirement_policies", JSON, server_default="[]", nullable=False))

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("security_defaults_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("registration_grace_days", sa.Integer(), server_default="14", nullable=False))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mfa_registration_started_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("mfa_registration_started_at")

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("registration_grace_days")
        batch_op.drop_column("security_defaults_enabled")

    with op.batch_alter_table("sign_ins", schema=None) as batch_op:
        batch_op.drop_column("authentication_requirement_policies")

    with op.batch_alter_table("sign_in_familiarity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_familiarity_tenant_id"))

    op.drop_table("sign_in_familiarity")
    with op.batch_alter_table("conditional_access_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conditional_access_policies_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_conditional_access_policies_state"))

    op.drop_table("conditional_access_policies")
