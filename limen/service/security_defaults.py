"""The security defaults switch (Graph `identitySecurityDefaultsEnforcementPolicy`) and its mutual
exclusion with Conditional Access (SPEC.md §1.7, §10): security defaults cannot be turned on while
any policy is `enabled`, and no policy can be turned to `enabled` while security defaults are on.
Report-only and disabled policies may exist beside security defaults.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.domain.errors import Conflict, NotFound
from limen.store.models import ConditionalAccessPolicy, Tenant

#: Graph's fixed id of the policy object.
POLICY_ID = "00000000-0000-0000-0000-000000000005"
DESCRIPTION = (
    "Security defaults is basic identity security mechanism recommended by Microsoft. When enabled, these "
    "recommended security settings will be automatically enforced in your organization. Administrators and "
    "users will be better protected from common identity related attacks."
)
ENABLED = "enabled"


class MutuallyExclusive(Conflict):
    code = "conflictingObjects"


def _tenant(db: Session, tenant_id: str) -> Tenant:
    tenant = db.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"Tenant {tenant_id} does not exist.")
    return tenant


def is_enabled(db: Session, tenant_id: str) -> bool:
    return _tenant(db, tenant_id).security_defaults_enabled


def enabled_policies(db: Session, tenant_id: str) -> list[str]:
    return list(
        db.scalars(
            sa.select(ConditionalAccessPolicy.display_name)
            .where(ConditionalAccessPolicy.tenant_id == tenant_id, ConditionalAccessPolicy.state == ENABLED)
            .order_by(ConditionalAccessPolicy.display_name)
        )
    )


def set_enabled(db: Session, tenant_id: str, enabled: bool) -> Tenant:
    """Turn security defaults on or off; turning them on is refused while a policy is enabled."""
    tenant = _tenant(db, tenant_id)
    if enabled and not tenant.security_defaults_enabled:
        names = enabled_policies(db, tenant_id)
        if names:
            shown = ", ".join(repr(n) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            raise MutuallyExclusive(
                f"Security defaults can't be turned on while Conditional Access policies are enabled ({shown}). "
                "Set those policies to disabled or report-only first."
            )
    tenant.security_defaults_enabled = enabled
    return tenant


def ensure_policy_can_be_enabled(db: Session, tenant_id: str) -> None:
    """For the Conditional Access API: refuse to switch a policy to `enabled` under security defaults."""
    if is_enabled(db, tenant_id):
        raise MutuallyExclusive(
            "A Conditional Access policy can't be enabled while security defaults are on. Turn security defaults "
            'off first (PATCH /v1.0/policies/identitySecurityDefaultsEnforcementPolicy {"isEnabled": false} or '
            "`limen security-defaults off`), or create the policy in report-only mode."
        )


def graph_shape(tenant: Tenant) -> dict[str, Any]:
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/identitySecurityDefaultsEnforcementPolicy/$entity",
        "id": POLICY_ID,
        "displayName": "Security Defaults",
        "description": DESCRIPTION,
        "isEnabled": tenant.security_defaults_enabled,
    }
