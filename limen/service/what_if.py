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
from limen.domain.access.decision import APP_KEYWORDS
from limen.domain.access.engine import evaluate
from limen.domain.errors import NotFound, ValidationFailed
from limen.domain.ids import parse_guid
from limen.service import access_policies
from limen.service.context import Services
from limen.service.directory import member_of_transitive, role_ids_of
from limen.service.geo import country_of
from limen.store.models import Tenant, User

USER_ACTIONS = {
    "registerSecurityInformation": "urn:user:registersecurityinfo",
    "registerOrJoinDevices": "urn:user:registerdevice",
}
PLATFORMS = {"android", "ios", "windows", "windowsphone", "macos", "linux", "all"}
CLIENT_APP_TYPES = {"all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other"}
RISK_LEVELS = {"none", "low", "medium", "high"}
_PLATFORM_NAMES = {"ios": "iOS", "macos": "macOS", "windowsphone": "windowsPhone"}
_KNOWN = {"signInIdentity", "signInContext", "signInConditions", "appliedPoliciesOnly"}


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationFailed(f"'{path}' must be an object.")
    return value


def _string(value: object, path: str, allowed: set[str] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"'{path}' must be a non-empty string.")
    if allowed is not None and value not in allowed and value.lower() not in {a.lower() for a in allowed}:
        raise ValidationFailed(f"'{path}' must be one of {', '.join(sorted(allowed))}, not {value!r}.")
    return value


def context_from_request(db: Session, tenant_id: str, body: Mapping[str, Any]) -> EvaluationContext:
    """The engine's context for a What If request; ValidationFailed names the property at fault."""
    unknown = sorted(set(body) - _KNOWN)
    if unknown:
        raise ValidationFailed(f"Property '{unknown[0]}' does not exist on the evaluate action.")
    identity = _object(body.get("signInIdentity"), "signInIdentity")
    if identity.get("@odata.type") not in (None, "#microsoft.graph.userSignIn"):
        raise ValidationFailed("'signInIdentity' must be a #microsoft.graph.userSignIn: Limen evaluates user sign-ins.")
    user_id = parse_guid(_string(identity.get("userId"), "signInIdentity.userId"))
    user = db.get(User, user_id) if user_id else None
    if user is None or user.tenant_id != tenant_id:
        raise NotFound(f"User '{identity.get('userId')}' does not exist in this tenant.")

    target = _object(body.get("signInContext"), "signInContext")
    kind = target.get("@odata.type")
    app_id: str | None = None
    user_action: str | None = None
    auth_contexts: frozenset[str] = frozenset()
    if kind == "#microsoft.graph.applicationContext":
        apps = target.get("includeApplications")
        if not isinstance(apps, list) or len(apps) != 1 or not isinstance(apps[0], str):
            raise ValidationFailed("'signInContext.includeApplications' must list exactly one application id.")
        app_id = apps[0]
    elif kind == "#microsoft.graph.userActionContext":
        user_action = USER_ACTIONS[_string(target.get("userAction"), "signInContext.userAction", set(USER_ACTIONS))]
    elif kind == "#microsoft.graph.authContext":
        value = _string(target.get("authenticationContextValue"), "signInContext.authenticationContextValue")
        auth_contexts = frozenset({value})
    else:
        raise ValidationFailed(
            "'signInContext.@odata.type' must be #microsoft.graph.applicationContext, userActionContext or authContext."
        )

    conditions = _object(body.get("signInConditions", {}), "signInConditions")
    platform = conditions.get("devicePlatform")
    if platform is not None:
        platform = _string(platform, "signInConditions.devicePlatform", PLATFORMS).lower()
        platform = None if platform == "all" else _PLATFORM_NAMES.get(platform, platform)
    client = conditions.get("clientAppType")
    if client is not None:
        client = _string(client, "signInConditions.clientAppType", CLIENT_APP_TYPES)
        client = None if client == "all" else client
    ip = conditions.get("ipAddress")
    if ip is not None:
        ip = _string(ip, "signInConditions.ipAddress")
    country = conditions.get("country")
    if country is not None:
        country = _string(country, "signInConditions.country").upper()
        if len(country) != 2 or not country.isalpha():
            raise ValidationFailed("'signInConditions.country' must be an ISO 3166 two-letter code.")
    elif ip is not None:
        country = country_of(ip)
    risks = {}
    for name in ("signInRiskLevel", "userRiskLevel"):
        value = conditions.get(name, "none")
        risks[name] = _string(value, f"signInConditions.{name}", RISK_LEVELS).lower()
    flow = conditions.get("authenticationFlow")
    transfer = None
    if flow is not None:
        transfer = _string(
            _object(flow, "signInConditions.authenticationFlow").get("transferMethod"),
            "signInConditions.authenticationFlow.transferMethod",
            {"none", "deviceCodeFlow", "authenticationTransfer"},
        )
        transfer = None if transfer == "none" else transfer
    device = conditions.get("deviceInfo")
    if device is not None:
        device = dict(_object(device, "signInConditions.deviceInfo"))
        device.pop("@odata.type", None)
    return EvaluationContext(
        user_id=user.id,
        user_type=user.user_type.lower(),
        group_ids=frozenset(g.lower() for g in member_of_transitive(db, tenant_id, user.id)),
        role_ids=frozenset(role_ids_of(db, tenant_id, user.id)),
        app_id=app_id,
        app_keywords=APP_KEYWORDS.get(app_id or "", frozenset()),
        user_action=user_action,
        auth_context_class_refs=auth_contexts,
        client_app_type=client,
        platform=platform,
        ip_address=ip,
        country=country,
        sign_in_risk=risks["signInRiskLevel"],
        user_risk=risks["userRiskLevel"],
        insider_risk=conditions.get("insiderRiskLevel")
        if isinstance(conditions.get("insiderRiskLevel"), str)
        else None,
        device=device,
        device_known=device is not None,
        authentication_flow=transfer,
        registered_modes=None,
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
