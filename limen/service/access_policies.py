"""The tenant's Conditional Access policies, compiled once per policy version and cached per process.

Every change to policies, named locations or authentication strengths bumps `tenants.policy_version`
(limen.service.conditional_access); the sign-in reads that version with the account (no extra
query), so each worker recompiles exactly when something changed, on any host.
"""

from __future__ import annotations

from limen.domain.access.engine import CompiledPolicySet, compile_policy_set
from limen.service import conditional_access
from limen.service.context import Services


def compiled(services: Services, tenant_id: str, version: int) -> CompiledPolicySet | None:
    """The compiled set for `version`, or None when the tenant never had a policy (version 0)."""
    if version <= 0:
        return None
    cached = services._policy_cache.get(tenant_id)
    if isinstance(cached, CompiledPolicySet) and cached.version == version:
        return cached
    with services.db() as db:
        snap = conditional_access.snapshot(db, tenant_id)
    result = compile_policy_set(snap.policies, snap.named_locations, snap.authentication_strengths, snap.version)
    services._policy_cache[tenant_id] = result
    return result
