"""What If (Graph `POST /identity/conditionalAccess/evaluate`): which policies would apply to a
sign-in described by the admin, with the same engine and the same context rules as the real sign-in.

Request (Graph's shape): `signInIdentity` (`#microsoft.graph.userSignIn` with `userId`),
`signInContext` (`#microsoft.graph.applicationContext` with `includeApplications`,
`#microsoft.graph.userActionContext` with `userAction`, or `#microsoft.graph.authContext` with
`authenticationContextValue`), `signInConditions` (devicePlatform, clientAppType, ipAddress, country,
signInRiskLevel, userRiskLevel, insiderRiskLevel, authenticationFlow.transferMethod, deviceInfo)
and `appliedPoliciesOnly`. A condition a policy uses but the request leaves out makes that policy
not apply (`notEnoughInformation`), as Graph's API does (SPEC.md §3.7).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from limen.domain.access.context import EvaluationContext
from limen.domain.access.engine import evaluate
from limen.domain.access.what_if import parse_request
from limen.domain.errors import NotFound, ValidationFailed
from limen.service import access_policies
from limen.service.context import Services
from limen.service.directory import member_of_transitive, role_ids_of
from limen.service.geo import country_of
from limen.service.rows import in_tenant
from limen.store.models import Tenant, User


def context_from_request(db: Session, tenant_id: str, body: Mapping[str, Any]) -> EvaluationContext:
    """The engine's context for a What If request; ValidationFailed names the property at fault."""
    request = parse_request(body)
    user = in_tenant(db, User, tenant_id, request.user_id)
    if user is None:
        raise NotFound(f"User '{request.user_id}' does not exist in this tenant.")
    country = request.country
    if country is None and request.ip_address is not None:
        country = country_of(request.ip_address)
    return request.context(
        user_id=user.id,
        user_type=user.user_type,
        group_ids=frozenset(member_of_transitive(db, tenant_id, user.id)),
        role_ids=frozenset(role_ids_of(db, tenant_id, user.id)),
        country=country,
    )


def evaluate_request(services: Services, tenant_id: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Graph `whatIfAnalysisResult` objects for the request."""
    applied_only = body.get("appliedPoliciesOnly", False)
    if not isinstance(applied_only, bool):
        raise ValidationFailed("'appliedPoliciesOnly' must be true or false.")
    with services.db() as db:
        context = context_from_request(db, tenant_id, body)
        tenant = db.get(Tenant, tenant_id)
        version = tenant.policy_version if tenant else 0
    compiled = access_policies.compiled(services, tenant_id, version)
    if compiled is None:
        return []
    return evaluate(compiled, context, services.clock.now()).what_if(applied_only)
