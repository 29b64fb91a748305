"""The default tenant: the one a deployment serves at its root URL."""

from __future__ import annotations

import sqlalchemy as sa

from limen.domain.ids import new_id
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import Tenant


def ensure_default_tenant(services: Services) -> Tenant:
    """Return the default tenant, creating it from the settings on first start."""
    settings = services.settings
    with transaction(services.db) as db:
        tenant = db.scalar(sa.select(Tenant).where(Tenant.is_default.is_(True)))
        if tenant is None:
            tenant = Tenant(
                id=new_id(),
                display_name=settings.default_tenant_name,
                default_domain=settings.default_tenant_domain,
                plan=settings.default_plan.value,
                is_default=True,
                created_at=services.clock.now(),
            )
            db.add(tenant)
    services._default_tenant_id = tenant.id
    return tenant


def default_tenant_id(services: Services) -> str:
    if services._default_tenant_id is None:
        ensure_default_tenant(services)
    assert services._default_tenant_id is not None
    return services._default_tenant_id
